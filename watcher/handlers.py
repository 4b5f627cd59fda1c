"""Kopf handlers: parse a body into a typed model, hand it to Temporal, nothing else.

No decisions, no diffs, no status writes (STYLE "Decisions in Kopf handlers"):

- OdooInstance create, update and resume send the whole redacted spec with
  metadata.generation and uid (signal-with-start `set_spec`); a deletion
  (deletionTimestamp, held by the operator's own finalizer) sends
  `delete_instance`, starting a workflow for the cleanup if none runs. Kopf
  adds no finalizer of its own (the delete handler is optional).
- Changes of owned objects (label bemade.org/instance: the batch Jobs and
  every kind of child, model.children.KINDS: ServiceAccount, Role,
  RoleBinding, ConfigMap, the credentials Secret, Service, PVC, Ingress,
  HTTPRoute, the web and cron Deployments), of the four job resources
  (spec.odooInstanceRef) and an instance disappearing poke the instance's
  workflow, only when the event changed what the workflow's snapshot reads
  and at most one poke in flight per instance (watcher.pokes); a child
  deleted, or changed in what the operator set on it, makes the poke say
  `children_changed`. The owned kinds are watched with the label selector
  (`OWNED`, set as Kopf's server-side selector by watcher.startup), so the
  watcher never lists the cluster's other Secrets or ConfigMaps. The
  HTTPRoute is watched only where the Gateway API is installed: Kopf skips a
  resource the cluster does not serve, with a warning.
- A change of the clusters Secret pokes every instance workflow (its own
  registry, `register_clusters_secret`: watcher.startup runs it on the
  operator's namespace with a field selector on the Secret's name).
- An unfinished job resource whose event reaches no instance workflow (its
  reference names another namespace, or no workflow runs under that name),
  and an instance disappearing, start the OdooJobReferences check
  (workflows.job_references), which marks Failed the job resources whose
  reference does not resolve: nothing else would ever give them a phase.

Temporal unreachable: create/update/resume raise `kopf.TemporaryError`
with a doubling delay (Kopf retries and keeps its progress); event handlers,
which Kopf never retries, retry the poke themselves with the same backoff.
A spec that does not parse (written before a rule existed, or without the
admission webhook) is still sent, with `SpecUpdate.problem` naming the
fields and a stand-in spec made of the fields that parse (the workflow
applies nothing of it and shows the problem: Error, status.message), plus
an `InvalidSpec` Warning Event; only a spec whose stand-in does not parse
either is a `kopf.PermanentError`. No value (the adminPassword could be
one) is ever echoed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import kopf
import pydantic

from model import children, naming, validation
from model.crds import OdooInstanceSpec
from model.payloads import InstanceRef, JobKind, Poke, SpecUpdate
from model.phases import FINISHED_JOB_PHASES
from watcher.config import WatcherConfig
from watcher.pokes import ChangeFilter, PokeCoalescer
from watcher.signals import InstanceSignals, TemporalUnavailable

__all__ = [
    "INSTANCES",
    "JOB_RESOURCES",
    "OWNED",
    "InstanceHandlers",
    "parse_spec_update",
    "register",
    "register_clusters_secret",
]

INSTANCES = (naming.API_GROUP, naming.API_VERSION, "odooinstances")
JOB_RESOURCES = tuple((naming.API_GROUP, naming.API_VERSION, kind.plural) for kind in JobKind)
OWNED: tuple[tuple[str, str, str], ...] = (
    ("batch", "v1", "jobs"),
    *((kind.group, kind.version, kind.plural) for kind in children.KINDS.values()),
)
"""(group, version, plural) of every kind labelled bemade.org/instance that pokes."""
_READ_EVERY_WAKE = frozenset({"Deployment", "Job"})
"""Kinds every snapshot reads (pokes.relevant_state); the other children only on demand."""

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class InvalidSpec(kopf.PermanentError):
    """The object's spec does not parse; retrying cannot help."""


