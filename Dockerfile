# mlflow-core server in a container. Build from a clone of this repository:
#   docker build -t mlflow-core .
#   docker run -p 5000:5000 -e MLFLOW_CORE_BACKEND_STORE_URI=postgresql://mlflow:secret@db/mlflow \
#     -e MLFLOW_CORE_ARTIFACTS_DESTINATION=s3://bucket/mlartifacts mlflow-core
# See docs/deployment.md for the configuration and a worked example.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/mlflow-core
# Pinned dependencies first: this layer is rebuilt only when the lock file changes.
COPY requirements/lock.txt requirements/lock.txt
RUN pip install -r requirements/lock.txt
COPY pyproject.toml setup.py README.md ./
COPY src src
RUN pip install --no-deps . \
    && useradd --system --create-home --home-dir /var/lib/mlflow mlflow \
    && mkdir -p /var/lib/mlflow/artifacts /var/lib/mlflow/prometheus \
    && chown -R mlflow /var/lib/mlflow

USER mlflow
WORKDIR /var/lib/mlflow

# Container-friendly defaults; every one can be overridden with -e (or a flag after the image).
ENV MLFLOW_CORE_HOST=0.0.0.0 \
    MLFLOW_CORE_PORT=5000 \
    MLFLOW_CORE_LOG_FORMAT=json \
    MLFLOW_CORE_BACKEND_STORE_URI=sqlite:////var/lib/mlflow/mlflow.db \
    MLFLOW_CORE_ARTIFACTS_DESTINATION=/var/lib/mlflow/artifacts

EXPOSE 5000
# /health answers 503 when the database is unreachable.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=2)" || exit 1
# SIGTERM ends the server cleanly (exit 0): in-flight requests finish, the job runner stops.
STOPSIGNAL SIGTERM
ENTRYPOINT ["mlflow-core", "server"]
