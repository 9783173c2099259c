#!/usr/bin/env bash
# Sets up the Python environment ipkit needs and prints the python to use (last line of output).
# Uses an active conda environment (made from environment.yml) if there is one, else ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${CONDA_PREFIX:-}" && -x "${CONDA_PREFIX}/bin/python" ]]; then
    py="${CONDA_PREFIX}/bin/python"
else
    py=".venv/bin/python"
    if [[ -e .venv || -L .venv ]]; then
        # Never recreate an existing venv: that would silently swap its interpreter and packages.
        if ! "$py" -c "" >/dev/null 2>&1; then
            echo "error: .venv exists but its python ($py) cannot run (a moved or removed interpreter?)." >&2
            echo "Delete it (rm -rf .venv) and run this script again, or activate a conda environment." >&2
            exit 1
        fi
    else
        python3 -m venv .venv >&2
    fi
fi
if ! "$py" -c "import ipkit, papermill, jupytext, ipykernel, pytest, distributed" 2>/dev/null; then
    echo "Installing ipkit and its dependencies into $("$py" -c 'import sys; print(sys.prefix)') ..." >&2
    # --no-compile: byte-compiling every module of torch and its CUDA packages at install takes longer than
    # compiling, on first import, the few that are imported (on a busy 2-core host: install 228 s + first
    # imports 95 s, against 571 s + 41 s with byte-compilation).
    "$py" -m pip install --quiet --disable-pip-version-check --no-compile -e ".[notebooks,test]" >&2
fi
"$py" -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
echo "$py"
