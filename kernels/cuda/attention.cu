// Paged KV writes and causal GQA attention over the paged cache, BF16 / F32 / FP8 E4M3 KV with
// the layer's scales (quant-formats §3), for prefill and decode alike: one block per (token,
// query head), its warps taking every kWarps-th cached position with an online softmax in f32,
// merged at the end. Straightforward rather than fast (no tensor cores, K/V read once per query
// head); the flash-style prefill and split-K decode of issue 9 replace it.
#include <cmath>

#include "kernels/cuda/device_math.cuh"

namespace mm::cuda {
namespace {

// Four warps per (token, head) block: a decode context is split four ways, and their four
// partial softmaxes fit the 4 × kMaxHeadDim floats of shared memory merged at the end.
constexpr int kWarps = 4;
constexpr int kPerLane = kMaxHeadDim / kWarp;

__device__ __forceinline__ float load_kv(KvDType dtype, const void* base, int64_t offset,
                                         float scale) {
  switch (dtype) {
    case KvDType::kF32:
      return static_cast<const float*>(base)[offset];
    case KvDType::kBf16:
      return bf16_bits_to_float(static_cast<const uint16_t*>(base)[offset]);
    case KvDType::kFp8E4M3:
      return e4m3_to_float(static_cast<const uint8_t*>(base)[offset]) * scale;
  }
  return 0.0f;
}

__device__ __forceinline__ void store_kv(KvDType dtype, void* base, int64_t offset, float value,
                                         float scale) {
  switch (dtype) {
    case KvDType::kF32:
      static_cast<float*>(base)[offset] = value;
      break;
    case KvDType::kBf16:
      static_cast<uint16_t*>(base)[offset] = float_to_bf16_bits(value);
      break;
    case KvDType::kFp8E4M3:
      static_cast<uint8_t*>(base)[offset] = float_to_e4m3(__fdiv_rn(value, scale));
      break;
  }
}

__global__ void kv_write_kernel(KvLayerView cache, const int64_t* slot_mapping, const float* k,
                                const float* v) {
  const int64_t t = blockIdx.x;
  const int64_t row = static_cast<int64_t>(cache.num_kv_heads) * cache.head_dim;
  const int64_t base = slot_mapping[t] * row;
  for (int64_t i = threadIdx.x; i < row; i += blockDim.x) {
    store_kv(cache.dtype, cache.k, base + i, k[t * row + i], cache.k_scale);
    store_kv(cache.dtype, cache.v, base + i, v[t * row + i], cache.v_scale);
  }
}

__global__ void __launch_bounds__(kWarps* kMaxWarp)
    paged_attention_kernel(KvLayerView cache, AttentionMetadata meta, const float* q,
                           int64_t num_heads, float* out) {
  const int64_t t = blockIdx.x;
  const int64_t hq = blockIdx.y;
  const int head_dim = cache.head_dim;
  const int64_t group = num_heads / cache.num_kv_heads;
  const int64_t kvh = hq / group;
  const int64_t kv_row = static_cast<int64_t>(cache.num_kv_heads) * head_dim;
  const int64_t seq = meta.seq_of_token[t];
  const int64_t context = static_cast<int64_t>(meta.positions[t]) + 1;
  const int warp = static_cast<int>(threadIdx.x) / kWarp;
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const float softmax_scale = 1.0f / sqrtf(static_cast<float>(head_dim));

  const float* qh = q + (t * num_heads + hq) * head_dim;
  float qv[kPerLane], acc[kPerLane];
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + i * kWarp;
    qv[i] = d < head_dim ? qh[d] : 0.0f;
    acc[i] = 0.0f;
  }
  float running_max = -INFINITY;
  float running_sum = 0.0f;
  for (int64_t p = warp; p < context; p += kWarps) {
    const int32_t block =
        meta.block_tables[seq * meta.max_num_blocks_per_seq + p / cache.block_size];
    const int64_t offset =
        (static_cast<int64_t>(block) * cache.block_size + p % cache.block_size) * kv_row +
        kvh * head_dim;
    float partial = 0.0f;
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + i * kWarp;
      if (d < head_dim) partial += qv[i] * load_kv(cache.dtype, cache.k, offset + d, cache.k_scale);
    }
    const float score = warp_sum(partial) * softmax_scale;
    const float new_max = fmaxf(running_max, score);
    const float correction = expf(running_max - new_max);
    const float weight = expf(score - new_max);
    running_sum = running_sum * correction + weight;
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + i * kWarp;
      const float value =
          d < head_dim ? load_kv(cache.dtype, cache.v, offset + d, cache.v_scale) : 0.0f;
      acc[i] = acc[i] * correction + weight * value;
    }
    running_max = new_max;
  }

  // Merge the warps' partial softmaxes.
  __shared__ float warp_max_s[kWarps], warp_sum_s[kWarps];
  __shared__ float warp_acc[kWarps][kMaxHeadDim];
  if (lane == 0) {
    warp_max_s[warp] = running_max;
    warp_sum_s[warp] = running_sum;
  }
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + i * kWarp;
    if (d < head_dim) warp_acc[warp][d] = acc[i];
  }
  __syncthreads();
  float total_max = -INFINITY;
  for (int w = 0; w < kWarps; ++w)
    total_max = fmaxf(total_max, warp_max_s[w]);
  float total_sum = 0.0f;
  float factor[kWarps];
  for (int w = 0; w < kWarps; ++w) {
    // A warp that saw no position has max −inf and contributes nothing.
    factor[w] = warp_sum_s[w] > 0.0f ? expf(warp_max_s[w] - total_max) : 0.0f;
    total_sum += warp_sum_s[w] * factor[w];
  }
  float* oh = out + (t * num_heads + hq) * head_dim;
  for (int d = static_cast<int>(threadIdx.x); d < head_dim; d += kWarps * kWarp) {
    float value = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      value += warp_acc[w][d] * factor[w];
    oh[d] = value / total_sum;
  }
}

}  // namespace

void launch_kv_write(const KvLayerView& cache, const AttentionMetadata& meta, const float* k,
                     const float* v, gpu::Stream stream) {
  if (meta.num_tokens == 0) return;
  kv_write_kernel<<<static_cast<unsigned>(meta.num_tokens), 256, 0, stream>>>(
      cache, meta.slot_mapping, k, v);
}

void launch_paged_attention(const KvLayerView& cache, const AttentionMetadata& meta, const float* q,
                            int64_t num_heads, float* out, int warp, gpu::Stream stream) {
  if (meta.num_tokens == 0 || num_heads == 0) return;
  const dim3 grid(static_cast<unsigned>(meta.num_tokens), static_cast<unsigned>(num_heads));
  paged_attention_kernel<<<grid, kWarps * warp, 0, stream>>>(cache, meta, q, num_heads, out);
}

}  // namespace mm::cuda
