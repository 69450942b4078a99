// The inner loops of CPU attention (attention.cpp): portable, and in AVX2 bit-identical to them.
// Every lane adds the same products in the same order, with separate multiplies and adds
// (attention_avx2.cpp is built without FMA, so nothing is fused). Call the _avx2 versions only
// when the CPU has AVX2.
#pragma once

#include <cstdint>

#include "kernels/backend.h"

namespace mm {

// Scores of positions [0, context) against one query: keys in panels of 8 positions
// ([head_dim][8] each), scores[p] = (Σ_i q[i]·k_p[i], ascending i) · scale.
void attention_scores(const float* q, const float* panels, int64_t context, int head_dim,
                      float scale, float* scores);
void attention_scores_avx2(const float* q, const float* panels, int64_t context, int head_dim,
                           float scale, float* scores);

// out[i] = Σ_p weights[p] · values[p][i], ascending p from 0 (values: [context][head_dim]).
void attention_weighted_sum(const float* weights, const float* values, int64_t context,
                            int head_dim, float* out);
void attention_weighted_sum_avx2(const float* weights, const float* values, int64_t context,
                                 int head_dim, float* out);

// Decoding the cache for one KV head (AVX2; head_dim a multiple of 8). `offsets` are element
// offsets of the rows in `base`; a row decodes as load_row does (f32 copy, bf16 widened, e4m3
// code · scale), exactly.
// Keys: `count` ≤ 8 rows transposed into one panel [head_dim][8]; lanes past count are zero.
void attention_load_key_panel_avx2(KvDType dtype, const void* base, const int64_t* offsets,
                                   int count, int head_dim, float scale, float* panel);
// One row, as it is: dst[head_dim].
void attention_load_row_avx2(KvDType dtype, const void* base, int64_t offset, int head_dim,
                             float scale, float* dst);

}  // namespace mm
