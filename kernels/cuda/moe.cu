// The MoE block on the device (minimax-m2.md §3.4–§3.5): the sigmoid router's top-k, then
// each (token, chosen expert) pair runs its expert — gate and up rows with SwiGLU, then down —
// one warp per output element, and every token sums its top-k contributions in fp32 in
// ascending expert order (the CPU backend's order). Work is per pair, never per (token, expert
// of the layer). A sorted grouped GEMM that reads each expert once per step replaces this for
// prefill-sized batches (issue 9).
#include "kernels/cuda/device_math.cuh"

namespace mm::cuda {
namespace {

// One warp per output row, four per block, as linear.cu's GEMV.
constexpr int kRowsPerBlock = 4;

__global__ void router_topk_kernel(const float* logits, const float* bias, int64_t num_tokens,
                                   int64_t num_experts, int64_t top_k, int32_t* ids,
                                   float* weights) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= num_tokens) return;
  const float* row = logits + t * num_experts;
  // Selection by repeated arg-max over keys not yet taken: larger key first, equal keys the
  // lower expert id first — the CPU's partial_sort order.
  uint32_t taken[kMaxExperts / 32] = {};
  float sum = 0.0f;
  for (int64_t j = 0; j < top_k; ++j) {
    int64_t best = -1;
    float best_key = 0.0f;
    for (int64_t e = 0; e < num_experts; ++e) {
      if ((taken[e / 32] >> (e % 32)) & 1u) continue;
      const float s = 1.0f / (1.0f + expf(-row[e]));
      const float key = bias != nullptr ? s + bias[e] : s;
      if (best < 0 || key > best_key) {
        best = e;
        best_key = key;
      }
    }
    taken[best / 32] |= 1u << (best % 32);
    ids[t * top_k + j] = static_cast<int32_t>(best);
    sum += 1.0f / (1.0f + expf(-row[best]));
  }
  for (int64_t j = 0; j < top_k; ++j) {
    const float s = 1.0f / (1.0f + expf(-row[ids[t * top_k + j]]));
    weights[t * top_k + j] = s / sum;
  }
}

// Row n of w against one activation row (f32, or int8 with its scale for W8A8); every lane
// returns the total.
__device__ float warp_dot(const DeviceLinear& w, int64_t n, const float* x, const int8_t* xq,
                          float x_scale) {
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  if (w.format == PackedFormat::kInt8Channel && w.int8_activations) {
    const auto* row = reinterpret_cast<const int8_t*>(w.data) + n * w.num_cols;
    int acc = 0;
    for (int64_t k = lane; k < w.num_cols; k += kWarp)
      acc += static_cast<int>(row[k]) * static_cast<int>(xq[k]);
    const int total = warp_sum_int(acc);
    return __fmul_rn(__fmul_rn(static_cast<float>(total), x_scale), w.scales[n]);
  }
  float acc = 0.0f;
  for (int64_t k = lane; k < w.num_cols; k += kWarp) {
    const int64_t col = w.col_perm != nullptr ? w.col_perm[k] : k;
    acc += weight_at(w, n, k) * x[col];
  }
  return warp_sum(acc);
}

// blockIdx.x = pair (token · top_k + j); blockIdx.y and the warps: the intermediate rows.
__global__ void __launch_bounds__(kRowsPerBlock* kMaxWarp)
    gate_up_kernel(DeviceMoe moe, const float* x, const int8_t* xq, const float* x_scales,
                   int64_t hidden, const int32_t* ids, int64_t top_k, float* hidden_act) {
  const int64_t pair = blockIdx.x;
  const int64_t t = pair / top_k;
  const int64_t n =
      static_cast<int64_t>(blockIdx.y) * kRowsPerBlock + static_cast<int64_t>(threadIdx.x) / kWarp;
  if (n >= moe.intermediate_size) return;
  const int64_t e = ids[pair];
  const float* xt = x + t * hidden;
  const int8_t* xqt = xq != nullptr ? xq + t * hidden : nullptr;
  const float xs = x_scales != nullptr ? x_scales[t] : 1.0f;
  const float gate = warp_dot(moe.w1[e], n, xt, xqt, xs);
  const float up = warp_dot(moe.w3[e], n, xt, xqt, xs);
  if (threadIdx.x % kWarp == 0)
    hidden_act[pair * moe.intermediate_size + n] = (gate / (1.0f + expf(-gate))) * up;
}

