#!/usr/bin/env bash
# Re-resolve requirements/lock.txt from pyproject.toml in a throwaway venv.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3.11 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q -e ".[dev]"
{
  echo "# Exact versions for every install (scripts: ./dev, .ci/run). Regenerate: tools/lock.sh"
  "$tmp/venv/bin/pip" freeze --exclude-editable | grep -v '^mlflow-core'
} > requirements/lock.txt
echo "requirements/lock.txt: $(grep -vc '^#' requirements/lock.txt) packages"
