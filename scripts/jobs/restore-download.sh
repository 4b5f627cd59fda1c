#!/bin/sh
# Restore step 1 (tools image): fetch the backup into the workspace.
#
# Env: SOURCE_TYPE s3|odoo; BACKUP_FORMAT zip|sql|dump; WORKSPACE.
#   s3:   S3_ENDPOINT S3_BUCKET S3_KEY, S3_REGION and S3_INSECURE (optional);
#         AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY (secretKeyRef) or
#         AWS_SHARED_CREDENTIALS_FILE (mounted Secret). When the object carries
#         x-amz-meta-sha256 (our uploads do), the download must match it.
#   odoo: ODOO_URL; SOURCE_DB (optional: the server's only database);
#         MASTER_PASSWORD_FILE (a mounted Secret key): POSTed to the server's
#         /web/database/backup, read by curl from the file, never an argument.
# Writes: $WORKSPACE/artifact.
set -eu
. "$(dirname "$0")/common.sh"
need SOURCE_TYPE BACKUP_FORMAT WORKSPACE
artifact="$WORKSPACE/artifact"
errors="${TMPDIR:-/tmp}/download.err.$$"
rm -f "$artifact" "$artifact.part"

from_s3() {
    need S3_ENDPOINT S3_BUCKET S3_KEY
    [ -z "${S3_REGION:-}" ] || export AWS_DEFAULT_REGION="$S3_REGION"
    export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
    # shellcheck disable=SC2046
    head="$(aws s3api head-object --bucket "$S3_BUCKET" --key "$S3_KEY" \
        --query '[Metadata.sha256, ContentLength]' --output text $(s3_args) 2>"$errors")" ||
        s3_explain "$errors"
    expected="$(printf '%s\n' "$head" | cut -f1)"
    total="$(printf '%s\n' "$head" | cut -f2)"
    log "downloading s3://$S3_BUCKET/$S3_KEY"
    progress 0 "$total"
    status="${TMPDIR:-/tmp}/download.status.$$"
    # The aws CLI's progress goes through aws_progress; its exit status, kept apart.
    # shellcheck disable=SC2046
    {
        aws s3 cp "s3://$S3_BUCKET/$S3_KEY" "$artifact.part" $(s3_args) 2>"$errors"
        echo $? >"$status"
    } | aws_progress "$total"
    [ "$(cat "$status")" = 0 ] || s3_explain "$errors"
    if [ -n "$expected" ] && [ "$expected" != None ]; then
        actual="$(sha256sum "$artifact.part" | cut -d' ' -f1)"
        [ "$actual" = "$expected" ] ||
            die "s3://$S3_BUCKET/$S3_KEY is corrupt: its sha256 is $actual, the backup recorded $expected"
    fi
}

from_odoo() {
    need ODOO_URL MASTER_PASSWORD_FILE
    [ -r "$MASTER_PASSWORD_FILE" ] || die "the master password file $MASTER_PASSWORD_FILE is not readable"
    url="${ODOO_URL%/}"
    case "$BACKUP_FORMAT" in
    zip) odoo_format=zip ;;
    dump) odoo_format=dump ;;
    *) die "a live Odoo produces zip or dump backups, not $BACKUP_FORMAT" ;;
    esac
    db="${SOURCE_DB:-}"
    if [ -z "$db" ]; then
        listing="$(curl -sS --fail -X POST -H 'Content-Type: application/json' \
            -d '{"jsonrpc":"2.0","method":"call","params":{}}' "$url/web/database/list" 2>"$errors")" ||
            { cat "$errors" >&2; die "cannot list the databases of $url (set source.odoo.sourceDatabase)"; }
        names="$(printf '%s' "$listing" | sed -n 's/.*"result": *\[\([^]]*\)\].*/\1/p' | tr -d ' "')"
        case "$names" in
        "" | *,*) die "$url serves several databases or none ($names): set source.odoo.sourceDatabase" ;;
        *) db="$names" ;;
        esac
    fi
    log "downloading a $odoo_format backup of database $db from $url"
    watch_size "$artifact.part"
    code="$(curl -sS -o "$artifact.part" -w '%{http_code}' -X POST \
        -F "master_pwd=<$MASTER_PASSWORD_FILE" -F "name=$db" -F "backup_format=$odoo_format" \
        "$url/web/database/backup" 2>"$errors")" || { stop_watch; cat "$errors" >&2; die "cannot reach $url"; }
    stop_watch
    magic="$(head -c 5 "$artifact.part" | od -An -c | tr -d ' \n')"
    case "$odoo_format:$magic" in
    zip:PK003004*) ;;
    dump:PGDMP) ;;
    *)
        # Odoo answers a refused backup with its database manager page, naming the error.
        reason="$(sed -n 's/.*\(Database backup error: [^<]*\).*/\1/p' "$artifact.part" | head -n 1)"
        die "$url did not return a $odoo_format backup of $db (HTTP $code): ${reason:-unexpected content}"
        ;;
    esac
}

case "$SOURCE_TYPE" in
s3) from_s3 ;;
odoo) from_odoo ;;
*) die "unknown SOURCE_TYPE '$SOURCE_TYPE' (s3 or odoo)" ;;
esac
mv "$artifact.part" "$artifact"
size="$(wc -c <"$artifact" | tr -d ' ')"
progress "$size" "$size"
log "downloaded $size bytes"
