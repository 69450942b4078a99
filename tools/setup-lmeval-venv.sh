#!/usr/bin/env bash
# Creates .venv-lmeval with lm-eval (PyPI) for the evaluation-harness tests and the accuracy
# table (tools/eval/lm_eval_formats.sh): lm-eval itself without its dependencies (they pull
# torch and transformers, which the API-model path against mmd never imports), then the few
# packages that path does import (tests/integration/eval/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/integration/eval/requirements.txt
[ -x .venv-lmeval/bin/python ] || python3 -m venv .venv-lmeval
pip=(.venv-lmeval/bin/pip install --quiet --disable-pip-version-check)
"${pip[@]}" --no-deps "$(grep -E '^lm-eval==' "$req")"
"${pip[@]}" $(grep -vE '^(#|lm-eval==|$)' "$req")
.venv-lmeval/bin/python -c 'import lm_eval.evaluator, lm_eval.models.openai_completions, openai'
echo "setup-lmeval-venv: lm-eval $(.venv-lmeval/bin/python -c 'import importlib.metadata as m; print(m.version("lm_eval"))') in .venv-lmeval"
