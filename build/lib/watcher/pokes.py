"""Which watch events are worth a poke, and at most one poke in flight per instance.

A poke costs the instance workflow a workflow task, a snapshot (several API
reads) and history events, while most watch events of a child change nothing
that snapshot reads: the Deployment controller writes `status` several times
per rollout (observedGeneration, updatedReplicas, availableReplicas,
conditions), the Job controller writes `status.active`, `startTime`,
`uncountedTerminatedPods`, and the workflow's own status writes on a job
resource come back as MODIFIED events. So:

- `ChangeFilter` keeps, per object uid, the part of it the snapshot reads
  (`relevant_state`) and answers whether an event changed it. DELETED always
  counts (and forgets the uid); so does the first event of an object,
  including the initial listing after a watcher (re)start, which may follow
  changes missed while it was down.
- `PokeCoalescer` sends at most one poke per instance at a time: events
  arriving while one is in flight become a single poke after it (a poke only
  says "look again", so the last reason stands for all of them). A burst of
  N events costs at most two signals, and none is lost: the follow-up poke is
  sent after the in-flight one was delivered, so the workflow's next snapshot
  starts after every change it coalesced.

What the snapshot reads (activities.snapshot): a Deployment's spec.replicas
and status.readyReplicas; a batch Job's terminal conditions, succeeded and
failed counts, deletionTimestamp; a job resource's existence, spec
(metadata.generation) and deletionTimestamp (its status is written by the
workflow itself).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any

__all__ = ["ChangeFilter", "PokeCoalescer", "relevant_state"]

_JOB_CONDITIONS = frozenset({"Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"})


def relevant_state(body: Mapping[str, Any]) -> Hashable:
    """The part of a Deployment, batch Job or job resource the instance snapshot reads.

    Two bodies with equal states look the same to the workflow; an unknown
    kind's whole resourceVersion counts (every change is relevant).
    """
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    deleting = bool(meta.get("deletionTimestamp"))
    kind = body.get("kind")
    if kind == "Deployment":
        return (spec.get("replicas", 1), status.get("readyReplicas") or 0, deleting)
    if kind == "Job":
        conditions = sorted(
            str(c.get("type"))
            for c in status.get("conditions") or []
            if c.get("status") == "True" and c.get("type") in _JOB_CONDITIONS
        )
        return (
            tuple(conditions),
            int(status.get("succeeded") or 0),
            int(status.get("failed") or 0),
            deleting,
        )
    if body.get("apiVersion", "").startswith("bemade.org/"):
        return (meta.get("generation"), deleting)
    return meta.get("resourceVersion")


class ChangeFilter:
    """Remembers each object's relevant state (by uid) to tell events that matter."""

    def __init__(self, state: Callable[[Mapping[str, Any]], Hashable] = relevant_state) -> None:
        self._state = state
        self._seen: dict[str, Hashable] = {}

    def changed(self, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """Whether this watch event may change what the instance's snapshot sees."""
        uid = (body.get("metadata") or {}).get("uid")
        if not uid:
            return True
        if event_type == "DELETED":
            self._seen.pop(uid, None)
            return True
        state = self._state(body)
        if uid in self._seen and self._seen[uid] == state:
            return False
        self._seen[uid] = state
        return True

    def __len__(self) -> int:
        return len(self._seen)


Send = Callable[[str, str, str], Awaitable[object]]
"""Sends one poke: (namespace, instance name, reason)."""


class PokeCoalescer:
    """At most one poke in flight per instance; what arrives meanwhile is one more poke."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._pending: dict[tuple[str, str], str | None] = {}

    async def poke(self, namespace: str, name: str, reason: str) -> None:
        """Poke the instance, or fold the poke into the one in flight for it."""
        key = (namespace, name)
        if key in self._pending:
            self._pending[key] = reason
            return
        self._pending[key] = None
        try:
            next_reason: str | None = reason
            while next_reason is not None:
                await self._send(namespace, name, next_reason)
                next_reason = self._pending[key]
                self._pending[key] = None
        finally:
            del self._pending[key]
