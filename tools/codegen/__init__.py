"""Code generation from the pinned MLflow: protobuf descriptors and SQL schema.

``python -m tools.codegen`` rewrites every generated file; ``--check`` fails if any is stale.
"""
