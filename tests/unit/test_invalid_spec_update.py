"""A spec that does not parse still reaches its workflow, as a problem (watcher.handlers).

Covers parse_spec_update on bodies the API server stored but the model
refuses (written before a rule existed, or without the admission webhook):
the SpecUpdate carries the problem naming each field, never a value, and a
redacted stand-in spec without the refused fields (the rest kept); a spec
whose stand-in cannot parse either (a required field missing) is still an
InvalidSpec; a good spec carries no problem.
"""

from __future__ import annotations

from typing import Any

import pytest

from watcher.handlers import InvalidSpec, parse_spec_update


def _body(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "shop", "uid": "u-1", "generation": 4},
        "spec": {
            "adminPassword": "master-s3cret",
            "ingress": {"hosts": ["shop.example.com"]},
            "replicas": 2,
            **spec,
        },
    }


_BACKUP = {"destination": {"bucket": "b", "endpoint": "http://s3:9000"}}


@pytest.mark.parametrize(
    ("spec", "field", "dropped"),
    [
        ({"backup": {"schedule": "0 0 31 2 *", **_BACKUP}}, "spec.backup.schedule: ", "backup"),
        ({"backup": {"schedule": "61 2 * * *", **_BACKUP}}, "spec.backup.schedule: ", "backup"),
        ({"configOptions": {"SMTP_PASSWORD": "hunter2"}}, "spec.configOptions: ", "config_options"),
    ],
    ids=["never fires", "minute out of range", "upper-case secret key"],
)
def test_problem_names_the_field_and_a_stand_in_drops_it_when_the_spec_does_not_parse(
    spec: dict[str, Any], field: str, dropped: str
) -> None:
    update = parse_spec_update(_body(**spec))
    assert update.problem is not None
    assert update.problem.startswith(field)
    assert "hunter2" not in update.problem
    assert "master-s3cret" not in update.model_dump_json()
    assert update.generation == 4
    assert update.spec.replicas == 2  # what parses is kept
    assert update.spec.model_fields_set.isdisjoint({dropped})


def test_invalid_spec_raised_when_even_the_stand_in_does_not_parse() -> None:
    body = _body(configOptions={"SMTP_PASSWORD": "hunter2"})
    del body["spec"]["ingress"]
    with pytest.raises(InvalidSpec) as refused:
        parse_spec_update(body)
    assert "spec.ingress" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_no_problem_when_the_spec_parses() -> None:
    update = parse_spec_update(_body())
    assert update.problem is None
    assert update.spec.admin_password is None  # redacted: no secret in the payload
