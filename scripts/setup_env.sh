#!/usr/bin/env bash
# Sets up the Python environment ipkit needs and prints the python to use (last line of output).
# Uses an active conda environment (made from environment.yml) if there is one, else ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${CONDA_PREFIX:-}" && -x "${CONDA_PREFIX}/bin/python" ]]; then
    py="${CONDA_PREFIX}/bin/python"
else
    [[ -x .venv/bin/python ]] || python3 -m venv .venv >&2
    py=".venv/bin/python"
fi
if ! "$py" -c "import ipkit, papermill, jupytext, ipykernel, pytest" 2>/dev/null; then
    echo "Installing ipkit and its dependencies into $("$py" -c 'import sys; print(sys.prefix)') ..." >&2
    "$py" -m pip install --quiet --disable-pip-version-check -e ".[notebooks,test]" >&2
fi
"$py" -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
echo "$py"
