#include "daemon/engine/sampler_simd.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string_view>

namespace mm::sampler_simd {

#if defined(__x86_64__)
const Kernels* avx2_kernels_impl();    // sampler_simd_avx2.cpp
const Kernels* avx512_kernels_impl();  // sampler_simd_avx512.cpp
#endif

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

float max_scalar(const float* x, size_t n) {
  float best = kNegInf;
  for (size_t i = 0; i < n; ++i)
    best = x[i] > best ? x[i] : best;
  return best;
}

float divide_max_scalar(float* x, size_t n, float divisor) {
  float best = kNegInf;
  for (size_t i = 0; i < n; ++i) {
    x[i] /= divisor;
    best = x[i] > best ? x[i] : best;
  }
  return best;
}

size_t find_first_scalar(const float* x, size_t n, float value) {
  for (size_t i = 0; i < n; ++i) {
    if (x[i] == value) return i;
  }
  return n;
}

void count_ge_scalar(const float* x, size_t n, const float* cuts, int num_cuts, int64_t* counts) {
  for (int j = 0; j < num_cuts; ++j) {
    int64_t count = 0;
    for (size_t i = 0; i < n; ++i)
      count += x[i] >= cuts[j] ? 1 : 0;
    counts[j] = count;
  }
}

double exp_sums_scalar(const float* x, size_t n, float shift, const float* cuts, int num_cuts,
                       double* masses) {
  double total = 0.0;
  for (int j = 0; j < num_cuts; ++j)
    masses[j] = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double e = std::exp(x[i] - shift);  // the f32 exp, as the SIMD path
    total += e;
    for (int j = 0; j < num_cuts; ++j)
      masses[j] += x[i] >= cuts[j] ? e : 0.0;
  }
  return total;
}

size_t gather_ge_scalar(const float* x, size_t n, float t, int32_t* out) {
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    out[count] = static_cast<int32_t>(i);
    count += x[i] >= t ? 1 : 0;  // branch-free: most ids fail
  }
  return count;
}

void apply_bitmask_scalar(float* x, size_t n, const uint32_t* words, size_t num_words) {
  for (size_t i = 0; i < n; ++i) {
    const size_t word = i / 32;
    const bool allowed = word < num_words && ((words[word] >> (i % 32)) & 1u) != 0;
    if (!allowed) x[i] = kNegInf;
  }
}

const Kernels kScalar{"scalar",        max_scalar,      divide_max_scalar, find_first_scalar,
                      count_ge_scalar, exp_sums_scalar, gather_ge_scalar,  apply_bitmask_scalar};

}  // namespace

const Kernels& scalar_kernels() {
  return kScalar;
}

const Kernels* avx2_kernels() {
#if defined(__x86_64__)
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported ? avx2_kernels_impl() : nullptr;
#else
  return nullptr;
#endif
}

const Kernels* avx512_kernels() {
#if defined(__x86_64__)
  // __builtin_cpu_supports also checks that the OS saves the zmm state.
  static const bool supported = avx2_kernels() != nullptr && __builtin_cpu_supports("avx512f");
  return supported ? avx512_kernels_impl() : nullptr;
#else
  return nullptr;
#endif
}

const Kernels& best_kernels() {
  static const Kernels* best = [] {
    // MMD_CPU_ISA caps the level, as for the CPU backend's kernels: "scalar", or "avx2" (and
    // the AVX-VNNI level, which has no 512-bit registers).
    const char* forced = std::getenv("MMD_CPU_ISA");
    const std::string_view cap = forced != nullptr ? forced : "";
    if (cap == "scalar") return &kScalar;
    const Kernels* avx512 = avx512_kernels();
    if (avx512 != nullptr && cap != "avx2" && cap != "avxvnni") return avx512;
    const Kernels* avx2 = avx2_kernels();
    return avx2 != nullptr ? avx2 : &kScalar;
  }();
  return *best;
}

}  // namespace mm::sampler_simd
