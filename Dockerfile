# syntax=docker/dockerfile:1
# One image for all five Lifeboat services (and the `lifeboat` / `cloudsim` commands).
# The service is chosen by the command: the default runs the policy service; docker-compose.yml
# and the Helm chart run e.g. ["lifeboat-replicator", "serve"] or ["lifeboat-billing", "migrate"].
#
#   docker build -t lifeboat:dev .
#   docker run --rm -p 8701:8701 lifeboat:dev                      # policy, embedded mode
#   docker run --rm -p 8702:8702 lifeboat:dev lifeboat-replicator serve
#
# uv comes from PyPI (pip install uv): the build fetches nothing from any other host.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# 1) Locked third-party dependencies only: this layer is rebuilt only when a pyproject.toml or
#    uv.lock changes, not on every source edit.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/policy/pyproject.toml services/policy/
COPY services/replicator/pyproject.toml services/replicator/
COPY services/orchestrator/pyproject.toml services/orchestrator/
COPY services/verifier/pyproject.toml services/verifier/
COPY services/billing/pyproject.toml services/billing/
COPY cli/pyproject.toml cli/
COPY cloudsim/pyproject.toml cloudsim/
COPY osc/pyproject.toml osc/
COPY dashboard/pyproject.toml dashboard/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace

# 2) The workspace's own packages, installed as wheels (--no-editable) so the runtime stage needs
#    only the virtualenv, not the source tree.
COPY shared/src shared/src
COPY services/policy/src services/policy/src
COPY services/replicator/src services/replicator/src
COPY services/orchestrator/src services/orchestrator/src
COPY services/verifier/src services/verifier/src
COPY services/billing/src services/billing/src
COPY cli/src cli/src
COPY cloudsim/src cloudsim/src
COPY osc/src osc/src
COPY dashboard/src dashboard/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="lifeboat" \
      org.opencontainers.image.description="Lifeboat: open-source disaster recovery for OpenStack"
RUN groupadd --system --gid 10001 lifeboat \
    && useradd --system --uid 10001 --gid lifeboat --home-dir /var/lib/lifeboat \
       --create-home --shell /usr/sbin/nologin lifeboat
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LIFEBOAT_HTTP_HOST=0.0.0.0 \
    LIFEBOAT_DATA_DIR=/var/lib/lifeboat
WORKDIR /var/lib/lifeboat
# Numeric uid so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8701 8702 8703 8704 8705
CMD ["lifeboat-policy", "serve"]
