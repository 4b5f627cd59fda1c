# Sourced by every step script of the backup and restore Jobs (POSIX sh).
#
# Conventions: every input comes from the environment (paths too: the local
# pod runner of the tests rewrites mount paths in env values); credentials
# only through secretKeyRef env (PGPASSWORD, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY) or a mounted file (*_FILE), never a command-line
# argument; every failure ends with one line `<step>: error: <what to do>`,
# which the operator copies into the job resource's status.message. A long
# step says how far it came every PROGRESS_SECONDS (5) with a line
# `progress: step=<step> bytes=<done> total=<all>` (or rows=, tables=): the
# Pod has no API credentials, so the operator reads the last of these lines
# from the container's log (activities.job_follow) into the job resource's
# status.progress and the Temporal UI.

STEP="${STEP:-$(basename "$0" .sh)}"
# Never wait for an EC2 metadata service; never read a user's ~/.aws.
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE="${AWS_CONFIG_FILE:-/dev/null}"
export AWS_PAGER=""

log() { printf '%s: %s\n' "$STEP" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$STEP" "$*" >&2
    exit 1
}

# need VAR...: every named variable is set and not empty.
need() {
    for _var in "$@"; do
        eval "_val=\${$_var:-}"
        [ -n "$_val" ] || die "$_var is not set (the Job's environment is incomplete)"
    done
}

# progress DONE [TOTAL] [UNIT]: how far this step came (UNIT: bytes, rows or tables).
progress() {
    printf 'progress: step=%s %s=%s%s\n' "$STEP" "${3:-bytes}" "$1" "${2:+ total=$2}" >&2
}

# watch_size FILE [TOTAL]: report FILE's size as the step's progress every
# PROGRESS_SECONDS in the background, while a tool writes it; stop_watch ends it
# (and it ends with the script, however that ends).
watch_size() {
    _script=$$
    (
        while kill -0 "$_script" 2>/dev/null; do
            [ ! -f "$1" ] || progress "$(wc -c <"$1" | tr -d ' ')" "${2:-}"
            sleep "${PROGRESS_SECONDS:-5}"
        done
    ) &
    WATCHER=$!
}
stop_watch() {
    [ -z "${WATCHER:-}" ] || kill "$WATCHER" 2>/dev/null || true
    WATCHER=
}

# aws_progress TOTAL: the aws CLI's own progress output on stdin ("Completed
# 38.0 MiB/120.0 MiB (...)", carriage-return separated) as progress lines, at
# most one every PROGRESS_SECONDS.
aws_progress() {
    tr '\r' '\n' | LC_ALL=C awk -v total="$1" -v step="$STEP" -v every="${PROGRESS_SECONDS:-5}" '
        BEGIN { unit["Bytes"] = 1; unit["KiB"] = 1024; unit["MiB"] = 1048576
                unit["GiB"] = 1073741824; unit["TiB"] = 1099511627776; srand(); last = srand() - every }
        $1 == "Completed" {
            split($3, size, "/")
            done = int($2 * unit[size[1]])
            srand(); now = srand()
            if (now - last >= every) {
                printf "progress: step=%s bytes=%d total=%d\n", step, done, total > "/dev/stderr"
                last = now
            }
        }'
}

# count_bytes TOTAL: copy stdin to stdout, reporting the bytes passed as progress
# every PROGRESS_SECONDS (for a stream a tool reads, such as an SQL dump into psql).
count_bytes() {
    LC_ALL=C awk -v total="$1" -v step="$STEP" -v every="${PROGRESS_SECONDS:-5}" '
        BEGIN { srand(); last = srand() }
        { print; done += length($0) + 1
          srand(); now = srand()
          if (now - last >= every) {
              printf "progress: step=%s bytes=%d total=%d\n", step, done, total > "/dev/stderr"
              last = now
          } }'
}

is_true() {
    case "${1:-}" in
    true | True | TRUE | 1 | yes) return 0 ;;
    *) return 1 ;;
    esac
}

# The major version of a PostgreSQL client tool ("pg_dump (PostgreSQL) 18.1" -> 18).
tool_major() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is not installed in this image"
    "$1" --version | awk '{ split($3, v, "."); print v[1]; exit }'
}

# server_major DB: the major version of the server we connect to (PG* env).
server_major() {
    _num="$(psql -X -A -t -q -d "$1" -c 'SHOW server_version_num' 2>"${TMPDIR:-/tmp}/psql.err.$$")" || {
        cat "${TMPDIR:-/tmp}/psql.err.$$" >&2
        die "cannot connect to PostgreSQL at ${PGHOST:-?}:${PGPORT:-5432} as ${PGUSER:-?} (database $1)"
    }
    echo $((_num / 10000))
}

# check_tools DB TOOL...: each client tool is at least the server's major version
# (pg_dump cannot dump a newer server; pg_restore cannot read a newer archive).
check_tools() {
    _db="$1"
    shift
    _server="$(server_major "$_db")"
    for _tool in "$@"; do
        _client="$(tool_major "$_tool")"
        [ "$_client" -ge "$_server" ] ||
            die "$_tool $_client is older than the PostgreSQL $_server server; run this step with PostgreSQL client tools $_server or newer"
    done
    SERVER_MAJOR="$_server"
}

# s3_args: the aws CLI options every S3 call takes (endpoint, TLS, region).
s3_args() {
    need S3_ENDPOINT
    printf -- '--endpoint-url %s' "$S3_ENDPOINT"
    if is_true "${S3_INSECURE:-false}"; then printf ' --no-verify-ssl'; fi
    if [ -z "${AWS_ACCESS_KEY_ID:-}" ] && [ -z "${AWS_SHARED_CREDENTIALS_FILE:-}" ]; then
        printf ' --no-sign-request'
    fi
}

# s3_explain FILE: turn the aws CLI's error output into what to fix, then die.
s3_explain() {
    cat "$1" >&2
    _where="s3://${S3_BUCKET:-?}/${S3_KEY:-?} at ${S3_ENDPOINT:-?}"
    if grep -q -e 'InvalidAccessKeyId' -e 'SignatureDoesNotMatch' -e 'AccessDenied' -e '(403)' -e 'Forbidden' "$1"; then
        die "access to $_where was denied: check accessKey and secretKey in the S3 credentials Secret"
    elif grep -q 'NoSuchBucket' "$1"; then
        die "bucket ${S3_BUCKET:-?} does not exist at ${S3_ENDPOINT:-?}"
    elif grep -q -e 'NoSuchKey' -e '(404)' -e 'Not Found' "$1"; then
        die "$_where does not exist"
    elif grep -q -e 'Could not connect' -e 'Connection refused' -e 'Connect timeout' "$1"; then
        die "cannot reach the S3 endpoint ${S3_ENDPOINT:-?}"
    fi
    die "S3 transfer of $_where failed (see the aws CLI output above)"
}

# sql_quote VALUE: a single-quoted SQL literal.
sql_quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

# ident VALUE: a double-quoted SQL identifier.
ident() {
    printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"
}
