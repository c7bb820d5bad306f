# One image for every Atlas process in docker-compose.yml: the Dagster code server, webserver and
# daemon, the REST API and the one-shot `atlas db migrate`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="" \
    ATLAS_PROJECT_DIR=/opt/atlas \
    ATLAS_HOME=/var/lib/atlas \
    DAGSTER_HOME=/var/lib/atlas/dagster

RUN groupadd --system --gid 10001 atlas \
    && useradd --system --uid 10001 --gid atlas --home-dir /var/lib/atlas --shell /usr/sbin/nologin atlas

WORKDIR /opt/atlas

COPY pyproject.toml requirements.lock README.md ./
COPY atlas_core ./atlas_core
COPY atlas_engine ./atlas_engine
COPY atlas_resources ./atlas_resources
COPY atlas_assets ./atlas_assets
COPY atlas_cli ./atlas_cli
COPY atlas_api ./atlas_api
# Runtime dependencies only (no dev extra), every version pinned by the lock file.
RUN python -m pip install "pip==25.3" && python -m pip install -c requirements.lock .

# Project files Atlas reads at run time (ATLAS_PROJECT_DIR): contracts, models, sample data, Dagster config.
COPY contracts ./contracts
COPY models ./models
COPY data ./data
COPY dagster_home ./dagster_home
COPY workspace.yaml workspace.docker.yaml ./

RUN mkdir -p /var/lib/atlas/dagster/compute_logs \
    && cp dagster_home/dagster.yaml /var/lib/atlas/dagster/dagster.yaml \
    && chown -R atlas:atlas /var/lib/atlas

USER atlas
VOLUME ["/var/lib/atlas"]
EXPOSE 3000 4000 8000
CMD ["atlas", "--help"]
