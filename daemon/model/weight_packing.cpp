#include "daemon/model/weight_packing.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "daemon/model/load_error.h"

namespace mm {
namespace {

[[noreturn]] void fail(const Checkpoint& checkpoint, const LinearWeights& linear,
                       const std::string& why) {
  const std::string where = linear.weight ? checkpoint.shard_name(linear.weight) + ": " : "";
  throw LoadError(where + "module " + linear.name + " (" + linear.scheme.label() + "): " + why);
}

PackedLinear base(const LinearWeights& linear, PackedFormat format) {
  PackedLinear out;
  out.name = linear.name;
  out.format = format;
  out.num_rows = linear.out_features;
  out.num_cols = linear.in_features;
  out.group_cols = linear.in_features;
  return out;
}

// Drops the mapped pages wholly inside a tensor's bytes once they are packed, so that during
// load the process holds the packed copy plus about one tensor of the mapping, not the whole
// file twice. The mapping is read-only (MAP_PRIVATE, never written): a later read simply
// faults the page in again from the file. Best effort: errors are ignored.
void release_mapped_pages(const Checkpoint& checkpoint, TensorRef ref) {
  if (!ref) return;
  const TensorView view = checkpoint.view(ref);
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(view.data);
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + view.num_bytes()) / page * page;
  // The page-aligned range as a pointer into the mapping (no integer-to-pointer cast).
  if (last > first)
    ::madvise(const_cast<std::byte*>(view.data) + (first - begin), last - first, MADV_DONTNEED);
}

// The 8 nibbles of `x` (nibble i at bits 4i) moved to the low nibbles of the 8 bytes of the
// result (nibble i → byte i).
uint64_t spread_nibbles(uint32_t x) {
  uint64_t v = x;
  v = (v | (v << 16)) & 0x0000FFFF0000FFFFull;
  v = (v | (v << 8)) & 0x00FF00FF00FF00FFull;
  v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0Full;
  return v;
}

std::vector<float> all_f32(const Checkpoint& checkpoint, TensorRef ref) {
  const TensorView view = checkpoint.view(ref);
  std::vector<float> out(static_cast<size_t>(ref.info->num_elements()));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = view.get_f32(static_cast<int64_t>(i));
  return out;
}

}  // namespace

std::vector<float> load_f32_vector(const Checkpoint& checkpoint, TensorRef ref) {
  return all_f32(checkpoint, ref);
}

PackedLinear pack_dense(const Checkpoint& checkpoint, const LinearWeights& linear) {
  const TensorView view = checkpoint.view(linear.weight);
  const int64_t count = linear.out_features * linear.in_features;
  if (view.dtype() == DType::kBF16) {
    PackedLinear out = base(linear, PackedFormat::kBf16);
    out.data.resize(static_cast<size_t>(count * 2));
    std::memcpy(out.data.data(), view.data, out.data.size());
    return out;
  }
  if (view.dtype() != DType::kF32 && view.dtype() != DType::kF16) {
    fail(checkpoint, linear,
         "weight dtype " + std::string(dtype_name(view.dtype())) + " is not BF16, F16 or F32");
  }
  PackedLinear out = base(linear, PackedFormat::kF32);
  out.data.resize(static_cast<size_t>(count * 4));
  for (int64_t i = 0; i < count; ++i) {
    const float v = view.get_f32(i);
    std::memcpy(out.data.data() + 4 * i, &v, 4);
  }
  return out;
}

