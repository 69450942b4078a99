// Writes a synthetic MiniMax-M2-shaped checkpoint for benchmarks (never committed; /tmp):
//   make_checkpoint OUT_DIR [--bf16] [--hidden 1024] [--layers 8] [--experts 32] [--top-k 8]
//                           [--intermediate 512] [--vocab 16384]
// Default: compressed-tensors mixed precision like the published hybrids (quant-formats §2.2):
// experts W4A16 symmetric group 32 pack-quantized, attention FP8 128×128 block; everything else
// BF16 (router F32). --bf16 writes the plain-BF16 twin with the same shapes.
// Values are seeded pseudo-random with realistic scales, so routing spreads over the experts.
// Tensors are streamed to disk one by one (peak memory: one tensor).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "kernels/common/numeric.h"

namespace {

struct Spec {
  int64_t hidden = 1024, layers = 8, experts = 32, top_k = 8, inter = 512, vocab = 16384;
  int64_t heads = 16, kv_heads = 4, head_dim = 128, rotary_dim = 64;
  bool bf16 = false;
};

// xorshift64*: fast, seeded, good enough for weights.
struct Rng {
  uint64_t state;
  uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ULL;
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1 << 24); }
  float normal() {  // sum of 4 uniforms, variance-corrected: cheap and bell-shaped
    return (uniform() + uniform() + uniform() + uniform() - 2.0f) * 1.7320508f;
  }
};

struct Tensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::function<void(std::vector<uint8_t>&)> fill;  // produces the bytes
  uint64_t num_bytes;
};

uint64_t count(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

void push_bf16(std::vector<uint8_t>& out, float v) {
  const uint16_t bits = mm::f32_to_bf16(v);
  out.push_back(static_cast<uint8_t>(bits));
  out.push_back(static_cast<uint8_t>(bits >> 8));
}

void push_f32(std::vector<uint8_t>& out, float v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  out.insert(out.end(), b, b + 4);
}

class Builder {
 public:
  explicit Builder(uint64_t seed) : rng_{seed} {}
  std::vector<Tensor> tensors;

  void bf16(const std::string& name, std::vector<int64_t> shape, float stddev, float mean = 0) {
    const uint64_t n = count(shape);
    tensors.push_back({name, "BF16", shape, [this, n, stddev, mean](std::vector<uint8_t>& out) {
                         for (uint64_t i = 0; i < n; ++i) push_bf16(out, mean + stddev * rng_.normal());
                       }, n * 2});
  }
  void f32(const std::string& name, std::vector<int64_t> shape, float stddev) {
    const uint64_t n = count(shape);
    tensors.push_back({name, "F32", shape, [this, n, stddev](std::vector<uint8_t>& out) {
                         for (uint64_t i = 0; i < n; ++i) push_f32(out, stddev * rng_.normal());
                       }, n * 4});
  }
  // FP8 block weight [n, k] with F32... compressed-tensors stores BF16 block scales.
  void fp8_linear(const std::string& module, int64_t n, int64_t k) {
    const uint64_t c = static_cast<uint64_t>(n * k);
    tensors.push_back({module + ".weight", "F8_E4M3", {n, k}, [this, c](std::vector<uint8_t>& out) {
                         for (uint64_t i = 0; i < c; ++i) out.push_back(mm::f32_to_e4m3fn(100.0f * rng_.normal()));
                       }, c});
    const std::vector<int64_t> grid = {(n + 127) / 128, (k + 127) / 128};
    const uint64_t g = count(grid);
    tensors.push_back({module + ".weight_scale", "BF16", grid, [this, g](std::vector<uint8_t>& out) {
                         for (uint64_t i = 0; i < g; ++i) push_bf16(out, 0.0008f * (1.0f + 0.1f * rng_.normal()));
                       }, g * 2});
  }
  // INT4 symmetric group-32 pack-quantized weight [n, k].
  void int4_linear(const std::string& module, int64_t n, int64_t k) {
    const uint64_t words = static_cast<uint64_t>(n * k / 8);
    tensors.push_back({module + ".weight_packed", "I32", {n, k / 8}, [this, words](std::vector<uint8_t>& out) {
                         for (uint64_t i = 0; i < words; ++i) {
                           const uint32_t w = static_cast<uint32_t>(rng_.next() >> 32);
                           for (int b = 0; b < 4; ++b) out.push_back(static_cast<uint8_t>(w >> (8 * b)));
                         }
                       }, words * 4});
    const uint64_t groups = static_cast<uint64_t>(n * k / 32);
    tensors.push_back({module + ".weight_scale", "BF16", {n, k / 32}, [this, groups](std::vector<uint8_t>& out) {
                         for (uint64_t i = 0; i < groups; ++i) push_bf16(out, 0.01f * (1.0f + 0.1f * rng_.normal()));
                       }, groups * 2});
    tensors.push_back({module + ".weight_shape", "I64", {2}, [n, k](std::vector<uint8_t>& out) {
                         for (int64_t v : {n, k}) {
                           for (int b = 0; b < 8; ++b) out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * b)));
                         }
                       }, 16});
  }

 private:
  Rng rng_;
};

