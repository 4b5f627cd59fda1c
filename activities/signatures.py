"""Typed stubs of every activity: names and types, no I/O.

Workflows call activities through these stubs (their wire names and type
hints are the contract); the implementations in this package register under
the same names. tests/unit/test_activity_contract.py checks that every stub
has exactly one implementation with the same name and type hints. Wire names
are public: never rename one.
"""

from __future__ import annotations

from temporalio import activity

from odoo_operator.model.payloads import (
    ApplyChildrenInput,
    CleanupInput,
    ConvergePhaseInput,
    GatherSnapshotInput,
    RecordStatusInput,
    Snapshot,
)

__all__ = [
    "STUBS",
    "apply_children",
    "cleanup_instance",
    "converge_phase",
    "gather_snapshot",
    "record_status",
]


@activity.defn(name="gather_snapshot")
def gather_snapshot(input: GatherSnapshotInput) -> Snapshot:
    """Read everything one wake needs: Deployments, job resources and their
    Jobs, dbInitialized, and permanent configuration problems."""
    raise NotImplementedError


@activity.defn(name="apply_children")
def apply_children(input: ApplyChildrenInput) -> None:
    """Server-side apply every child object of the instance for this generation."""
    raise NotImplementedError


@activity.defn(name="converge_phase")
def converge_phase(input: ConvergePhaseInput) -> None:
    """Scale the Deployments, create the auto init job resource, start a batch Job."""
    raise NotImplementedError


@activity.defn(name="record_status")
def record_status(input: RecordStatusInput) -> None:
    """Run edge actions, write the instance status, emit a PhaseChanged Event."""
    raise NotImplementedError


@activity.defn(name="cleanup_instance")
def cleanup_instance(input: CleanupInput) -> None:
    """Scale to zero, drop the database and role, remove the finalizer."""
    raise NotImplementedError


STUBS = (gather_snapshot, apply_children, converge_phase, record_status, cleanup_instance)
