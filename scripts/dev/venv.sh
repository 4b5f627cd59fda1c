#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv with the
# extras named in $1 ("dev" or "sandbox"). Sourced by scripts/dev/test and
# scripts/dev/sandbox; reinstalls only when pyproject.toml changes.
set -euo pipefail
extras="${1:-dev}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv"

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    echo "odoo-operator needs Python 3.11 or newer on PATH" >&2
    exit 1
fi

stamp="$venv/.installed-$extras"
want="$(cat "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing odoo-operator[$extras] into .venv (log: .venv/pip.log) ..." >&2
    if ! "$venv/bin/python" -m pip install -e "$root[$extras]" > "$venv/pip.log" 2>&1; then
        tail -n 40 "$venv/pip.log" >&2
        echo "pip install failed; the whole log is in .venv/pip.log" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
