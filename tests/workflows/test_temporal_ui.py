"""An instance read in the Temporal UI, in headless Chromium (and the README's picture of it).

On a Temporal dev server serving its web UI, as the sandbox runs it, over the
World's fakes: an instance started as the watcher starts it, backed up once,
and backing up again with its Job at `upload, 38 MB of 120 MB`. Chromium
(Debian's `chromium` package; skipped, saying so, where it is not installed)
opens the workflow's pages as a user would and finds:
- User Metadata: the summary `OdooInstance shop/<name>` and the current
  details (BackingUp and since when, the operation and its Job, the last
  backup and the last operation with its outcome);
- Event History: each event's summary, the phase transitions with their
  guard and why among them;
- Pending Activities: follow_job with the Job's step and progress as its
  heartbeat details.
With ODOO_OPERATOR_UI_SCREENSHOT=<path.png> it also writes the three pages
side by side as one image: README's docs/instance-in-temporal-ui.png is made
so (README, "Read an instance in the Temporal UI").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import os
import shutil
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from model.payloads import BackupRequested, InstanceRef, JobProgress
from sandbox import processes, temporal
from tests.phase_cases import make_spec
from tests.workflows.conftest import (
    SPEC_BACKUP,
    Handle,
    backed_up,
    backup_running,
    eventually,
    register_search_attributes,
    running_worker,
    started_as_the_watcher_starts,
)
from tests.workflows.world import World

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = os.environ.get("ODOO_OPERATOR_UI_SCREENSHOT")
DEADLINE = 60.0
"""Seconds a page may take to show what is looked for (the UI loads it in steps)."""
WIDTH, HEIGHT = 1700, 2200
"""The browser's viewport, in CSS pixels: wide enough for the event summaries, tall
enough for a page of events under the workflow's input."""

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless Chromium: `apt-get install chromium` (Debian) to read the Temporal UI",
)


_PAGE_TEXT = """
[document, ...Array.from(document.querySelectorAll('iframe'), f => f.contentDocument)]
  .filter(d => d && d.body).map(d => d.body.innerText).join('\\n')
"""


