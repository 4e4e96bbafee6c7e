#!/usr/bin/env bash
# The second command: lint, type-check and run the whole test suite against the
# real services. Tests make their own database (unique name) and drop it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --browser
VENV=${EMS_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"

echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== openapi"; EMS_SECRET_KEY=${EMS_SECRET_KEY:-openapi-check} ems openapi check
echo "== pytest"; pytest "$@"
