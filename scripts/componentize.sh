#!/usr/bin/env bash
# Build a Python or JavaScript component with the pinned toolchain, installing
# the toolchain on first use (a venv / npm prefix under $SPACEPORT_TOOLCHAINS,
# default ~/.cache/spaceport), so `spaceport build` works on a fresh machine
# that has python3 and node.
#
#   scripts/componentize.sh python <world> <module> <out.wasm> [<dir>...]
#   scripts/componentize.sh js     <world> <app.js> <out.wasm>
#   scripts/componentize.sh install    (both toolchains, nothing built)
#
# <world> is a world of wit/ (tool-only, http-component, tool-component).
# Python: <module> is the app module (e.g. `app`), found in the current
# directory or the <dir>s; the Python SDK (components/sdk-python) is on the path.
# JavaScript: built by components/sdk-js/build.mjs against the WIT
# componentize-js's engine needs (WASI 0.2.10).
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0

root=$(cd "$(dirname "$0")/.." && pwd)
toolchains=${SPACEPORT_TOOLCHAINS:-$HOME/.cache/spaceport}

usage() {
  echo "usage: $0 python <world> <module> <out.wasm> [<dir>...]" >&2
  echo "       $0 js <world> <app.js> <out.wasm>" >&2
  exit 2
}
mkdir -p "$toolchains"

# One installer at a time (parallel builds share the toolchain folder).
install_once() { # <dir> <command...>
  local dir=$1; shift
  [ -f "$dir/.installed" ] && return 0
  (
    flock 9
    if [ ! -f "$dir/.installed" ]; then
      echo "installing $(basename "$dir") (once per machine) ..." >&2
      rm -rf "$dir"
      "$@"
      touch "$dir/.installed"
    fi
  ) 9>"$toolchains/.lock"
}

py=$toolchains/componentize-py-$COMPONENTIZE_PY_VERSION
js=$toolchains/componentize-js-$COMPONENTIZE_JS_VERSION
# needs COMMAND WHAT: stop with one clear line when a prerequisite is missing.
needs() {
  command -v "$1" >/dev/null || { echo "componentize.sh: $2" >&2; exit 1; }
}
install_py() {
  needs python3 "python3 (3.10 or later, with venv) is needed to build Python components: install it (Debian: apt-get install python3 python3-venv)"
  install_once "$py" sh -c "python3 -m venv '$py' && '$py/bin/pip' install -q --no-cache-dir 'componentize-py==$COMPONENTIZE_PY_VERSION'"
}
install_js() {
  needs node "Node.js 20 or later (with npm) is needed to build JavaScript components: install it"
  needs npm "npm is needed to install componentize-js: install it with Node.js"
  install_once "$js" sh -c "mkdir -p '$js' && npm install --silent --no-audit --no-fund --prefix '$js' '@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION' >/dev/null"
}

if [ "${1:-}" = install ]; then
  install_py
  install_js
  exit 0
fi
[ $# -ge 4 ] || usage
lang=$1 world=${2#spaceport:platform/} entry=$3 out=$4
shift 4
mkdir -p "$(dirname "$out")"

case $lang in
  python|py)
    install_py
    paths=(-p . -p "$root/components/sdk-python")
    for dir in "$@"; do paths+=(-p "$dir"); done
    # componentize-py writes bytecode beside the sources it reads; keep it out of them.
    export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-$toolchains/pycache}
    exec "$py/bin/componentize-py" -d "$root/wit" -w "spaceport:platform/$world" \
      componentize "$entry" "${paths[@]}" -o "$out"
    ;;
  js|javascript)
    [ $# -eq 0 ] || usage
    install_js
    export COMPONENTIZE_JS=$js/node_modules/@bytecodealliance/componentize-js
    exec node "$root/components/sdk-js/build.mjs" "$entry" -o "$out" --world "$world"
    ;;
  *) usage ;;
esac
