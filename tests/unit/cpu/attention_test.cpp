// Paged attention against a naive contiguous causal GQA attention in double precision, with
// sequences scattered over shuffled blocks, for each KV cache dtype.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "kernels/common/numeric.h"
#include "kernels/cpu/attention_loops.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/unit/cpu/random_weights.h"

namespace mm::testing {
namespace {

// What the cache gives back for a value written as `x` (the reference attends to exactly this).
float round_trip(KvDType dtype, float x, float scale) {
  switch (dtype) {
    case KvDType::kF32:
      return x;
    case KvDType::kBf16:
      return bf16_to_f32(f32_to_bf16(x));
    case KvDType::kFp8E4M3:
      return e4m3fn_to_f32(f32_to_e4m3fn(x / scale)) * scale;
  }
  return x;
}

class PagedAttentionTest : public ::testing::TestWithParam<KvDType> {};

TEST_P(PagedAttentionTest, MatchesNaiveCausalGqa) {
  const KvDType dtype = GetParam();
  ThreadPool pool(2);
  std::mt19937 rng(21);
  const int block_size = 4;
  const int64_t num_blocks = 64;
  for (int64_t group : {1, 3}) {
    const int num_kv_heads = 2, head_dim = 17;
    const int64_t num_heads = num_kv_heads * group;
    const std::vector<int64_t> lengths = {1, 3, 17, 40};
    // Shuffled blocks shared out among the sequences.
    std::vector<int32_t> pool_blocks(num_blocks);
    std::iota(pool_blocks.begin(), pool_blocks.end(), 0);
    std::shuffle(pool_blocks.begin(), pool_blocks.end(), rng);
    const int64_t max_blocks = 40 / block_size + 1;
    std::vector<int32_t> tables(lengths.size() * static_cast<size_t>(max_blocks));
    for (size_t i = 0; i < tables.size(); ++i)
      tables[i] = pool_blocks[i];
    // Flat batch: every position of every sequence (a full prefill of all of them).
    std::vector<int32_t> positions, seq_of_token;
    std::vector<int64_t> slots;
    for (size_t s = 0; s < lengths.size(); ++s) {
      for (int64_t p = 0; p < lengths[s]; ++p) {
        positions.push_back(static_cast<int32_t>(p));
        seq_of_token.push_back(static_cast<int32_t>(s));
        slots.push_back(
            static_cast<int64_t>(
                tables[s * static_cast<size_t>(max_blocks) + static_cast<size_t>(p / block_size)]) *
                block_size +
            p % block_size);
      }
    }
    const int64_t num_tokens = static_cast<int64_t>(positions.size());
    const std::vector<float> q =
        random_normal(rng, static_cast<size_t>(num_tokens * num_heads * head_dim));
    const std::vector<float> k =
        random_normal(rng, static_cast<size_t>(num_tokens * num_kv_heads * head_dim), 2.0f);
    const std::vector<float> v =
        random_normal(rng, static_cast<size_t>(num_tokens * num_kv_heads * head_dim));
    const size_t cache_elems =
        static_cast<size_t>(num_blocks * block_size * num_kv_heads * head_dim);
    std::vector<uint8_t> k_cache(cache_elems * static_cast<size_t>(kv_dtype_bytes(dtype))),
        v_cache(k_cache.size());
    KvLayerView cache;
    cache.dtype = dtype;
    cache.k = k_cache.data();
    cache.v = v_cache.data();
    cache.num_blocks = num_blocks;
    cache.block_size = block_size;
    cache.num_kv_heads = num_kv_heads;
    cache.head_dim = head_dim;
    cache.k_scale = dtype == KvDType::kFp8E4M3 ? 0.0125f : 1.0f;  // non-unit, as calibrated
    cache.v_scale = dtype == KvDType::kFp8E4M3 ? 0.0078f : 1.0f;
    AttentionMetadata meta;
    meta.num_tokens = num_tokens;
    meta.positions = positions.data();
    meta.seq_of_token = seq_of_token.data();
    meta.slot_mapping = slots.data();
    meta.block_tables = tables.data();
    meta.max_num_blocks_per_seq = max_blocks;
    kv_write_cpu(cache, meta, k.data(), v.data());
    std::vector<float> out(q.size());
    paged_attention_cpu(pool, cache, meta, q.data(), num_heads, out.data());

    int64_t first = 0;
    for (size_t s = 0; s < lengths.size(); ++s) {
      for (int64_t p = 0; p < lengths[s]; ++p) {
        const int64_t t = first + p;
        for (int64_t h = 0; h < num_heads; ++h) {
          const int64_t kvh = h / group;
          std::vector<double> scores(static_cast<size_t>(p + 1));
          double max_score = -INFINITY;
          for (int64_t j = 0; j <= p; ++j) {
            double dot = 0;
            for (int i = 0; i < head_dim; ++i) {
              dot +=
                  static_cast<double>(q[static_cast<size_t>((t * num_heads + h) * head_dim + i)]) *
                  round_trip(
                      dtype,
                      k[static_cast<size_t>(((first + j) * num_kv_heads + kvh) * head_dim + i)],
                      cache.k_scale);
            }
            scores[static_cast<size_t>(j)] = dot / std::sqrt(static_cast<double>(head_dim));
            max_score = std::max(max_score, scores[static_cast<size_t>(j)]);
          }
          double denom = 0;
          for (double& sc : scores)
            denom += (sc = std::exp(sc - max_score));
          for (int i = 0; i < head_dim; ++i) {
            double want = 0;
            for (int64_t j = 0; j <= p; ++j) {
              want += scores[static_cast<size_t>(j)] / denom *
                      round_trip(
                          dtype,
                          v[static_cast<size_t>(((first + j) * num_kv_heads + kvh) * head_dim + i)],
                          cache.v_scale);
            }
            // f32 scores/softmax/weighted sum over ≤ 40 keys of unit-scale values: ~1e-6;
            // 2e-5 absolute leaves room for exp() ulps on scores up to ~10.
            ASSERT_NEAR(out[static_cast<size_t>((t * num_heads + h) * head_dim + i)], want, 2e-5)
                << "kv " << kv_dtype_name(dtype) << " group " << group << " seq " << s << " pos "
                << p << " head " << h;
          }
        }
      }
      first += lengths[s];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(KvDTypes, PagedAttentionTest,
                         ::testing::Values(KvDType::kF32, KvDType::kBf16, KvDType::kFp8E4M3),
                         [](const ::testing::TestParamInfo<KvDType>& param_info) {
                           return std::string(kv_dtype_name(param_info.param));
                         });

// The AVX2 score and weighted-sum loops against the portable ones, bit for bit: every context
// length across the four-panel steps and the partial last panel, head sizes that exercise the
// 64-column, 8-column and scalar column paths.
TEST(AttentionLoops, Avx2IsBitIdenticalToPortable) {
  if (!cpu_supports(CpuIsa::kAvx2)) GTEST_SKIP() << "this CPU lacks avx2: path not tested here";
  std::mt19937 rng(11);
  for (int head_dim : {128, 64, 72, 36, 5}) {
    for (int64_t context = 1; context <= 75; ++context) {
      const int64_t panels = (context + 7) / 8;
      const std::vector<float> q = random_normal(rng, static_cast<size_t>(head_dim));
      const std::vector<float> keys =
          random_normal(rng, static_cast<size_t>(panels * 8 * head_dim));
      const std::vector<float> values = random_normal(rng, static_cast<size_t>(context * head_dim));
      std::vector<float> s_ref(static_cast<size_t>(context)), s_avx(s_ref.size());
      attention_scores(q.data(), keys.data(), context, head_dim, 0.088f, s_ref.data());
      attention_scores_avx2(q.data(), keys.data(), context, head_dim, 0.088f, s_avx.data());
      ASSERT_EQ(s_ref, s_avx) << "scores, head_dim " << head_dim << " context " << context;
      std::vector<float> o_ref(static_cast<size_t>(head_dim)), o_avx(o_ref.size());
      attention_weighted_sum(s_ref.data(), values.data(), context, head_dim, o_ref.data());
      attention_weighted_sum_avx2(s_ref.data(), values.data(), context, head_dim, o_avx.data());
      ASSERT_EQ(o_ref, o_avx) << "weighted sum, head_dim " << head_dim << " context " << context;
    }
  }
}

// The AVX2 cache decoders give each element exactly what load_row gives (f32 as stored, bf16
// widened, e4m3 code · scale, all 256 codes, NaN bits included), keys transposed into a panel
// with zero lanes past `count`.
TEST(AttentionLoops, Avx2CacheDecodeIsExact) {
  if (!cpu_supports(CpuIsa::kAvx2)) GTEST_SKIP() << "this CPU lacks avx2: path not tested here";
  constexpr int kHeadDim = 128;
  constexpr float kScale = 0.0173f;
  std::mt19937 rng(5);
  std::vector<float> f32(16 * kHeadDim);
  std::vector<uint16_t> bf16(f32.size());
  std::vector<uint8_t> fp8(f32.size());
  for (size_t i = 0; i < f32.size(); ++i) {
    f32[i] = std::normal_distribution<float>(0.0f, 3.0f)(rng);
    bf16[i] = f32_to_bf16(f32[i]);
    fp8[i] = static_cast<uint8_t>(i % 256);  // every code, NaNs among them
  }
  const auto expected = [&](KvDType dtype, int64_t at) {
    switch (dtype) {
      case KvDType::kF32:
        return f32[static_cast<size_t>(at)];
      case KvDType::kBf16:
        return bf16_to_f32(bf16[static_cast<size_t>(at)]);
      case KvDType::kFp8E4M3:
        return e4m3fn_to_f32(fp8[static_cast<size_t>(at)]) * kScale;
    }
    return 0.0f;
  };
  const auto same_bits = [](float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; };
  for (KvDType dtype : {KvDType::kF32, KvDType::kBf16, KvDType::kFp8E4M3}) {
    const void* base = dtype == KvDType::kF32    ? static_cast<const void*>(f32.data())
                       : dtype == KvDType::kBf16 ? static_cast<const void*>(bf16.data())
                                                 : static_cast<const void*>(fp8.data());
    for (int count = 1; count <= 8; ++count) {
      int64_t offsets[8];
      for (int j = 0; j < 8; ++j)
        offsets[j] = int64_t{(j * 5 + count) % 16} * kHeadDim;  // scattered rows
      std::vector<float> panel(8 * kHeadDim, -1.0f);
      attention_load_key_panel_avx2(dtype, base, offsets, count, kHeadDim, kScale, panel.data());
      for (int i = 0; i < kHeadDim; ++i) {
        for (int j = 0; j < 8; ++j) {
          const float want = j < count ? expected(dtype, offsets[j] + i) : 0.0f;
          ASSERT_TRUE(same_bits(panel[static_cast<size_t>(i * 8 + j)], want))
              << "key panel, dtype " << static_cast<int>(dtype) << " count " << count << " dim "
              << i << " row " << j;
        }
      }
      std::vector<float> row(kHeadDim);
      attention_load_row_avx2(dtype, base, offsets[0], kHeadDim, kScale, row.data());
      for (int i = 0; i < kHeadDim; ++i)
        ASSERT_TRUE(same_bits(row[static_cast<size_t>(i)], expected(dtype, offsets[0] + i)))
            << "value row, dtype " << static_cast<int>(dtype) << " dim " << i;
    }
  }
}

TEST(KvWrite, Fp8StoresSaturatedRneCodesOfValueOverScale) {
  std::vector<uint8_t> k_cache(16), v_cache(16);
  KvLayerView cache;
  cache.dtype = KvDType::kFp8E4M3;
  cache.k = k_cache.data();
  cache.v = v_cache.data();
  cache.num_blocks = 1;
  cache.block_size = 1;
  cache.num_kv_heads = 1;
  cache.head_dim = 4;
  cache.k_scale = 0.5f;
  cache.v_scale = 2.0f;
  const float k[4] = {1.0f, 1000.0f, -1000.0f, 0.0f};  // 2.0, saturates to ±448, 0
  const float v[4] = {1.0f, 9.0f, 0.0f, -3.0f};        // 0.5, 4.5, 0, −1.5
  const int32_t position = 0, seq = 0, table = 0;
  const int64_t slot = 0;
  AttentionMetadata meta;
  meta.num_tokens = 1;
  meta.positions = &position;
  meta.seq_of_token = &seq;
  meta.slot_mapping = &slot;
  meta.block_tables = &table;
  meta.max_num_blocks_per_seq = 1;
  kv_write_cpu(cache, meta, k, v);
  EXPECT_EQ(e4m3fn_to_f32(k_cache[0]), 2.0f);
  EXPECT_EQ(e4m3fn_to_f32(k_cache[1]), 448.0f);
  EXPECT_EQ(e4m3fn_to_f32(k_cache[2]), -448.0f);
  EXPECT_EQ(e4m3fn_to_f32(v_cache[0]), 0.5f);
  EXPECT_EQ(e4m3fn_to_f32(v_cache[1]), 4.5f);
  EXPECT_EQ(e4m3fn_to_f32(v_cache[3]), -1.5f);
}

}  // namespace
}  // namespace mm::testing
