// The differential table: every Backend op's cases — awkward shapes (rows and columns that are
// not multiples of a warp or a tile, batches on both sides of the GEMV / SGEMM switch, several
// groups and blocks, act-order columns, paged KV with scattered blocks), every weight format,
// every KV dtype — written once and run on every backend this build has, against the CPU
// backend's portable scalar path as the reference. A backend joins by name (kSubjects); one this
// build or machine lacks skips, saying which and why. Tolerances are per op, justified where
// they are asserted, and hold for any summation order, so the same bound serves the CPU's SIMD
// levels and the GPUs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend_factory.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/unit/cpu/random_weights.h"

namespace mm::testing {
namespace {

// cpu-<isa>: the CPU backend at that SIMD level with exact numerics (the fast int8 numerics
// have their own bounds in tests/unit/cpu); cuda / hip: device 0 of that GPU platform.
const char* const kSubjects[] = {"cpu-avx2", "cpu-avxvnni", "cpu-avx512vnni", "cuda", "hip"};

class BackendTableTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string& name = GetParam();
    if (name.starts_with("cpu-")) {
      const std::optional<CpuIsa> isa = parse_cpu_isa(std::string_view(name).substr(4));
      ASSERT_TRUE(isa.has_value()) << name;
      if (!cpu_supports(*isa))
        GTEST_SKIP() << name << ": this CPU lacks " << cpu_isa_name(*isa) << " (skipped)";
      subject_ = std::make_unique<CpuBackend>(2, *isa, CpuNumerics::kExact);
      return;
    }
    if (!gpu_backend_built(name))
      GTEST_SKIP() << name << ": this build has no " << name << " backend (the " << name
                   << " preset builds it)";
    if (gpu_device_count(name) == 0)
      GTEST_SKIP() << name << ": no " << name << " device on this machine (needs a GPU)";
    subject_ = make_backend(name, 0);
    device_memory_ = true;
  }

  // A copy of host values in the subject's memory; kept alive until the test ends.
  template <class T>
  T* put(const std::vector<T>& values) {
    buffers_.push_back(subject_->upload(values.data(), values.size() * sizeof(T)));
    return static_cast<T*>(buffers_.back()->data());
  }
  template <class T>
  T* zeros(size_t count) {
    buffers_.push_back(subject_->allocate(std::max<size_t>(count, 1) * sizeof(T)));
    return static_cast<T*>(buffers_.back()->data());
  }
  template <class T>
  std::vector<T> get(const T* data, size_t count) {
    std::vector<T> out(count);
    subject_->copy_to_host(out.data(), data, count * sizeof(T));
    return out;
  }

  CpuBackend cpu_{2, CpuIsa::kScalar, CpuNumerics::kExact};  // the reference
  std::unique_ptr<Backend> subject_;
  bool device_memory_ = false;  // weights move to the device on make_resident
  std::vector<std::unique_ptr<Buffer>> buffers_;
  std::mt19937 rng_{20261122};
};

// |got − want| ≤ tol · scale for every element, reporting the first miss by index.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol,
                  double scale, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_LE(std::fabs(static_cast<double>(got[i]) - want[i]), tol * scale)
        << what << ": element " << i << " got " << got[i] << " want " << want[i];
  }
}

double max_abs(const std::vector<float>& values) {
  double m = 0;
  for (float v : values)
    m = std::max(m, std::fabs(static_cast<double>(v)));
  return m;
}

