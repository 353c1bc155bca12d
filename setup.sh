#!/usr/bin/env bash
# Create .venv with CPython 3.10 and install the pinned stack (requirements.txt) plus
# this project in editable mode. Re-running on a ready machine changes nothing.
# Set PYTHON=/path/to/python3.10 to choose the interpreter.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
STAMP="$VENV/.installed"

is_py310() {  # run the candidate: pyenv shims exist for every version but fail unless selected
  "$1" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1
}

find_python() {
  local candidates=()
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  candidates+=(python3.10)
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(pyenv root)"/versions/3.10*/bin/python3.10)
  fi
  candidates+=("${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10 python3)
  for c in "${candidates[@]}"; do
    if is_py310 "$c"; then echo "$c"; return 0; fi
  done
  return 1
}

wanted="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && is_py310 "$VENV/bin/python" && [ "$(cat "$STAMP" 2>/dev/null)" = "$wanted" ]; then
  echo "setup: $VENV is up to date"
  exit 0
fi

if ! PY="$(find_python)"; then
  echo "setup: no usable CPython 3.10 found; install Python 3.10 with its venv module (e.g. 'pyenv install 3.10' or your system's python3.10 and python3.10-venv packages) or set PYTHON=/path/to/python3.10, then re-run." >&2
  exit 1
fi

echo "setup: installing the pinned stack into $VENV (Python: $PY)"
if ! is_py310 "$VENV/bin/python"; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet -r requirements.txt
"$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
"$VENV/bin/python" -c 'import detectron2._C, mot_heads; print("setup: detectron2 and mot_heads import")'
echo "$wanted" > "$STAMP"
