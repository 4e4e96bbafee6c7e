# syntax=docker/dockerfile:1
#
# One image for every cloud process of the platform; the first argument picks the role:
#
#   docker run IMAGE api          # REST API and portal (gunicorn on :8000)
#   docker run IMAGE worker       # Dramatiq workers
#   docker run IMAGE scheduler    # the periodic-job scheduler (one leads, others stand by)
#   docker run IMAGE ingest       # MQTT ingest (`ems ingest run`, added by a later issue)
#   docker run IMAGE migrate      # `ems db upgrade`: control schema, then every tenant schema
#   docker run IMAGE ems tenants list    # anything else runs as given
#
# Configuration comes from EMS_* environment variables (platform/ems/config.py); a deployment
# sets at least EMS_DATABASE_URL, EMS_BROKER_URL, EMS_REDIS_URL, EMS_SECRET_KEY, EMS_ISSUER
# and EMS_SECURE_COOKIES=1.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- assets: the portal's front-end libraries from the npm registry (lock file pinned) ------
FROM node:20-bookworm-slim AS assets
WORKDIR /assets
COPY platform/ems/portal/assets/package.json platform/ems/portal/assets/package-lock.json ./
RUN npm ci --no-audit --no-fund

# --- builder: wheels of the project and its pinned dependencies, installed into a venv -----
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
# pyproject.toml names README.md as the package's long description.
COPY pyproject.toml README.md ./
COPY platform/ platform/
COPY tenants/ tenants/
# The ingest decodes with the wire contract the gateway encodes with (ems_edge.wire).
COPY edge-agent/ edge-agent/

# Every dependency ships a manylinux wheel for CPython 3.11, so no compiler is needed. The
# venv gets no pip of its own: the builder's pip installs into it (--python), and the runtime
# image carries only what the platform runs. `ems --help` proves the entry point imports.
RUN pip wheel --wheel-dir /wheels ./edge-agent . \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-index --find-links /wheels ems-platform \
    && /opt/venv/bin/ems --help > /dev/null

# --- runtime: the venv, the migrations, a non-root user ----------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="ems-platform" \
      org.opencontainers.image.description="Multi-tenant energy management platform: api, ingest, worker, scheduler"

# GUNICORN_CMD_ARGS: gunicorn's worker heartbeat files go to memory, not to the overlay disk.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EMS_MIGRATIONS_DIR=/opt/ems/migrations \
    EMS_DATA_DIR=/var/lib/ems \
    EMS_PORTAL_NODE_MODULES=/opt/ems/portal-assets \
    GUNICORN_CMD_ARGS="--worker-tmp-dir /dev/shm"

RUN groupadd --system --gid 10001 ems \
    && useradd --system --uid 10001 --gid ems --home-dir /var/lib/ems --no-create-home \
       --shell /usr/sbin/nologin ems \
    && install -d -o ems -g ems -m 0750 /var/lib/ems

# The same path as in the builder: a venv's scripts name their interpreter by absolute path.
COPY --from=builder /opt/venv /opt/venv
# The installed package cannot find migrations/ beside itself; EMS_MIGRATIONS_DIR points here.
COPY migrations/ /opt/ems/migrations/
# Only the two files the portal serves (ems.portal.assets.VENDOR), not the whole node_modules.
COPY --from=assets /assets/node_modules/htmx.org/dist/htmx.min.js /opt/ems/portal-assets/htmx.org/dist/
COPY --from=assets /assets/node_modules/echarts/dist/echarts.min.js /opt/ems/portal-assets/echarts/dist/
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/ems-entrypoint

WORKDIR /opt/ems
USER 10001:10001
EXPOSE 8000

# Probes /healthz when this container serves the API (gunicorn is PID 1, or `api` is the
# argument of an init such as `docker run --init`); containers of the other roles report
# healthy, since this image has no HTTP endpoint for them. An error answer or no answer makes
# urlopen raise, and python exits 1: unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; a = open('/proc/1/cmdline', 'rb').read().split(bytes(1)); (b'api' in a or any(b'gunicorn' in x for x in a)) and u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["/usr/local/bin/ems-entrypoint"]
CMD ["api"]
