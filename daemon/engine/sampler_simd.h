// The sampler's passes over a whole vocabulary row, in one SIMD level each: scalar C++ (the
// reference and fallback), AVX2 + FMA and AVX-512 F, picked once at run time. The sampler touches
// every id only through these; all else it does on the few candidates they return. Stateless;
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mm::sampler_simd {

// Cuts for count_ge / exp_sums: at most this many thresholds per pass.
constexpr int kMaxCuts = 8;

struct Kernels {
  std::string_view name;
  // Largest of x[0, n) (-inf for n == 0). NaN is not handled (the model never returns one).
  float (*max)(const float* x, size_t n);
  // x[i] /= divisor for every i (IEEE division, as the scalar loop), then the largest.
  float (*divide_max)(float* x, size_t n, float divisor);
  // Lowest i with x[i] == value, or n.
  size_t (*find_first)(const float* x, size_t n, float value);
  // counts[j] = #{i : x[i] >= cuts[j]} for j < num_cuts.
  void (*count_ge)(const float* x, size_t n, const float* cuts, int num_cuts, int64_t* counts);
  // Returns the sum over i of exp(x[i] - shift) (x[i] <= shift expected; exp in f32, summed in
  // f64 per block) and masses[j] = the same sum over the i with x[i] >= cuts[j].
  double (*exp_sums)(const float* x, size_t n, float shift, const float* cuts, int num_cuts,
                     double* masses);
  // Writes the ids i with x[i] >= t in increasing order to out (room for n); returns how many.
  size_t (*gather_ge)(const float* x, size_t n, float t, int32_t* out);
  // x[i] = -inf where bit (i % 32) of words[i / 32] is clear, or i / 32 >= num_words.
  void (*apply_bitmask)(float* x, size_t n, const uint32_t* words, size_t num_words);
};

const Kernels& scalar_kernels();
// Null when this build or CPU has no AVX2 + FMA.
const Kernels* avx2_kernels();
// AVX-512 F for the heavy passes (max, count_ge, exp_sums, gather_ge), AVX2 for the rest. Null
// when this CPU or OS has no AVX-512 F (or no AVX2).
const Kernels* avx512_kernels();
// The best this CPU runs; MMD_CPU_ISA=scalar or =avx2 caps it (as for the CPU kernels).
const Kernels& best_kernels();

}  // namespace mm::sampler_simd
