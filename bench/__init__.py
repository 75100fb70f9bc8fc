"""Side-by-side benchmarks of ``mlflow-core server`` and stock ``mlflow server`` (see README.md)."""
