#!/usr/bin/env bash
# Creates .venv-test with the Python test clients of the HTTP API tests (the official `openai`
# package, from PyPI). The product is C++; this venv only drives it from the outside.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-test/bin/python ] || python3 -m venv .venv-test
.venv-test/bin/pip install --quiet --disable-pip-version-check -r tests/integration/http/requirements.txt
echo "setup-test-venv: $(.venv-test/bin/python -c 'import openai; print("openai", openai.__version__)') in .venv-test"
