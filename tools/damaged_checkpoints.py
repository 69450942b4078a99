#!/usr/bin/env python3
"""Writes a corpus of damaged MiniMax-M2 checkpoints, each derived from one of the bundled
tiny checkpoints (models/minimax-m2-tiny/*), for the loader's abuse test
(tests/integration/checkpoints/damaged_checkpoints_test.py).

    tools/damaged_checkpoints.py OUT_DIR [--list]

Every variant is a folder OUT_DIR/<name> holding the checkpoint with one thing wrong, and
OUT_DIR/corpus.json lists them: name, what is wrong, and the substrings the refusal must
contain (the file, tensor or field it names). Files a variant leaves alone are symlinks to the
bundled ones; a shard it edits is a full copy (up to 5 MB), so the whole corpus is ~300 MB:
the test writes one variant at a time (corpus(), Corpus.write). Pure standard library.
"""

import json
import os
import shutil
import stat
import struct
import sys
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent.parent
TINY = SOURCE_DIR / "models" / "minimax-m2-tiny"
TEXT_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
              "generation_config.json", "config.json")

NAN_F32 = struct.pack("<I", 0x7FC00000)
INF_F32 = struct.pack("<I", 0x7F800000)
NEG_INF_F32 = struct.pack("<I", 0xFF800000)


# --- safetensors -------------------------------------------------------------------------

class Shard:
    """A safetensors file as an ordered header and a data section."""

    def __init__(self, path):
        raw = Path(path).read_bytes()
        (length,) = struct.unpack("<Q", raw[:8])
        self.header = json.loads(raw[8:8 + length])
        self.data = bytearray(raw[8 + length:])

    def tensors(self):
        return [k for k in self.header if k != "__metadata__"]

    def span(self, name):
        begin, end = self.header[name]["data_offsets"]
        return begin, end

    def set_element(self, name, index, value_bytes_f32):
        """Overwrites element `index` of a float tensor with an f32 bit pattern, converted to
        the tensor's dtype (BF16: the top half; F16: the matching special value)."""
        entry = self.header[name]
        begin, _ = self.span(name)
        dtype = entry["dtype"]
        if dtype == "F32":
            self.data[begin + 4 * index:begin + 4 * index + 4] = value_bytes_f32
        elif dtype == "BF16":
            self.data[begin + 2 * index:begin + 2 * index + 2] = value_bytes_f32[2:4]
        elif dtype == "F16":
            (bits,) = struct.unpack("<I", value_bytes_f32)
            f16 = {0x7FC00000: 0x7E00, 0x7F800000: 0x7C00, 0xFF800000: 0xFC00}.get(bits)
            if f16 is None:
                f16 = struct.unpack("<H", struct.pack("<e", struct.unpack("<f", value_bytes_f32)[0]))[0]
            self.data[begin + 2 * index:begin + 2 * index + 2] = struct.pack("<H", f16)
        else:
            raise ValueError(f"{name}: not a float tensor ({dtype})")

    def fill(self, name, value_bytes_f32):
        entry = self.header[name]
        count = 1
        for dim in entry["shape"]:
            count *= dim
        for i in range(count):
            self.set_element(name, i, value_bytes_f32)

    def remove(self, name):
        """Drops a tensor and its bytes, shifting the offsets of those after it."""
        begin, end = self.span(name)
        del self.data[begin:end]
        del self.header[name]
        for key in self.tensors():
            b, e = self.header[key]["data_offsets"]
            if b >= end:
                self.header[key]["data_offsets"] = [b - (end - begin), e - (end - begin)]

    def add(self, name, dtype, shape, payload):
        begin = len(self.data)
        self.data += payload
        self.header[name] = {"dtype": dtype, "shape": shape,
                             "data_offsets": [begin, begin + len(payload)]}

    def header_bytes(self):
        return json.dumps(self.header, separators=(",", ":")).encode()

    def image(self, header_bytes=None):
        header = self.header_bytes() if header_bytes is None else header_bytes
        return struct.pack("<Q", len(header)) + header + bytes(self.data)

    def write(self, path, header_bytes=None):
        Path(path).write_bytes(self.image(header_bytes))


# --- variants ----------------------------------------------------------------------------

