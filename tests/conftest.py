"""Fixtures shared by every test tier live in tests/fixtures/ as pytest plugins."""

pytest_plugins = ["tests.fixtures.kube", "tests.fixtures.services"]
