"""Generated files match what the generator writes from the pinned MLflow today."""

from __future__ import annotations

import pytest

from tools.codegen.__main__ import GENERATORS


@pytest.mark.parametrize("generate", GENERATORS, ids=lambda g: g.__module__.rsplit(".", 1)[-1])
def test_generated_files_are_fresh(generate) -> None:
    for path, content in generate().items():
        assert path.exists(), f"{path} is missing: run python -m tools.codegen"
        assert path.read_text() == content, f"{path} is stale: run python -m tools.codegen"
        assert content.lstrip('"').startswith("# GENERATED") or "GENERATED" in content[:200]