class Corpus:
    def __init__(self, out):
        self.out = Path(out)
        self.variants = []

    def folder(self, name, base, keep=()):
        """A fresh folder for variant `name`, with every file of `base` symlinked in except
        those in `keep` (the variant writes them)."""
        folder = self.out / name
        if folder.exists() or folder.is_symlink():
            make_writable(folder)
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for src in sorted((TINY / base).iterdir()):
            if src.name not in keep:
                (folder / src.name).symlink_to(src)
        return folder

    def add(self, name, base, what, expect, setup, needs_unreadable=False, control=False):
        """Registers a variant (written by `write`). `control`: a layout that must load (it
        checks the generator, not the loader)."""
        self.variants.append({"name": name, "base": base, "what": what, "expect": expect,
                              "needs_unreadable": needs_unreadable, "control": control,
                              "setup": setup})

    def write(self, variant):
        """Writes one variant's folder under the output folder; returns its path."""
        setup = variant["setup"]
        folder = self.folder(variant["name"], variant["base"], keep=setup.keeps)
        setup(folder)
        return folder


def describe(variant):
    return {k: v for k, v in variant.items() if k != "setup"}


def make_writable(folder):
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            if not path.is_symlink():
                path.chmod(0o755)


def edits(*keeps):
    """Decorator: the files a setup function writes itself (not symlinked)."""
    def wrap(fn):
        fn.keeps = keeps
        return fn
    return wrap


def shard_of(base):
    return Shard(TINY / base / "model.safetensors")


def json_of(base, name):
    return json.loads((TINY / base / name).read_text())


def write_json(folder, name, value):
    (folder / name).write_text(json.dumps(value, indent=2))


# Each builder returns (setup function, expected substrings).

def shard_edit(base, change):
    @edits("model.safetensors")
    def setup(folder):
        shard = shard_of(base)
        result = change(shard)
        if isinstance(result, (bytes, bytearray)):
            (folder / "model.safetensors").write_bytes(result)
        else:
            shard.write(folder / "model.safetensors")
    return setup


def config_edit(base, change, name="config.json"):
    @edits(name)
    def setup(folder):
        value = json_of(base, name)
        change(value)
        write_json(folder, name, value)
    return setup


def raw_file(name, content):
    @edits(name)
    def setup(folder):
        (folder / name).write_bytes(content)
    return setup


def special_file(name, kind):
    @edits(name)
    def setup(folder):
        path = folder / name
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "loop":
            path.symlink_to(name)  # points at itself
        elif kind == "dangling":
            path.symlink_to("does-not-exist.safetensors")
        elif kind == "directory":
            path.mkdir()
        elif kind == "device":
            path.symlink_to("/dev/null")
        elif kind == "unreadable":
            shutil.copyfile(TINY / "bf16" / name, path)
            path.chmod(0)
        else:
            raise ValueError(kind)
    return setup


def sharded(change=None, index_change=None, extra_files=None):
    """bf16 split into two shards with an index; `change(shards)` edits the shards,
    `index_change(index)` the index."""
    @edits("model.safetensors", "model.safetensors.index.json")
    def setup(folder):
        whole = shard_of("bf16")
        names = whole.tensors()
        half = len(names) // 2
        shards = []
        for part in (names[:half], names[half:]):
            shard = Shard.__new__(Shard)
            shard.header = {"__metadata__": {"format": "pt"}}
            shard.data = bytearray()
            for name in part:
                b, e = whole.span(name)
                entry = whole.header[name]
                shard.add(name, entry["dtype"], entry["shape"], whole.data[b:e])
            shards.append(shard)
        files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        index = {"metadata": {"total_size": len(whole.data)}, "weight_map": {}}
        for file, shard in zip(files, shards):
            for name in shard.tensors():
                index["weight_map"][name] = file
        if change:
            change(shards, index)
        for file, shard in zip(files, shards):
            shard.write(folder / file)
        if index_change:
            text = index_change(index)
            if isinstance(text, (bytes, str)):
                (folder / "model.safetensors.index.json").write_bytes(
                    text if isinstance(text, bytes) else text.encode())
                return
        write_json(folder, "model.safetensors.index.json", index)
    return setup


def header_replace(base, old, new):
    """Rewrites the header text (same data), with the length prefix fixed up."""
    def change(shard):
        text = shard.header_bytes()
        assert old.encode() in text, old
        return shard.image(text.replace(old.encode(), new.encode(), 1))
    return shard_edit(base, change)


def first(shard, suffix):
    for name in shard.tensors():
        if name.endswith(suffix):
            return name
    raise KeyError(suffix)


