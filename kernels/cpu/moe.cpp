// The MoE block (minimax-m2.md §3.4–§3.5): sigmoid router with the correction bias used for
// selection only, then experts run over the tokens routed to them (never all experts per
// token), SwiGLU, and an fp32 sum of the top-k contributions in ascending expert order — the
// same order whatever else is in the batch, so a token's result is batch-independent.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/linear.h"

namespace mm {

void router_topk_cpu(const float* logits, const float* bias, int64_t num_tokens, int64_t num_experts,
                     int64_t top_k, int32_t* ids, float* weights) {
  std::vector<float> scores(static_cast<size_t>(num_experts));
  std::vector<float> keys(static_cast<size_t>(num_experts));
  std::vector<int32_t> order(static_cast<size_t>(num_experts));
  for (int64_t t = 0; t < num_tokens; ++t) {
    for (int64_t e = 0; e < num_experts; ++e) {
      const float s = 1.0f / (1.0f + std::exp(-logits[t * num_experts + e]));
      scores[static_cast<size_t>(e)] = s;
      keys[static_cast<size_t>(e)] = bias != nullptr ? s + bias[e] : s;
      order[static_cast<size_t>(e)] = static_cast<int32_t>(e);
    }
    // Largest key first; equal keys: lower expert id first (deterministic, spec §3.4 step 4).
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](int32_t a, int32_t b) {
      const float ka = keys[static_cast<size_t>(a)];
      const float kb = keys[static_cast<size_t>(b)];
      return ka > kb || (ka == kb && a < b);
    });
    float sum = 0;
    for (int64_t j = 0; j < top_k; ++j) sum += scores[static_cast<size_t>(order[static_cast<size_t>(j)])];
    for (int64_t j = 0; j < top_k; ++j) {
      const int32_t e = order[static_cast<size_t>(j)];
      ids[t * top_k + j] = e;
      weights[t * top_k + j] = scores[static_cast<size_t>(e)] / sum;
    }
  }
}

void swiglu_cpu(const float* gate, const float* up, int64_t num_elements, float* out) {
  for (int64_t i = 0; i < num_elements; ++i) {
    const float g = gate[i];
    out[i] = (g / (1.0f + std::exp(-g))) * up[i];
  }
}