__global__ void __launch_bounds__(kRowsPerBlock* kMaxWarp)
    down_kernel(DeviceMoe moe, const float* hidden_act, const int8_t* hq, const float* h_scales,
                int64_t hidden, const int32_t* ids, float* down) {
  const int64_t pair = blockIdx.x;
  const int64_t n =
      static_cast<int64_t>(blockIdx.y) * kRowsPerBlock + static_cast<int64_t>(threadIdx.x) / kWarp;
  if (n >= hidden) return;
  const int64_t e = ids[pair];
  const int64_t inter = moe.intermediate_size;
  const float value =
      warp_dot(moe.w2[e], n, hidden_act + pair * inter, hq != nullptr ? hq + pair * inter : nullptr,
               h_scales != nullptr ? h_scales[pair] : 1.0f);
  if (threadIdx.x % kWarp == 0) down[pair * hidden + n] = value;
}

// out[t] = Σ_j weights[t, j] · down[t, j] over the pairs in ascending expert id, from 0.
__global__ void combine_kernel(const float* down, const int32_t* ids, const float* weights,
                               int64_t hidden, int64_t top_k, float* out) {
  const int64_t t = blockIdx.x;
  int order[kMaxTopK];
  for (int j = 0; j < top_k; ++j) {
    int at = j;
    while (at > 0 && ids[t * top_k + order[at - 1]] > ids[t * top_k + j]) {
      order[at] = order[at - 1];
      --at;
    }
    order[at] = j;
  }
  for (int64_t h = threadIdx.x; h < hidden; h += blockDim.x) {
    float sum = 0.0f;
    for (int j = 0; j < top_k; ++j) {
      const int64_t pair = t * top_k + order[j];
      sum = __fadd_rn(sum, __fmul_rn(weights[pair], down[pair * hidden + h]));
    }
    out[t * hidden + h] = sum;
  }
}

}  // namespace

void launch_router_topk(const float* logits, const float* bias, int64_t num_tokens,
                        int64_t num_experts, int64_t top_k, int32_t* ids, float* weights,
                        gpu::Stream stream) {
  if (num_tokens == 0) return;
  // 64 threads: one token each, and a prefill chunk rarely has more than a few hundred tokens.
  router_topk_kernel<<<blocks_for(num_tokens, 64), 64, 0, stream>>>(
      logits, bias, num_tokens, num_experts, top_k, ids, weights);
}

void launch_moe(const DeviceMoe& moe, const float* x, int64_t num_tokens, int64_t hidden,
                const int32_t* ids, const float* weights, int64_t top_k, const MoeScratch& scratch,
                float* out, int warp, gpu::Stream stream) {
  if (num_tokens == 0) return;
  if (top_k == 0 || moe.intermediate_size == 0) {
    gpu::check(gpu::memset_async(out, 0, static_cast<size_t>(num_tokens * hidden) * sizeof(float),
                                 stream),
               "memset (moe)");
    return;
  }
  const int64_t pairs = num_tokens * top_k;
  const int64_t inter = moe.intermediate_size;
  if (moe.int8_activations)
    launch_quantize_rows_int8(x, num_tokens, hidden, scratch.xq, scratch.x_scales, stream);
  const dim3 gate_grid(static_cast<unsigned>(pairs), blocks_for(inter, kRowsPerBlock));
  gate_up_kernel<<<gate_grid, kRowsPerBlock * warp, 0, stream>>>(
      moe, x, moe.int8_activations ? scratch.xq : nullptr,
      moe.int8_activations ? scratch.x_scales : nullptr, hidden, ids, top_k, scratch.hidden_act);
  if (moe.int8_activations)
    launch_quantize_rows_int8(scratch.hidden_act, pairs, inter, scratch.hq, scratch.h_scales,
                              stream);
  const dim3 down_grid(static_cast<unsigned>(pairs), blocks_for(hidden, kRowsPerBlock));
  down_kernel<<<down_grid, kRowsPerBlock * warp, 0, stream>>>(
      moe, scratch.hidden_act, moe.int8_activations ? scratch.hq : nullptr,
      moe.int8_activations ? scratch.h_scales : nullptr, hidden, ids, scratch.down);
  combine_kernel<<<static_cast<unsigned>(num_tokens), 256, 0, stream>>>(scratch.down, ids, weights,
                                                                        hidden, top_k, out);
}

}  // namespace mm::cuda
