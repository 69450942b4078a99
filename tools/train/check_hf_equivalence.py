#!/usr/bin/env python3
"""Check that tiny_m2.TinyM2 (official tensor names) and transformers' MiniMaxM2ForCausalLM
(loaded through the name mapping) compute the same logits, and that HF really applies partial
RoPE over rotary_dim (spec §8 warns the v5 config wants rope_parameters.partial_rotary_factor)."""
import sys
import torch
from tiny_m2 import TinyM2, official_config, load_hf, load_config


def main(cfg_path=None, sd_path=None):
    torch.manual_seed(0)
    if cfg_path:
        from safetensors.torch import load_file
        cfg = load_config(cfg_path)
        sd = {k: v.float() for k, v in load_file(sd_path).items()}
        m = TinyM2(cfg)
        m.load_state_dict(sd)
    else:
        cfg = official_config()
        m = TinyM2(cfg)
        m.init_weights(std=0.2)
        for layer in m.model.layers:  # non-trivial norms and bias
            layer.self_attn.q_norm.weight.data.uniform_(0.5, 1.5)
            layer.block_sparse_moe.e_score_correction_bias.uniform_(-0.1, 0.1)
        sd = m.state_dict()
    hf = load_hf(sd, cfg)
    rp = hf.config.rope_parameters
    assert abs(rp["partial_rotary_factor"] - cfg["rotary_dim"] / cfg["head_dim"]) < 1e-9, rp
    assert hf.model.rotary_emb.inv_freq.numel() == cfg["rotary_dim"] // 2
    ids = torch.randint(0, cfg["vocab_size"] - 10, (2, 77))
    with torch.no_grad():
        a = m(ids)
        b = hf(input_ids=ids).logits
    d = (a - b).abs().max().item()
    print(f"rope_parameters={rp} max|logit diff|={d:.3g}")
    assert d < 1e-4, d


if __name__ == "__main__":
    main(*sys.argv[1:])