void moe_cpu(ThreadPool& pool, CpuIsa isa, const MoeWeights& experts, const float* x,
             int64_t num_tokens, int64_t hidden, const int32_t* ids, const float* weights,
             int64_t top_k, float* out, CpuNumerics numerics) {
  const int64_t num_experts = static_cast<int64_t>(experts.w1.size());
  const int64_t inter = experts.intermediate_size;
  // Bucket (token, weight) pairs by expert; tokens stay in ascending order inside a bucket.
  std::vector<int64_t> counts(static_cast<size_t>(num_experts + 1), 0);
  for (int64_t i = 0; i < num_tokens * top_k; ++i) ++counts[static_cast<size_t>(ids[i]) + 1];
  for (int64_t e = 0; e < num_experts; ++e) counts[static_cast<size_t>(e + 1)] += counts[static_cast<size_t>(e)];
  std::vector<int64_t> fill(counts.begin(), counts.end() - 1);
  std::vector<int64_t> token_of(static_cast<size_t>(num_tokens * top_k));
  std::vector<float> weight_of(static_cast<size_t>(num_tokens * top_k));
  for (int64_t t = 0; t < num_tokens; ++t) {
    for (int64_t j = 0; j < top_k; ++j) {
      const int64_t e = ids[t * top_k + j];
      const size_t at = static_cast<size_t>(fill[static_cast<size_t>(e)]++);
      token_of[at] = t;
      weight_of[at] = weights[t * top_k + j];
    }
  }
  std::fill(out, out + num_tokens * hidden, 0.0f);
  // Per used expert: gathered rows [rows, hidden], gate and up [rows, inter], down [rows, hidden],
  // laid out back to back in one buffer each. All experts' gate/up projections run in one pool
  // dispatch, then all down projections in another.
  static thread_local std::vector<float> gathered, gate, up, down;
  static thread_local std::vector<LinearScratch> scratch;
  static thread_local std::vector<LinearTask> tasks;
  const int64_t num_rows = counts[static_cast<size_t>(num_experts)];
  gathered.resize(static_cast<size_t>(num_rows * hidden));
  gate.resize(static_cast<size_t>(num_rows * inter));
  up.resize(static_cast<size_t>(num_rows * inter));
  down.resize(static_cast<size_t>(num_rows * hidden));
  if (scratch.size() < static_cast<size_t>(2 * num_experts)) scratch.resize(static_cast<size_t>(2 * num_experts));
  static thread_local std::vector<int64_t> used_list;
  // The workers must reach the caller's buffers: a thread_local named inside the lambdas
  // below would be each worker's own.
  std::vector<int64_t>& used = used_list;
  std::vector<LinearTask>& task_list = tasks;
  std::vector<LinearScratch>& scratches = scratch;
  std::vector<float>& gathered_rows = gathered;
  std::vector<float>& gate_rows = gate;
  std::vector<float>& up_rows = up;
  std::vector<float>& down_rows = down;
  pool.parallel_for(num_rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* src = x + token_of[static_cast<size_t>(r)] * hidden;
      std::copy(src, src + hidden, gathered_rows.data() + r * hidden);
    }
  });
  // The experts some token was routed to. Preparing a task quantizes its rows' activations
  // (fast numerics): with a prefill's thousands of rows that is worth the pool too, one expert
  // per worker at a time (each writes only its own scratch and task slots).
  used.clear();
  for (int64_t e = 0; e < num_experts; ++e) {
    if (counts[static_cast<size_t>(e + 1)] > counts[static_cast<size_t>(e)]) used.push_back(e);
  }
  const auto num_used = static_cast<int64_t>(used.size());
  const int64_t prepare_grain = num_rows >= 64 ? 1 : num_used;  // decode: not worth a dispatch
  task_list.resize(static_cast<size_t>(2 * num_used));
  pool.parallel_for(num_used, prepare_grain, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t e = used[static_cast<size_t>(u)];
      const int64_t first = counts[static_cast<size_t>(e)];
      const int64_t rows = counts[static_cast<size_t>(e + 1)] - first;
      const float* xe = gathered_rows.data() + first * hidden;
      task_list[static_cast<size_t>(2 * u)] =
          prepare_linear(isa, experts.w1[static_cast<size_t>(e)], xe, rows, gate_rows.data() + first * inter,
                         scratches[static_cast<size_t>(2 * e)], numerics);
      task_list[static_cast<size_t>(2 * u + 1)] =
          prepare_linear(isa, experts.w3[static_cast<size_t>(e)], xe, rows, up_rows.data() + first * inter,
                         scratches[static_cast<size_t>(2 * e + 1)], numerics);
    }
  });
  run_linear_tasks(pool, task_list.data(), static_cast<int64_t>(task_list.size()));
  pool.parallel_for(num_rows, 16, [&](int64_t begin, int64_t end) {
    swiglu_cpu(gate_rows.data() + begin * inter, up_rows.data() + begin * inter, (end - begin) * inter,
               gate_rows.data() + begin * inter);
  });
  task_list.resize(static_cast<size_t>(num_used));
  pool.parallel_for(num_used, prepare_grain, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t e = used[static_cast<size_t>(u)];
      const int64_t first = counts[static_cast<size_t>(e)];
      const int64_t rows = counts[static_cast<size_t>(e + 1)] - first;
      task_list[static_cast<size_t>(u)] =
          prepare_linear(isa, experts.w2[static_cast<size_t>(e)], gate_rows.data() + first * inter, rows,
                         down_rows.data() + first * hidden, scratches[static_cast<size_t>(2 * e)], numerics);
    }
  });
  run_linear_tasks(pool, task_list.data(), static_cast<int64_t>(task_list.size()));
  // fp32 sum of the top-k contributions, ascending expert order for every token.
  // Split over columns, so every output element still adds its rows in that order.
  pool.parallel_for(hidden, num_rows >= 64 ? 128 : hidden, [&](int64_t h0, int64_t h1) {
    for (int64_t r = 0; r < num_rows; ++r) {
      const float w = weight_of[static_cast<size_t>(r)];
      float* dst = out + token_of[static_cast<size_t>(r)] * hidden;
      const float* src = down_rows.data() + r * hidden;
      for (int64_t h = h0; h < h1; ++h) dst[h] += w * src[h];
    }
  });
}

}  // namespace mm
