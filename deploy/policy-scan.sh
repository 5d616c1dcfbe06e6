#!/usr/bin/env bash
# The policy scan of the deployment files: checkov over the Kubernetes manifests (each file as written
# and, where kubectl or kustomize is installed, the base and the overlay as kustomize renders them) and
# over the Dockerfile, with the exceptions written down in .checkov.yaml. Exits non-zero when a check
# fails. checkov (pinned below) is installed on first use in a virtual environment of its own, outside
# the repository (its many pinned dependencies stay out of the project's .venv, and the linters that
# walk the repository never see it), and reused by later runs: CHECKOV_VENV chooses another place.
set -euo pipefail
cd "$(dirname "$0")/.."

version=3.3.30
venv=${CHECKOV_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/testgen/checkov-$version}
if [ "$("$venv/bin/checkov" --version 2>/dev/null || true)" != "$version" ]; then
    echo "Installing checkov $version in $venv"
    log=$(mktemp)
    if ! { python3 -m venv --clear "$venv" && "$venv/bin/pip" install -q "checkov==$version"; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "Could not install checkov $version in $venv: see pip's output above" >&2
        exit 1
    fi
    rm -f "$log"
fi

frameworks=(kubernetes)
if command -v kustomize >/dev/null 2>&1 || command -v kubectl >/dev/null 2>&1; then
    frameworks+=(kustomize)
else
    echo "No kubectl or kustomize on PATH: the manifests are scanned as written, not as rendered" >&2
fi

status=0
"$venv/bin/checkov" --config-file .checkov.yaml --directory deploy/k8s --framework "${frameworks[@]}" || status=1
"$venv/bin/checkov" --config-file .checkov.yaml --file Dockerfile --framework dockerfile || status=1
exit "$status"
