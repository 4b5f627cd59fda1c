"""The shared typed model: CRD models, phases, naming rules, payloads and settings.

This package is the leaf of the import graph: it imports only the standard
library and pydantic, so workflows, activities and the watcher can all use it.
"""
