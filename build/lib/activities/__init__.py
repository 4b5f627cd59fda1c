"""Activities: every side effect of the operator.

Deliberately empty, so that importing `activities.signatures` (which the
workflows do) never loads the Kubernetes client or psycopg.
"""
