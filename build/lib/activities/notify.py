"""Job resource webhooks: a JSON POST when a job resource completes or fails.

Owns the payload and the bearer token of `spec.webhook`: the token comes
from `secretTokenSecretRef` (a key of a Secret in the resource's namespace)
or, failing that, the inline `token`. One attempt, 10 s timeout; a webhook
that fails is logged and never fails the activity (the job resource already
says what happened). The token never reaches a log line.

Payload: {"kind", "name", "namespace", "instance", "phase" (Completed or
Failed), "jobName", "message", "completionTime"}.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import urllib3

from activities import api

__all__ = ["notify"]

_log = logging.getLogger(__name__)
_TIMEOUT = urllib3.Timeout(connect=5.0, read=10.0)
_POOL = urllib3.PoolManager(retries=False, timeout=_TIMEOUT)


def notify(kube: api.KubeApi, body: dict[str, Any], status: dict[str, Any]) -> bool:
    """POST the outcome to `spec.webhook.url`; True when it answered 2xx."""
    spec = body.get("spec") or {}
    webhook = spec.get("webhook") or {}
    url = webhook.get("url")
    if not url:
        return False
    meta = body["metadata"]
    headers = {"Content-Type": "application/json"}
    token = _token(kube, meta["namespace"], webhook)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = {
        "kind": body.get("kind"),
        "name": meta["name"],
        "namespace": meta["namespace"],
        "instance": (spec.get("odooInstanceRef") or {}).get("name"),
        "phase": status.get("phase"),
        "jobName": status.get("jobName"),
        "message": status.get("message"),
        "completionTime": status.get("completionTime"),
    }
    try:
        response = _POOL.request("POST", url, body=json.dumps(payload).encode(), headers=headers)
    except urllib3.exceptions.HTTPError as err:
        _log.warning("webhook of %s/%s (%s) failed: %s", meta["namespace"], meta["name"], url, err)
        return False
    if not 200 <= response.status < 300:
        _log.warning(
            "webhook of %s/%s (%s) answered %d",
            meta["namespace"],
            meta["name"],
            url,
            response.status,
        )
        return False
    return True


def _token(kube: api.KubeApi, namespace: str, webhook: dict[str, Any]) -> str | None:
    ref = webhook.get("secretTokenSecretRef") or {}
    if ref.get("name") and ref.get("key"):
        secret = kube.find(api.SECRET, namespace, ref["name"])
        value = ((secret or {}).get("data") or {}).get(ref["key"])
        if value is not None:
            return base64.b64decode(value).decode().strip()
        _log.warning(
            "webhook token Secret %s/%s has no key %s: calling without a token",
            namespace,
            ref["name"],
            ref["key"],
        )
    token = webhook.get("token")
    return str(token) if token else None