PackedLinear pack_fp8(const Checkpoint& checkpoint, const LinearWeights& linear) {
  const LinearScheme& scheme = linear.scheme;
  const TensorView view = checkpoint.view(linear.weight);
  if (view.dtype() != DType::kF8E4M3) {
    fail(checkpoint, linear,
         "weight dtype " + std::string(dtype_name(view.dtype())) + " is not F8_E4M3");
  }
  PackedLinear out = base(linear, PackedFormat::kFp8Block);
  switch (scheme.strategy) {
    case ScaleStrategy::kBlock:
      out.block_rows = scheme.block_n;
      out.group_cols = scheme.block_k;
      break;
    case ScaleStrategy::kChannel:
      out.block_rows = 1;
      break;
    case ScaleStrategy::kTensor:
      out.block_rows = linear.out_features;
      break;
    default:
      fail(checkpoint, linear, "FP8 scale strategy is not block, channel or tensor");
  }
  if (out.block_rows <= 0 || out.group_cols <= 0)
    fail(checkpoint, linear, "FP8 block size is not positive");
  out.data.resize(static_cast<size_t>(out.num_rows * out.num_cols));
  std::memcpy(out.data.data(), view.data, out.data.size());
  out.scales = all_f32(checkpoint, linear.scale);
  const int64_t expected = (out.num_rows + out.block_rows - 1) / out.block_rows * out.num_groups();
  if (static_cast<int64_t>(out.scales.size()) != expected) {
    fail(checkpoint, linear,
         "scale tensor '" + linear.scale.info->name + "' has " + std::to_string(out.scales.size()) +
             " elements, expected " + std::to_string(expected));
  }
  return out;
}

PackedLinear pack_int4(const Checkpoint& checkpoint, const LinearWeights& linear) {
  const LinearScheme& scheme = linear.scheme;
  if (scheme.bits != 4)
    fail(checkpoint, linear, "only 4-bit pack-quantized weights are supported on the CPU");
  const int64_t n_rows = linear.out_features;
  const int64_t k_cols = linear.in_features;
  PackedLinear out = base(linear, PackedFormat::kInt4Group);
  if (scheme.strategy == ScaleStrategy::kGroup) {
    out.group_cols = scheme.group_size;
  } else if (scheme.strategy != ScaleStrategy::kChannel) {
    fail(checkpoint, linear, "int4 scale strategy is not group or channel");
  }
  // The kernels decode 16 columns per 8-byte chunk; a group must not split a chunk.
  if (out.group_cols % 16 != 0 && out.group_cols < k_cols) {
    fail(checkpoint, linear,
         "group size " + std::to_string(out.group_cols) + " is not a multiple of 16");
  }
  const int64_t num_groups = out.num_groups();

  // Column order: identity, or sorted by g_idx so that every group is contiguous.
  std::vector<int32_t> perm(static_cast<size_t>(k_cols));
  std::iota(perm.begin(), perm.end(), 0);
  if (scheme.has_g_idx) {
    const TensorView g_idx = checkpoint.view(linear.g_idx);
    std::vector<int64_t> group_of(static_cast<size_t>(k_cols));
    for (int64_t k = 0; k < k_cols; ++k)
      group_of[static_cast<size_t>(k)] = g_idx.get_i64(k);
    std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) {
      return group_of[static_cast<size_t>(a)] < group_of[static_cast<size_t>(b)];
    });
    for (int64_t j = 0; j < k_cols; ++j) {
      if (group_of[static_cast<size_t>(perm[static_cast<size_t>(j)])] != j / out.group_cols) {
        fail(checkpoint, linear,
             "tensor '" + linear.g_idx.info->name + "' does not give every group exactly " +
                 std::to_string(out.group_cols) + " columns (group " +
                 std::to_string(j / out.group_cols) + ")");
      }
    }
    out.col_perm = perm;
  }

  const TensorView packed = checkpoint.view(linear.weight);
  const int64_t src_row_bytes = packed.shape()[1] * 4;
  const int64_t dst_row_bytes = out.row_bytes();
  out.data.assign(static_cast<size_t>(n_rows * dst_row_bytes), 0);
  const auto* src = reinterpret_cast<const uint8_t*>(packed.data);
  for (int64_t n = 0; n < n_rows; ++n) {
    const uint8_t* src_row = src + n * src_row_bytes;
    uint8_t* dst_row = out.data.data() + n * dst_row_bytes;
    // Packed column j (checkpoint column perm[j]) goes to chunk j / 16, byte j % 8, low nibble
    // for j % 16 < 8 (kernels/packed_linear.h). Without a permutation, whole 16-column chunks
    // are moved 64 bits at a time: source nibble k sits at bit 4k of the little-endian word.
    int64_t j = 0;
    if (!scheme.has_g_idx) {
      for (; j + 16 <= k_cols; j += 16) {
        uint64_t word;
        std::memcpy(&word, src_row + j / 2, 8);
        const uint64_t chunk = spread_nibbles(static_cast<uint32_t>(word)) |
                               (spread_nibbles(static_cast<uint32_t>(word >> 32)) << 4);
        std::memcpy(dst_row + j / 2, &chunk, 8);
      }
    }
    for (; j < k_cols; ++j) {
      const int64_t k = perm[static_cast<size_t>(j)];
      const int nibble = (src_row[k / 2] >> (4 * (k % 2))) & 0xF;
      uint8_t& byte = dst_row[8 * (j / 16) + (j % 8)];
      byte = static_cast<uint8_t>(byte | (nibble << (4 * ((j % 16) / 8))));
    }
  }

  const std::vector<float> scales = all_f32(checkpoint, linear.scale);
  if (static_cast<int64_t>(scales.size()) != n_rows * num_groups) {
    fail(checkpoint, linear,
         "scale tensor '" + linear.scale.info->name + "' has " + std::to_string(scales.size()) +
             " elements, expected " + std::to_string(n_rows * num_groups));
  }
  // Kept as bf16 (2 bytes per group instead of 8 for an f32 scale and bias): exact for the
  // BF16 scales compressed-tensors writes; anything else is refused rather than rounded.
  out.int4_scales.resize(scales.size());
  for (size_t i = 0; i < scales.size(); ++i) {
    const uint16_t bits = f32_to_bf16(scales[i]);
    if (bf16_to_f32(bits) != scales[i]) {
      fail(checkpoint, linear,
           "scale tensor '" + linear.scale.info->name + "' element " + std::to_string(i) +
               " is not exactly a BF16 value; the CPU int4 kernels keep BF16 scales");
    }
    out.int4_scales[i] = bits;
  }
  if (linear.zero_point && !scheme.symmetric) {
    // Zero points are packed down N: nibble n % 8 of word (n / 8, g), +8 offset.
    const TensorView zeros = checkpoint.view(linear.zero_point);
    out.int4_zeros.resize(scales.size());
    for (int64_t n = 0; n < n_rows; ++n) {
      for (int64_t g = 0; g < num_groups; ++g) {
        const uint32_t word = static_cast<uint32_t>(zeros.get_i64((n / 8) * num_groups + g));
        out.int4_zeros[static_cast<size_t>(n * num_groups + g)] =
            static_cast<int8_t>(((word >> (4 * (n % 8))) & 0xF) - 8);
      }
    }
  }
  return out;
}