def build(corpus):
    add = corpus.add
    norm = "model.layers.0.input_layernorm.weight"

    # --- the file itself: truncation, lengths, header JSON -----------------------------
    def truncate(fraction):
        return lambda s: s.image()[: int(len(s.image()) * fraction)]
    add("truncated-shard-half", "bf16", "model.safetensors cut to half its size",
        ["model.safetensors"], shard_edit("bf16", truncate(0.5)))
    add("truncated-shard-last-byte", "fp8", "model.safetensors missing its last byte",
        ["model.safetensors", "data section"], shard_edit("fp8", lambda s: s.image()[:-1]))
    add("truncated-in-header", "bf16", "file ends inside the JSON header",
        ["model.safetensors", "truncated"], shard_edit("bf16", lambda s: s.image()[:200]))
    add("file-of-4-bytes", "bf16", "4-byte model.safetensors",
        ["model.safetensors", "too short"], raw_file("model.safetensors", b"\x10\0\0\0"))
    add("empty-shard", "bf16", "0-byte model.safetensors",
        ["model.safetensors", "too short"], raw_file("model.safetensors", b""))
    add("header-length-huge", "bf16", "header length 2^63",
        ["model.safetensors", "header length"],
        shard_edit("bf16", lambda s: struct.pack("<Q", 1 << 63) + s.image()[8:]))
    add("header-length-zero", "bf16", "header length 0",
        ["model.safetensors", "'{'"],
        shard_edit("bf16", lambda s: struct.pack("<Q", 0) + s.image()[8:]))
    add("header-length-short", "bf16", "header length one byte short of the JSON",
        ["model.safetensors"],
        shard_edit("bf16", lambda s: struct.pack("<Q", len(s.header_bytes()) - 1) + s.image()[8:]))
    add("header-length-past-end", "bf16", "header length larger than the file",
        ["model.safetensors", "runs past the end"],
        shard_edit("bf16", lambda s: struct.pack("<Q", len(s.image()) + 100) + s.image()[8:]))
    add("header-json-syntax", "bf16", "a brace of the header replaced by a bracket",
        ["model.safetensors", "malformed JSON"], header_replace("bf16", '"},"model', '"],"model'))
    add("header-not-object", "bf16", "header JSON is an array",
        ["model.safetensors", "'{'"],
        shard_edit("bf16", lambda s: s.image(b"[" + s.header_bytes()[1:-1] + b"]")))
    add("header-entry-not-object", "bf16", "a tensor's header entry is a number",
        ["model.safetensors", "model.embed_tokens.weight", "must be an object"],
        shard_edit("bf16", lambda s: (s.header.__setitem__("model.embed_tokens.weight", 7), None)[1]))
    add("header-invalid-utf8", "bf16", "a tensor name with invalid UTF-8",
        ["model.safetensors"],
        shard_edit("bf16", lambda s: s.image(s.header_bytes().replace(b"input_layernorm", b"input_layern\xff\xfem", 1))))

    # --- dtype, shape, offsets -----------------------------------------------------------
    def set_field(name, field, value):
        def change(s):
            s.header[name][field] = value
        return change
    add("dtype-unknown", "bf16", "dtype F7",
        ["model.safetensors", norm, "unknown dtype"], shard_edit("bf16", set_field(norm, "dtype", "F7")))
    add("dtype-size-mismatch", "bf16", "a BF16 norm relabelled F32 (twice the bytes)",
        ["model.safetensors", norm, "bytes"], shard_edit("bf16", set_field(norm, "dtype", "F32")))
    add("dtype-wrong-for-role", "bf16", "a norm weight stored as I16",
        ["model.safetensors", norm, "dtype I16"], shard_edit("bf16", set_field(norm, "dtype", "I16")))
    add("dtype-fp8-scale-as-i32", "fp8", "an FP8 block scale stored as I32",
        ["model.safetensors", "weight_scale_inv", "dtype I32"],
        shard_edit("fp8", lambda s: set_field(first(s, "q_proj.weight_scale_inv"), "dtype", "I32")(s)))
    add("embedding-f16", "bf16", "the embedding relabelled F16 (mmd runs BF16 embeddings only)",
        ["model.safetensors", "model.embed_tokens.weight", "must be BF16"],
        shard_edit("bf16", set_field("model.embed_tokens.weight", "dtype", "F16")))
    add("shape-byte-mismatch", "bf16", "a norm's shape doubled",
        ["model.safetensors", norm, "bytes"], shard_edit("bf16", set_field(norm, "shape", [256])))
    add("shape-wrong-for-model", "bf16", "a norm reshaped [64, 2]",
        ["model.safetensors", norm, "shape [64, 2]"], shard_edit("bf16", set_field(norm, "shape", [64, 2])))
    add("shape-negative", "bf16", "a negative dimension",
        ["model.safetensors", norm, "shape"], shard_edit("bf16", set_field(norm, "shape", [-128])))
    add("shape-overflow", "bf16", "dimensions whose product overflows 64 bits",
        ["model.safetensors", norm, "too"],
        shard_edit("bf16", set_field(norm, "shape", [1 << 40, 1 << 40, 1 << 40])))
    add("shape-packed-weight", "fp8-w4a16-g32", "an INT4 weight_packed with the wrong width",
        ["model.safetensors", "weight_packed"],
        shard_edit("fp8-w4a16-g32", lambda s: s.header[first(s, "experts.0.w1.weight_packed")]
                   .__setitem__("shape", [256, 8])))

    def offsets(name, value):
        return set_field(name, "data_offsets", value)
    add("offsets-past-end", "bf16", "a tensor's end offset past the data section",
        ["model.safetensors", "past the data section"],
        shard_edit("bf16", lambda s: offsets(s.tensors()[-1], [s.span(s.tensors()[-1])[0], len(s.data) + 2])(s)))
    add("offsets-begin-after-end", "bf16", "data_offsets [end, begin]",
        ["model.safetensors", norm, "after end"],
        shard_edit("bf16", lambda s: offsets(norm, list(reversed(s.span(norm))))(s)))
    add("offsets-overlap", "bf16", "two tensors sharing bytes",
        ["model.safetensors", "overlaps"],
        shard_edit("bf16", overlap_any))
    add("offsets-hole", "bf16", "bytes between two tensors that belong to none",
        ["model.safetensors", "belong to no tensor"], shard_edit("bf16", make_hole))
    add("offsets-three-values", "bf16", "data_offsets with three numbers",
        ["model.safetensors", norm, "data_offsets"],
        shard_edit("bf16", lambda s: offsets(norm, list(s.span(norm)) + [0])(s)))
    add("offsets-strings", "bf16", "data_offsets as strings",
        ["model.safetensors", norm, "data_offsets"],
        shard_edit("bf16", lambda s: offsets(norm, [str(v) for v in s.span(norm)])(s)))
    add("data-trailing-bytes", "bf16", "bytes after the last tensor",
        ["model.safetensors", "cover only"],
        shard_edit("bf16", lambda s: s.image() + b"\0" * 64))
    add("duplicate-header-key", "bf16", "a tensor listed twice in the header",
        ["model.safetensors", "twice"], shard_edit("bf16", duplicate_key))
    add("metadata-not-string", "bf16", "__metadata__ with a number value",
        ["model.safetensors", "__metadata__"],
        shard_edit("bf16", lambda s: s.header.__setitem__("__metadata__", {"format": 1})))

    # --- missing, extra and inconsistent tensors -----------------------------------------
    add("missing-norm", "bf16", "a layer norm removed",
        [norm, "missing"], shard_edit("bf16", lambda s: s.remove(norm)))
    add("missing-lm-head", "bf16", "lm_head.weight removed",
        ["lm_head.weight", "missing"], shard_edit("bf16", lambda s: s.remove("lm_head.weight")))
    add("missing-fp8-scale", "fp8", "an FP8 weight_scale_inv removed",
        ["weight_scale_inv", "missing"],
        shard_edit("fp8", lambda s: s.remove(first(s, "experts.3.w2.weight_scale_inv"))))
    add("missing-kv-scale", "fp8-w4a16-g128-kvfp8", "a calibrated k_scale removed",
        ["model.layers.2.self_attn.k_scale", "missing"],
        shard_edit("fp8-w4a16-g128-kvfp8", lambda s: s.remove("model.layers.2.self_attn.k_scale")))
    add("extra-tensor", "bf16", "a tensor no module uses",
        ["model.layers.0.mlp.foo.weight", "unexpected"],
        shard_edit("bf16", lambda s: s.add("model.layers.0.mlp.foo.weight", "BF16", [4], b"\0" * 8)))
    add("weight-shape-values", "fp8-w4a16-g32", "weight_shape holding the wrong [N, K]",
        ["model.safetensors", "weight_shape", "holds"], shard_edit("fp8-w4a16-g32", wrong_weight_shape))
    add("quark-zero-point-nonzero", "w8a8-int8", "a symmetric zero point of 3",
        ["model.safetensors", "weight_zero_point", "zero points of 0"], shard_edit("w8a8-int8", nonzero_zero_point))

    # --- NaN, Inf, zero and negative scales and norms, in each format ---------------------
    def value(base, suffix, index, bits, tensor=None):
        def change(s):
            s.set_element(tensor or first(s, suffix), index, bits)
        return shard_edit(base, change)

    def fill(base, suffix, bits):
        def change(s):
            s.fill(first(s, suffix), bits)
        return shard_edit(base, change)
    zero = struct.pack("<f", 0.0)
    neg = struct.pack("<f", -0.5)
    cases = [
        ("bf16-norm-nan", "bf16", "NaN in a BF16 input_layernorm", norm, 5, NAN_F32, "element 5 is NaN"),
        ("bf16-final-norm-inf", "bf16", "+Inf in the final norm", "model.norm.weight", 0, INF_F32, "element 0 is +Inf"),
        ("bf16-q-norm-nan", "bf16", "NaN in q_norm", "model.layers.3.self_attn.q_norm.weight", 255, NAN_F32, "element 255 is NaN"),
        ("bf16-k-norm-neg-inf", "bf16", "-Inf in k_norm", "model.layers.1.self_attn.k_norm.weight", 7, NEG_INF_F32, "element 7 is -Inf"),
        ("bf16-routing-bias-nan", "bf16", "NaN in the F32 e_score_correction_bias",
         "model.layers.2.block_sparse_moe.e_score_correction_bias", 3, NAN_F32, "element 3 is NaN"),
        ("lastbf16-post-norm-nan", "bf16-w4a16-g32-lastbf16", "NaN in a post_attention_layernorm",
         "model.layers.3.post_attention_layernorm.weight", 1, NAN_F32, "element 1 is NaN"),
    ]
    for name, base, what, tensor, index, bits, message in cases:
        add(name, base, what, ["model.safetensors", tensor, message], value(base, "", index, bits, tensor))
    scale_cases = [
        ("fp8-block-scale-nan", "fp8", "experts.1.w3.weight_scale_inv", NAN_F32, "NaN"),
        ("fp8-block-scale-inf", "fp8", "self_attn.o_proj.weight_scale_inv", INF_F32, "+Inf"),
        ("fp8-block-scale-negative", "fp8", "self_attn.q_proj.weight_scale_inv", neg, "negative"),
        ("w4a16-g32-scale-nan", "fp8-w4a16-g32", "experts.0.w1.weight_scale", NAN_F32, "NaN"),
        ("w4a16-g32-scale-inf", "fp8-w4a16-g32", "experts.5.w2.weight_scale", INF_F32, "+Inf"),
        ("w4a16-g32-attn-scale-nan", "fp8-w4a16-g32", "self_attn.k_proj.weight_scale", NAN_F32, "NaN"),
        ("w4a16-g128-scale-neg-inf", "fp8-w4a16-g128-kvfp8", "experts.7.w3.weight_scale", NEG_INF_F32, "-Inf"),
        ("w4a16-g128-k-scale-nan", "fp8-w4a16-g128-kvfp8", "self_attn.k_scale", NAN_F32, "NaN"),
        ("w4a16-g128-v-scale-inf", "fp8-w4a16-g128-kvfp8", "self_attn.v_scale", INF_F32, "+Inf"),
        ("lastbf16-scale-nan", "bf16-w4a16-g32-lastbf16", "experts.2.w1.weight_scale", NAN_F32, "NaN"),
        ("quark-scale-nan", "w8a8-int8", "experts.4.w1.weight_scale", NAN_F32, "NaN"),
        ("quark-scale-inf", "w8a8-int8", "self_attn.v_proj.weight_scale", INF_F32, "+Inf"),
        ("quark-scale-negative", "w8a8-int8", "self_attn.q_proj.weight_scale", neg, "negative"),
    ]
    for name, base, suffix, bits, message in scale_cases:
        tensor = first(shard_of(base), suffix)
        index = 0 if shard_of(base).header[tensor]["shape"] in ([1], [], [1, 1]) else 1
        add(name, base, f"{message} in {suffix}", ["model.safetensors", tensor, message],
            value(base, suffix, index, bits, tensor))
    zero_cases = [
        ("fp8-block-scale-zero", "fp8", "experts.6.w1.weight_scale_inv"),
        ("w4a16-g32-scale-zero", "fp8-w4a16-g32", "experts.3.w3.weight_scale"),
        ("w4a16-g128-v-scale-zero", "fp8-w4a16-g128-kvfp8", "self_attn.v_scale"),
        ("quark-scale-zero", "w8a8-int8", "experts.0.w2.weight_scale"),
        ("lastbf16-scale-zero", "bf16-w4a16-g32-lastbf16", "experts.1.w1.weight_scale"),
    ]
    for name, base, suffix in zero_cases:
        tensor = first(shard_of(base), suffix)
        add(name, base, f"{suffix} all zero", ["model.safetensors", tensor, "zero"], fill(base, suffix, zero))

    # --- config.json, generation_config.json, quantization_config -----------------------
    def cfg(base, key, value, name="config.json"):
        def change(c):
            c[key] = value
        return config_edit(base, change, name)
    config_cases = [
        ("config-max-positions-2-31", "max_position_embeddings", 1 << 31),
        ("config-max-positions-zero", "max_position_embeddings", 0),
        ("config-hidden-negative", "hidden_size", -128),
        ("config-vocab-2-40", "vocab_size", 1 << 40),
        ("config-layers-uint64", "num_hidden_layers", (1 << 64) - 1),
        ("config-layers-fraction", "num_hidden_layers", 4.5),
        ("config-heads-string", "num_attention_heads", "4"),
        ("config-experts-per-tok-too-many", "num_experts_per_tok", 9),
        ("config-kv-heads-above-heads", "num_key_value_heads", 8),
        ("config-rope-theta-negative", "rope_theta", -1),
        ("config-rms-eps-two", "rms_norm_eps", 2.0),
        ("config-head-dim-huge", "head_dim", 1000000),
        ("config-eos-outside-vocab", "eos_token_id", 4096),
        ("config-rotary-odd", "rotary_dim", 31),
    ]
    for name, key, val in config_cases:
        add(name, "bf16", f"config.json {key} = {val!r}", ["config.json", key], cfg("bf16", key, val))
    add("config-architecture", "bf16", "a Llama config",
        ["config.json", "architectures"], cfg("bf16", "architectures", ["LlamaForCausalLM"]))
    add("config-malformed", "bf16", "config.json cut mid-way",
        ["config.json", "malformed JSON"], raw_file("config.json", (TINY / "bf16/config.json").read_bytes()[:100]))
    add("config-array", "bf16", "config.json is a JSON array",
        ["config.json", "object"], raw_file("config.json", b"[1, 2]"))
    add("config-missing", "bf16", "no config.json", ["config.json"], missing("config.json"))

    def quant(base, change):
        def edit(c):
            change(c["quantization_config"])
        return config_edit(base, edit)
    add("quant-fp8-block-zero", "fp8", "weight_block_size [0, 128]",
        ["config.json", "weight_block_size"], quant("fp8", lambda q: q.__setitem__("weight_block_size", [0, 128])))
    add("quant-fp8-block-2-40", "fp8", "weight_block_size [2^40, 128]",
        ["config.json", "weight_block_size", "must be in"],
        quant("fp8", lambda q: q.__setitem__("weight_block_size", [1 << 40, 128])))
    add("quant-num-bits-huge", "fp8-w4a16-g32", "num_bits 1000",
        ["config.json", "num_bits", "must be in"],
        quant("fp8-w4a16-g32", lambda q: q["config_groups"]["group_0"]["weights"].__setitem__("num_bits", 1000)))
    add("quant-group-size-2-40", "fp8-w4a16-g32", "group_size 2^40",
        ["config.json", "group_size", "must be in"],
        quant("fp8-w4a16-g32", lambda q: q["config_groups"]["group_0"]["weights"].__setitem__("group_size", 1 << 40)))
    add("quant-block-structure-zero", "fp8-w4a16-g32", "block_structure [0, 128]",
        ["config.json", "block_structure"],
        quant("fp8-w4a16-g32", lambda q: q["config_groups"]["group_1"]["weights"].__setitem__("block_structure", [0, 128])))
    add("quant-method-unknown", "fp8", "quant_method awq",
        ["config.json", "quant_method"], quant("fp8", lambda q: q.__setitem__("quant_method", "awq")))
    add("quant-groups-missing", "fp8-w4a16-g32", "compressed-tensors without config_groups",
        ["config.json", "config_groups"], quant("fp8-w4a16-g32", lambda q: q.pop("config_groups")))

    gen = "generation_config.json"
    for name, key, val in [("gen-temperature-negative", "temperature", -1.0),
                           ("gen-top-p-two", "top_p", 2.0),
                           ("gen-top-k-huge", "top_k", 1 << 40),
                           ("gen-eos-2-40", "eos_token_id", [2004, 1 << 40]),
                           ("gen-max-new-tokens-zero", "max_new_tokens", 0)]:
        add(name, "bf16", f"{gen} {key} = {val!r}", [gen, key], cfg("bf16", key, val, gen))
    add("gen-malformed", "bf16", "generation_config.json is not JSON",
        [gen, "malformed JSON"], raw_file(gen, b"{temperature: 1}"))

    # --- files that are not regular files -------------------------------------------------
    for target in ("model.safetensors", "config.json", "tokenizer.json", "generation_config.json",
                   "chat_template.jinja"):
        stem = target.split(".")[0].replace("_", "-")
        add(f"fifo-{stem}", "bf16", f"{target} is a FIFO", [target, "FIFO"], special_file(target, "fifo"))
    add("symlink-loop-shard", "bf16", "model.safetensors links to itself",
        ["model.safetensors", "loop"], special_file("model.safetensors", "loop"))
    add("symlink-loop-config", "bf16", "config.json links to itself",
        ["config.json", "loop"], special_file("config.json", "loop"))
    add("symlink-dangling-shard", "bf16", "model.safetensors links to nothing",
        ["model.safetensors", "does not exist"], special_file("model.safetensors", "dangling"))
    add("directory-shard", "bf16", "model.safetensors is a directory",
        ["model.safetensors", "directory"], special_file("model.safetensors", "directory"))
    add("device-shard", "bf16", "model.safetensors links to /dev/null",
        ["model.safetensors", "character device"], special_file("model.safetensors", "device"))
    add("unreadable-shard", "bf16", "model.safetensors mode 000",
        ["model.safetensors", "Permission denied"], special_file("model.safetensors", "unreadable"),
        needs_unreadable=True)
    add("unreadable-config", "bf16", "config.json mode 000",
        ["config.json", "Permission denied"], special_file("config.json", "unreadable"),
        needs_unreadable=True)

    # --- the shard index --------------------------------------------------------------------
    index = "model.safetensors.index.json"
    add("control-two-shards", "bf16", "the two-shard layout the index variants start from",
        [], sharded(), control=True)
    add("index-malformed", "bf16", "index JSON cut mid-way",
        [index, "malformed JSON"], sharded(index_change=lambda i: json.dumps(i)[:50]))
    add("index-no-weight-map", "bf16", "index without weight_map",
        [index, "weight_map"], sharded(index_change=lambda i: json.dumps({"metadata": {}})))
    add("index-empty-weight-map", "bf16", "index with an empty weight_map",
        [index, "weight_map is empty"], sharded(index_change=lambda i: json.dumps({"weight_map": {}})))
    add("index-entry-not-string", "bf16", "a weight_map value that is a number",
        [index, "must be a file name"], sharded(index_change=lambda i: (
            i["weight_map"].__setitem__(norm, 1), None)[1]))
    add("index-missing-shard", "bf16", "index naming a shard file that is not there",
        [index, "model-00003-of-00003.safetensors", "does not exist"],
        sharded(index_change=lambda i: (i["weight_map"].__setitem__(norm, "model-00003-of-00003.safetensors"), None)[1]))
    add("index-foreign-parent", "bf16", "index entry '../bf16/model.safetensors'",
        [index, "outside the folder"],
        sharded(index_change=lambda i: (i["weight_map"].__setitem__(norm, "../bf16/model.safetensors"), None)[1]))
    add("index-foreign-absolute", "bf16", "index entry '/etc/passwd'",
        [index, "outside the folder"],
        sharded(index_change=lambda i: (i["weight_map"].__setitem__(norm, "/etc/passwd"), None)[1]))
    add("index-wrong-shard", "bf16", "index mapping a tensor to the other shard",
        [index, "lm_head.weight", "is mapped to"],
        sharded(index_change=lambda i: (i["weight_map"].__setitem__(
            "lm_head.weight", "model-00001-of-00002.safetensors"
            if i["weight_map"]["lm_head.weight"].startswith("model-00002") else
            "model-00002-of-00002.safetensors"), None)[1]))
    add("index-ghost-tensor", "bf16", "index listing a tensor no shard holds",
        [index, "model.layers.9.ghost.weight", "no shard holds it"],
        sharded(index_change=lambda i: (i["weight_map"].__setitem__(
            "model.layers.9.ghost.weight", "model-00001-of-00002.safetensors"), None)[1]))
    add("index-unlisted-tensor", "bf16", "a shard tensor the index does not list",
        [norm, "not listed"], sharded(index_change=lambda i: (i["weight_map"].pop(norm), None)[1]))
    add("index-tensor-in-two-shards", "bf16", "the same tensor in both shards",
        ["model.norm.weight", "also in"], sharded(change=both_shards))
    add("index-fifo", "bf16", "the index is a FIFO", [index, "FIFO"], index_special("fifo"))
    add("index-shard-fifo", "bf16", "the second shard the index names is a FIFO",
        ["model-00002-of-00002.safetensors", "FIFO"], index_special("fifo-shard"))
    add("index-directory", "bf16", "the index is a directory", [index, "directory"], index_special("directory"))
    add("index-unreadable", "bf16", "the index mode 000 (the empty-optional dereference)",
        [index, "Permission denied"], index_special("unreadable"), needs_unreadable=True)

    # --- tokenizer and chat template (mmctl inspect said OK, mmd refused) -------------------
    add("tokenizer-truncated", "bf16", "tokenizer.json cut mid-way",
        ["tokenizer.json"], raw_file("tokenizer.json", (TINY / "bf16/tokenizer.json").read_bytes()[:5000]))
    add("tokenizer-not-object", "bf16", "tokenizer.json is a string",
        ["tokenizer.json"], raw_file("tokenizer.json", b'"hello"'))
    add("chat-template-syntax", "bf16", "chat_template.jinja with an unclosed block",
        ["chat_template.jinja"], raw_file("chat_template.jinja", b"{% for m in messages %}{{ m.content }}"))
    add("tokenizer-config-malformed", "bf16", "no chat_template.jinja and a broken tokenizer_config.json",
        ["tokenizer_config.json"], tokenizer_config_broken())


