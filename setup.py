"""Package discovery for the three source roots installed under the ``mlflow_core`` namespace.

pyproject.toml maps ``src/adapters`` and ``src/entrypoints`` to ``mlflow_core.adapters`` and
``mlflow_core.entrypoints``; setuptools' declarative ``find`` cannot re-root packages, so the
list is computed here instead of being kept by hand.
"""

from setuptools import find_packages, setup

_ROOTS = {
    "mlflow_core": "src/mlflow_core",
    "mlflow_core.adapters": "src/adapters",
    "mlflow_core.entrypoints": "src/entrypoints",
}


def _packages() -> list[str]:
    found: list[str] = []
    for name, path in _ROOTS.items():
        found.append(name)
        found.extend(f"{name}.{sub}" for sub in find_packages(path))
    # src/mlflow_core also sees nothing of the other two roots, so there are no duplicates.
    return sorted(set(found))


setup(packages=_packages())