PackedLinear pack_int8(const Checkpoint& checkpoint, const LinearWeights& linear) {
  const LinearScheme& scheme = linear.scheme;
  if (scheme.strategy != ScaleStrategy::kChannel)
    fail(checkpoint, linear, "int8 scales are not per channel");
  const TensorView view = checkpoint.view(linear.weight);
  if (view.dtype() != DType::kI8) fail(checkpoint, linear, "weight dtype is not I8");
  PackedLinear out = base(linear, PackedFormat::kInt8Channel);
  out.data.resize(static_cast<size_t>(out.num_rows * out.num_cols));
  std::memcpy(out.data.data(), view.data, out.data.size());
  out.scales = all_f32(checkpoint, linear.scale);
  if (static_cast<int64_t>(out.scales.size()) != out.num_rows) {
    fail(checkpoint, linear,
         "scale tensor '" + linear.scale.info->name + "' is not one per output row");
  }
  switch (scheme.activations) {
    case ActQuant::kInt8PerToken:
      out.int8_activations = true;
      break;
    case ActQuant::kNone:
      out.int8_activations = false;
      break;
    default:
      fail(checkpoint, linear, "int8 weights with FP8 activations are not supported");
  }
  return out;
}

namespace {

void check_linear_runnable(const Checkpoint& checkpoint, const LinearWeights& linear) {
  const LinearScheme& scheme = linear.scheme;
  switch (scheme.format) {
    case WeightFormat::kDense:
      return;
    case WeightFormat::kFp8:
      if (scheme.strategy != ScaleStrategy::kBlock && scheme.strategy != ScaleStrategy::kChannel &&
          scheme.strategy != ScaleStrategy::kTensor) {
        fail(checkpoint, linear, "FP8 scale strategy is not block, channel or tensor");
      }
      if (scheme.strategy == ScaleStrategy::kBlock && (scheme.block_n <= 0 || scheme.block_k <= 0))
        fail(checkpoint, linear, "FP8 block size is not positive");
      return;
    case WeightFormat::kIntPacked: {
      if (scheme.bits != 4) {
        fail(checkpoint, linear, "only 4-bit pack-quantized weights are supported on the CPU");
      }
      int64_t group_cols = linear.in_features;
      if (scheme.strategy == ScaleStrategy::kGroup) {
        group_cols = scheme.group_size;
      } else if (scheme.strategy != ScaleStrategy::kChannel) {
        fail(checkpoint, linear, "int4 scale strategy is not group or channel");
      }
      if (group_cols % 16 != 0 && group_cols < linear.in_features) {
        fail(checkpoint, linear,
             "group size " + std::to_string(group_cols) + " is not a multiple of 16");
      }
      // BF16 scales are exact by construction; only wider ones need a pass.
      if (linear.scale.info->dtype == DType::kBF16) return;
      const TensorView view = checkpoint.view(linear.scale);
      for (int64_t i = 0; i < linear.scale.info->num_elements(); ++i) {
        const float scale = view.get_f32(i);
        if (bf16_to_f32(f32_to_bf16(scale)) != scale) {
          fail(checkpoint, linear,
               "scale tensor '" + linear.scale.info->name + "' element " + std::to_string(i) +
                   " is not exactly a BF16 value; the CPU int4 kernels keep BF16 scales");
        }
      }
      return;
    }
    case WeightFormat::kInt8:
      if (scheme.strategy != ScaleStrategy::kChannel) {
        fail(checkpoint, linear, "int8 scales are not per channel");
      }
      if (scheme.activations != ActQuant::kInt8PerToken && scheme.activations != ActQuant::kNone) {
        fail(checkpoint, linear, "int8 weights with FP8 activations are not supported");
      }
      return;
  }
}

void check_kv_scale(const Checkpoint& checkpoint, TensorRef ref, const std::string& what) {
  if (!ref) return;
  const std::vector<float> values = all_f32(checkpoint, ref);
  for (float v : values) {
    if (v != values.front()) {
      throw LoadError(checkpoint.shard_name(ref) + ": tensor '" + ref.info->name + "' (" + what +
                      ") has per-head values; the CPU KV cache takes one scale per layer");
    }
  }
  if (values.empty() || !(values.front() > 0)) {
    throw LoadError(checkpoint.shard_name(ref) + ": tensor '" + ref.info->name + "' (" + what +
                    ") is not a positive scale");
  }
}

}  // namespace

