// How one Linear layer's weight is stored and computed (quant-formats.md §2): the result of
// resolving a module name against the checkpoint's quantization_config. Plain value type.
#pragma once

#include <string>

namespace mm {

enum class WeightFormat : uint8_t {
  kDense,      // `weight` in BF16 / F16 / F32
  kFp8,        // `weight` F8_E4M3 times block / channel / tensor scales
  kIntPacked,  // compressed-tensors pack-quantized: `weight_packed` I32, 4 or 8 bits
  kInt8,       // `weight` I8 times per-channel scales (Quark ptpc, CT int-quantized)
};

enum class ScaleStrategy : uint8_t { kNone, kTensor, kChannel, kGroup, kBlock };

// Activation quantization applied at run time (all dynamic: computed from each input).
enum class ActQuant : uint8_t {
  kNone,              // weight-only: activations stay 16-bit
  kFp8PerTokenGroup,  // e4m3, one scale per token per `act_group_size` columns (vLLM block FP8)
  kFp8PerToken,       // e4m3, one scale per token
  kInt8PerToken,      // int8, one scale per token (W8A8 ptpc)
};

struct LinearScheme {
  WeightFormat format = WeightFormat::kDense;
  ScaleStrategy strategy = ScaleStrategy::kNone;
  int bits = 16;
  int group_size = 0;  // kGroup
  int block_n = 0;     // kBlock: rows per scale
  int block_k = 0;     // kBlock: columns per scale
  bool symmetric = true;
  bool has_g_idx = false;  // compressed-tensors actorder "group": `weight_g_idx` [K]
  ActQuant activations = ActQuant::kNone;
  int act_group_size = 0;
  // Name of the scale tensor: "weight_scale_inv" in MiniMax's own FP8 release, else
  // "weight_scale" (same meaning: a dequantization multiplier).
  std::string scale_suffix = "weight_scale";
  // Quark exports an all-zero `weight_zero_point` even for symmetric weights.
  bool has_symmetric_zero_point = false;
  // Where the decision came from, for reports and errors ("config_groups.group_0", "ignore").
  std::string origin;

  bool quantized() const { return format != WeightFormat::kDense; }
  // Short human label in the style of the model cards: "FP8 E4M3 block 128x128",
  // "INT4 W4A16 group 32", "INT8 W8A8 per-channel / per-token", "unquantized".
  std::string label() const;
  // Same storage and compute (origin aside).
  bool same_as(const LinearScheme& other) const;
};

}  // namespace mm
