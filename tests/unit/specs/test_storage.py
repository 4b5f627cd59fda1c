"""The filestore PVC (specs.storage).

Covers: ReadWriteMany, spec.filestore's class and size.
"""

from __future__ import annotations

from specs import storage
from tests.unit.specs.shop import make


def test_pvc_is_read_write_many_with_class_and_size_when_built() -> None:
    pvc = storage.pvc(make(filestore={"storageClass": "fast", "storageSize": "5Gi"}))

    assert pvc["metadata"]["name"] == "shop-filestore-pvc"
    assert pvc["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "5Gi"}},
        "storageClassName": "fast",
    }