void check_runnable(const Checkpoint& checkpoint, const ModelWeights& weights) {
  if (weights.embed.info->dtype != DType::kBF16) {
    throw LoadError(checkpoint.shard_name(weights.embed) + ": tensor '" + weights.embed.info->name +
                    "' is " + std::string(dtype_name(weights.embed.info->dtype)) +
                    "; the embedding must be BF16");
  }
  check_linear_runnable(checkpoint, weights.lm_head);
  for (const LayerWeights& layer : weights.layers) {
    for (const LinearWeights* linear :
         {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.router}) {
      check_linear_runnable(checkpoint, *linear);
    }
    for (const ExpertWeights& expert : layer.experts) {
      for (const LinearWeights* linear : {&expert.w1, &expert.w2, &expert.w3})
        check_linear_runnable(checkpoint, *linear);
    }
    check_kv_scale(checkpoint, layer.k_scale, "k_scale");
    check_kv_scale(checkpoint, layer.v_scale, "v_scale");
  }
}

PackedLinear pack_linear(const Checkpoint& checkpoint, const LinearWeights& linear) {
  PackedLinear out;
  switch (linear.scheme.format) {
    case WeightFormat::kDense:
      out = pack_dense(checkpoint, linear);
      break;
    case WeightFormat::kFp8:
      out = pack_fp8(checkpoint, linear);
      break;
    case WeightFormat::kIntPacked:
      out = pack_int4(checkpoint, linear);
      break;
    case WeightFormat::kInt8:
      out = pack_int8(checkpoint, linear);
      break;
    default:
      fail(checkpoint, linear, "unknown weight format");
  }
  release_mapped_pages(checkpoint, linear.weight);
  return out;
}

}  // namespace mm
