#!/usr/bin/env python3
"""Bytes a batch-1 decode step reads from a GGUF file, counted as mmd counts its own
(ModelRunner::last_forward_weight_bytes): every dense weight in full, the experts a token is
routed to (top_k of n_expert of each expert tensor), one row of the token embedding.

    gguf_bytes.py LLAMA_SRC FILE.gguf... > models.json

Prints a JSON object: file name -> {file_bytes, step_bytes, types: {tensor type: bytes}}.
Uses the gguf-py reader vendored in the llama.cpp source (numpy only).
"""
import json
import sys
from collections import Counter
from pathlib import Path


def field_int(reader, key):
    field = reader.get_field(key)
    if field is None:
        raise SystemExit(f"gguf_bytes.py: {reader.path}: no {key} in the header")
    return int(field.parts[field.data[0]][0])


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(sys.argv[1]) / "gguf-py"))
    import gguf  # pylint: disable=import-outside-toplevel

    out = {}
    for name in sys.argv[2:]:
        reader = gguf.GGUFReader(name)
        arch = bytes(reader.get_field("general.architecture").parts[-1]).decode()
        n_expert = field_int(reader, f"{arch}.expert_count")
        top_k = field_int(reader, f"{arch}.expert_used_count")
        step = 0.0
        types = Counter()
        for t in reader.tensors:
            types[t.tensor_type.name] += int(t.n_bytes)
            if "_exps." in t.name:
                step += t.n_bytes * top_k / n_expert
            elif t.name.startswith("token_embd."):
                step += t.n_bytes / int(t.shape[-1])  # one row of [hidden, vocab]
            else:
                step += t.n_bytes
        out[Path(name).name] = {"file_bytes": Path(name).stat().st_size, "step_bytes": step,
                                "types": dict(types)}
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
