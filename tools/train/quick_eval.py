#!/usr/bin/env python3
"""Greedy tool-call score of a training checkpoint (model_*.pt), in fp32, without exporting it:
to follow a run while it trains. Same prompts, parser and scoring as evaluate.py."""
import argparse
import json
from pathlib import Path

import torch
from tokenizers import Tokenizer

from evaluate import parse_output, same_args, score
from gen_data import Renderer
from tiny_m2 import TinyM2

HERE = Path(__file__).resolve().parent


@torch.no_grad()
def generate(model, ids, eos, max_new):
    out = []
    for _ in range(max_new):
        nxt = int(model(torch.tensor([ids + out]))[0, -1].argmax())
        out.append(nxt)
        if nxt == eos:
            break
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("--set", default="heldout")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--max-new", type=int, default=120)
    ap.add_argument("--show", type=int, default=0, help="print this many completions")
    args = ap.parse_args()
    torch.set_num_threads(1)
    work = HERE / "work"
    tok = Tokenizer.from_file(str(work / "tokenizer" / "tokenizer.json"))
    cfg = json.loads((Path(args.ckpt).parent / "config.json").read_text()) \
        if (Path(args.ckpt).parent / "config.json").exists() else None
    if cfg is None:
        from tiny_m2 import official_config
        cfg = official_config(vocab_size=2048, bos=tok.token_to_id("]~!b["), eos=tok.token_to_id("[e~["))
    model = TinyM2(cfg)
    model.load_state_dict(torch.load(args.ckpt))
    model.eval()
    render = Renderer()
    eos = tok.token_to_id("[e~[")
    rows = [json.loads(l) for l in open(work / "data" / f"prompts_{args.set}.jsonl")][: args.n]
    outs = []
    for i, row in enumerate(rows):
        prompt = render(row["messages"], row["tools"], add_generation_prompt=True)
        ids = tok.encode(prompt).ids
        text = tok.decode(generate(model, ids, eos, args.max_new), skip_special_tokens=False)
        outs.append(text)
        if i < args.show:
            print("----", row["messages"][-1]["content"], "\n", text, "\n expect", row["expect"])
    print(json.dumps(score(rows, outs)))


if __name__ == "__main__":
    main()
