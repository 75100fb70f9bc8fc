"""Run MLflow's own test suites (from the checkout named in .mlflow.ref) against mlflow-core."""