class Page:
    """One page of headless Chromium, driven over the DevTools protocol."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._sent = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._sent += 1
        sent = self._sent
        await self._socket.send_json({"id": sent, "method": method, "params": params})
        while True:  # events come in between; the answer carries our id
            message = await self._socket.receive_json()
            if message.get("id") == sent:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    async def text(self) -> str:
        """What the page shows, as text (the UI renders Markdown in frames: theirs too)."""
        found = await self.call("Runtime.evaluate", expression=_PAGE_TEXT, returnByValue=True)
        return str(found["result"].get("value") or "")

    async def open(self, url: str, *, showing: str) -> str:
        """Go to `url` and wait until the page shows `showing`; its text then."""
        await self.call("Page.navigate", url=url)
        until = time.monotonic() + DEADLINE
        while showing not in (text := await self.text()):
            assert time.monotonic() < until, f"{url} never showed {showing!r}:\n{text[-2000:]}"
            await asyncio.sleep(0.2)
        return text

    async def png(self, *, top: float = 0, height: int) -> str:
        """`height` pixels of what the page shows from `top` down, as base64 PNG."""
        clip = {"x": 0, "y": top, "width": WIDTH, "height": height, "scale": 1}
        return str((await self.call("Page.captureScreenshot", format="png", clip=clip))["data"])

    async def top_of(self, heading: str) -> float:
        """Where the heading that says `heading` starts, in pixels from the top."""
        found = await self.call(
            "Runtime.evaluate",
            expression=f"Array.from(document.querySelectorAll('h1,h2,h3'))"
            f".find(h => h.innerText.includes({heading!r})).getBoundingClientRect().top",
            returnByValue=True,
        )
        return float(found["result"]["value"])

    async def show(self, document: str) -> None:
        """Replace the page with the HTML `document`, once its images are drawn."""
        frame = (await self.call("Page.getFrameTree"))["frameTree"]["frame"]["id"]
        await self.call("Page.setDocumentContent", frameId=frame, html=document)
        drawn = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"

        async def ready() -> bool:
            found = await self.call("Runtime.evaluate", expression=drawn, returnByValue=True)
            return bool(found["result"].get("value"))

        await eventually(ready, bool, timeout=DEADLINE, what="the pictures drawn")


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    """Headless Chromium of its own (a fresh profile), stopped at the end."""
    assert CHROMIUM is not None
    port = processes.free_port()
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace sandbox
        "--disable-gpu",
        "--hide-scrollbars",
        f"--remote-debugging-port={port}",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as http:
            pages = await eventually(
                lambda: _pages(http, port), bool, timeout=DEADLINE, what="Chromium's DevTools"
            )
            url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
            async with http.ws_connect(url, max_msg_size=0) as socket:
                page = Page(socket)
                await page.call("Page.enable")
                await page.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=WIDTH,
                    height=HEIGHT,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                yield page
    finally:
        process.kill()
        await process.wait()


async def _pages(http: aiohttp.ClientSession, port: int) -> list[dict[str, Any]]:
    with contextlib.suppress(aiohttp.ClientError):
        async with http.get(f"http://127.0.0.1:{port}/json") as response:
            return list(await response.json())
    return []


@pytest.fixture
def ui_server(tmp_path: Path) -> Iterator[temporal.TemporalDevServer]:
    """A dev server with its web UI, as the sandbox starts it."""
    server = temporal.TemporalDevServer(headless=False, log_file=tmp_path / "temporal.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _backing_up(client: Client, world: World, task_queue: str, ref: InstanceRef) -> Handle:
    """The instance, started as the watcher starts it, backed up once and backing up again."""
    handle = await started_as_the_watcher_starts(
        client, task_queue, ref, make_spec(backup=SPEC_BACKUP)
    )
    await backed_up(handle, world)
    world.progress = JobProgress(step="upload", done=38_000_000, total=120_000_000)
    await handle.execute_update("backup", {}, result_type=BackupRequested)
    await eventually(lambda: backup_running(world), bool, what="the second backup's Job")
    return handle


async def test_ui_shows_summaries_details_and_progress_when_an_instance_backs_up(
    ui_server: temporal.TemporalDevServer, task_queue: str, tmp_path: Path
) -> None:
    client = await Client.connect(
        ui_server.address, namespace=ui_server.namespace, data_converter=pydantic_data_converter
    )
    await register_search_attributes(client)
    world = World.serving()
    ref = InstanceRef(namespace="shop", name="erp", uid=str(uuid.uuid4()))
    async with running_worker(client, world, task_queue):
        handle = await _backing_up(client, world, task_queue, ref)
        run = (await handle.describe()).run_id
        workflow = urllib.parse.quote(handle.id, safe="")
        base = f"{ui_server.ui_url}/namespaces/{ui_server.namespace}/workflows/{workflow}/{run}"
        shots: list[tuple[str, str, int]] = []
        async with chromium(tmp_path / "chromium") as page:
            metadata = await page.open(f"{base}/user-metadata", showing="Last operation")
            caption = "User Metadata: the summary and the current details"
            shots.append((caption, await page.png(height=720), 720))
            pending = await page.open(f"{base}/pending-activities", showing="38 MB")
            caption = "Pending Activities: the Job followed, its progress"
            shots.append((caption, await page.png(height=620), 620))
            history = await page.open(f"{base}/history", showing="Running → BackingUp")
            top = await page.top_of("Event History") - 12
            caption = "Event History: what was done, each phase change"
            shots.append((caption, await page.png(top=top, height=830), 830))
            if SCREENSHOT:
                await page.show(_stacked(shots))
                picture = await page.png(height=sum(CAPTION + cut for _, _, cut in shots))
                await asyncio.to_thread(Path(SCREENSHOT).write_bytes, base64.b64decode(picture))
        await handle.terminate()

    assert "OdooInstance shop/erp" in metadata
    assert "BackingUp since" in metadata
    assert "Last backup:" in metadata
    assert "Succeeded at" in metadata
    assert "follow_job" in pending
    assert "upload, 38 MB of 120 MB" in pending
    assert "Running → BackingUp (backup_present): backup requested by OdooBackupJob" in history
    assert "look at the instance" in history


CAPTION = 44
"""Pixels of a caption above each picture of the README's image."""


def _stacked(shots: list[tuple[str, str, int]]) -> str:
    """An HTML page showing the screenshots (each `cut` pixels high) one under the
    other, each under its caption."""
    cells = "".join(
        f"<figure><figcaption>{html.escape(caption)}</figcaption>"
        f'<img src="data:image/png;base64,{png}" style="height:{cut}px"></figure>'
        for caption, png, cut in shots
    )
    style = (
        "body{margin:0;background:#fff}"
        f"figure{{margin:0;width:{WIDTH}px}}"
        f"figcaption{{height:{CAPTION}px;line-height:{CAPTION}px;font:bold 24px sans-serif;"
        "padding-left:16px;background:#1e293b;color:#fff}"
        f"img{{display:block;width:{WIDTH}px}}"
    )
    return f"<!doctype html><html><head><style>{style}</style></head><body>{cells}</body></html>"
