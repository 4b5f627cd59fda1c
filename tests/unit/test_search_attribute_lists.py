"""The sandbox's dev server registers exactly the search attributes the workflow upserts.

Covers: sandbox.temporal.SEARCH_ATTRIBUTES (the `--search-attribute` flags of
`temporal server start-dev`) names every attribute of
workflows.instance.SEARCH_ATTRIBUTES with the same type, and nothing else: an
attribute missing there fails every workflow task that upserts it.
"""

from __future__ import annotations

from sandbox import temporal
from workflows.instance import SEARCH_ATTRIBUTES

# The temporal CLI's names of the SDK's indexed value types.
_CLI_TYPES = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "BOOL": "Bool", "TEXT": "Text"}


def test_sandbox_registers_what_the_workflow_upserts_when_it_starts_the_dev_server() -> None:
    upserted = {key.name: _CLI_TYPES[key.indexed_value_type.name] for key in SEARCH_ATTRIBUTES}

    assert dict(temporal.SEARCH_ATTRIBUTES) == upserted
