"""Run mypy on the three source roots under their installed names.

``src/adapters`` and ``src/entrypoints`` install as ``mlflow_core.adapters`` and
``mlflow_core.entrypoints`` (pyproject's package-dir), a mapping mypy cannot read from the
editable install's import hook. So this tells mypy each file's module name itself, then
type-checks with the configuration in pyproject.toml.

    python -m tools.typecheck [extra paths, e.g. tests]
"""

from __future__ import annotations

import sys
from pathlib import Path

from mypy import build
from mypy.main import process_options
from mypy.modulefinder import BuildSource

REPO = Path(__file__).resolve().parents[1]
ROOTS = {
    "mlflow_core": REPO / "src" / "mlflow_core",
    "mlflow_core.adapters": REPO / "src" / "adapters",
    "mlflow_core.entrypoints": REPO / "src" / "entrypoints",
}


def _module_name(package: str, root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def sources(extra: list[str]) -> list[BuildSource]:
    found: list[BuildSource] = []
    for package, root in ROOTS.items():
        for path in sorted(root.rglob("*.py*")):
            if path.suffix not in (".py", ".pyi"):
                continue
            if path.suffix == ".py" and path.with_suffix(".pyi").exists():
                continue  # the stub describes the generated module
            found.append(BuildSource(str(path), _module_name(package, root, path)))
    for item in extra:
        base = REPO / item
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found.append(BuildSource(str(path), module.removesuffix(".__init__")))
    return found


def main(argv: list[str]) -> int:
    _, options = process_options(
        ["--config-file", str(REPO / "pyproject.toml"), "-c", "pass"], require_targets=False
    )
    result = build.build(sources(argv), options)
    for line in result.errors:
        print(line)
    checked = len(sources(argv))
    print(f"mypy: {len(result.errors)} error lines in {checked} files", file=sys.stderr)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
