"""`python -m sandbox`: the development sandbox (scripts/dev/sandbox runs it).

The sandbox is the development wing's, not the operator's: it is not in the
wheel nor in the image, so it has its own entry point instead of an
`odoo-operator` subcommand.
"""

from __future__ import annotations

import sys

from sandbox import run

sys.exit(run.main(run.build_parser().parse_args()))
