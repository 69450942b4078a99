// Paged KV writes and causal GQA attention over the paged cache (minimax-m2.md §3.3 steps 5–8,
// quant-formats §3 for FP8). One work item = (token, kv head): the kv head's cached rows
// 0..position are decoded to f32 once and shared by the num_heads / num_kv_heads query heads of
// its group. Scores and softmax are fp32; the output is Σ p·v / Σ p in fp32.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/common/numeric.h"
#include "kernels/cpu/attention_loops.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/cpu_ops.h"

namespace mm {
namespace {

inline int64_t slot_of(const AttentionMetadata& meta, int64_t seq, int64_t position,
                       int block_size) {
  const int32_t block =
      meta.block_tables[seq * meta.max_num_blocks_per_seq + position / block_size];
  return static_cast<int64_t>(block) * block_size + position % block_size;
}

// Stores one row of head_dim values at element offset `offset` of `base`.
void store_row(KvDType dtype, void* base, int64_t offset, const float* src, int head_dim,
               float scale) {
  switch (dtype) {
    case KvDType::kF32:
      std::copy(src, src + head_dim, static_cast<float*>(base) + offset);
      break;
    case KvDType::kBf16: {
      uint16_t* dst = static_cast<uint16_t*>(base) + offset;
      for (int i = 0; i < head_dim; ++i)
        dst[i] = f32_to_bf16(src[i]);
      break;
    }
    case KvDType::kFp8E4M3: {
      uint8_t* dst = static_cast<uint8_t*>(base) + offset;
      for (int i = 0; i < head_dim; ++i)
        dst[i] = f32_to_e4m3fn(src[i] / scale);
      break;
    }
  }
}

void load_row(KvDType dtype, const void* base, int64_t offset, int head_dim, float scale,
              float* dst) {
  switch (dtype) {
    case KvDType::kF32: {
      const float* src = static_cast<const float*>(base) + offset;
      std::copy(src, src + head_dim, dst);
      break;
    }
    case KvDType::kBf16: {
      const uint16_t* src = static_cast<const uint16_t*>(base) + offset;
      for (int i = 0; i < head_dim; ++i)
        dst[i] = bf16_to_f32(src[i]);
      break;
    }
    case KvDType::kFp8E4M3: {
      const uint8_t* src = static_cast<const uint8_t*>(base) + offset;
      for (int i = 0; i < head_dim; ++i)
        dst[i] = e4m3fn_to_f32(src[i]) * scale;
      break;
    }
  }
}

// Keys are stored in panels of kPanel positions: panel b holds [head_dim][kPanel], so key p's
// element i sits at (p / kPanel)·head_dim·kPanel + i·kPanel + p % kPanel. Writing a key touches
// one 4 KiB panel, and the score loop reads each panel front to back.
constexpr int kPanel = 8;

inline size_t panel_index(int64_t p, int i, int head_dim) {
  return static_cast<size_t>((p / kPanel) * head_dim * kPanel + int64_t{i} * kPanel + p % kPanel);
}

struct AttentionScratch {
  std::vector<float> row;     // [head_dim]: one decoded key
  std::vector<float> keys;    // panels of kPanel positions (panel_index)
  std::vector<float> values;  // [context, head_dim]
  std::vector<float> scores;  // [context]
};

}  // namespace

// Scores of positions [0, context) against one query head: each score is Σ_i q[i]·k[i]
// accumulated in ascending i, exactly the scalar dot product's sequence of f32 multiplies and
// adds, but the kPanel positions of a panel advance together in independent lanes the compiler
// vectorizes. (Reordering the dot itself would change W8A8's rounding ties downstream; this
// does not change a bit.) Lanes past `context` in the last panel are computed and dropped.
void attention_scores(const float* q, const float* panels, int64_t context, int head_dim,
                      float scale, float* scores) {
  for (int64_t p0 = 0; p0 < context; p0 += kPanel) {
    const float* panel = panels + (p0 / kPanel) * head_dim * kPanel;
    float acc[kPanel] = {};
    for (int i = 0; i < head_dim; ++i) {
      const float qi = q[i];
      for (int j = 0; j < kPanel; ++j)
        acc[j] += qi * panel[i * kPanel + j];
    }
    for (int j = 0; j < kPanel && p0 + j < context; ++j)
      scores[p0 + j] = acc[j] * scale;
  }
}

void attention_weighted_sum(const float* weights, const float* values, int64_t context,
                            int head_dim, float* out) {
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t p = 0; p < context; ++p) {
    const float* vp = values + p * head_dim;
    for (int i = 0; i < head_dim; ++i)
      out[i] += weights[p] * vp[i];
  }
}

void kv_write_cpu(const KvLayerView& cache, const AttentionMetadata& meta, const float* k,
                  const float* v) {
  const int64_t row = static_cast<int64_t>(cache.num_kv_heads) * cache.head_dim;
  for (int64_t t = 0; t < meta.num_tokens; ++t) {
    const int64_t base = meta.slot_mapping[t] * row;
    for (int64_t h = 0; h < cache.num_kv_heads; ++h) {
      const int64_t in_row = h * cache.head_dim;
      store_row(cache.dtype, cache.k, base + in_row, k + t * row + in_row, cache.head_dim,
                cache.k_scale);
      store_row(cache.dtype, cache.v, base + in_row, v + t * row + in_row, cache.head_dim,
                cache.v_scale);
    }
  }
}

