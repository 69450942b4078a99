// The inner loops of CPU attention (attention.cpp): portable, and in AVX2 bit-identical to them.
// Every lane adds the same products in the same order, with separate multiplies and adds
// (attention_avx2.cpp is built without FMA, so nothing is fused). Call the _avx2 versions only
// when the CPU has AVX2.
#pragma once

#include <cstdint>

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

}  // namespace mm
