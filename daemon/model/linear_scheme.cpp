#include "daemon/model/linear_scheme.h"

namespace mm {

std::string LinearScheme::label() const {
  std::string out;
  switch (format) {
    case WeightFormat::kDense:
      return "unquantized";
    case WeightFormat::kFp8:
      out = "FP8 E4M3";
      break;
    case WeightFormat::kIntPacked:
    case WeightFormat::kInt8:
      out = "INT" + std::to_string(bits);
      break;
  }
  const bool weight_only = activations == ActQuant::kNone;
  if (format != WeightFormat::kFp8) {
    out += weight_only ? " W" + std::to_string(bits) + "A16" : " W" + std::to_string(bits) + "A8";
  } else {
    out += weight_only ? " W8A16" : " W8A8";
  }
  switch (strategy) {
    case ScaleStrategy::kNone:
      break;
    case ScaleStrategy::kTensor:
      out += " per-tensor";
      break;
    case ScaleStrategy::kChannel:
      out += " per-channel";
      break;
    case ScaleStrategy::kGroup:
      out += " group " + std::to_string(group_size);
      break;
    case ScaleStrategy::kBlock:
      out += " block " + std::to_string(block_n) + "x" + std::to_string(block_k);
      break;
  }
  if (!symmetric) out += " asym";
  if (has_g_idx) out += " act-order";
  switch (activations) {
    case ActQuant::kNone:
      break;
    case ActQuant::kFp8PerTokenGroup:
      out += ", dynamic act per-token-group " + std::to_string(act_group_size);
      break;
    case ActQuant::kFp8PerToken:
    case ActQuant::kInt8PerToken:
      out += ", dynamic act per-token";
      break;
  }
  return out;
}

bool LinearScheme::same_as(const LinearScheme& other) const {
  return format == other.format && strategy == other.strategy && bits == other.bits &&
         group_size == other.group_size && block_n == other.block_n && block_k == other.block_k &&
         symmetric == other.symmetric && has_g_idx == other.has_g_idx &&
         activations == other.activations && act_group_size == other.act_group_size &&
         scale_suffix == other.scale_suffix &&
         has_symmetric_zero_point == other.has_symmetric_zero_point;
}

}  // namespace mm
