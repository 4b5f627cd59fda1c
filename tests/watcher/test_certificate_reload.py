"""The watcher ends when its webhook certificate is renewed, so that it restarts with it.

Covers: Kopf reads the serving certificate only when its server starts; when
the files change (cert-manager renewed the Secret and the kubelet updated the
volume) the watcher's run() ends with CertificateChanged, unelected and
elected alike (the process then exits and Kubernetes starts it again);
unchanged files keep it running.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
from pathlib import Path

import kopf
import pytest
from temporalio import client as temporal_client

from model.settings import LeaderElectionSettings, WebhookSettings
from sandbox import controlplane, pki, processes
from tests.watcher.conftest import eventually
from watcher.config import ElectionConfig, WatcherConfig, WebhookConfig
from watcher.startup import CertificateChanged, Watcher

POLL_SECONDS = 0.1


def copied(pair: pki.KeyPair, directory: Path) -> pki.KeyPair:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "tls.crt", directory / "tls.key"
    shutil.copyfile(pair.cert, cert)
    shutil.copyfile(pair.key, key)
    return pki.KeyPair(cert, key)


@pytest.mark.parametrize("elected", [False, True], ids=["unelected", "elected"])
async def test_the_watcher_ends_when_its_certificate_files_change(
    watcher_config: WatcherConfig,
    webhook_certificate: pki.KeyPair,
    control_plane: controlplane.ControlPlane,
    kube_login: kopf.ConnectionInfo,
    temporal_client: temporal_client.Client,
    api_client: object,
    namespace: str,
    tmp_path: Path,
    elected: bool,
) -> None:
    served = copied(webhook_certificate, tmp_path / "serving-certs")
    hook = WebhookConfig(
        settings=WebhookSettings(
            port=processes.free_port(), addr="127.0.0.1", reload_poll_seconds=POLL_SECONDS
        ),
        certfile=served.cert,
        pkeyfile=served.key,
    )
    config = dataclasses.replace(watcher_config, webhook=hook)
    elector = None
    if elected:
        from activities import api
        from odoo_operator import runner
        from watcher.leader import LeaderElector

        elector = LeaderElector(
            runner.KubeLeaseStore(api.KubeApi(api_client)),
            ElectionConfig(
                settings=LeaderElectionSettings(retry_period_seconds=0.2),
                namespace=namespace,
                identity="reload",
            ),
        )

    async def same_client() -> temporal_client.Client:
        return temporal_client

    watcher = Watcher(config, same_client, login=kube_login, elector=elector)
    task = asyncio.create_task(watcher.run())
    try:

        async def ready() -> bool:
            if task.done():
                task.result()
            return await watcher.ready()

        await eventually(ready, "the watcher serves its webhook")
        await asyncio.sleep(5 * POLL_SECONDS)  # several polls of unchanged files
        assert not task.done()

        renewed = control_plane.issue_serving_certificate("renewed-webhook", ["127.0.0.1"])
        copied(renewed, served.cert.parent)

        with pytest.raises(CertificateChanged):
            await asyncio.wait_for(task, timeout=10.0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, CertificateChanged):
            await task
