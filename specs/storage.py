"""Where an instance keeps its files: the filestore PersistentVolumeClaim.

Owns the PVC `<name>-filestore-pvc` (ReadWriteMany, spec.filestore's class
and size, 2Gi when none). Pure: activities.children creates it once and only
ever grows it.
"""

from __future__ import annotations

from typing import Any

from model import naming, settings
from specs import facts

__all__ = ["pvc"]


def pvc(inst: facts.Instance) -> dict[str, Any]:
    filestore = inst.spec.filestore
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany"],
        "resources": {
            "requests": {"storage": filestore.storage_size or settings.DEFAULT_STORAGE_SIZE}
        },
    }
    if filestore.storage_class:
        spec["storageClassName"] = filestore.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": facts.metadata(inst, naming.pvc_name(inst.name)),
        "spec": spec,
    }
