"""The operator's settings from its process environment and its command line.

Owns reading the environment (nothing else in the operator does): each field
of `model.settings.Settings` is read from the variable its description names
(`ODOO_OPERATOR_<NAME>`, or POD_NAME) and from a command-line flag named after
it (`--temporal-address` for ODOO_OPERATOR_TEMPORAL_ADDRESS, `--pod-name` for
POD_NAME); a flag wins over its variable, which wins over the default. Must not
hold a default or parse a value: model.settings has the defaults, and its
fields parse the text (numbers, booleans, comma lists, JSON).

The `kubectl odoo` plugin is a client, configured as the temporal CLI is:
`temporal_client` reads the temporal CLI's variables (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA,
TEMPORAL_API_KEY) under its flags; `child_environment` is what a program it
runs (psql) gets.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pydantic.fields import FieldInfo

from model import settings

__all__ = [
    "TEMPORAL_CLI_VARIABLES",
    "Source",
    "add_flags",
    "child_environment",
    "from_arguments",
    "from_environment",
    "sources",
    "temporal_client",
]

TEMPORAL_CLI_VARIABLES = {
    "address": "TEMPORAL_ADDRESS",
    "namespace": "TEMPORAL_NAMESPACE",
    "tls_cert": "TEMPORAL_TLS_CERT",
    "tls_key": "TEMPORAL_TLS_KEY",
    "tls_ca": "TEMPORAL_TLS_CA",
    "api_key": "TEMPORAL_API_KEY",
}
"""The temporal CLI's variables, by field of model.settings.TemporalSettings."""

_DEST_PREFIX = "setting__"


@dataclass(frozen=True)
class Source:
    """Where one setting comes from: its group and field, its variable and its flag."""

    group: str
    """The group's field of the root Settings (`temporal`)."""
    field: str
    """The field of that group (`address`)."""
    info: FieldInfo
    variable: str
    """`ODOO_OPERATOR_TEMPORAL_ADDRESS`."""

    @property
    def flag(self) -> str:
        """`--temporal-address`: the variable without its prefix, in kebab case."""
        name = self.variable.removeprefix(settings.ENV_PREFIX)
        return f"--{name.lower().replace('_', '-')}"

    @property
    def dest(self) -> str:
        return f"{_DEST_PREFIX}{self.group}__{self.field}"


def sources() -> Iterator[Source]:
    """Every settings field, group by group in the order the model declares them."""
    for group, group_info in settings.Settings.model_fields.items():
        model = group_info.annotation
        if not (isinstance(model, type) and issubclass(model, settings.SettingsGroup)):
            raise TypeError(f"Settings.{group} is not a settings group")
        for field, info in model.model_fields.items():
            yield Source(group, field, info, settings.variable(info))


def from_environment(
    environ: Mapping[str, str] | None = None, flags: Mapping[str, str] | None = None
) -> settings.Settings:
    """Settings from `flags` (by variable name), else `environ` (default: this
    process's), else the defaults."""
    env = os.environ if environ is None else environ
    given = flags or {}
    values: dict[str, dict[str, str]] = {}
    for source in sources():
        text = given.get(source.variable, env.get(source.variable))
        if text is not None:
            values.setdefault(source.group, {})[source.field] = text
    return settings.Settings.model_validate(values)


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, its help the field's description (which names its variable)."""
    group = parser.add_argument_group("settings (each also read from its environment variable)")
    for source in sources():
        group.add_argument(
            source.flag,
            dest=source.dest,
            metavar="VALUE",
            default=None,
            help=source.info.description,
        )


def from_arguments(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> settings.Settings:
    """Settings from the flags `add_flags` declared, over the environment."""
    given = vars(args)
    flags = {
        source.variable: given[source.dest]
        for source in sources()
        if given.get(source.dest) is not None
    }
    return from_environment(environ, flags)


def temporal_client(
    flags: Mapping[str, str | None], environ: Mapping[str, str] | None = None
) -> settings.TemporalSettings:
    """How a client reaches Temporal: `flags` (by TemporalSettings field), else the
    temporal CLI's variable (TEMPORAL_CLI_VARIABLES), else the default."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for field, variable in TEMPORAL_CLI_VARIABLES.items():
        text = flags.get(field) or env.get(variable)
        if text:
            values[field] = text
    return settings.TemporalSettings.model_validate(values)


def child_environment(**variables: str) -> dict[str, str]:
    """This process's environment plus `variables`, for a program it runs."""
    return {**os.environ, **variables}