def overlap_any(shard):
    """Moves the second tensor (by offset) 2 bytes back, into the first one's bytes."""
    names = sorted(shard.tensors(), key=lambda n: shard.span(n)[0])
    b1, e1 = shard.span(names[1])
    shard.header[names[1]]["data_offsets"] = [b1 - 2, e1 - 2]


def make_hole(shard):
    names = shard.tensors()
    last = max(names, key=lambda n: shard.span(n)[0])
    b, e = shard.span(last)
    shard.data += b"\0" * 16
    shard.data[b + 16:e + 16] = shard.data[b:e]
    shard.header[last]["data_offsets"] = [b + 16, e + 16]
    del shard.data[e + 16:]


def duplicate_key(shard):
    text = shard.header_bytes()
    name = "model.norm.weight"
    entry = json.dumps({name: shard.header[name]}, separators=(",", ":"))[1:-1]
    return shard.image(text[:-1] + b"," + entry.encode() + b"}")


def wrong_weight_shape(shard):
    name = first(shard, "experts.0.w1.weight_shape")
    b, _ = shard.span(name)
    shard.data[b:b + 16] = struct.pack("<qq", 128, 64)


def nonzero_zero_point(shard):
    name = first(shard, "experts.0.w1.weight_zero_point")
    b, _ = shard.span(name)
    shard.data[b + 2] = 3