TEST_P(BackendTableTest, LinearMatchesAnErrorBoundInEveryFormat) {
  struct Case {
    PackedFormat format;
    int64_t rows, cols, group, block_rows;
    bool asymmetric, permuted;
    const char* name;
  };
  const Case cases[] = {
      {PackedFormat::kF32, 37, 70, 0, 1, false, false, "f32"},
      {PackedFormat::kBf16, 67, 160, 0, 1, false, false, "bf16"},
      {PackedFormat::kFp8Block, 130, 384, 128, 128, false, false, "fp8 block 128x128"},
      {PackedFormat::kFp8Block, 45, 200, 64, 16, false, false, "fp8 block, partial blocks"},
      {PackedFormat::kInt4Group, 67, 160, 32, 1, false, false, "int4 g32"},
      {PackedFormat::kInt4Group, 33, 256, 128, 1, true, false, "int4 g128 asymmetric"},
      {PackedFormat::kInt4Group, 40, 96, 32, 1, false, true, "int4 g32 act-order"},
      {PackedFormat::kInt8Channel, 51, 144, 0, 1, false, false, "int8 W8A16"},
  };
  for (const Case& c : cases) {
    PackedLinear w = random_linear(rng_, c.format, c.rows, c.cols, c.group, c.block_rows,
                                   c.asymmetric, c.permuted);
    const std::vector<float> dense = unpack_to_f32(w);  // checkpoint column order
    subject_->make_resident(w);
    if (device_memory_) {
      ASSERT_TRUE(w.resident) << c.name;
      ASSERT_TRUE(w.data.empty()) << c.name << ": the host copy is freed";
    }
    // 1–16 tokens take the GEMV kernel, more the dequantize + SGEMM path.
    for (const int64_t tokens : {1, 3, 16, 17, 40}) {
      const std::vector<float> x = random_normal(rng_, static_cast<size_t>(tokens * c.cols));
      float* y = zeros<float>(static_cast<size_t>(tokens * c.rows));
      subject_->linear(w, put(x), tokens, y);
      const std::vector<float> got = get(y, static_cast<size_t>(tokens * c.rows));
      // Against the exact (f64) product of the dequantized weights: f32 products and a sum of
      // K terms in any order are within (K + 1)·2⁻²⁴·Σ|w·x| (Higham, recursive summation), for
      // the CPU and the GPU alike. A wrong weight, scale or column is off by O(|w·x|).
      for (int64_t m = 0; m < tokens; ++m) {
        for (int64_t n = 0; n < c.rows; ++n) {
          double exact = 0, magnitude = 0;
          for (int64_t k = 0; k < c.cols; ++k) {
            const double term = static_cast<double>(dense[static_cast<size_t>(n * c.cols + k)]) *
                                x[static_cast<size_t>(m * c.cols + k)];
            exact += term;
            magnitude += std::fabs(term);
          }
          const double bound = static_cast<double>(c.cols + 1) * std::ldexp(1.0, -24) * magnitude;
          ASSERT_LE(std::fabs(got[static_cast<size_t>(m * c.rows + n)] - exact), bound)
              << c.name << ", " << tokens << " tokens: y[" << m << ", " << n << "]";
        }
      }
    }
  }
}

// A batch past the GEMV limit on a weight whose f32 copy exceeds one 64 MiB dequantization
// chunk (4096 rows of 4096 columns): the SGEMM runs chunk by chunk into y + n0 with ldc = N.
// Rows on both sides of the chunk boundary and at the end are checked against the f64 product.
TEST_P(BackendTableTest, LinearAcrossDequantizationChunks) {
  const int64_t rows = 4200, cols = 4096, tokens = 17;
  PackedLinear w = random_linear(rng_, PackedFormat::kInt4Group, rows, cols, 128);
  const std::vector<float> dense = unpack_to_f32(w);
  subject_->make_resident(w);
  const std::vector<float> x = random_normal(rng_, static_cast<size_t>(tokens * cols));
  float* y = zeros<float>(static_cast<size_t>(tokens * rows));
  subject_->linear(w, put(x), tokens, y);
  const std::vector<float> got = get(y, static_cast<size_t>(tokens * rows));
  for (const int64_t n :
       {int64_t{0}, int64_t{1}, int64_t{4095}, int64_t{4096}, int64_t{4097}, rows - 1}) {
    for (int64_t m = 0; m < tokens; ++m) {
      double exact = 0, magnitude = 0;
      for (int64_t k = 0; k < cols; ++k) {
        const double term = static_cast<double>(dense[static_cast<size_t>(n * cols + k)]) *
                            x[static_cast<size_t>(m * cols + k)];
        exact += term;
        magnitude += std::fabs(term);
      }
      // The same rigorous recursive-summation bound as above.
      const double bound = static_cast<double>(cols + 1) * std::ldexp(1.0, -24) * magnitude;
      ASSERT_LE(std::fabs(got[static_cast<size_t>(m * rows + n)] - exact), bound)
          << "y[" << m << ", " << n << "]";
    }
  }
}

