#!/bin/sh
# Unit tests of the Python SDK and the Python components, under the
# componentize-py venv's CPython (no Wasm build needed): generates the
# bindings for world `tool-component` (every platform interface, both exports)
# into a temporary directory and runs unittest with them on the path.
#
#   sh components/sdk-python/run-tests.sh
#
# `spaceport test dates` runs the Wasm build itself (components/dates/tests/*.toml).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
components=$(dirname "$here")
# The venv scripts/componentize.sh installs (run `scripts/componentize.sh install` first).
venv=${SPACEPORT_PY_VENV:-${SPACEPORT_TOOLCHAINS:-$HOME/.cache/spaceport}/componentize-py-0.25.1}
bindings=$(mktemp -d)
trap 'rm -rf "$bindings"' EXIT INT TERM

"$venv/bin/componentize-py" -d "$components/../wit" -w spaceport:platform/tool-component bindings "$bindings" >/dev/null
status=0
for suite in sdk-python dates knowledge; do
    echo "== $suite"
    PYTHONPATH="$bindings:$components/sdk-python:$components/$suite" \
        "$venv/bin/python" -m unittest discover -s "$components/$suite/tests" || status=1
done
exit $status