def both_shards(shards, index):
    name = "model.norm.weight"
    src = shards[0] if name in shards[0].header else shards[1]
    dst = shards[1] if src is shards[0] else shards[0]
    b, e = src.span(name)
    entry = src.header[name]
    dst.add(name, entry["dtype"], entry["shape"], src.data[b:e])


def missing(name):
    @edits(name)
    def setup(folder):
        pass
    return setup


def index_special(kind):
    inner = sharded()

    @edits(*inner.keeps)
    def setup(folder):
        inner(folder)
        path = folder / "model.safetensors.index.json"
        if kind == "fifo":
            path.unlink()
            os.mkfifo(path)
        elif kind == "directory":
            path.unlink()
            path.mkdir()
        elif kind == "unreadable":
            path.chmod(0)
        elif kind == "fifo-shard":
            shard = folder / "model-00002-of-00002.safetensors"
            shard.unlink()
            os.mkfifo(shard)
    return setup


def tokenizer_config_broken():
    @edits("chat_template.jinja", "tokenizer_config.json")
    def setup(folder):
        (folder / "tokenizer_config.json").write_text('{"chat_template": "{{ x }}", ')
    return setup


def corpus(out):
    """The variants, registered but not written (Corpus.write writes one)."""
    result = Corpus(out)
    build(result)
    return result


def remove_variant(folder):
    folder = Path(folder)
    if folder.exists() or folder.is_symlink():
        make_writable(folder)
        shutil.rmtree(folder)


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    result = corpus(out)
    for variant in result.variants:
        result.write(variant)
        if "--list" in argv:
            print(f"{variant['name']:36} {variant['what']}")
    (out / "corpus.json").write_text(
        json.dumps([describe(v) for v in result.variants], indent=1))
    print(f"{len(result.variants)} variants in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
