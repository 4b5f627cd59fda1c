#!/bin/sh
# Backup step 3 (tools image): upload the artifact to S3.
#
# Env: WORKSPACE; S3_ENDPOINT S3_BUCKET S3_KEY, S3_REGION and S3_INSECURE
#      (optional); AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY (secretKeyRef) or
#      AWS_SHARED_CREDENTIALS_FILE (a mounted Secret).
# The aws CLI uploads in parts above 8 MiB; S3 shows the object under its key
# only once the whole upload completed, so an interrupted upload never leaves
# a partial object behind. A failed upload aborts the unfinished multipart
# uploads of its key (their parts would be stored, and billed, for ever); one
# killed before it could is aborted by the operator when it records the
# failure. The artifact's sha256 travels as object metadata
# (x-amz-meta-sha256), which the restore checks.
set -eu
. "$(dirname "$0")/common.sh"
need WORKSPACE S3_ENDPOINT S3_BUCKET S3_KEY
artifact="$WORKSPACE/artifact"
[ -f "$artifact" ] || die "no artifact in the workspace (the package step did not finish)"
[ -z "${S3_REGION:-}" ] || export AWS_DEFAULT_REGION="$S3_REGION"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
sha="$(cat "$artifact.sha256")"
size="$(wc -c <"$artifact" | tr -d ' ')"
errors="${TMPDIR:-/tmp}/aws.err.$$"
status="${TMPDIR:-/tmp}/aws.status.$$"

# abort_uploads: abort the unfinished multipart uploads of S3_KEY (best effort).
abort_uploads() {
    # shellcheck disable=SC2046
    ids="$(aws s3api list-multipart-uploads --bucket "$S3_BUCKET" --prefix "$S3_KEY" \
        --query 'Uploads[].[Key, UploadId]' --output text $(s3_args) 2>/dev/null)" || return 0
    printf '%s\n' "$ids" | while read -r key id; do
        [ "$key" = "$S3_KEY" ] && [ -n "$id" ] && [ "$id" != None ] || continue
        # shellcheck disable=SC2046
        aws s3api abort-multipart-upload --bucket "$S3_BUCKET" --key "$key" --upload-id "$id" \
            $(s3_args) 2>/dev/null && log "aborted the unfinished upload $id"
    done
}

log "uploading $size bytes to s3://$S3_BUCKET/$S3_KEY"
progress 0 "$size"
# The aws CLI's progress goes through aws_progress; its exit status, kept apart.
# shellcheck disable=SC2046
{
    aws s3 cp "$artifact" "s3://$S3_BUCKET/$S3_KEY" --metadata "sha256=$sha" $(s3_args) 2>"$errors"
    echo $? >"$status"
} | aws_progress "$size"
[ "$(cat "$status")" = 0 ] || {
    abort_uploads
    s3_explain "$errors"
}
# shellcheck disable=SC2046
stored="$(aws s3api head-object --bucket "$S3_BUCKET" --key "$S3_KEY" \
    --query ContentLength --output text $(s3_args) 2>"$errors")" || s3_explain "$errors"
[ "$stored" = "$size" ] || die "the endpoint stored $stored bytes instead of $size"
progress "$size" "$size"
log "uploaded s3://$S3_BUCKET/$S3_KEY ($size bytes, sha256 $sha)"
