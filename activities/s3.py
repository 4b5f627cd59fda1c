"""A minimal S3 client: the few calls the operator makes itself, signed with SigV4.

Owns listing, reading, writing and deleting objects (and creating a bucket)
on an S3-compatible endpoint, path-style, with AWS Signature Version 4. The
operator only needs this to prune old backups (list, delete) and the tests
and the sandbox to look at what a backup Job uploaded; the Job scripts
move the artifacts themselves with the aws CLI (scripts/), so nothing large
ever passes through the worker.

Why not boto3: botocore pins python-dateutil<3 and kubernetes 37 needs >=3,
so they cannot share one environment; the dozen calls below do not justify
a second client library.

Errors: every non-2xx answer raises `S3Error` carrying the HTTP status and
S3's error code (NoSuchKey, AccessDenied, ...); connection problems raise
`S3Unavailable`. Nothing is retried here and no credential is ever logged
or put in an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import urllib3

__all__ = ["S3Client", "S3Error", "S3Object", "S3Unavailable"]

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_CONNECT_TIMEOUT = 5.0


class S3Error(Exception):
    """The endpoint answered with an error. `status` is HTTP's, `code` S3's."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class S3Unavailable(Exception):
    """No answer from the endpoint (refused, reset, timed out)."""


@dataclass(frozen=True)
class S3Object:
    """One entry of a bucket listing."""

    key: str
    size: int
    last_modified: datetime


class S3Client:
    """Path-style S3 calls to `endpoint` (http:// or https://) with one key pair."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        region: str | None = None,
        insecure: bool = False,
        read_timeout: float = 60.0,
    ) -> None:
        """`read_timeout` (seconds) bounds each answer; connecting takes at most 5 s."""
        parsed = urllib.parse.urlsplit(endpoint.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"not an http(s) endpoint URL: {endpoint!r}")
        self._base = f"{parsed.scheme}://{parsed.netloc}"
        self._host = parsed.netloc
        self._access_key = access_key
        self._secret_key = secret_key
        self._region = region or "us-east-1"
        self._pool = urllib3.PoolManager(
            cert_reqs="CERT_NONE" if insecure else "CERT_REQUIRED",
            retries=False,
            timeout=urllib3.Timeout(connect=_CONNECT_TIMEOUT, read=read_timeout),
        )

    # --- buckets ------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> bool:
        """Create `bucket`; False when it exists already (and is ours)."""
        try:
            self._request("PUT", f"/{bucket}")
        except S3Error as err:
            if err.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False
            raise
        return True

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[S3Object]:
        """Every object under `prefix`, in key order (all pages)."""
        token: str | None = None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            root = ET.fromstring(self._request("GET", f"/{bucket}", query=query).data)
            for item in root.iter(f"{_NS}Contents"):
                yield S3Object(
                    key=_text(item, "Key"),
                    size=int(_text(item, "Size") or 0),
                    last_modified=datetime.fromisoformat(
                        _text(item, "LastModified").replace("Z", "+00:00")
                    ),
                )
            if _text(root, "IsTruncated") != "true":
                return
            token = _text(root, "NextContinuationToken")

    def list_multipart_uploads(self, bucket: str) -> list[str]:
        """Keys of multipart uploads started and neither completed nor aborted."""
        return [key for key, _ in self.multipart_uploads(bucket)]

    def multipart_uploads(self, bucket: str, prefix: str = "") -> list[tuple[str, str]]:
        """(key, upload id) of the unfinished multipart uploads under `prefix`."""
        query = {"uploads": "", "prefix": prefix}
        root = ET.fromstring(self._request("GET", f"/{bucket}", query=query).data)
        return [(_text(item, "Key"), _text(item, "UploadId")) for item in root.iter(f"{_NS}Upload")]

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Abort one unfinished multipart upload (its parts are deleted)."""
        self._request("DELETE", f"/{bucket}/{key}", query={"uploadId": upload_id})

    # --- objects ------------------------------------------------------------------

    def put_object(
        self, bucket: str, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> None:
        headers = {f"x-amz-meta-{k}": v for k, v in (metadata or {}).items()}
        self._request("PUT", f"/{bucket}/{key}", body=data, headers=headers)

    def get_object(self, bucket: str, key: str) -> bytes:
        return bytes(self._request("GET", f"/{bucket}/{key}").data)

    def head_object(self, bucket: str, key: str) -> dict[str, str] | None:
        """The object's headers (lower-case names), or None when it does not exist."""
        try:
            response = self._request("HEAD", f"/{bucket}/{key}")
        except S3Error as err:
            if err.status == 404:
                return None
            raise
        return {k.lower(): v for k, v in response.headers.items()}

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete `key` (S3 answers 204 whether or not it existed)."""
        self._request("DELETE", f"/{bucket}/{key}")

    # --- transport ----------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        canonical_path = urllib.parse.quote(path, safe="/-_.~")
        canonical_query = "&".join(
            f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
            for k, v in sorted((query or {}).items())
        )
        signed = self._sign(method, canonical_path, canonical_query, body, headers or {})
        url = self._base + canonical_path + (f"?{canonical_query}" if canonical_query else "")
        try:
            response = self._pool.request(
                method, url, body=body or None, headers=signed, preload_content=True
            )
        except urllib3.exceptions.HTTPError as err:
            raise S3Unavailable(f"{method} {self._base}{path}: {err}") from err
        if response.status >= 300:
            code, message = _error(response)
            raise S3Error(
                f"{method} {path}: {response.status} {code}: {message}",
                status=response.status,
                code=code,
            )
        return response

    def _sign(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes,
        extra: Mapping[str, str],
    ) -> dict[str, str]:
        now = datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        payload = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        headers = {
            "host": self._host,
            "x-amz-content-sha256": payload,
            "x-amz-date": amz_date,
            **{k.lower(): v.strip() for k, v in extra.items()},
        }
        names = sorted(headers)
        canonical = "\n".join(
            [
                method,
                path,
                query,
                "".join(f"{name}:{headers[name]}\n" for name in names),
                ";".join(names),
                payload,
            ]
        )
        scope = f"{day}/{self._region}/s3/aws4_request"
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                amz_date,
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = f"AWS4{self._secret_key}".encode()
        for part in (day, self._region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self._access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        del headers["host"]  # urllib3 sends it
        return headers


def _text(element: ET.Element, name: str) -> str:
    found = element.find(f"{_NS}{name}")
    if found is None:
        found = element.find(name)
    return (found.text or "") if found is not None else ""


def _error(response: urllib3.BaseHTTPResponse) -> tuple[str, str]:
    """S3's error code and message from an error body (HEAD answers have none)."""
    fallback = {403: "AccessDenied", 404: "NotFound"}.get(response.status, "Error")
    try:
        root = ET.fromstring(response.data)
    except ET.ParseError:
        return fallback, response.reason or ""
    return _text(root, "Code") or fallback, _text(root, "Message") or (response.reason or "")