std::string config_json(const Spec& s) {
  std::string layers_list;
  for (int64_t i = 0; i < s.layers; ++i) layers_list += (i ? ", 1" : "1");
  std::string quant;
  if (!s.bf16) {
    quant = R"(, "quantization_config": {"config_groups": {"group_0": {"format": "pack-quantized", "input_activations": null, "output_activations": null, "targets": ["re:.*block_sparse_moe\\.experts\\.\\d+\\.w[123]$"], "weights": {"dynamic": false, "group_size": 32, "num_bits": 4, "strategy": "group", "symmetric": true, "type": "int"}}, "group_1": {"format": "float-quantized", "input_activations": {"dynamic": true, "group_size": 128, "num_bits": 8, "strategy": "group", "symmetric": true, "type": "float"}, "output_activations": null, "targets": ["re:.*self_attn\\.(q|k|v|o)_proj$"], "weights": {"block_structure": [128, 128], "dynamic": false, "group_size": null, "num_bits": 8, "strategy": "block", "symmetric": true, "type": "float"}}}, "format": "mixed-precision", "ignore": ["lm_head", "re:.*block_sparse_moe\\.gate$"], "kv_cache_scheme": null, "quant_method": "compressed-tensors", "quantization_status": "compressed"})";
  }
  return "{\"architectures\": [\"MiniMaxM2ForCausalLM\"], \"attn_type_list\": [" + layers_list +
         "], \"head_dim\": " + std::to_string(s.head_dim) + ", \"hidden_act\": \"silu\", \"hidden_size\": " +
         std::to_string(s.hidden) + ", \"intermediate_size\": " + std::to_string(s.inter) +
         ", \"max_position_embeddings\": 8192, \"model_type\": \"minimax_m2\", \"mtp_transformer_layers\": 1"
         ", \"num_attention_heads\": " + std::to_string(s.heads) + ", \"num_experts_per_tok\": " +
         std::to_string(s.top_k) + ", \"num_hidden_layers\": " + std::to_string(s.layers) +
         ", \"num_key_value_heads\": " + std::to_string(s.kv_heads) + ", \"num_local_experts\": " +
         std::to_string(s.experts) + ", \"num_mtp_modules\": 0, \"qk_norm_type\": \"per_layer\"" + quant +
         ", \"rms_norm_eps\": 1e-06, \"rope_theta\": 5000000.0, \"rotary_dim\": " + std::to_string(s.rotary_dim) +
         ", \"scoring_func\": \"sigmoid\", \"shared_intermediate_size\": 0, \"tie_word_embeddings\": false"
         ", \"torch_dtype\": \"bfloat16\", \"use_cache\": true, \"use_mtp\": false, \"use_qk_norm\": true"
         ", \"use_routing_bias\": true, \"vocab_size\": " + std::to_string(s.vocab) + "}\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: make_checkpoint OUT_DIR [--bf16] [--hidden N] [--layers N] [--experts N]"
                 " [--top-k N] [--intermediate N] [--vocab N]\n";
    return 2;
  }
  Spec s;
  const std::filesystem::path out_dir = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto num = [&] { return std::stoll(argv[++i]); };
    if (arg == "--bf16") s.bf16 = true;
    else if (arg == "--hidden") s.hidden = num();
    else if (arg == "--layers") s.layers = num();
    else if (arg == "--experts") s.experts = num();
    else if (arg == "--top-k") s.top_k = num();
    else if (arg == "--intermediate") s.inter = num();
    else if (arg == "--vocab") s.vocab = num();
    else {
      std::cerr << "make_checkpoint: unknown argument " << arg << "\n";
      return 2;
    }
  }
  Builder b(20261122);
  const float linear_std = 0.03f;
  b.bf16("model.embed_tokens.weight", {s.vocab, s.hidden}, 1.0f);
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    b.bf16(p + "input_layernorm.weight", {s.hidden}, 0.05f, 1.0f);
    b.bf16(p + "post_attention_layernorm.weight", {s.hidden}, 0.05f, 1.0f);
    b.bf16(p + "self_attn.q_norm.weight", {s.heads * s.head_dim}, 0.05f, 1.0f);
    b.bf16(p + "self_attn.k_norm.weight", {s.kv_heads * s.head_dim}, 0.05f, 1.0f);
    const std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> attn = {
        {"q_proj", {s.heads * s.head_dim, s.hidden}}, {"k_proj", {s.kv_heads * s.head_dim, s.hidden}},
        {"v_proj", {s.kv_heads * s.head_dim, s.hidden}}, {"o_proj", {s.hidden, s.heads * s.head_dim}}};
    for (const auto& [name, nk] : attn) {
      if (s.bf16) b.bf16(p + "self_attn." + name + ".weight", {nk.first, nk.second}, linear_std);
      else b.fp8_linear(p + "self_attn." + name, nk.first, nk.second);
    }
    b.f32(p + "block_sparse_moe.gate.weight", {s.experts, s.hidden}, 0.05f);
    b.f32(p + "block_sparse_moe.e_score_correction_bias", {s.experts}, 0.05f);
    for (int64_t e = 0; e < s.experts; ++e) {
      const std::string ep = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      for (const char* w : {"w1", "w3"}) {
        if (s.bf16) b.bf16(ep + w + ".weight", {s.inter, s.hidden}, linear_std);
        else b.int4_linear(ep + w, s.inter, s.hidden);
      }
      if (s.bf16) b.bf16(ep + "w2.weight", {s.hidden, s.inter}, linear_std);
      else b.int4_linear(ep + "w2", s.hidden, s.inter);
    }
  }
  b.bf16("model.norm.weight", {s.hidden}, 0.05f, 1.0f);
  b.bf16("lm_head.weight", {s.vocab, s.hidden}, linear_std);

  std::filesystem::create_directories(out_dir);
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  uint64_t offset = 0;
  for (const Tensor& t : b.tensors) {
    header += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.num_bytes) + "]}";
    offset += t.num_bytes;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::ofstream file(out_dir / "model.safetensors", std::ios::binary);
  const uint64_t header_size = header.size();
  file.write(reinterpret_cast<const char*>(&header_size), 8);
  file.write(header.data(), static_cast<std::streamsize>(header.size()));
  std::vector<uint8_t> bytes;
  for (const Tensor& t : b.tensors) {
    bytes.clear();
    bytes.reserve(t.num_bytes);
    t.fill(bytes);
    if (bytes.size() != t.num_bytes) {
      std::cerr << "make_checkpoint: internal error: tensor " << t.name << " produced " << bytes.size()
                << " bytes, expected " << t.num_bytes << "\n";
      return 1;
    }
    file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  std::ofstream(out_dir / "config.json") << config_json(s);
  std::ofstream(out_dir / "generation_config.json") << "{\"bos_token_id\": 1, \"eos_token_id\": 2}\n";
  std::printf("%s: %zu tensors, %.1f MB of tensor data\n", out_dir.c_str(), b.tensors.size(), static_cast<double>(offset) / 1e6);
  return 0;
}
