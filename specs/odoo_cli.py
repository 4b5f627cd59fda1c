"""Odoo facts that depend on the Odoo version or on odoo.conf: pure functions.

Owns reading the Odoo version from an image reference, the command line of
the init and upgrade runs per version, and which port serves `/websocket`.
No I/O; specs.config, specs.workloads, specs.network and specs.jobs call these.

Versions (verified against Odoo's `odoo/tools/config.py` of each series):

- 16.0, 17.0, 18.0: demo data is loaded by default when a module is
  installed; `--without-demo=all` turns it off. There is no `--with-demo`.
- 19.0: demo data is off by default; `--with-demo` turns it on (passing
  nothing keeps it off).
- every series: `-i <modules>` installs, `-u <modules>` updates, `-d <db>`,
  `--no-http`, `--stop-after-init`.

The version is the leading number of the image tag (`odoo:19.0`,
`registry:5000/odoo:17`, `odoo:18.0-20250101`); a tag without one (`latest`,
a digest only, a custom name) counts as DEFAULT_VERSION, the default image's.
The series (`18.0`) is known only when the tag starts with one
(`odoo:18.0`, `odoo:18.0-20250101`): a backup's manifest.json falls back to
it, and claims nothing when the tag does not say.

Websocket (the bus, Odoo 16+): with `workers` 0 (the default: odoo.conf sets
none) Odoo runs threaded and serves `/websocket` on the HTTP port 8069; with
`workers` > 0 (configOptions.workers) it runs the prefork server and only its
gevent process, on `gevent_port` (8072), serves `/websocket`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_VERSION",
    "GEVENT_PORT",
    "HTTP_PORT",
    "init_args",
    "odoo_version",
    "series",
    "upgrade_args",
    "websocket_port",
    "workers",
]

DEFAULT_VERSION = 18
"""The series of the operator's default image (model.settings.DEFAULT_IMAGE)."""
HTTP_PORT = 8069
GEVENT_PORT = 8072

_LEADING_NUMBER = re.compile(r"^(\d+)(?:\.|-|$)")
_SERIES = re.compile(r"^(\d+\.\d+)(?:-|$)")


def _tag(image: str) -> str:
    """The tag of an image reference (`18.0-20250101`), without a digest; empty when none."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def odoo_version(image: str) -> int:
    """The Odoo major version of an image reference (see the module docstring)."""
    match = _LEADING_NUMBER.match(_tag(image))
    return int(match.group(1)) if match else DEFAULT_VERSION


def series(image: str) -> str:
    """`18.0` from `odoo:18.0` or `.../odoo:18.0-20250101`; empty when the tag says nothing."""
    match = _SERIES.match(_tag(image))
    return match.group(1) if match else ""


def _demo_flags(version: int, demo: bool) -> list[str]:
    if version >= 19:
        return ["--with-demo"] if demo else []
    return [] if demo else ["--without-demo=all"]


def init_args(version: int, modules: Sequence[str], database: str, *, demo: bool) -> list[str]:
    """Arguments of `odoo` that install `modules` into a new `database`, then stop."""
    args = ["-i", ",".join(modules) or "base", "-d", database, "--no-http", "--stop-after-init"]
    return args + _demo_flags(version, demo)


def upgrade_args(
    version: int, modules: Sequence[str], database: str, *, install: Sequence[str] = ()
) -> list[str]:
    """Arguments of `odoo` that update `modules` and install `install` in `database`,
    then stop; `-u all` when both are empty.

    The same in 16 to 19; `version` is taken so that a series that changes
    it changes here only.
    """
    del version  # identical in every supported series
    args: list[str] = []
    if modules or not install:
        args += ["-u", ",".join(modules) or "all"]
    if install:
        args += ["-i", ",".join(install)]
    return [*args, "-d", database, "--no-http", "--stop-after-init"]


def workers(options: Mapping[str, str]) -> int:
    """odoo.conf `workers` from configOptions (0 when unset or not a number)."""
    try:
        return max(0, int(options.get("workers", "0")))
    except ValueError:
        return 0


def websocket_port(options: Mapping[str, str]) -> int:
    """The port serving `/websocket`: 8069 threaded (workers 0), gevent_port with workers."""
    if workers(options) == 0:
        return HTTP_PORT
    try:
        return int(options.get("gevent_port", str(GEVENT_PORT)))
    except ValueError:
        return GEVENT_PORT
