// Round trip of every packer on every fixture checkpoint: unpack(pack(W)) must equal W as
// dequantized straight from the checkpoint tensors by the formulas of quant-formats §2
// (written again here, independently of weight_packing.cpp). Exact equality: each dequantized
// value is a small integer times a BF16/F32 scale, exact in f32 both ways.
#include "daemon/model/weight_packing.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "daemon/model/checkpoint.h"
#include "daemon/model/model_config.h"
#include "daemon/model/quant_config.h"
#include "tests/unit/runner/golden.h"

namespace mm::testing {
namespace {

float reference_value(const Checkpoint& ckpt, const LinearWeights& lw, int64_t n, int64_t k) {
  const int64_t k_cols = lw.in_features;
  const TensorView w = ckpt.view(lw.weight);
  switch (lw.scheme.format) {
    case WeightFormat::kDense:
      return w.get_f32(n * k_cols + k);
    case WeightFormat::kFp8: {
      const TensorView s = ckpt.view(lw.scale);
      const int64_t bn = lw.scheme.strategy == ScaleStrategy::kBlock ? lw.scheme.block_n : 1;
      const int64_t bk = lw.scheme.strategy == ScaleStrategy::kBlock ? lw.scheme.block_k : k_cols;
      const int64_t grid_cols = (k_cols + bk - 1) / bk;
      return w.get_f32(n * k_cols + k) * s.get_f32((n / bn) * grid_cols + k / bk);
    }
    case WeightFormat::kIntPacked: {
      const int64_t words = w.shape()[1];
      const auto word = static_cast<uint32_t>(w.get_i64(n * words + k / 8));
      const int q = static_cast<int>((word >> (4 * (k % 8))) & 0xF) - 8;
      const int64_t group_size =
          lw.scheme.strategy == ScaleStrategy::kGroup ? lw.scheme.group_size : k_cols;
      const int64_t num_groups = (k_cols + group_size - 1) / group_size;
      const int64_t g = lw.scheme.has_g_idx ? ckpt.view(lw.g_idx).get_i64(k) : k / group_size;
      int z = 0;
      if (!lw.scheme.symmetric) {
        const auto zword =
            static_cast<uint32_t>(ckpt.view(lw.zero_point).get_i64((n / 8) * num_groups + g));
        z = static_cast<int>((zword >> (4 * (n % 8))) & 0xF) - 8;
      }
      return static_cast<float>(q - z) * ckpt.view(lw.scale).get_f32(n * num_groups + g);
    }
    case WeightFormat::kInt8:
      return static_cast<float>(w.get_i64(n * k_cols + k)) * ckpt.view(lw.scale).get_f32(n);
  }
  return 0;
}

// The fixture's checkpoint and every Linear as bind_model_weights resolves it (the weights
// point into the checkpoint, which therefore comes first).
class WeightPackingTest : public ::testing::TestWithParam<const char*> {
 protected:
  static ModelWeights bind(const Checkpoint& checkpoint) {
    const std::string text = *checkpoint.read_text_file("config.json");
    return bind_model_weights(checkpoint, parse_model_config(text, "config.json"),
                              QuantConfig::parse(text, "config.json"));
  }
  const Checkpoint ckpt{fixture_dir() / GetParam()};
  const ModelWeights weights = bind(ckpt);
};

TEST_P(WeightPackingTest, UnpackOfPackEqualsCheckpointDequantization) {
  std::vector<const LinearWeights*> all = {&weights.lm_head};
  for (const LayerWeights& layer : weights.layers) {
    for (const LinearWeights* w :
         {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.router})
      all.push_back(w);
    for (const ExpertWeights& e : layer.experts) {
      for (const LinearWeights* w : {&e.w1, &e.w2, &e.w3})
        all.push_back(w);
    }
  }
  int num_quantized = 0;
  for (const LinearWeights* lw : all) {
    const PackedLinear packed = pack_linear(ckpt, *lw);
    ASSERT_EQ(packed.num_rows, lw->out_features) << lw->name;
    ASSERT_EQ(packed.num_cols, lw->in_features) << lw->name;
    const std::vector<float> dense = unpack_to_f32(packed);
    for (int64_t n = 0; n < lw->out_features; ++n) {
      for (int64_t k = 0; k < lw->in_features; ++k) {
        ASSERT_EQ(dense[static_cast<size_t>(n * lw->in_features + k)],
                  reference_value(ckpt, *lw, n, k))
            << lw->name << " (" << lw->scheme.label() << ") at [" << n << ", " << k << "]";
      }
    }
    num_quantized += lw->scheme.quantized() ? 1 : 0;
  }
  std::printf("%s: %zu linears round-tripped, %d quantized\n", GetParam(), all.size(),
              num_quantized);
  if (std::string(GetParam()) != "tiny-bf16") {
    EXPECT_GT(num_quantized, 0);
  }
}

// Tensor-parallel cuts in packed form: every rank's slice, unpacked, is exactly that slice of
// the unpacked whole, for every fixture linear and every cut its blocks allow (2 and 4 ranks);
// a cut through a block is refused with the weight's name.
TEST_P(WeightPackingTest, SlicesEqualTheSliceOfTheWhole) {
  const LayerWeights& layer = weights.layers[0];
  int num_cuts = 0, num_refused = 0;
  for (const LinearWeights* lw : {&layer.q_proj, &layer.o_proj, &layer.experts[0].w1,
                                  &layer.experts[0].w2, &weights.lm_head}) {
    const PackedLinear whole = pack_linear(ckpt, *lw);
    const std::vector<float> dense = unpack_to_f32(whole);
    for (const int ranks : {2, 4}) {
      for (int r = 0; r < ranks; ++r) {
        const int64_t r0 = whole.num_rows * r / ranks, r1 = whole.num_rows * (r + 1) / ranks;
        const int64_t c0 = whole.num_cols * r / ranks, c1 = whole.num_cols * (r + 1) / ranks;
        try {
          const std::vector<float> rows = unpack_to_f32(slice_rows(whole, r0, r1));
          ASSERT_EQ(rows.size(), static_cast<size_t>((r1 - r0) * whole.num_cols));
          for (size_t i = 0; i < rows.size(); ++i)
            ASSERT_EQ(rows[i], dense[static_cast<size_t>(r0 * whole.num_cols) + i])
                << whole.name << " rows " << r0;
          ++num_cuts;
        } catch (const std::invalid_argument& e) {
          EXPECT_NE(std::string(e.what()).find(whole.name), std::string::npos) << e.what();
          ++num_refused;
        }
        try {
          const PackedLinear part = slice_columns(whole, c0, c1);
          const std::vector<float> cols = unpack_to_f32(part);
          for (int64_t n = 0; n < whole.num_rows; ++n) {
            for (int64_t k = c0; k < c1; ++k) {
              ASSERT_EQ(cols[static_cast<size_t>(n * (c1 - c0) + (k - c0))],
                        dense[static_cast<size_t>(n * whole.num_cols + k)])
                  << whole.name << " columns [" << c0 << ", " << c1 << ") at [" << n << ", " << k
                  << "]";
            }
          }
          ++num_cuts;
        } catch (const std::invalid_argument& e) {
          EXPECT_NE(std::string(e.what()).find(whole.name), std::string::npos) << e.what();
          ++num_refused;
        }
      }
    }
  }
  std::printf("%s: %d cuts checked, %d refused\n", GetParam(), num_cuts, num_refused);
  EXPECT_GT(num_cuts, 0);
}

INSTANTIATE_TEST_SUITE_P(Formats, WeightPackingTest,
                         ::testing::Values("tiny-bf16", "tiny-fp8", "tiny-fp8-w4a16-g32",
                                           "tiny-fp8-w4a16-g128-kvfp8",
                                           "tiny-bf16-w4a16-g32-lastbf16",
                                           "tiny-w4a16-g32-asym-actorder", "tiny-w8a8-int8"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace mm::testing
