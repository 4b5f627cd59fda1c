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
  counts (and forgets the uid); so does the first sight of an object in the
  initial listing after a watcher (re)start, which may follow changes missed
  while it was down. The creation (ADDED) of a Deployment, a batch Job, the
  auto OdooInitJob or an OdooBackupJob the workflow made on a request does
  not: the workflow created it and reads it right after, and a new one is
  neither ready nor finished; the creation of any other job resource does
  (users create them). The end of a batch Job the operator made does not
  either: the workflow's follow_job activity sees it.
- The same filter over `drift_state` tells which events of an instance's
  own children (every kind of model.children.KINDS, the Deployments
  included) change what the operator set on them (their fingerprint) or
  delete them: those pokes say `children_changed`, and only then does the
  workflow's next snapshot read the children (an API request each). A
  child's creation never counts (the workflow made it), nor does a change
  only others make (a claim bound to its volume, a Deployment's status),
  nor one the operator wrote itself: the newest write of its
  metadata.managedFields (status and the cluster's controllers left out,
  Kubernetes stamps each manager's last write with its time, to the second)
  is the operator's field manager's alone (`written_by_the_operator`); the
  workflow recorded that object's fingerprint from the apply's answer. A
  tie with another manager's write in the same second pokes.
- A web Deployment's readiness counts up to its spec.replicas only, as the
  snapshot counts it (model.phases.deployment_replicas): the extra Pod a
  rolling update surges with, or Pods still terminating after a scale down,
  are no news.
- `PokeCoalescer` sends at most one poke per instance at a time: events
  arriving while one is in flight become a single poke after it (a poke only
  says "look again", so the last reason stands for all of them, and
  `children_changed` if any of them said so). A burst of N events costs at
  most two signals, and none is lost: the follow-up poke is sent after the
  in-flight one was delivered, so the workflow's next snapshot starts after
  every change it coalesced.

What the snapshot reads is `relevant_state`'s and `drift_state`'s business
(see there).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any

from model import children, naming
from model.payloads import Poke
from model.phases import JobState, batch_job_state, deployment_replicas

__all__ = [
    "ChangeFilter",
    "PokeCoalescer",
    "drift_state",
    "relevant_state",
    "written_by_the_operator",
]

CLUSTER_CONTROLLERS = frozenset({"kube-controller-manager"})
"""Field managers whose writes to a child are the cluster's bookkeeping (the
Deployment controller's revision annotation, the volume binder's annotations),
never a change of what the operator set."""


def relevant_state(body: Mapping[str, Any]) -> Hashable:
    """The part of a Deployment, batch Job or job resource the instance snapshot reads.

    Two bodies with equal states look the same to the workflow:
    - a web Deployment: spec.replicas when someone other than the operator
      set it (it differs from naming.REPLICAS_ANNOTATION) and
      status.readyReplicas up to spec.replicas (the table's health guards
      compare them; a rolling update's surge Pod adds nothing); the cron Deployment:
      the same without readiness (no guard reads it);
    - a batch Job: running, succeeded or failed, as the snapshot decides it
      (phases.batch_job_state; the Job controller's several writes of one
      outcome are one change); for a Job a job resource controls (one the
      operator made), nothing: the workflow follows it with the follow_job
      activity, which wakes it when the Job ends (a poke would cost the
      history a second wake; its deletion still pokes);
    - a job resource: its spec (metadata.generation); its status is the
      workflow's own writing.
    Any kind also counts its deletionTimestamp; an unknown kind counts its
    resourceVersion (every change).
    """
    meta = body.get("metadata") or {}
    deleting = bool(meta.get("deletionTimestamp"))
    kind = body.get("kind")
    if kind == "Deployment":
        scaled = _hand_scaled(body)
        instance = (meta.get("labels") or {}).get(naming.INSTANCE_LABEL)
        if instance is not None and meta.get("name") == naming.cron_deployment_name(instance):
            return (scaled, deleting)
        return (scaled, deployment_replicas(body)[1], deleting)
    if kind == "Job":
        if _made_for_a_job_resource(body):
            return (deleting,)
        return (batch_job_state(body)[0], deleting)
    if body.get("apiVersion", "").startswith(f"{naming.API_GROUP}/"):
        return (meta.get("generation"), deleting)
    return meta.get("resourceVersion")


def drift_state(body: Mapping[str, Any]) -> Hashable:
    """The part of a child object the drift check reads: what the operator set on
    it (model.children.fingerprint) and whether it is being deleted."""
    deleting = bool((body.get("metadata") or {}).get("deletionTimestamp"))
    return (children.fingerprint(body), deleting)


def written_by_the_operator(body: Mapping[str, Any]) -> bool:
    """Whether the newest write of `body`'s spec or metadata was the operator's own.

    Reads metadata.managedFields, where the API server stamps each field
    manager's last write with its time (RFC 3339, to the second): the entries
    of the status subresource and of CLUSTER_CONTROLLERS are left out; True
    when every remaining entry with the newest time is naming.FIELD_MANAGER's.
    False without managedFields, and on a tie with another manager (a hand
    edit in the same second as the operator's apply must still be seen).
    """
    entries = [
        entry
        for entry in (body.get("metadata") or {}).get("managedFields") or []
        if entry.get("subresource") != "status" and entry.get("manager") not in CLUSTER_CONTROLLERS
    ]
    if not entries:
        return False
    newest = max(str(entry.get("time") or "") for entry in entries)
    return all(
        entry.get("manager") == naming.FIELD_MANAGER
        for entry in entries
        if str(entry.get("time") or "") == newest
    )


def _hand_scaled(body: Mapping[str, Any]) -> int | None:
    """spec.replicas when someone other than the operator set it, else None: the
    operator's own scaling is no news to the workflow, a hand-made one is."""
    replicas, _ = deployment_replicas(body)
    ours = ((body.get("metadata") or {}).get("annotations") or {}).get(naming.REPLICAS_ANNOTATION)
    return None if ours == str(replicas) else replicas


def _made_for_a_job_resource(body: Mapping[str, Any]) -> bool:
    """A batch Job controlled by a job resource (specs.jobs makes them so)."""
    owners = (body.get("metadata") or {}).get("ownerReferences") or []
    return any(
        o.get("controller") and str(o.get("apiVersion", "")).startswith(f"{naming.API_GROUP}/")
        for o in owners
    )


def _created_by_the_workflow(body: Mapping[str, Any]) -> bool:
    """A Deployment, batch Job or job resource an OdooInstance controls (the auto
    OdooInitJob), or a job resource the workflow made on a request (a backup
    Schedule, signal or Update: naming.REQUESTED_ANNOTATION), as the workflow made
    it: it looks at them right after. One that is already ready or finished when
    first seen (the watch may deliver its creation together with later changes)
    is news."""
    kind = body.get("kind")
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    if kind == "Deployment":
        return not status.get("readyReplicas") and _hand_scaled(body) is None
    if kind == "Job":
        return batch_job_state(body)[0] is JobState.ACTIVE
    if (meta.get("annotations") or {}).get(naming.REQUESTED_ANNOTATION) and not status:
        return True
    owners = meta.get("ownerReferences") or []
    return any(o.get("kind") == "OdooInstance" and o.get("controller") for o in owners)


def _the_operators_own_edit(body: Mapping[str, Any]) -> bool:
    """A change the operator wrote itself; a deletion never is (deleting writes
    no managedFields entry, so the newest may still be the operator's)."""
    deleting = bool((body.get("metadata") or {}).get("deletionTimestamp"))
    return not deleting and written_by_the_operator(body)


def _always(body: Mapping[str, Any]) -> bool:
    return True


class ChangeFilter:
    """Remembers each object's relevant state (by uid) to tell events that matter.

    `quiet_creation` says which ADDED events are no news (the workflow made the
    object and reads it right after): by default `_created_by_the_workflow`;
    for_drift() makes every creation quiet (only an instance's own children,
    which the workflow made, reach it). `quiet_change` says which MODIFIED
    events are no news even though the state changed: for_drift() passes
    `written_by_the_operator`.
    """

    def __init__(
        self,
        state: Callable[[Mapping[str, Any]], Hashable] = relevant_state,
        quiet_creation: Callable[[Mapping[str, Any]], bool] = _created_by_the_workflow,
        quiet_change: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        self._state = state
        self._quiet_creation = quiet_creation
        self._quiet_change = quiet_change
        self._seen: dict[str, Hashable] = {}

    @classmethod
    def for_drift(cls) -> ChangeFilter:
        """The filter of an instance's own children: their drift_state, and
        none of the operator's own writes."""
        return cls(drift_state, _always, _the_operators_own_edit)

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
        if event_type == "MODIFIED" and self._quiet_change is not None:
            return not self._quiet_change(body)
        return not (event_type == "ADDED" and self._quiet_creation(body))

    def __len__(self) -> int:
        return len(self._seen)


Send = Callable[[str, str, Poke], Awaitable[bool]]
"""Sends one poke: (namespace, instance name, poke); False when no workflow runs."""


class PokeCoalescer:
    """At most one poke in flight per instance; what arrives meanwhile is one more poke."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._pending: dict[tuple[str, str], Poke | None] = {}

    async def poke(self, namespace: str, name: str, poke: Poke) -> bool:
        """Poke the instance, or fold the poke into the one in flight for it.

        False when the last poke sent found no workflow for the instance. A
        folded poke answers True: the caller in flight answers for it (and
        what it does about a missing workflow covers every caller).
        """
        key = (namespace, name)
        if key in self._pending:
            self._pending[key] = _folded(self._pending[key], poke)
            return True
        self._pending[key] = None
        delivered = True
        try:
            next_poke: Poke | None = poke
            while next_poke is not None:
                delivered = await self._send(namespace, name, next_poke)
                next_poke = self._pending[key]
                self._pending[key] = None
        finally:
            del self._pending[key]
        return delivered


def _folded(waiting: Poke | None, new: Poke) -> Poke:
    """One poke for two: the last reason, and children_changed if either said so."""
    if waiting is None or not waiting.children_changed:
        return new
    return new.model_copy(update={"children_changed": True})
