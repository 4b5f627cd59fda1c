"""Every (group, resource, verb) the chart grants is one the operator uses, and back.

The grants are files/rbac-rules.yaml (the chart's ClusterRole and Roles are
built from it: tests/chart/test_render.py). The uses are derived from the
code, four sources:

1. Every call on `activities.api.KubeApi` (the operator's only way to the
   API: the activities, the watcher's Lease and the webhook's instance
   lookup through odoo_operator/runner.py) found in the source with `ast`. The resource is the
   call's first argument: an `api.<RESOURCE>` constant, a local or
   module-level name bound to one (an assignment, or a `for` over a literal
   tuple of them), `api.Resource("<apiVersion>", "<plural>")`,
   `api.job_resource(...)` (the four job kinds), or a parameter annotated
   `api.Resource` (whatever the module's calls of that function pass); a
   `sub="status"` keyword
   makes it the status subresource. The verb is what the method sends: get
   and find GET (get), list_of GETs a collection (list), create POSTs
   (create), replace PUTs (update), merge_patch and json_patch PATCH (patch), delete DELETEs
   (delete), and apply is a server-side apply PATCH, which RBAC checks as
   patch and, when the object does not exist yet, as create. A call whose
   resource cannot be resolved fails the test: keep the code analyzable.
2. RBAC escalation: the instance Role the activities create grants its
   rules, which the API server allows only to a creator holding them
   (specs.rbac.role()).
3. Kopf, from the registries the watcher really builds: a changing handler
   (create, update, resume) needs list and watch, and patch for its
   progress and last-handled-configuration annotations; event and index
   handlers need list and watch; Kopf posts Events (create) for warnings.
   With a glob in --watch-namespaces Kopf also lists and watches Namespaces
   and CustomResourceDefinitions (its scanning, `settings.scanning`).
4. Owner references: every batch Job, Deployment and other child carries an
   ownerReference with blockOwnerDeletion to its instance or to its job
   resource (specs.facts.owner), which the OwnerReferencesPermissionEnforcement
   admission plugin allows only to who may update the owner kind's finalizers.

A grant no source uses, or a use no grant covers, fails with the list.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest

from activities import api
from model.crds import OdooInstanceSpec
from model.payloads import JobKind
from model.settings import Settings, WatcherSettings
from odoo_operator import runner
from sandbox import operator_rbac
from specs import facts, rbac
from watcher.startup import Watcher

ROOT = Path(__file__).resolve().parents[2]
Use = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)

KUBE_API_VERBS = {
    "get": ("get",),
    "find": ("get",),
    "list_of": ("list",),
    "create": ("create",),
    "replace": ("update",),
    "apply": ("patch", "create"),
    "merge_patch": ("patch",),
    "json_patch": ("patch",),
    "delete": ("delete",),
}


def group_of(resource: api.Resource) -> str:
    return resource.api_version.rpartition("/")[0]


def constants() -> dict[str, api.Resource]:
    return {name: value for name, value in vars(api).items() if isinstance(value, api.Resource)}


JOB_RESOURCES = [api.job_resource(kind.plural) for kind in JobKind]


def resolve(node: ast.expr, local: dict[str, list[api.Resource]]) -> list[api.Resource] | None:
    known = constants()
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "api"
        and node.attr in known
    ):
        return [known[node.attr]]
    if isinstance(node, ast.Name):
        return local.get(node.id)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "job_resource"
    ):
        kind = ast.unparse(node.args[0]) if node.args else ""
        for job_kind in JobKind:
            if kind == f"JobKind.{job_kind.name}.plural":
                return [api.job_resource(job_kind.plural)]
        return JOB_RESOURCES
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "Resource"
        and all(isinstance(arg, ast.Constant) for arg in node.args)
    ):
        return [api.Resource(*(arg.value for arg in node.args))]  # type: ignore[union-attr]
    return None


def module_bindings(tree: ast.Module) -> dict[str, list[api.Resource]]:
    """Module-level names bound to Resources, and the Resources passed for each
    parameter annotated `api.Resource` by the module's own calls."""
    local: dict[str, list[api.Resource]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            found = resolve(node.value, local)
            if isinstance(target, ast.Name) and found is not None:
                local[target.id] = found
    parameters: dict[str, list[tuple[int, str]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for index, arg in enumerate(node.args.args):
                if arg.annotation is not None and ast.unparse(arg.annotation) == "api.Resource":
                    parameters.setdefault(node.name, []).append((index, arg.arg))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            for index, name in parameters.get(node.func.id, []):
                if index < len(node.args):
                    local.setdefault(name, [])
                    local[name] += resolve(node.args[index], local) or []
    return local


def bindings(
    function: ast.AST, module: dict[str, list[api.Resource]]
) -> dict[str, list[api.Resource]]:
    """Names bound to Resources in `function` (assignments, for-loop targets),
    over the module's (`module_bindings`)."""
    local: dict[str, list[api.Resource]] = dict(module)
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            found = resolve(node.value, local)
            if isinstance(target, ast.Name) and found is not None:
                local[target.id] = found
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple):
            target = node.target
            first = target.elts[0] if isinstance(target, ast.Tuple) else target
            if not isinstance(first, ast.Name):
                continue
            values: list[api.Resource] = []
            for element in node.iter.elts:
                head = element.elts[0] if isinstance(element, ast.Tuple) else element
                values += resolve(head, local) or []
            if values:
                local[first.id] = values
    return local


def functions(tree: ast.Module) -> Iterator[ast.AST]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def activity_uses() -> set[Use]:
    uses: set[Use] = set()
    unresolved: list[str] = []
    sources = [*sorted((ROOT / "activities").glob("*.py")), ROOT / "odoo_operator" / "runner.py"]
    for path in sources:
        if path.name == "api.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        module = module_bindings(tree)
        for function in functions(tree):
            local = bindings(function, module)
            for node in ast.walk(function):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in KUBE_API_VERBS
                    and "kube" in ast.unparse(node.func.value)
                    and node.args
                ):
                    continue
                resources = resolve(node.args[0], local)
                if resources is None:
                    unresolved.append(f"{path.name}:{node.lineno} {ast.unparse(node)[:80]}")
                    continue
                sub = next(
                    (
                        k.value.value
                        for k in node.keywords
                        if k.arg == "sub" and isinstance(k.value, ast.Constant)
                    ),
                    None,
                )
                for resource in resources:
                    name = f"{resource.plural}/{sub}" if sub else resource.plural
                    for verb in KUBE_API_VERBS[node.func.attr]:
                        uses.add((group_of(resource), name, verb))
    assert not unresolved, "KubeApi calls whose resource the test cannot tell:\n" + "\n".join(
        unresolved
    )
    return uses


def escalation_uses() -> set[Use]:
    instance = facts.Instance(
        name="shop",
        namespace="prod",
        uid="uid-1",
        spec=OdooInstanceSpec.model_validate(
            {"adminPassword": "x", "ingress": {"hosts": ["shop.example.com"]}}
        ),
        database=facts.Database(host="pg", port=5432, name="odoo_uid_1", user="u"),
    )
    return set(expand(rbac.role(instance)["rules"]))


def kopf_uses() -> set[Use]:
    async def no_client() -> Any:
        raise AssertionError("not called")

    settings = Settings(watcher=WatcherSettings(scanning_namespaces=True))
    config = runner.watcher_config(settings)
    # Elected: every registry (the leading handlers, the clusters Secret's, the serving
    # webhook and index).
    watcher = Watcher(config, no_client, elector=object())  # type: ignore[arg-type]
    assert watcher.serving_registry is not None
    uses: set[Use] = {("", "events", "create")}  # kopf.warn and Kopf's own warnings
    if config.watcher.scanning_namespaces:  # globs: Kopf follows Namespaces and CRDs
        uses |= {
            ("", "namespaces", "list"),
            ("", "namespaces", "watch"),
            ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
            ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        }
    for registry in (watcher.registry, watcher.serving_registry, watcher.clusters_registry):
        for handlers, verbs in (
            (registry._changing, ("list", "watch", "patch")),
            (registry._spawning, ("list", "watch", "patch")),
            (registry._watching, ("list", "watch")),
            (registry._indexing, ("list", "watch")),
        ):
            for handler in handlers.get_all_handlers():
                selector: kopf.Selector = handler.selector  # type: ignore[attr-defined]
                resource = selector.plural or selector.any_name
                assert resource, f"a Kopf handler on an unnamed resource: {handler}"
                for verb in verbs:
                    uses.add((selector.group or "", str(resource), verb))
    return uses


def expand(rules: Iterable[dict[str, Any]]) -> Iterator[Use]:
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    yield (group, resource, verb)


def test_the_analysis_finds_the_calls_it_must_find() -> None:
    """The derivation itself: a few calls known to exist are found."""
    uses = activity_uses()
    assert ("apps", "deployments", "patch") in uses  # scaling's merge_patch
    assert ("bemade.org", "odooinstances/status", "patch") in uses  # record_status
    assert ("", "serviceaccounts", "create") in uses  # apply in a for loop
    assert ("bemade.org", "odoobackupjobs/status", "patch") in uses  # job_resource(...)
    assert ("coordination.k8s.io", "leases", "update") in uses  # the runner's Lease store
    assert ("bemade.org", "odooinstances", "get") in uses  # the webhook's instance lookup


def owner_uses() -> set[Use]:
    """Update on the finalizers of every kind that owns a child (source 4)."""
    owners = ["odooinstances", *(kind.plural for kind in JobKind)]
    return {("bemade.org", f"{plural}/finalizers", "update") for plural in owners}


@pytest.fixture(scope="module")
def uses() -> set[Use]:
    return activity_uses() | escalation_uses() | kopf_uses() | owner_uses()


def test_every_call_the_code_makes_has_a_rule(uses: set[Use]) -> None:
    granted = set(expand(operator_rbac.load_rules()))
    assert sorted(uses - granted) == []


def test_every_rule_is_used_by_the_code(uses: set[Use]) -> None:
    granted = set(expand(operator_rbac.load_rules()))
    assert sorted(granted - uses) == []
