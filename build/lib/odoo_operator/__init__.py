"""odoo-operator: Odoo instances on Kubernetes, driven by Temporal workflows.

Deliberately empty: importing the typed model must never pull in the CLI or
any I/O library.
"""