void paged_attention_cpu(ThreadPool& pool, const KvLayerView& cache, const AttentionMetadata& meta,
                         const float* q, int64_t num_heads, float* out) {
  const int head_dim = cache.head_dim;
  const int64_t num_kv_heads = cache.num_kv_heads;
  const int64_t group = num_heads / num_kv_heads;
  const int64_t kv_row = num_kv_heads * head_dim;
  const float softmax_scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  // Work items: a run of up to kRunTokens tokens of one sequence × one KV head. A prefill's
  // tokens share their sequence's keys and values (each token's context is a prefix of the
  // last one's), so a run decodes them once for all its tokens instead of once per token;
  // each token's scores still read only its own context, as computed alone.
  constexpr int64_t kRunTokens = 16;
  // The AVX2 loops give the same bits as the portable ones (attention_loops.h).
  static const bool avx2 = detected_cpu_isa() >= CpuIsa::kAvx2;
  struct Run {
    int64_t first, count;
  };
  std::vector<Run> runs;
  for (int64_t t = 0; t < meta.num_tokens;) {
    int64_t count = 1;
    while (count < kRunTokens && t + count < meta.num_tokens &&
           meta.seq_of_token[t + count] == meta.seq_of_token[t])
      ++count;
    runs.push_back({t, count});
    t += count;
  }
  pool.parallel_for(
      static_cast<int64_t>(runs.size()) * num_kv_heads, 1, [&](int64_t begin, int64_t end) {
        static thread_local AttentionScratch scratch;
        for (int64_t item = begin; item < end; ++item) {
          const Run& run = runs[static_cast<size_t>(item / num_kv_heads)];
          const int64_t kvh = item % num_kv_heads;
          const int64_t seq = meta.seq_of_token[run.first];
          int64_t longest = 0;
          for (int64_t t = run.first; t < run.first + run.count; ++t)
            longest = std::max<int64_t>(longest, static_cast<int64_t>(meta.positions[t]) + 1);
          scratch.row.resize(static_cast<size_t>(head_dim));
          // Whole panels; the last one's unused lanes are zeros.
          const int64_t panels = (longest + kPanel - 1) / kPanel;
          scratch.keys.resize(static_cast<size_t>(panels * kPanel * head_dim));
          std::fill(scratch.keys.begin() + (panels - 1) * kPanel * head_dim, scratch.keys.end(),
                    0.0f);
          scratch.values.resize(static_cast<size_t>(longest * head_dim));
          scratch.scores.resize(static_cast<size_t>(longest));
          const bool simd_rows = avx2 && head_dim % 8 == 0;
          for (int64_t p0 = 0; simd_rows && p0 < longest; p0 += kPanel) {
            const int count = static_cast<int>(std::min<int64_t>(kPanel, longest - p0));
            int64_t offsets[kPanel];
            for (int j = 0; j < count; ++j)
              offsets[j] = slot_of(meta, seq, p0 + j, cache.block_size) * kv_row + kvh * head_dim;
            attention_load_key_panel_avx2(cache.dtype, cache.k, offsets, count, head_dim,
                                          cache.k_scale, scratch.keys.data() + p0 * head_dim);
            for (int j = 0; j < count; ++j)
              attention_load_row_avx2(cache.dtype, cache.v, offsets[j], head_dim, cache.v_scale,
                                      scratch.values.data() + (p0 + j) * head_dim);
          }
          for (int64_t p = simd_rows ? longest : 0; p < longest; ++p) {
            const int64_t offset =
                slot_of(meta, seq, p, cache.block_size) * kv_row + kvh * head_dim;
            load_row(cache.dtype, cache.k, offset, head_dim, cache.k_scale, scratch.row.data());
            for (int i = 0; i < head_dim; ++i)
              scratch.keys[panel_index(p, i, head_dim)] = scratch.row[static_cast<size_t>(i)];
            load_row(cache.dtype, cache.v, offset, head_dim, cache.v_scale,
                     scratch.values.data() + p * head_dim);
          }
          for (int64_t t = run.first; t < run.first + run.count; ++t) {
            const int64_t context = static_cast<int64_t>(meta.positions[t]) + 1;
            for (int64_t hq = kvh * group; hq < (kvh + 1) * group; ++hq) {
              const float* qh = q + (t * num_heads + hq) * head_dim;
              (avx2 ? attention_scores_avx2 : attention_scores)(
                  qh, scratch.keys.data(), context, head_dim, softmax_scale, scratch.scores.data());
              float max_score = -INFINITY;
              for (int64_t p = 0; p < context; ++p)
                max_score = std::max(max_score, scratch.scores[static_cast<size_t>(p)]);
              float denom = 0;
              for (int64_t p = 0; p < context; ++p) {
                const float e = std::exp(scratch.scores[static_cast<size_t>(p)] - max_score);
                scratch.scores[static_cast<size_t>(p)] = e;
                denom += e;
              }
              float* oh = out + (t * num_heads + hq) * head_dim;
              for (int64_t p = 0; p < context; ++p)
                scratch.scores[static_cast<size_t>(p)] /= denom;
              (avx2 ? attention_weighted_sum_avx2 : attention_weighted_sum)(
                  scratch.scores.data(), scratch.values.data(), context, head_dim, oh);
            }
          }
        }
      });
}

}  // namespace mm
