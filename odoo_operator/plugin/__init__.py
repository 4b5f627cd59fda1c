"""The `kubectl odoo` plugin: day-2 operations on OdooInstances from a shell.

Installed with the package as the console scripts `kubectl-odoo` (kubectl
finds it on PATH: `kubectl odoo ...`) and `kubectl_complete-odoo` (kubectl's
completion of plugin arguments). A client of Kubernetes and Temporal, as the
composition root is: Kubernetes only through activities.api's KubeApi,
Temporal through odoo_operator.worker's client (the pydantic converter), the
settings as kubectl and the temporal CLI take theirs (odoo_operator.
environment). Mutating requests are the instance workflow's Updates
(workflows.instance); reads come from the OdooInstance, its job resources and
the workflow's queries.

Modules: `cli` (the parser and each command), `session` (the two
connections), `reads` (what status and history show), `render` (its text,
pure), `requests` (the Updates and waiting on their job resource), `logs`,
`psql`, `completion`. Must not decide anything the operator decides: it asks.
"""
