#!/usr/bin/env bash
# Every check of the test command, in order: Python lint and types, layering, declared dependencies,
# the page's lint and types, the documentation site, then the tests. Run from the repository root
# after the install.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/deptry src workers  # every third-party import declared in pyproject.toml, every dependency used
tools/check_web.sh
# The site in a throw-away directory: --strict fails on a broken link, a missing page or a bad snippet.
site_dir=$(mktemp -d)
trap 'rm -rf "$site_dir"' EXIT
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "$site_dir"
.venv/bin/pytest -q "$@"
