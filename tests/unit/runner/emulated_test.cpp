// The formats whose runtime quantization is part of their semantics, against the goldens that
// emulate it (tests/fixtures/README.md "Emulated variants"): FP8 KV cache with the checkpoint's
// calibrated per-layer scales, and W8A8 int8 per-token activations.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "kernels/common/numeric.h"
#include "tests/unit/runner/golden.h"

namespace mm::testing {
namespace {

struct Emulated {
  const char* folder;
  KvDType kv_dtype;
  bool runtime_activation_quant;
  // Max logit error relative to max |logit| (see the instantiation for each justification).
  double tolerance;
};

std::ostream& operator<<(std::ostream& os, const Emulated& e) { return os << e.folder; }

class EmulatedTest : public ::testing::TestWithParam<Emulated> {};

// Our K/V agree with the reference's to ~1e-6 relative, so a value whose x / scale lies within
// kFlipMargin (relative) of an e4m3 rounding midpoint may round to the other neighbour in the
// reference: a legitimate one-code difference, like a greedy near-tie. 1e-5 is 10× that
// agreement (the flip seen on prompt 2 sits 3.1e-6 from its midpoint).
constexpr double kFlipMargin = 1e-5;

// The first token of `ids` whose K or V in any layer (exact values, from an F32 cache) is that
// close to an FP8 midpoint; ids.size() when none is. Later positions attend to that token.
size_t first_fp8_near_tie(const Emulated& param, const std::vector<int32_t>& ids) {
  RunnerOptions exact;
  exact.kv_dtype = KvDType::kF32;
  exact.num_kv_blocks = 64;
  auto runner = ModelRunner::load(fixture_dir() / param.folder, exact);
  RunnerOptions fp8 = exact;
  fp8.kv_dtype = KvDType::kFp8E4M3;
  fp8.num_kv_blocks = 1;
  auto scales = ModelRunner::load(fixture_dir() / param.folder, fp8);
  prefill_all_logits(*runner, ids, ids.size());  // blocks 0.. hold positions 0.. in order
  const int64_t row = runner->config().kv_size();
  size_t first = ids.size();
  for (int64_t l = 0; l < runner->config().num_hidden_layers; ++l) {
    const KvLayerView cache = runner->kv_cache().layer(l);
    const KvLayerView scaled = scales->kv_cache().layer(l);
    for (const auto& [data, scale] : {std::pair{static_cast<const float*>(cache.k), scaled.k_scale},
                                      std::pair{static_cast<const float*>(cache.v), scaled.v_scale}}) {
      for (size_t i = 0; i < ids.size() * static_cast<size_t>(row); ++i) {
        const float x = data[i] / scale;
        const uint8_t code = f32_to_e4m3fn(x);
        const float v = e4m3fn_to_f32(code);
        for (const uint8_t other : {static_cast<uint8_t>(code + 1), static_cast<uint8_t>(code - 1)}) {
          const float mid = (v + e4m3fn_to_f32(other)) / 2;
          if (std::isfinite(mid) && std::fabs(x - mid) <= kFlipMargin * std::fabs(x)) {
            first = std::min(first, i / static_cast<size_t>(row));
            std::printf("layer %lld: token %zu has %.9g / scale within %.2g of the e4m3 midpoint %.9g\n",
                        static_cast<long long>(l), i / static_cast<size_t>(row), data[i], kFlipMargin, mid);
          }
        }
      }
    }
  }
  return first;
}

TEST_P(EmulatedTest, LogitsMatchEmulatedGolden) {
  const Emulated& param = GetParam();
  const Golden golden(param.folder);
  RunnerOptions options;
  options.kv_dtype = param.kv_dtype;
  options.num_kv_blocks = 64;
  options.cpu_numerics = CpuNumerics::kExact;  // the exact-f32 reference path
  options.runtime_activation_quant = param.runtime_activation_quant;
  auto runner = ModelRunner::load(fixture_dir() / param.folder, options);
  for (int p = 0; p < 3; ++p) {
    const std::string prefix = "prompt." + std::to_string(p) + ".";
    const std::vector<int32_t> ids = golden.ids(prefix + "ids");
    const std::vector<float> want = golden.f32(prefix + "logits_emulated");
    const std::vector<float> got = prefill_all_logits(*runner, ids, ids.size());
    const size_t vocab = static_cast<size_t>(runner->config().vocab_size);
    const size_t split = param.kv_dtype == KvDType::kFp8E4M3 ? first_fp8_near_tie(param, ids) : ids.size();
    const std::span<const float> got_s(got), want_s(want);
    const ErrorStats err = compare(got_s.first(split * vocab), want_s.first(split * vocab));
    std::printf("%s emulated prompt %d: positions 0..%zu: max abs err %.3g, max |ref| %.3g, rel %.3g\n",
                param.folder, p, split, err.max_abs, err.ref_max, err.rel());
    EXPECT_LE(err.rel(), param.tolerance) << param.folder << " prompt " << p;
    if (split < ids.size()) {
      // From the first token with an FP8 near-tie on: one K or V element may differ by one e4m3
      // step (1/8 relative) from the reference's. That moves one of head_dim terms of the
      // scores that attend to it; observed ≤ 1e-3 relative on the logits. Bound 1e-2: a real
      // bug (wrong scale, unquantized in-chunk reads) moves them by ≥ 5e-2 (the reference's own
      // FP8-vs-exact difference).
      const ErrorStats tail = compare(got_s.subspan(split * vocab), want_s.subspan(split * vocab));
      std::printf("  positions %zu..: FP8 near-tie upstream, rel %.3g\n", split, tail.rel());
      EXPECT_LE(tail.rel(), 1e-2) << param.folder << " prompt " << p << " after the FP8 near-tie";
    }
  }
}

// Both emulations use exactly mmd's rounding rules (FP8: sat(x / scale) with RNE, read × scale;
// int8: rne(x · 127/amax), int32 dot, (acc · sa) · sw), so the only differences left are f32
// summation order, as in golden_test.cpp: same 2e-5 bound (observed ≤ 9e-7). A quantized code
// flipped by an input within an ulp of a rounding midpoint would cost ~1e-3 and fail here; that
// must be investigated (route_gap in the golden tells whether routing amplified it), not absorbed.
// Known sensitivity: the W8A8 case has no near-tie detector yet (its quantized inputs include
// o_proj and per-expert w2 inputs the hook does not expose). An AVX2 attention that only
// reordered f32 sums (tried, not merged) flipped one int8 code on prompt 2 → 8.5e-3 relative,
// below the reference's own W8A8-vs-W8A16 difference (1.2e-2). Changing summation order in
// any op needs that detector first (e.g. a probe in quantize_int8_per_token).
INSTANTIATE_TEST_SUITE_P(
    Formats, EmulatedTest,
    ::testing::Values(Emulated{"tiny-fp8-w4a16-g128-kvfp8", KvDType::kFp8E4M3, false, 2e-5},
                      Emulated{"tiny-w8a8-int8", KvDType::kF32, true, 2e-5}),
    [](const ::testing::TestParamInfo<Emulated>& param_info) {
      std::string name = param_info.param.folder;
      for (char& c : name) if (c == '-') c = '_';
      return name;
    });

}  // namespace
}  // namespace mm::testing
