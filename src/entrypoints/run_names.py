"""Names for runs created without one: MLflow's own generator, so names look as MLflow's do."""

from __future__ import annotations


def random_run_name() -> str:
    # Imported on first use: the server's fallback thread imports mlflow anyway, and library
    # users who never create an unnamed run do not pay for it.
    from mlflow.utils.name_utils import _generate_random_name

    name: str = _generate_random_name()  # type: ignore[no-untyped-call]
    return name
