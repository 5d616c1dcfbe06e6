#!/usr/bin/env bash
# The page's checks (src/testgen/web): ESLint (the recommended rules, no import cycle) and
# `tsc --checkJs` on its JSDoc types, with the packages package-lock.json names. Without Node it says
# so and passes; tests/web/test_page_modules.py still checks the import cycles.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "Node not found: skipping the page's lint and type check"
    exit 0
fi
# node_modules is installed again only when package-lock.json changed since the last install.
if ! cmp -s package-lock.json node_modules/.installed-lock.json; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null  # quiet: its errors go to stderr
    cp package-lock.json node_modules/.installed-lock.json
fi
npx --no-install eslint src/testgen/web
npx --no-install tsc --project jsconfig.json
echo "The page's lint and type check passed"
