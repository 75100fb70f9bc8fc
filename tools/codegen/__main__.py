"""Write every generated file, or with ``--check`` report the stale ones and exit 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from tools.codegen import openapi, protocol, schema, tables

GENERATORS: list[Callable[[], dict[Path, str]]] = [
    tables.outputs,
    schema.outputs,
    protocol.outputs,
    openapi.outputs,
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.codegen")
    parser.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = parser.parse_args(argv)
    stale: list[Path] = []
    for generate in GENERATORS:
        for path, content in generate().items():
            current = path.read_text() if path.exists() else None
            if current == content:
                continue
            if args.check:
                stale.append(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
                print(f"wrote {path}")
    if stale:
        for path in stale:
            print(f"stale generated file: {path}", file=sys.stderr)
        print("run: python -m tools.codegen", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
