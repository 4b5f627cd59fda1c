"""The facts every builder shares: one instance, its database, its objects' identity.

Owns `Instance` (name, namespace, uid, spec and database of one
OdooInstance, as an activity resolved them), `Database` (where that database
lives, never its password), the labels every object of an instance carries,
controller owner references (to the instance, or to a job resource for its
batch Job) and the metadata of an object the instance owns. Pure: the
activities (activities.lookup) gather the facts; nothing here reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model import naming, settings
from model.crds import OdooInstanceSpec

__all__ = [
    "ENVIRONMENT_LABEL",
    "Database",
    "Instance",
    "instance_owner",
    "metadata",
    "owner",
]

ENVIRONMENT_LABEL = "bemade.org/environment"


@dataclass(frozen=True)
class Database:
    """Where the instance's database lives (no password: that is in the Secret)."""

    host: str
    port: int
    name: str
    user: str


@dataclass(frozen=True)
class Instance:
    """The facts every builder needs about one OdooInstance."""

    name: str
    namespace: str
    uid: str
    spec: OdooInstanceSpec
    database: Database

    @property
    def image(self) -> str:
        return self.spec.image or settings.DEFAULT_IMAGE

    @property
    def environment(self) -> str:
        return self.spec.environment.value.lower()

    def labels(self, app: str | None = None) -> dict[str, str]:
        return {**naming.instance_labels(self.name, app), ENVIRONMENT_LABEL: self.environment}


def owner(kind: str, name: str, uid: str) -> dict[str, Any]:
    """Controller owner reference to an object of ours (`kind` in bemade.org)."""
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def instance_owner(name: str, uid: str) -> dict[str, Any]:
    """Controller owner reference to an OdooInstance."""
    return owner("OdooInstance", name, uid)


def metadata(inst: Instance, name: str, app: str | None = None) -> dict[str, Any]:
    """Metadata of the object `name` owned by the instance, with its labels."""
    return {
        "name": name,
        "namespace": inst.namespace,
        "labels": inst.labels(app),
        "ownerReferences": [instance_owner(inst.name, inst.uid)],
    }
