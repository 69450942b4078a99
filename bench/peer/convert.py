#!/usr/bin/env python3
"""Runs llama.cpp's convert_hf_to_gguf.py on mmd's synthetic bench checkpoints.

    convert.py LLAMA_SRC [convert_hf_to_gguf.py arguments...]

The converter identifies a BPE tokenizer's pre-tokenizer by hashing how it splits a test
string, and refuses hashes it does not know. The bench checkpoints borrow the bundled tiny
model's tokenizer (byte-level BPE with MiniMax-M2's split regex, a small vocabulary of its own),
whose hash is naturally not in that list. Where — and only where — the converter would refuse,
this wrapper answers "minimax-m2", the pre-tokenizer of the same regex; everything else is the
converter's own code, unchanged. Tokenization plays no part in the benchmarks (llama-bench and
llama-batched-bench feed token ids).
"""
import runpy
import sys
from pathlib import Path


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    src = Path(sys.argv[1]).resolve()
    script = src / "convert_hf_to_gguf.py"
    if not script.is_file():
        print(f"convert.py: {script}: not found (LLAMA_SRC must be a llama.cpp source tree)",
              file=sys.stderr)
        return 2
    sys.path.insert(0, str(src))
    sys.path.insert(1, str(src / "gguf-py"))
    from conversion.base import TextModel  # the converter's own class, imported as it does

    original = TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            print("convert.py: pre-tokenizer hash not in the converter's list; using "
                  "'minimax-m2' (the bench tokenizer uses MiniMax-M2's split regex)",
                  file=sys.stderr)
            return "minimax-m2"

    TextModel.get_vocab_base_pre = get_vocab_base_pre
    sys.argv = [str(script)] + sys.argv[2:]
    runpy.run_path(str(script), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