def parse_spec_update(body: Mapping[str, Any]) -> SpecUpdate:
    """The `set_spec` payload of an OdooInstance body: whole spec, redacted; for a
    spec that does not parse, the problem and a stand-in (see the module docstring)."""
    meta = body.get("metadata") or {}
    ref = InstanceRef(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"])
    generation = int(meta.get("generation") or 1)
    raw = dict(body.get("spec") or {})
    try:
        spec = OdooInstanceSpec.model_validate(raw).redacted()
    except pydantic.ValidationError as err:
        problem = validation.describe(err, prefix="spec")
        stand_in = _stand_in(raw, err)
        if stand_in is None:
            raise InvalidSpec(problem) from None
        return SpecUpdate(ref=ref, generation=generation, spec=stand_in, problem=problem)
    return SpecUpdate(ref=ref, generation=generation, spec=spec)


def _stand_in(raw: dict[str, Any], err: pydantic.ValidationError) -> OdooInstanceSpec | None:
    """The spec without the top-level fields `err` names, if that parses (a required
    field or a rule across fields cannot be left out: None)."""
    errors = err.errors()
    if any(not error["loc"] for error in errors):
        return None
    fields = {str(error["loc"][0]) for error in errors}
    try:
        return OdooInstanceSpec.model_validate(
            {key: value for key, value in raw.items() if key not in fields}
        ).redacted()
    except pydantic.ValidationError:
        return None


def instance_of_job_resource(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) of the instance a job resource references, if it names one."""
    ref = (body.get("spec") or {}).get("odooInstanceRef") or {}
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        return None
    namespace = ref.get("namespace") or (body.get("metadata") or {}).get("namespace")
    return (str(namespace), name) if namespace else None


class InstanceHandlers:
    """The handler bodies, bound to one InstanceSignals (the Temporal side)."""

    def __init__(self, signals: InstanceSignals, config: WatcherConfig) -> None:
        self.signals = signals
        self.config = config
        self._changes = ChangeFilter()
        self._drift = ChangeFilter.for_drift()
        self._pokes = PokeCoalescer(self._send_poke)

    # --- OdooInstance ------------------------------------------------------------------

    async def spec_changed(self, body: kopf.Body, retry: int, **_: Any) -> None:
        """create / update / resume: send the whole spec (level based)."""
        update = self._parse(body)
        await self._retrying(lambda: self.signals.set_spec(update), retry)

    async def instance_event(self, event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        """Deletion: send delete_instance while a deletionTimestamp is set; poke when gone.

        An event handler, not `on.delete`: Kopf calls delete handlers only behind its
        own finalizer, and ours (added by the workflow's apply_children) must be the
        one that holds the object until the workflow's cleanup removes it.
        """
        meta = body.get("metadata") or {}
        if event["type"] == "DELETED":
            # Deleted without our finalizer: wake the workflow so it notices and ends.
            await self._until_sent(
                lambda: self.signals.poke(
                    meta["namespace"], meta["name"], Poke(reason="instance deleted")
                )
            )
            # Its queued job resources would wait forever: have them marked Failed.
            await self._until_sent(
                lambda: self.signals.check_job_references(
                    meta["namespace"], meta["name"], "instance deleted"
                )
            )
        elif meta.get("deletionTimestamp"):
            try:
                update = self._parse(body)
            except InvalidSpec as err:
                _log.error("cannot clean up %s/%s: %s", meta["namespace"], meta["name"], err)
                return
            await self._until_sent(lambda: self.signals.delete(update))

    # --- owned and referencing objects ----------------------------------------------

    async def owned_changed(
        self, event: kopf.RawEvent, body: kopf.Body, labels: kopf.Labels, **_: Any
    ) -> None:
        """An object labelled bemade.org/instance changed what the instance's
        snapshot reads (watcher.pokes): a Deployment's or batch Job's state, or a
        child's presence or fingerprint. Poke the instance."""
        instance = labels.get(naming.INSTANCE_LABEL)
        namespace = body.get("metadata", {}).get("namespace")
        if not (instance and namespace):
            return
        kind = body.get("kind") or "object"
        event_type = event.get("type")
        # Both filters see every event of their kinds (each keeps its own state).
        state = kind in _READ_EVERY_WAKE and self._changes.changed(event_type, body)
        drift = children.controlled_by_instance(body) and self._drift.changed(event_type, body)
        if state or drift:
            name = body.get("metadata", {}).get("name")
            poke = Poke(reason=f"{kind} {name} changed", children_changed=drift)
            await self._pokes.poke(namespace, instance, poke)

    async def job_resource_changed(self, event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        """A job resource appeared, changed its spec or went away: wake the instance it
        references, or have the reference checked when no instance workflow can take it."""
        target = instance_of_job_resource(body)
        if target is None or not self._changes.changed(event.get("type"), body):
            return
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace"), meta.get("name")
        reason = f"{body.get('kind') or 'job resource'} {name} changed"
        poked = False
        if target[0] == namespace:  # another namespace's workflow never takes it
            poked = await self._pokes.poke(*target, Poke(reason=reason))
        phase = (body.get("status") or {}).get("phase")
        if not poked and namespace and phase not in FINISHED_JOB_PHASES:
            await self._until_sent(
                lambda: self.signals.check_job_references(namespace, target[1], reason)
            )

    async def clusters_secret_changed(self, **_: Any) -> None:
        """The clusters Secret changed: every instance re-checks (Error may clear)."""
        delay = 0
        while True:
            try:
                count = await self.signals.poke_all("clusters Secret changed")
            except TemporalUnavailable as err:
                await self._wait(delay, err)
                delay += 1
                continue
            _log.info("clusters Secret changed: poked %d instance workflows", count)
            return

    # --- plumbing ------------------------------------------------------------------------

    async def _send_poke(self, namespace: str, name: str, poke: Poke) -> bool:
        return await self._until_sent(lambda: self.signals.poke(namespace, name, poke))

    def _parse(self, body: kopf.Body) -> SpecUpdate:
        try:
            update = parse_spec_update(body)
        except InvalidSpec as err:
            kopf.warn(body, reason="InvalidSpec", message=str(err))
            raise
        if update.problem is not None:
            kopf.warn(body, reason="InvalidSpec", message=update.problem)
        return update

    async def _retrying(self, call: Callable[[], Awaitable[None]], retry: int) -> None:
        try:
            await call()
        except TemporalUnavailable as err:
            raise kopf.TemporaryError(str(err), delay=self.config.watcher.backoff(retry)) from err

    async def _until_sent(self, call: Callable[[], Awaitable[_T]]) -> _T:
        # Kopf never retries event handlers; a lost signal would wait for the resync timer.
        attempt = 0
        while True:
            try:
                return await call()
            except TemporalUnavailable as err:
                await self._wait(attempt, err)
                attempt += 1

    async def _wait(self, attempt: int, err: Exception) -> None:
        delay = self.config.watcher.backoff(attempt)
        _log.warning("%s; retrying in %.1f s", err, delay)
        await asyncio.sleep(delay)  # backoff while Temporal is unreachable


def register(registry: kopf.OperatorRegistry, handlers: InstanceHandlers) -> None:
    """Attach the instance, owned-object and job-resource handlers to `registry`
    (one registry per operator run)."""
    kopf.on.resume(*INSTANCES, id="send-spec-resume", registry=registry)(handlers.spec_changed)
    kopf.on.create(*INSTANCES, id="send-spec-create", registry=registry)(handlers.spec_changed)
    kopf.on.update(*INSTANCES, id="send-spec-update", registry=registry)(handlers.spec_changed)
    # No on.delete: it would need Kopf's own finalizer (see instance_event).
    kopf.on.event(*INSTANCES, id="send-delete", registry=registry)(handlers.instance_event)
    owned = {naming.INSTANCE_LABEL: kopf.PRESENT}
    for group, version, plural in OWNED:
        # Kopf's selector: "v1" alone names the core group.
        selector = (group, version, plural) if group else (version, plural)
        kopf.on.event(*selector, labels=owned, id=f"poke-{plural}", registry=registry)(
            handlers.owned_changed
        )
    for group, version, plural in JOB_RESOURCES:
        kopf.on.event(group, version, plural, id=f"poke-{plural}", registry=registry)(
            handlers.job_resource_changed
        )


def register_clusters_secret(registry: kopf.OperatorRegistry, handlers: InstanceHandlers) -> None:
    """Attach the clusters Secret's handler to `registry`: an operator of its own
    (watcher.startup), since the owned Secrets are watched by label."""
    config = handlers.config

    def is_clusters_secret(name: str | None, namespace: str | None, **_: Any) -> bool:
        return name == config.operator.clusters_secret and namespace == config.operator.namespace

    kopf.on.event("v1", "secrets", when=is_clusters_secret, id="poke-all", registry=registry)(
        handlers.clusters_secret_changed
    )
