#!/usr/bin/env python3
"""Train the tiny MiniMax-M2 from scratch on CPU.

Loss is next-token cross-entropy on every token of the packed documents (prompts included: the
model must also write English and render the template). Routing is balanced with the
auxiliary-loss-free rule (DeepSeek-V3 style): after each step every layer's
e_score_correction_bias moves by ±rate towards equal expert load. The bias is therefore a trained
*buffer* (no gradient), as transformers declares it, and it ends up in the checkpoint.
"""
import argparse
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from tiny_m2 import TinyM2, official_config

HERE = Path(__file__).resolve().parent


def pack(docs, seq, pad_id, rng):
    """Greedy packing of whole documents into rows of `seq` tokens (+1 for the shifted target).

    Documents never straddle rows; the tail is padding, masked out of the loss."""
    rng.shuffle(docs)
    rows, segs, cur, seg = [], [], [], []

    def flush():
        n = seq + 1 - len(cur)
        rows.append(cur + [pad_id] * n)
        segs.append(seg + [seg[-1] + 1] * n)  # padding is its own segment

    for d in docs:
        d = d[: seq + 1]
        if len(cur) + len(d) > seq + 1:
            flush()
            cur, seg = [], []
        seg = seg + [(seg[-1] + 1 if seg else 0)] * len(d)
        cur = cur + d
    if cur:
        flush()
    return torch.tensor(rows, dtype=torch.long), torch.tensor(segs, dtype=torch.long)


def doc_mask(seg):
    """Block-diagonal causal mask so packed documents do not attend to each other."""
    B, T = seg.shape
    same = seg[:, :, None] == seg[:, None, :]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    return (same & causal)[:, None]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(HERE / "work" / "data"))
    ap.add_argument("--tokenizer", default=str(HERE / "work" / "tokenizer" / "tokenizer.json"))
    ap.add_argument("--out", default=str(HERE / "work" / "ckpt"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--minutes", type=float, default=32.0, help="wall-clock training budget")
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--steps", type=int, default=0,
                    help="if > 0: train exactly this many steps with a step-based LR schedule "
                         "(bit-reproducible); otherwise the schedule follows the wall clock")
    ap.add_argument("--bias-rate", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=int, default=0,
                    help="if > 0: also write model_step<N>.pt every N steps (to evaluate a run early)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)

    tok = Tokenizer.from_file(args.tokenizer)
    pad_id, bos_id = tok.token_to_id("]!p~["), tok.token_to_id("]~!b[")
    eos_id = tok.token_to_id("[e~[")
    texts = [json.loads(l)["text"] for l in open(Path(args.data) / "train.jsonl")]
    docs = [e.ids for e in tok.encode_batch(texts)]
    n_tok = sum(len(d) for d in docs)
    print(f"{len(docs)} docs, {n_tok} tokens, longest {max(len(d) for d in docs)}", flush=True)

    cfg = official_config(vocab_size=2048, bos=bos_id, eos=eos_id)
    model = TinyM2(cfg)
    model.init_weights(seed=args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params {n_params}", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    moes = [l.block_sparse_moe for l in model.model.layers]
    E = cfg["num_local_experts"]

    def lr_at(step):
        # Cosine decay over the *wall-clock* budget: the machine is shared, so the number of
        # steps that fit is not known in advance.
        warm = 40
        if step < warm:
            return args.lr * (step + 1) / warm
        if args.steps > 0:
            prog = min(1.0, (step - warm) / max(1, args.steps - warm))
        else:
            prog = min(1.0, (time.time() - t0) / (args.minutes * 60))
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))

    t0 = time.time()
    step, epoch, log = 0, 0, []
    done = False
    while not done:
        rows, segs = pack(list(docs), args.seq, pad_id, rng)
        order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(args.seed + epoch))
        for i in range(0, len(rows) - args.batch + 1, args.batch):
            sel = order[i:i + args.batch]
            batch, seg = rows[sel], segs[sel, :-1]
            x, y = batch[:, :-1], batch[:, 1:].clone()
            y[y == pad_id] = -100
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            logits = model(x, doc_mask(seg))
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                   ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            # Aux-loss-free balancing: raise the bias of under-loaded experts.
            with torch.no_grad():
                for m in moes:
                    load = m.last_load.float()
                    m.e_score_correction_bias += args.bias_rate * torch.sign(load.mean() - load)
            step += 1
            el = time.time() - t0
            if step % 10 == 0 or step == 1:
                loads = torch.stack([m.last_load for m in moes]).float()
                imb = (loads.max(1).values / loads.mean(1)).max().item()
                rec = {"step": step, "epoch": epoch, "loss": round(loss.item(), 4),
                       "lr": round(lr_at(step), 6), "elapsed_s": round(el, 1),
                       "max_load_over_mean": round(imb, 2)}
                log.append(rec)
                print(json.dumps(rec), flush=True)
            if args.save_every > 0 and step % args.save_every == 0:
                Path(args.out).mkdir(parents=True, exist_ok=True)
                torch.save(model.state_dict(), Path(args.out) / f"model_step{step}.pt")
            if (args.steps > 0 and step >= args.steps) or (args.steps <= 0 and el > args.minutes * 60) \
                    or step >= args.max_steps:
                done = True
                break
        epoch += 1

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "model_fp32.pt")
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    summary = {"steps": step, "epochs_started": epoch, "train_seconds": round(time.time() - t0, 1),
               "final_loss": log[-1]["loss"], "tokens_per_step": args.batch * args.seq,
               "params": n_params, "train_tokens_in_corpus": n_tok, "args": vars(args),
               "e_score_correction_bias": [m.e_score_correction_bias.tolist() for m in moes]}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    (out / "train_log.jsonl").write_text("\n".join(json.dumps(r) for r in log) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "e_score_correction_bias"}))


if __name__ == "__main__":
    main()
