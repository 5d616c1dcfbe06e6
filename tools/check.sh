#!/usr/bin/env bash
# Every check of the test command, in order: Python lint and types, layering, the page's lint and
# types, the documentation site, then the tests. Run from the repository root after the install.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/pytest -q "$@"
