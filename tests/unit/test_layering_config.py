"""Every module of the core is named in the import-linter contracts, so none escapes them."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_core_module_is_under_a_contract() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["name"]: c for c in config["contracts"]}
    layers = contracts["Layers: entrypoints over adapters over the core"]["layers"]
    core_layer = {name.strip() for name in layers[-1].split(":")}
    forbidden_sources = {
        name.removeprefix("mlflow_core.")
        for name in contracts["The core stays free of storage and web technology"]["source_modules"]
    }
    on_disk = {
        path.stem if path.is_file() else path.name
        for path in (REPO / "src" / "mlflow_core").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert on_disk == core_layer == forbidden_sources
