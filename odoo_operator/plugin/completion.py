"""Shell completion of `kubectl odoo`: kubectl's plugin convention and scripts of our own.

kubectl (1.26+) completes a plugin's arguments by running
`kubectl_complete-<plugin> <words...>` (the words after `kubectl odoo`, the
last one being completed, possibly empty) and reading Cobra's answer: one
candidate a line (`word<TAB>description`), then `:<directive>` (4: no file
completion). `kubectl-odoo __complete <words...>` answers the same for the
scripts `kubectl odoo completion bash|zsh` prints (for `kubectl-odoo` typed
directly). Owns the candidates: commands, their flags, the choices of a
flag (--format), instance names for NAME and job resources for JOB (read from the
API with the words' -n/--kubeconfig/--context); an API that cannot be
reached completes nothing. Must not write anything.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded only to list names: commands and flags complete at once
    from activities import api

__all__ = ["BASH", "NO_FILE_COMPLETION", "ZSH", "candidates", "kube_of", "script"]

NO_FILE_COMPLETION = 4
"""Cobra's ShellCompDirectiveNoFileComp."""

BASH = r"""# bash completion of kubectl-odoo: source <(kubectl-odoo completion bash)
# (`kubectl odoo <TAB>` completes through kubectl's own completion and kubectl_complete-odoo)
_kubectl_odoo() {
    local cur="${COMP_WORDS[COMP_CWORD]}" out line
    out=$(kubectl-odoo __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
    COMPREPLY=()
    while IFS= read -r line; do
        case "$line" in :*|"") continue ;; esac
        line="${line%%$'\t'*}"
        [[ "$line" == "$cur"* ]] && COMPREPLY+=("$line")
    done <<< "$out"
    return 0
}
complete -F _kubectl_odoo kubectl-odoo
"""

ZSH = r"""#compdef kubectl-odoo
# zsh completion of kubectl-odoo: source <(kubectl-odoo completion zsh)
# (`kubectl odoo <TAB>` completes through kubectl's own completion and kubectl_complete-odoo)
_kubectl_odoo() {
    local -a candidates
    local line
    for line in "${(@f)$(kubectl-odoo __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}"; do
        [[ "$line" == :* || -z "$line" ]] && continue
        candidates+=("${line%%$'\t'*}")
    done
    compadd -a candidates
}
compdef _kubectl_odoo kubectl-odoo
"""


def script(shell: str) -> str:
    return {"bash": BASH, "zsh": ZSH}[shell]


_CONNECTION_FLAGS = {"-n": "namespace", "--namespace": "namespace", "--kubeconfig": "kubeconfig",
                     "--context": "context"}  # fmt: skip
_NAME_COMMANDS = {"status", "history", "backup", "restore", "upgrade", "psql", "hold", "resume"}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def _help(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return choice.help or ""
    return ""


def candidates(
    parser: argparse.ArgumentParser,
    words: Sequence[str],
    connect: Callable[[dict[str, str]], tuple[api.KubeApi, str]],
) -> list[str]:
    """The completions of the last of `words` (see the module docstring)."""
    current = words[-1] if words else ""
    before = list(words[:-1])
    commands = _subcommands(parser)
    flags = _options(parser)
    given: dict[str, str] = {}
    command: str | None = None
    positionals: list[str] = []
    index = 0
    while index < len(before):
        word = before[index]
        options = _options(commands[command]) if command else flags
        action = options.get(word.split("=", 1)[0])
        if action is not None:
            takes_value = action.nargs != 0
            if takes_value and "=" not in word:
                if index + 1 == len(before):
                    choices = [str(choice) for choice in action.choices or ()]
                    return [choice for choice in choices if choice.startswith(current)]
                if word in _CONNECTION_FLAGS:
                    given[_CONNECTION_FLAGS[word]] = before[index + 1]
                index += 2
                continue
        elif word.startswith("-"):
            pass  # unknown flag: no value assumed
        elif command is None and word in commands:
            command = word
        else:
            positionals.append(word)
        index += 1
    if current.startswith("-"):
        options = _options(commands[command]) if command else flags
        return sorted(flag for flag in options if flag.startswith(current) and flag != "-h")
    if command is None:
        return [
            f"{name}\t{_help(parser, name)}".rstrip("\t")
            for name in commands
            if name.startswith(current)
        ]
    if positionals:
        return []
    if command == "completion":
        return [shell for shell in ("bash", "zsh") if shell.startswith(current)]
    if command in _NAME_COMMANDS:
        return _listed(given, connect, current, instances=True)
    if command == "logs":
        return _listed(given, connect, current, instances=False)
    return []


def _listed(
    given: dict[str, str],
    connect: Callable[[dict[str, str]], tuple[api.KubeApi, str]],
    current: str,
    *,
    instances: bool,
) -> list[str]:
    from activities import api
    from model.payloads import JobKind

    try:
        kube, namespace = connect(given)
    except Exception:  # completion offers nothing rather than a traceback
        return []
    try:
        if instances:
            names = [i["metadata"]["name"] for i in kube.list_of(api.INSTANCE, namespace)]
        else:
            names = [
                f"{kind.value}/{item['metadata']['name']}"
                for kind in JobKind
                for item in kube.list_of(api.job_resource(kind.plural), namespace)
            ]
    except Exception:  # the same: an API that refuses or cannot be reached
        return []
    finally:
        kube.close()
    return sorted(name for name in names if name.startswith(current))


def kube_of(given: dict[str, str]) -> tuple[api.KubeApi, str]:
    """The API and namespace the words name, as the commands open them."""
    from activities import api

    kubeconfig = Path(given["kubeconfig"]) if "kubeconfig" in given else None
    context = given.get("context")
    kube = api.connect(kubeconfig, context=context, connections=1)
    namespace = given.get("namespace") or api.kubeconfig_namespace(kubeconfig, context)
    return kube, namespace or "default"