TEST_P(BackendTableTest, W8A8IsBitIdenticalToTheCpu) {
  PackedLinear w = random_linear(rng_, PackedFormat::kInt8Channel, 75, 136);
  w.int8_activations = true;
  PackedLinear on_subject = w;
  subject_->make_resident(on_subject);
  for (const int64_t tokens : {1, 5, 33}) {
    std::vector<float> x = random_normal(rng_, static_cast<size_t>(tokens * w.num_cols));
    std::fill_n(x.begin(), w.num_cols, 0.0f);  // an all-zero row: scale 1, codes 0
    std::vector<float> want(static_cast<size_t>(tokens * w.num_rows));
    cpu_.linear(w, x.data(), tokens, want.data());
    float* y = zeros<float>(want.size());
    subject_->linear(on_subject, put(x), tokens, y);
    const std::vector<float> got = get(y, want.size());
    // Integer products and sums are exact and the two float multiplies are the same.
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_EQ(got[i], want[i]) << tokens << " tokens, element " << i;
  }
}

TEST_P(BackendTableTest, NormsEmbeddingAddAndGatherMatchTheCpu) {
  const int64_t rows = 5, width = 300, vocab = 11;
  const std::vector<float> x = random_normal(rng_, static_cast<size_t>(rows * width), 3.0f);
  const std::vector<float> gain = random_normal(rng_, static_cast<size_t>(width));
  const float eps = 1e-6f;

  std::vector<float> want(x.size());
  cpu_.rms_norm(x.data(), gain.data(), rows, width, eps, want.data());
  float* dx = put(x);
  float* out = zeros<float>(x.size());
  subject_->rms_norm(dx, put(gain), rows, width, eps, out);
  // f64 sums of squares round to the same f32 mean (order changes the f64 sum by ~1e-16
  // relative); after that the arithmetic is the same IEEE f32 operations.
  expect_close(get(out, x.size()), want, 1e-6, max_abs(want), "rms_norm");
  float* in_place = put(x);  // out == x, as the runner's q/k norms
  subject_->rms_norm(in_place, put(gain), rows, width, eps, in_place);
  expect_close(get(in_place, x.size()), want, 1e-6, max_abs(want), "rms_norm in place");

  // The sharded halves: a slice of 120 columns normalised as part of a 300-wide row.
  std::vector<float> sums(rows), want_slice(static_cast<size_t>(rows * 120));
  std::vector<float> slice(static_cast<size_t>(rows * 120));
  for (int64_t r = 0; r < rows; ++r)
    std::copy_n(x.begin() + r * width, 120, slice.begin() + r * 120);
  cpu_.sum_squares(slice.data(), rows, 120, 0.5, sums.data());
  cpu_.rms_norm_with_sums(slice.data(), gain.data(), sums.data(), rows, 120, width, eps,
                          want_slice.data());
  float* dsums = zeros<float>(rows);
  float* dslice = put(slice);
  subject_->sum_squares(dslice, rows, 120, 0.5, dsums);
  expect_close(get(dsums, rows), sums, 1e-6, max_abs(sums), "sum_squares");
  subject_->rms_norm_with_sums(dslice, put(gain), dsums, rows, 120, width, eps, dslice);
  expect_close(get(dslice, slice.size()), want_slice, 1e-6, max_abs(want_slice),
               "rms_norm_with_sums");

  std::vector<uint16_t> table(static_cast<size_t>(vocab * width));
  for (size_t i = 0; i < table.size(); ++i)
    table[i] = f32_to_bf16(random_normal(rng_, 1)[0]);
  const std::vector<int32_t> ids = {10, 0, 3, 3, 7};
  std::vector<float> embedded(static_cast<size_t>(rows * width));
  cpu_.embedding(table.data(), vocab, width, ids.data(), rows, embedded.data());
  float* demb = zeros<float>(embedded.size());
  subject_->embedding(put(table), vocab, width, put(ids), rows, demb);
  EXPECT_EQ(get(demb, embedded.size()), embedded) << "embedding widens bf16 exactly";

  std::vector<float> sum(x.size());
  cpu_.add(x.data(), embedded.data(), static_cast<int64_t>(x.size()), sum.data());
  subject_->add(dx, demb, static_cast<int64_t>(x.size()), dx);  // in place, as the runner does
  EXPECT_EQ(get(dx, x.size()), sum) << "add is one IEEE addition per element";

  const std::vector<int32_t> pick = {4, 1, 4};
  float* gathered = zeros<float>(static_cast<size_t>(3 * width));
  subject_->gather_rows(dx, width, put(pick), 3, gathered);
  const std::vector<float> rows_got = get(gathered, static_cast<size_t>(3 * width));
  for (size_t r = 0; r < pick.size(); ++r) {
    for (int64_t i = 0; i < width; ++i) {
      ASSERT_EQ(rows_got[r * width + static_cast<size_t>(i)],
                sum[static_cast<size_t>(pick[r] * width + i)]);
    }
  }
}

