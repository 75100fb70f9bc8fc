"""MLflow's REST API as data: message classes and the RPC table (generated from its protos)."""
