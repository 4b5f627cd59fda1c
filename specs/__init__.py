"""The pure builders: every Kubernetes object the operator writes, as JSON dicts.

Pure functions of the model: no I/O, no clock, no environment, no Kubernetes
client (activities gather the facts, call a builder and write what it
returns). They import only the standard library and `model`. One module per
object kind, each with its unit tests in tests/unit/specs/:

    facts        Instance, Database: what every builder knows of one instance;
                 its labels, owner references and object metadata
    config       odoo.conf, its hash, the ConfigMap, the db Secret, the
                 PostgreSQL connection env (one source for Odoo and the tools)
    workloads    web and cron Deployments; the pod pieces every Odoo pod shares
    network      Service, Ingress, HTTPRoute, the websocket port
    storage      the filestore PVC
    rbac         ServiceAccount, Role, RoleBinding
    jobs         every batch Job kind (init, upgrade, backup, restore) around one
                 skeleton, and the auto OdooInitJob
    job_outcome  a finished Job's status.message (success or failure)
    events       Event bodies and their deterministic names
    conditions   the instance status conditions (Ready, Progressing)
    defaults     the operator's defaults written into a new spec
    odoo_cli     Odoo's version-dependent command lines and ports
"""
