"""Validation behaviour of the CRD models.

Covers:
- defaults of a minimal OdooInstance (replicas, cron, init, environment, strategy,
  probes, database.missingPolicy, read-only SQL access) and of the job specs
  (init modules, backup format and filestore, restore neutralize);
- camelCase aliases: parsing by alias or by attribute name, dumping by alias,
  round trip of a full Kubernetes body;
- unknown spec fields refused with the field named;
- negative replicas and malformed hosts, quantities and URLs refused;
- the model-side twins of the CEL rules (productionInstanceRef, restore source);
- parse_resource dispatching on kind, and the apiVersion/kind literals.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from model import crds, naming, phases

UID = "4f1c2b7e-8a9d-4e6f-b1c2-3d4e5f6a7b8c"


def instance_body(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": "shop", "namespace": "acme", "uid": UID, "generation": 3},
        "spec": {"adminPassword": "secret", "ingress": {"hosts": ["shop.example.com"]}, **spec},
    }


def ref() -> dict[str, Any]:
    return {"name": "shop"}


S3 = {"bucket": "backups", "objectKey": "shop/2026.zip", "endpoint": "http://minio:9000"}


def test_instance_defaults_match_reference_when_spec_is_minimal() -> None:
    spec = crds.OdooInstance.model_validate(instance_body()).spec
    assert spec.replicas == 1
    assert spec.cron.replicas == 1
    assert spec.init.enabled is True
    assert spec.init.modules == ["base"]
    assert spec.init.demo is False
    assert spec.environment is crds.Environment.STAGING
    assert spec.strategy.type is crds.StrategyType.RECREATE
    assert spec.strategy.rolling_update.max_surge == "25%"
    assert spec.strategy.rolling_update.max_unavailable == "25%"
    assert spec.probes.startup_path == "/web/health"
    assert spec.probes.liveness_path == "/web/health"
    assert spec.probes.readiness_path == "/web/health"
    assert spec.database.missing_policy is crds.MissingPolicy.IGNORE
    assert spec.database.cluster is None
    assert spec.read_only_sql_access.enabled is False
    assert spec.read_only_sql_access.connection_limit == 5
    assert spec.image is None
    assert spec.tolerations == []
    assert spec.extra_env == []


def test_job_defaults_match_reference_when_specs_are_minimal() -> None:
    init = crds.OdooInitJobSpec.model_validate({"odooInstanceRef": ref()})
    assert init.modules == ["base"]
    assert init.demo is False
    backup = crds.OdooBackupJobSpec.model_validate({"odooInstanceRef": ref(), "destination": S3})
    assert backup.format is crds.BackupFormat.ZIP
    assert backup.with_filestore is True
    assert backup.destination.insecure is False
    restore = crds.OdooRestoreJobSpec.model_validate(
        {"odooInstanceRef": ref(), "source": {"type": "s3", "s3": S3}}
    )
    assert restore.neutralize is True
    assert restore.format is crds.BackupFormat.ZIP
    upgrade = crds.OdooUpgradeJobSpec.model_validate({"odooInstanceRef": ref()})
    assert upgrade.modules == []
    assert upgrade.modules_install == []
    assert upgrade.scheduled_time is None


def test_defaults_are_not_shared_when_two_instances_are_parsed() -> None:
    first = crds.OdooInstance.model_validate(instance_body())
    second = crds.OdooInstance.model_validate(instance_body())
    first.spec.init.modules.append("sale")
    assert second.spec.init.modules == ["base"]


def test_full_body_round_trips_when_parsed_and_dumped() -> None:
    body = instance_body(
        replicas=2,
        cron={"replicas": 0, "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
        ingress={"hosts": ["a.example.com"], "class": "nginx"},
        extraEnv=[{"name": "PGSSLMODE", "value": "require"}],
        readOnlySqlAccess={"enabled": True, "connectionLimit": 3},
        database={"cluster": "main", "missingPolicy": "Recreate"},
    )
    body["status"] = {
        "phase": "Running",
        "readyReplicas": 2,
        "ready": True,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Running",
                "message": "Instance is running",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
                "observedGeneration": 3,
            }
        ],
    }
    instance = crds.OdooInstance.model_validate(body)
    assert instance.metadata.uid == UID
    assert instance.metadata.generation == 3
    assert instance.spec.ingress.class_ == "nginx"
    assert instance.spec.cron.resources == {"limits": {"cpu": "1", "memory": "1Gi"}}
    assert instance.status.phase is phases.Phase.RUNNING
    assert instance.status.conditions[0].status is crds.ConditionStatus.TRUE

    dumped = instance.to_body()
    assert dumped["spec"]["ingress"] == {"hosts": ["a.example.com"], "class": "nginx"}
    assert dumped["spec"]["readOnlySqlAccess"] == {"enabled": True, "connectionLimit": 3}
    assert dumped["spec"]["database"]["missingPolicy"] == "Recreate"
    assert dumped["status"]["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert crds.OdooInstance.model_validate(dumped) == instance


def test_attribute_names_are_accepted_when_building_in_python() -> None:
    spec = crds.OdooBackupJobSpec(
        odoo_instance_ref=crds.OdooInstanceRef(name="shop"),
        destination=crds.S3Config(bucket="b", object_key="k", endpoint="http://s3"),
        with_filestore=False,
    )
    job = crds.OdooBackupJob(metadata=crds.ObjectMeta(name="nightly"), spec=spec)
    body = job.to_body()
    assert body["apiVersion"] == naming.GROUP_VERSION
    assert body["kind"] == "OdooBackupJob"
    assert body["spec"]["withFilestore"] is False
    assert body["spec"]["destination"]["objectKey"] == "k"
    assert "with_filestore" not in body["spec"]
    assert "status" not in body


def test_status_is_kept_when_body_had_one() -> None:
    body = instance_body()
    body["status"] = {"phase": "Stopped"}
    assert crds.OdooInstance.model_validate(body).to_body()["status"]["phase"] == "Stopped"
    assert "status" not in crds.OdooInstance.model_validate(instance_body()).to_body()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ((), "replica"),
        (("cron",), "replicaCount"),
        (("ingress",), "tls"),
        (("database",), "host"),
    ],
)
def test_unknown_field_is_refused_with_its_name_when_spec_has_a_typo(
    path: tuple[str, ...], field: str
) -> None:
    body = instance_body()
    node = body["spec"]
    for key in path:
        node = node.setdefault(key, {})
    node[field] = 1
    with pytest.raises(ValidationError) as caught:
        crds.OdooInstance.model_validate(body)
    assert field in str(caught.value)
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


def test_unknown_field_is_refused_when_job_spec_has_a_typo() -> None:
    with pytest.raises(ValidationError, match="modulesToInstall"):
        crds.OdooUpgradeJobSpec.model_validate(
            {"odooInstanceRef": ref(), "modulesToInstall": ["sale"]}
        )


def test_unknown_status_and_metadata_fields_are_tolerated_when_parsing() -> None:
    body = instance_body()
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    body["status"] = {"phase": "Running", "lastBackup": "yesterday"}
    instance = crds.OdooInstance.model_validate(body)
    assert instance.status.phase is phases.Phase.RUNNING


@pytest.mark.parametrize("field", ["replicas", "cron"])
def test_negative_replicas_are_refused_when_web_or_cron(field: str) -> None:
    spec = {"replicas": -1} if field == "replicas" else {"cron": {"replicas": -1}}
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        crds.OdooInstance.model_validate(instance_body(**spec))


@pytest.mark.parametrize(
    "ingress",
    [{"hosts": []}, {"hosts": ["Not A Host"]}, {"hosts": ["a" * 254]}, {}],
)
def test_bad_ingress_is_refused_when_hosts_are_empty_or_malformed(
    ingress: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        crds.OdooInstance.model_validate(instance_body(ingress=ingress))


@pytest.mark.parametrize("size", ["2Gi", "500M", "1.5Ti", "1e3", "100"])
def test_storage_size_is_accepted_when_it_is_a_quantity(size: str) -> None:
    spec = crds.OdooInstance.model_validate(instance_body(filestore={"storageSize": size})).spec
    assert spec.filestore.storage_size == size


@pytest.mark.parametrize("size", ["2 GiB", "big", "Gi", "-"])
def test_storage_size_is_refused_when_it_is_not_a_quantity(size: str) -> None:
    with pytest.raises(ValidationError, match="storageSize"):
        crds.OdooInstance.model_validate(instance_body(filestore={"storageSize": size}))


def test_webhook_is_refused_when_url_is_not_http() -> None:
    with pytest.raises(ValidationError, match="url"):
        crds.OdooInstance.model_validate(instance_body(webhook={"url": "ftp://x"}))


def test_admin_password_is_optional_and_refused_when_also_named_in_a_secret() -> None:
    body = instance_body()
    del body["spec"]["adminPassword"]
    assert crds.OdooInstance.model_validate(body).spec.admin_password is None  # generated
    ref = {"name": "admin", "key": "password"}
    body["spec"]["adminPasswordSecretRef"] = ref
    named = crds.OdooInstance.model_validate(body).spec.admin_password_secret_ref
    assert named is not None
    assert (named.name, named.key) == ("admin", "password")
    both = r"spec.adminPassword and spec.adminPasswordSecretRef are both set"
    with pytest.raises(ValidationError, match=both):
        crds.OdooInstance.model_validate(instance_body(adminPasswordSecretRef=ref))


def test_production_instance_ref_is_refused_when_environment_is_production() -> None:
    with pytest.raises(ValidationError, match="productionInstanceRef is forbidden"):
        crds.OdooInstance.model_validate(
            instance_body(environment="Production", productionInstanceRef={"name": "prod"})
        )


def test_production_instance_ref_is_accepted_when_environment_is_staging() -> None:
    spec = crds.OdooInstance.model_validate(
        instance_body(productionInstanceRef={"name": "prod"})
    ).spec
    assert spec.production_instance_ref == crds.OdooInstanceRef(name="prod")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"type": "s3"}, "source.s3 is required"),
        ({"type": "odoo", "s3": S3}, "source.odoo is required"),
        ({"type": "ftp"}, "type"),
    ],
)
def test_restore_source_is_refused_when_it_does_not_match_its_type(
    source: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        crds.OdooRestoreJobSpec.model_validate({"odooInstanceRef": ref(), "source": source})


def test_s3_fields_are_required_when_destination_is_incomplete() -> None:
    with pytest.raises(ValidationError) as caught:
        crds.OdooBackupJobSpec.model_validate({"odooInstanceRef": ref(), "destination": {}})
    missing = {error["loc"][-1] for error in caught.value.errors()}
    assert missing == {"bucket", "objectKey", "endpoint"}


def test_parse_resource_returns_the_kind_model_when_given_any_body() -> None:
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooRestoreJob",
        "metadata": {"name": "r1", "namespace": "acme"},
        "spec": {
            "odooInstanceRef": ref(),
            "source": {"type": "odoo", "odoo": {"url": "https://x"}},
        },
        "status": {"phase": "Completed", "completionTime": "2026-01-02T03:04:05Z"},
    }
    job = crds.parse_resource(body)
    assert isinstance(job, crds.OdooRestoreJob)
    assert job.status.phase is phases.JobPhase.COMPLETED
    assert job.status.completion_time is not None
    assert isinstance(crds.parse_resource(instance_body()), crds.OdooInstance)


def test_parse_resource_refuses_when_kind_is_not_ours() -> None:
    with pytest.raises(ValueError, match="Deployment"):
        crds.parse_resource({"kind": "Deployment"})


def test_wrong_kind_is_refused_when_validating_with_another_model() -> None:
    body = instance_body()
    body["kind"] = "OdooInitJob"
    with pytest.raises(ValidationError, match="kind"):
        crds.OdooInstance.model_validate(body)


def test_api_version_literal_matches_naming_when_defaulted() -> None:
    for info in crds.RESOURCES:
        assert info.model.model_fields["api_version"].default == naming.GROUP_VERSION
