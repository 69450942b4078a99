"""A MiniMax-M2 implementation whose module tree *is* the official checkpoint layout.

Why not train transformers' MiniMaxM2ForCausalLM directly: transformers v5 fuses the experts
into 3-D `mlp.experts.gate_up_proj/down_proj` tensors and renames the router, while the published
checkpoints (and the AWQ recipes of the seed cards, which target
`block_sparse_moe.experts.N.w1|w2|w3` Linear modules) use one nn.Linear per expert. This module
uses the official names so that state_dict() is the on-disk layout and llm-compressor can match
the recipe regexes. `to_hf_state_dict` maps it onto transformers' layout; `tests` in
check_hf_equivalence.py show both give the same logits.

Forward semantics follow spec minimax-m2.md §3: full-width q/k RMSNorm before partial NeoX RoPE,
GQA, sigmoid router with e_score_correction_bias used for selection only, renormalised top-k
weights, SwiGLU experts w2(silu(w1 x) * w3 x), no shared expert.
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def official_config(vocab_size=2048, hidden=128, layers=4, heads=4, kv_heads=2, head_dim=64,
                    rotary_dim=32, inter=128, experts=8, top_k=2, bos=None, eos=None):
    """config.json with the keys of the released MiniMax-M2 config (spec §1.1)."""
    return {
        "architectures": ["MiniMaxM2ForCausalLM"],
        "attn_type_list": [1] * layers,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "intermediate_size": inter,
        "max_position_embeddings": 4096,
        "model_type": "minimax_m2",
        "mtp_transformer_layers": 1,
        "num_attention_heads": heads,
        "num_experts_per_tok": top_k,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads,
        "num_local_experts": experts,
        "num_mtp_modules": 0,
        "qk_norm_type": "per_layer",
        "rms_norm_eps": 1e-06,
        "rope_theta": 5000000,
        "rotary_dim": rotary_dim,
        "scoring_func": "sigmoid",
        "shared_intermediate_size": 0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.1",
        "use_cache": True,
        "use_mtp": False,
        "use_qk_norm": True,
        "use_routing_bias": True,
        "vocab_size": vocab_size,
    }


class Cfg:
    def __init__(self, d):
        self.__dict__.update(d)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rope_cos_sin(c, positions):
    inv = 1.0 / (c.rope_theta ** (torch.arange(0, c.rotary_dim, 2, dtype=torch.float32) / c.rotary_dim))
    f = positions.float()[:, None] * inv[None]
    emb = torch.cat([f, f], -1)
    return emb.cos(), emb.sin()


def apply_rope(x, cos, sin, rd):
    # x: [B, H, T, D]; NeoX rotate-half over the first rd dims only.
    xr, xp = x[..., :rd], x[..., rd:]
    x1, x2 = xr[..., : rd // 2], xr[..., rd // 2:]
    rot = torch.cat([-x2, x1], -1)
    return torch.cat([xr * cos.to(x.dtype) + rot * sin.to(x.dtype), xp], -1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.q_proj = nn.Linear(c.hidden_size, c.num_attention_heads * c.head_dim, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, bias=False)
        self.o_proj = nn.Linear(c.num_attention_heads * c.head_dim, c.hidden_size, bias=False)
        self.q_norm = RMSNorm(c.num_attention_heads * c.head_dim, c.rms_norm_eps)
        self.k_norm = RMSNorm(c.num_key_value_heads * c.head_dim, c.rms_norm_eps)
        self.kv_hook = None  # optional callback(k, v) for KV-scale calibration
        self.kv_fp8_scales = None  # (k_scale, v_scale): simulate an FP8 E4M3 KV cache

    def forward(self, x, cos, sin, mask=None):
        c = self.c
        B, T, _ = x.shape
        q = self.q_norm(self.q_proj(x)).view(B, T, -1, c.head_dim).transpose(1, 2)
        k = self.k_norm(self.k_proj(x)).view(B, T, -1, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, -1, c.head_dim).transpose(1, 2)
        q = apply_rope(q, cos, sin, c.rotary_dim)
        k = apply_rope(k, cos, sin, c.rotary_dim)
        if self.kv_hook is not None:
            self.kv_hook(k, v)  # what a KV cache would store: k after norm + RoPE, v as projected
        if self.kv_fp8_scales is not None:
            # cache = sat_fp8(x / scale); read back as fp8 * scale (quant-formats.md §3)
            ks, vs = self.kv_fp8_scales
            k = (k.float() / ks).clamp(-448, 448).to(torch.float8_e4m3fn).float().mul(ks).to(k.dtype)
            v = (v.float() / vs).clamp(-448, 448).to(torch.float8_e4m3fn).float().mul(vs).to(v.dtype)
        rep = c.num_attention_heads // c.num_key_value_heads
        k = k.repeat_interleave(rep, 1)
        v = v.repeat_interleave(rep, 1)
        if mask is None:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, -1))


class Expert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.w1 = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)  # gate
        self.w3 = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)  # up
        self.w2 = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)  # down

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class SparseMoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.gate = nn.Linear(c.hidden_size, c.num_local_experts, bias=False)
        self.experts = nn.ModuleList([Expert(c) for _ in range(c.num_local_experts)])
        # A buffer, as in transformers: it is adjusted by the aux-loss-free balancing rule in
        # train.py, not by gradients.
        self.register_buffer("e_score_correction_bias", torch.zeros(c.num_local_experts))
        self.last_load = None  # tokens per expert in the last forward (for balancing / reports)
        self.force_all_experts = False  # calibration: run every expert on every token

    def forward(self, x):
        shp = x.shape
        h = x.reshape(-1, shp[-1])
        logits = F.linear(h.float(), self.gate.weight.float())  # router in fp32 (spec §3.4)
        s = torch.sigmoid(logits)
        _, idx = torch.topk(s + self.e_score_correction_bias, self.c.num_experts_per_tok, dim=-1)
        w = s.gather(1, idx)
        w = w / w.sum(-1, keepdim=True)
        self.last_load = torch.bincount(idx.flatten(), minlength=self.c.num_local_experts).detach()
        out = torch.zeros_like(h)
        for e, expert in enumerate(self.experts):
            if self.force_all_experts:
                # Calibration only: every expert sees every token so AWQ statistics exist for
                # all of them; the routed result is still what is returned.
                y_all = expert(h)
            tok, slot = torch.where(idx == e)
            if tok.numel() == 0:
                continue
            y = y_all[tok] if self.force_all_experts else expert(h[tok])
            out.index_add_(0, tok, (y * w[tok, slot, None].to(y.dtype)).to(out.dtype))
        return out.reshape(shp)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.block_sparse_moe = SparseMoE(c)

    def forward(self, x, cos, sin, mask=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.block_sparse_moe(self.post_attention_layernorm(x))


class Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([Layer(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.c = c

    def forward(self, input_ids, mask=None):
        T = input_ids.shape[1]
        cos, sin = rope_cos_sin(self.c, torch.arange(T))
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.norm(x)


class TinyM2(nn.Module):
    def __init__(self, cfg_dict):
        super().__init__()
        # self.cfg drives the forward; self.config may be swapped for a transformers config
        # object by tools that expect one (llm-compressor).
        self.cfg = self.config = Cfg(cfg_dict)
        c = self.cfg
        self.model = Inner(c)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)

    _no_split_modules = ["Layer"]

    @property
    def device(self):  # PreTrainedModel-compatible attribute used by calibration tools
        return self.lm_head.weight.device  # llm-compressor's sequential pipeline: one layer at a time

    def forward(self, input_ids, mask=None, **unused):
        # `unused` swallows attention_mask etc. passed by calibration pipelines (inputs are
        # unpadded single sequences there, so the causal mask is the right one).
        return self.lm_head(self.model(input_ids, mask))

    def init_weights(self, std=0.02, seed=0):
        g = torch.Generator().manual_seed(seed)
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            else:
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=g) * std)
            # Scale output projections down with depth (GPT-2 style) for stable training.
            if name.endswith(("o_proj.weight", "w2.weight")):
                with torch.no_grad():
                    p.mul_(1 / math.sqrt(2 * self.cfg.num_hidden_layers))


# ----------------------------------------------------------------------------- HF mapping
def to_hf_state_dict(sd, cfg):
    """Official on-disk names -> transformers v5 MiniMaxM2ForCausalLM names (experts fused)."""
    out = {}
    E = cfg["num_local_experts"]
    for L in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{L}."
        for k in ["input_layernorm.weight", "post_attention_layernorm.weight",
                  "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                  "self_attn.o_proj.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight"]:
            out[p + k] = sd[p + k]
        m = p + "block_sparse_moe."
        out[p + "mlp.gate.weight"] = sd[m + "gate.weight"]
        out[p + "mlp.e_score_correction_bias"] = sd[m + "e_score_correction_bias"]
        # gate_up_proj[e] = [w1 ; w3] (gate rows first, then up), down_proj[e] = w2.
        out[p + "mlp.experts.gate_up_proj"] = torch.stack(
            [torch.cat([sd[f"{m}experts.{e}.w1.weight"], sd[f"{m}experts.{e}.w3.weight"]], 0)
             for e in range(E)])
        out[p + "mlp.experts.down_proj"] = torch.stack(
            [sd[f"{m}experts.{e}.w2.weight"] for e in range(E)])
    for k in ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]:
        out[k] = sd[k]
    return out


def load_hf(sd, cfg, dtype=torch.float32):
    """Build transformers' MiniMaxM2ForCausalLM from an official-layout state dict."""
    from transformers import MiniMaxM2Config, MiniMaxM2ForCausalLM
    kw = {k: v for k, v in cfg.items()
          if k not in ("architectures", "transformers_version", "torch_dtype", "quantization_config")}
    # Some transformers v5 releases (5.17) ignore `rotary_dim` and would apply RoPE to the whole
    # head (spec §8); pass the partial factor explicitly so every version rotates rotary_dim dims.
    kw["rope_parameters"] = {"rope_type": "default", "rope_theta": cfg["rope_theta"],
                             "partial_rotary_factor": cfg["rotary_dim"] / cfg["head_dim"]}
    hc = MiniMaxM2Config(**kw)
    assert abs(hc.rope_parameters["partial_rotary_factor"] - cfg["rotary_dim"] / cfg["head_dim"]) < 1e-12
    hc.torch_dtype = dtype
    with torch.device("meta"):
        m = MiniMaxM2ForCausalLM(hc)
    hsd = to_hf_state_dict(sd, cfg)
    # Norms/linears in the model dtype; router and bias stay fp32 like the checkpoint.
    hsd = {k: (v.float() if ("mlp.gate" in k or "e_score" in k) else v.to(dtype))
           for k, v in hsd.items()}
    m.load_state_dict(hsd, strict=True, assign=True)
    m.model.rotary_emb = type(m.model.rotary_emb)(hc)  # recreate the non-persistent inv_freq
    return m.eval()


def load_config(path):
    with open(path) as fh:
        return json.load(fh)
