"""MLflow's validation rules (``mlflow/utils/validation.py``): its exact limits and messages."""
