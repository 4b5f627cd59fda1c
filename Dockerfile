# syntax=docker/dockerfile:1
# The operator image: `odoo-operator watch` and `odoo-operator worker` (the Helm chart's
# two Deployments; `odoo-operator run` runs both in one process). Slim and non-root: no
# compiler, no pip at run time, nothing written outside /tmp (the chart mounts a
# read-only root filesystem), and the Job scripts under /opt/odoo-operator/scripts.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY model ./model
COPY specs ./specs
COPY activities ./activities
COPY workflows ./workflows
COPY watcher ./watcher
COPY odoo_operator ./odoo_operator
# Wheels of the operator and of its pinned dependencies (all published as binary wheels:
# this stage has no compiler either).
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="odoo-operator" \
      org.opencontainers.image.description="Runs Odoo instances on Kubernetes, driven by Temporal workflows" \
      org.opencontainers.image.source="https://github.com/bemade/odoo-operator" \
      org.opencontainers.image.licenses="LGPL-3.0-or-later"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# Install from the build stage's wheels without copying them into a layer, compile the
# bytecode now (the root filesystem is read-only at run time), then remove pip and
# setuptools: nothing installs anything in a running operator.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/odoo_operator-*.whl \
    && python -m pip uninstall --yes pip setuptools wheel
COPY --chown=0:0 scripts /opt/odoo-operator/scripts
# The chart's runAsUser; no account needed in /etc/passwd.
USER 65532:65532
ENTRYPOINT ["odoo-operator"]
CMD ["run"]