TEST_P(BackendTableTest, RopeMatchesTheCpuAtLargePositions) {
  const int64_t tokens = 4, heads = 3, head_dim = 64, rotary_dim = 32;
  const std::vector<int32_t> positions = {0, 1, 4097, 196607};
  const std::vector<float> x = random_normal(rng_, static_cast<size_t>(tokens * heads * head_dim));
  std::vector<float> want = x;
  cpu_.rope_neox(want.data(), positions.data(), tokens, heads, head_dim, rotary_dim, 5e6);
  float* dx = put(x);
  subject_->rope_neox(dx, put(positions), tokens, heads, head_dim, rotary_dim, 5e6);
  // Same f32 angles and the same rounded products and sums (__fmul_rn / __fsub_rn on the GPUs);
  // only cos and sin may differ: CUDA's cosf/sinf are within 2 ulp (CUDA C++ Programming Guide,
  // mathematical functions), HIP's (ROCm device libraries) within 2 as well, glibc's within 1,
  // so c and s differ by ≤ 3 ulp ≤ 3·2⁻²³, and each output by ≤ (|a| + |b|)·3·2⁻²³
  // ≤ 7.2e-7·max|x|. The CPU levels share glibc's: 0 apart.
  expect_close(get(dx, x.size()), want, 7.2e-7, max_abs(x), "rope");
  // Dimensions past rotary_dim pass through untouched.
  const std::vector<float> got = get(dx, x.size());
  for (int64_t row = 0; row < tokens * heads; ++row) {
    for (int64_t d = rotary_dim; d < head_dim; ++d)
      ASSERT_EQ(got[static_cast<size_t>(row * head_dim + d)],
                x[static_cast<size_t>(row * head_dim + d)]);
  }
}

