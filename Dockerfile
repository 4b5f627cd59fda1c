# The operator image: watcher and worker (`odoo-operator run`), non-root.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY odoo_operator ./odoo_operator
COPY workflows ./workflows
COPY activities ./activities
COPY watcher ./watcher
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --uid 65532 --user-group --no-create-home odoo-operator
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 65532:65532
ENTRYPOINT ["odoo-operator"]
CMD ["run"]
