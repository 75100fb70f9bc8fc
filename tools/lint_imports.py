"""Run import-linter on the package as it is installed.

import-linter finds a package's modules by walking its directory, but ``mlflow_core.adapters``
and ``mlflow_core.entrypoints`` live in ``src/adapters`` and ``src/entrypoints`` (pyproject's
package-dir). So this lays the three roots out as installed in a temporary directory, puts it
first on ``sys.path`` and runs the contracts in pyproject.toml on that copy.

    python -m tools.lint_imports
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def installed_layout(target: Path) -> Path:
    package = target / "mlflow_core"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "src" / "mlflow_core", package, ignore=ignore)
    shutil.copytree(REPO / "src" / "adapters", package / "adapters", ignore=ignore)
    shutil.copytree(REPO / "src" / "entrypoints", package / "entrypoints", ignore=ignore)
    return package


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mlflow-core-imports-") as tmp:
        installed_layout(Path(tmp))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, os.environ.get("PYTHONPATH", "")])}
        lint = Path(sys.executable).parent / "lint-imports"
        command = [str(lint), str(REPO / "pyproject.toml"), "--no-cache"]
        return subprocess.run(command, env=env, cwd=tmp, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
