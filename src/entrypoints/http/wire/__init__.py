"""Domain values rendered as MLflow's JSON, one module per area of the API."""
