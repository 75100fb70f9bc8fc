"""Server configuration, read from the environment variables ``mlflow server`` sets.

``mlflow-core server`` resolves its flags the way ``mlflow server`` does and exports them under
MLflow's own ``_MLFLOW_SERVER_*`` names, so our workers and MLflow's in-process application
(and ``mlflow server --app-name mlflow-core``) all read one configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

BACKEND_STORE_URI = "_MLFLOW_SERVER_FILE_STORE"
REGISTRY_STORE_URI = "_MLFLOW_SERVER_REGISTRY_STORE"
READ_REPLICA_URI = "_MLFLOW_SERVER_READ_REPLICA_BACKEND_STORE"
ARTIFACT_ROOT = "_MLFLOW_SERVER_ARTIFACT_ROOT"
ARTIFACTS_DESTINATION = "_MLFLOW_SERVER_ARTIFACT_DESTINATION"
SERVE_ARTIFACTS = "_MLFLOW_SERVER_SERVE_ARTIFACTS"
STATIC_PREFIX = "_MLFLOW_STATIC_PREFIX"
# Ours (the CLI exports them to the workers): one access log line per request (default on).
ACCESS_LOG = "MLFLOW_CORE_ACCESS_LOG"
# MLflow's --expose-prometheus DIR (mlflow.server.constants.PROMETHEUS_EXPORTER_ENV_VAR).
PROMETHEUS_DIR = "prometheus_multiproc_dir"
# Connection pool of each worker process (see docs/scaling.md for the sizing rule).
DB_POOL_SIZE = "MLFLOW_CORE_DB_POOL_SIZE"
DB_MAX_OVERFLOW = "MLFLOW_CORE_DB_MAX_OVERFLOW"
# "false" behind PgBouncer in transaction mode (no server-side prepared statements).
DB_PREPARED_STATEMENTS = "MLFLOW_CORE_DB_PREPARED_STATEMENTS"
DEFAULT_BACKEND_STORE_URI = "sqlite:///mlflow.db"
DEFAULT_ARTIFACTS_URI = "mlflow-artifacts:/"
# Ours (MLflow has no request body limit): the largest body a native route reads, in bytes.
MAX_REQUEST_BODY_SIZE = "MLFLOW_CORE_MAX_REQUEST_BODY_SIZE"
DEFAULT_MAX_REQUEST_BODY_SIZE = 32 * 1024 * 1024

# Deployment features whose semantics our native routes do not reproduce yet; with any of them
# on, MLflow's application serves every RPC (see docs/architecture.md).
FALLBACK_FEATURES = {
    "MLFLOW_ENABLE_WORKSPACES": "workspaces",
    "MLFLOW_TRACE_ARCHIVAL_CONFIG": "server-owned trace archival",
    "MLFLOW_SQL_TRACE_ROLLUPS_ENABLED": "SQL trace rollups",
}
_FALSE = {"", "0", "false", "no", "off"}


class ServerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    backend_store_uri: str = DEFAULT_BACKEND_STORE_URI
    registry_store_uri: str | None = None
    read_replica_uri: str | None = None
    default_artifact_root: str = DEFAULT_ARTIFACTS_URI
    static_prefix: str = ""
    db_threads: int = 16
    pool_size: int = 8
    max_overflow: int = 10
    prepared_statements: bool = True
    fallback_features: tuple[str, ...] = ()
    access_log: bool = True
    prometheus_dir: str | None = None
    max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if env is None else env
        backend = env.get(BACKEND_STORE_URI) or DEFAULT_BACKEND_STORE_URI
        features = tuple(
            label
            for name, label in FALLBACK_FEATURES.items()
            if env.get(name, "").strip().lower() not in _FALSE
        )
        return cls(
            backend_store_uri=backend,
            registry_store_uri=env.get(REGISTRY_STORE_URI) or None,
            read_replica_uri=env.get(READ_REPLICA_URI) or None,
            default_artifact_root=env.get(ARTIFACT_ROOT) or DEFAULT_ARTIFACTS_URI,
            static_prefix=env.get(STATIC_PREFIX, ""),
            fallback_features=features,
            access_log=env.get(ACCESS_LOG, "true").strip().lower() not in _FALSE,
            prometheus_dir=env.get(PROMETHEUS_DIR) or None,
            pool_size=int(env.get(DB_POOL_SIZE) or cls.model_fields["pool_size"].default),
            max_overflow=int(env.get(DB_MAX_OVERFLOW) or cls.model_fields["max_overflow"].default),
            prepared_statements=env.get(DB_PREPARED_STATEMENTS, "true").strip().lower()
            not in _FALSE,
            max_request_body_size=int(
                env.get(MAX_REQUEST_BODY_SIZE) or DEFAULT_MAX_REQUEST_BODY_SIZE
            ),
        )
