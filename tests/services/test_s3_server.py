"""The embedded S3 server (versitygw, posix backend) and the S3 clients that talk to it.

Covers:
- The session server answers signed requests; a wrong secret key is refused
  (403 SignatureDoesNotMatch) and a missing key is a 404 NoSuchKey.
- The aws CLI the Job scripts use uploads a 20 MiB file in parts (the ETag
  says how many) with its sha256 as metadata, and reads it back identical.
- An upload interrupted before CompleteMultipartUpload leaves no object under
  its key (only a pending multipart upload).
- A server stopped and started again on the same directory serves the same
  objects with the same credentials (the sandbox keeps its backups).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from activities import s3 as s3_client
from sandbox import s3


def _aws(server: s3.S3Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [str(server.client_path / "aws"), "--endpoint-url", server.endpoint, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _bucket() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def test_signed_requests_are_answered_and_bad_ones_refused(s3_server: s3.S3Server) -> None:
    client = s3_server.client()
    bucket = _bucket()
    assert client.create_bucket(bucket)
    assert not client.create_bucket(bucket)
    client.put_object(bucket, "dir/a b+c.txt", b"hello", {"sha256": "abc"})
    assert [o.key for o in client.list_objects(bucket)] == ["dir/a b+c.txt"]
    assert (client.head_object(bucket, "dir/a b+c.txt") or {})["x-amz-meta-sha256"] == "abc"
    assert client.get_object(bucket, "dir/a b+c.txt") == b"hello"

    intruder = s3_client.S3Client(s3_server.endpoint, s3_server.access_key, "not-the-secret")
    with pytest.raises(s3_client.S3Error) as denied:
        list(intruder.list_objects(bucket))
    assert denied.value.status == 403
    with pytest.raises(s3_client.S3Error) as missing:
        client.get_object(bucket, "nope")
    assert (missing.value.status, missing.value.code) == (404, "NoSuchKey")


def test_aws_cli_uploads_in_parts_and_reads_back(s3_server: s3.S3Server, tmp_path: Path) -> None:
    bucket = _bucket()
    s3_server.create_bucket(bucket)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(20 * 1024 * 1024))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()

    upload = _aws(
        s3_server,
        "s3",
        "cp",
        str(source),
        f"s3://{bucket}/k/big.bin",
        "--metadata",
        f"sha256={digest}",
    )
    assert upload.returncode == 0, upload.stderr

    head = s3_server.client().head_object(bucket, "k/big.bin") or {}
    assert head["etag"].strip('"').endswith("-3")  # 8 MiB parts: 3 of them
    assert head["x-amz-meta-sha256"] == digest
    back = tmp_path / "back.bin"
    download = _aws(s3_server, "s3", "cp", f"s3://{bucket}/k/big.bin", str(back))
    assert download.returncode == 0, download.stderr
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest


def test_unfinished_multipart_upload_leaves_no_object(s3_server: s3.S3Server) -> None:
    bucket = _bucket()
    s3_server.create_bucket(bucket)
    started = _aws(
        s3_server, "s3api", "create-multipart-upload", "--bucket", bucket, "--key", "half.zip"
    )
    assert started.returncode == 0, started.stderr
    client = s3_server.client()
    assert client.list_multipart_uploads(bucket) == ["half.zip"]
    assert client.head_object(bucket, "half.zip") is None
    assert list(client.list_objects(bucket)) == []


def test_restarted_server_keeps_objects_and_credentials(tmp_path: Path) -> None:
    server = s3.S3Server(tmp_path / "s3")
    try:
        server.start()
        server.create_bucket("keep-me")
        server.client().put_object("keep-me", "backup.zip", b"PK\x03\x04...")
        port, keys = server.port, (server.access_key, server.secret_key)
        server.stop()
        with pytest.raises(s3_client.S3Unavailable):
            server.client().get_object("keep-me", "backup.zip")

        again = s3.S3Server(tmp_path / "s3", port=port)
        assert (again.access_key, again.secret_key) == keys
        again.start()
        assert again.client().get_object("keep-me", "backup.zip") == b"PK\x03\x04..."
        again.stop()
    finally:
        server.stop()
