#!/bin/sh
# Regenerates every tests/fixtures/text oracle file. Usage: regenerate.sh [python with tokenizers,
# transformers and jinja2; default /work/main/.venv/bin/python or python3]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${1:-$( [ -x /work/main/.venv/bin/python ] && echo /work/main/.venv/bin/python || echo python3 )}
"$python" "$here/make_tokenizers.py"
"$python" "$here/make_template_oracle.py"
"$python" "$here/make_chat_corpus.py"