TEST_P(BackendTableTest, PagedAttentionMatchesTheCpuForEveryKvType) {
  // Three sequences in one batch: a 1-token prefill, a 19-token prefill chunk after 21 cached
  // tokens, and a decode at position 44; blocks of 8 scattered over the pool.
  const int kv_heads = 2, heads = 6, head_dim = 40, block_size = 8;
  const int64_t num_blocks = 24;
  const std::vector<std::vector<int32_t>> tables = {{17}, {3, 9, 0, 21, 14}, {5, 2, 11, 8, 20, 1}};
  std::vector<int32_t> positions, seq_of_token;
  std::vector<int64_t> slots;
  auto add_tokens = [&](int32_t seq, int32_t first, int32_t count) {
    for (int32_t p = first; p < first + count; ++p) {
      positions.push_back(p);
      seq_of_token.push_back(seq);
      slots.push_back(static_cast<int64_t>(tables[static_cast<size_t>(seq)][p / block_size]) *
                          block_size +
                      p % block_size);
    }
  };
  // Fill the earlier positions first (a "history" step), then the step under test.
  add_tokens(1, 0, 21);
  add_tokens(2, 0, 44);
  const size_t history = positions.size();
  add_tokens(0, 0, 1);
  add_tokens(1, 21, 19);
  add_tokens(2, 44, 1);
  std::vector<int32_t> flat_tables(3 * 6, 0);
  for (size_t s = 0; s < tables.size(); ++s)
    std::copy(tables[s].begin(), tables[s].end(),
              flat_tables.begin() + static_cast<ptrdiff_t>(s * 6));

  const auto total = static_cast<int64_t>(positions.size());
  const size_t row = static_cast<size_t>(kv_heads * head_dim);
  const std::vector<float> k = random_normal(rng_, static_cast<size_t>(total) * row);
  const std::vector<float> v = random_normal(rng_, static_cast<size_t>(total) * row);
  const std::vector<float> q = random_normal(rng_, static_cast<size_t>(total * heads * head_dim));

  for (const KvDType dtype : {KvDType::kF32, KvDType::kBf16, KvDType::kFp8E4M3}) {
    const size_t cache_bytes = static_cast<size_t>(num_blocks * block_size) * row *
                               static_cast<size_t>(kv_dtype_bytes(dtype));
    auto run = [&](Backend& be, bool on_subject, std::vector<uint8_t>* k_bytes) {
      auto kc = be.allocate(cache_bytes);
      auto vc = be.allocate(cache_bytes);
      KvLayerView cache{dtype,    kc->data(), vc->data(), num_blocks, block_size,
                        kv_heads, head_dim,   0.75f,      1.5f};
      auto upload = [&](const auto& values) {
        using T = typename std::decay_t<decltype(values)>::value_type;
        return on_subject ? put(values) : const_cast<T*>(values.data());
      };
      const int32_t* d_pos = upload(positions);
      const int32_t* d_seq = upload(seq_of_token);
      const int64_t* d_slots = upload(slots);
      const int32_t* d_tables = upload(flat_tables);
      const float* dk = upload(k);
      const float* dv = upload(v);
      const float* dq = upload(q);
      std::vector<float> out(static_cast<size_t>(total * heads * head_dim));
      float* d_out = on_subject ? zeros<float>(out.size()) : out.data();
      // Two steps: the history, then the batch under test (which reads the history back).
      for (const auto& [first, count] :
           {std::pair<size_t, size_t>{0, history},
            std::pair<size_t, size_t>{history, positions.size() - history}}) {
        AttentionMetadata meta;
        meta.num_tokens = static_cast<int64_t>(count);
        meta.positions = d_pos + first;
        meta.seq_of_token = d_seq + first;
        meta.slot_mapping = d_slots + first;
        meta.block_tables = d_tables;
        meta.max_num_blocks_per_seq = 6;
        be.kv_write(cache, meta, dk + first * row, dv + first * row);
        be.paged_attention(cache, meta, dq + first * heads * head_dim, heads,
                           d_out + first * heads * head_dim);
      }
      if (on_subject) out = get(d_out, out.size());
      k_bytes->resize(cache_bytes);
      be.copy_to_host(k_bytes->data(), kc->data(), cache_bytes);
      return out;
    };
    std::vector<uint8_t> cpu_cache, subject_cache;
    const std::vector<float> want = run(cpu_, false, &cpu_cache);
    const std::vector<float> got = run(*subject_, true, &subject_cache);
    EXPECT_EQ(subject_cache, cpu_cache) << kv_dtype_name(dtype) << ": the stored K codes are the same";
    // Softmax-weighted means of |v| ≤ ~4: f32 dots of ≤ 40 terms, exp and the online rescaling
    // differ by a few ulp per term between the two orders; 1e-5 of max|out| is ~50× that.
    expect_close(got, want, 1e-5, max_abs(want),
                 std::string("attention, ") + std::string(kv_dtype_name(dtype)));
  }
}

