"""Lifecycle-tier fixtures: the real Kopf watcher, for the tests that do not play it.

`run_watcher` (and the `watcher_config` it runs with) are the watcher tier's
(tests/watcher/conftest.py), shared here rather than copied.
"""

from tests.watcher.conftest import run_watcher, watcher_config

__all__ = ["run_watcher", "watcher_config"]