TEST_P(BackendTableTest, RouterAndMoeMatchTheCpu) {
  const int64_t tokens = 7, experts = 12, top_k = 3, hidden = 64, inter = 48;
  const std::vector<float> logits =
      random_normal(rng_, static_cast<size_t>(tokens * experts), 2.0f);
  const std::vector<float> bias = random_normal(rng_, static_cast<size_t>(experts), 0.1f);
  std::vector<int32_t> ids(static_cast<size_t>(tokens * top_k));
  std::vector<float> weights(ids.size());
  cpu_.router_topk(logits.data(), bias.data(), tokens, experts, top_k, ids.data(), weights.data());
  int32_t* d_ids = zeros<int32_t>(ids.size());
  float* d_weights = zeros<float>(ids.size());
  subject_->router_topk(put(logits), put(bias), tokens, experts, top_k, d_ids, d_weights);
  EXPECT_EQ(get(d_ids, ids.size()), ids) << "same experts in the same order";
  // sigmoid through expf: ≤ 2 ulp apart, then one division by the sum.
  expect_close(get(d_weights, ids.size()), weights, 1e-6, 1.0, "router weights");

  const std::vector<float> x = random_normal(rng_, static_cast<size_t>(tokens * hidden));
  for (const PackedFormat format :
       {PackedFormat::kBf16, PackedFormat::kFp8Block, PackedFormat::kInt4Group}) {
    MoeWeights cpu_experts, subject_experts;
    cpu_experts.intermediate_size = subject_experts.intermediate_size = inter;
    for (int64_t e = 0; e < experts; ++e) {
      // Groups of 16 columns and blocks of 8 rows: several per expert, none partial.
      cpu_experts.w1.push_back(random_linear(rng_, format, inter, hidden, 16, 8));
      cpu_experts.w3.push_back(random_linear(rng_, format, inter, hidden, 16, 8));
      cpu_experts.w2.push_back(random_linear(rng_, format, hidden, inter, 16, 8));
    }
    subject_experts.w1 = cpu_experts.w1;
    subject_experts.w3 = cpu_experts.w3;
    subject_experts.w2 = cpu_experts.w2;
    for (auto* list : {&subject_experts.w1, &subject_experts.w3, &subject_experts.w2}) {
      for (PackedLinear& w : *list)
        subject_->make_resident(w);
    }
    subject_->make_resident(subject_experts);
    std::vector<float> want(x.size());
    cpu_.moe(cpu_experts, x.data(), tokens, hidden, ids.data(), weights.data(), top_k, want.data());
    float* out = zeros<float>(x.size());
    subject_->moe(subject_experts, put(x), tokens, hidden, put(ids), put(weights), top_k, out);
    // Two chained f32 dot products of ≤ 64 terms and a 3-term sum, in other orders: each
    // within ~64·2⁻²⁴ of its magnitude; 2e-5 of max|out| leaves room for silu's expf.
    expect_close(get(out, x.size()), want, 2e-5, max_abs(want), "moe");
  }
}

// Test names end in the subject with '-' as '_' (gtest names allow no '-').
std::string subject_test_name(const ::testing::TestParamInfo<std::string>& param) {
  std::string name = param.param;
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendTableTest,
                         ::testing::ValuesIn(std::vector<std::string>(std::begin(kSubjects),
                                                                      std::end(kSubjects))),
                         subject_test_name);

}  // namespace
}  // namespace mm::testing
