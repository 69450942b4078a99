// The sampler at a 200k vocabulary. The old algorithm sorted every id and took a double exp of
// each (tens of ms per token); this one makes a few vectorized passes over the row
// (sampler_simd.h: max, counts or masses above a few cuts, a gather of the ids above one) and
// sorts only the candidates those leave, in the old order (larger logit first, lower id on
// ties), computing the same double-precision probabilities for them. Every decision the old
// full sort made is made on that sorted prefix when the prefix provably holds it; otherwise
// the prefix grows, down to the whole vocabulary, so the chosen token is the old one.
#include "daemon/engine/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <utility>

#include "daemon/engine/bit_mix.h"
#include "daemon/engine/sampler_simd.h"

namespace mm {
namespace {

constexpr float kMasked = -std::numeric_limits<float>::infinity();

// Per-thread buffers sized to the vocabulary, reused: a fresh 800 KB allocation per token
// would cost its page faults every time.
struct Scratch {
  std::vector<int32_t> ids;              // candidate ids
  std::vector<double> weights;           // exp(logit - max) of the sorted candidates
  std::vector<float> raw;                // the logits as the model gave them (logprobs only)
  std::vector<int32_t> counts;           // per id, zero between calls (penalties)
  std::vector<int32_t> present;          // the ids whose count is non-zero
  std::vector<uint64_t> keys, keys_tmp;  // (value key, id) of many candidates, when sorted
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// The old sort's order: larger value first, lower id on ties.
struct Before {
  const float* v;
  bool operator()(int32_t a, int32_t b) const { return v[a] > v[b] || (v[a] == v[b] && a < b); }
};

// Candidate cuts below the max, in the logits' (temperature-scaled) units: e^-2 .. e^-128 of
// the max's probability. Each candidate search picks the nearest that suffices.
constexpr float kCutDepths[] = {2.0f, 4.0f, 6.0f, 8.0f, 11.0f, 16.0f, 32.0f, 128.0f};
constexpr int kNumCuts = static_cast<int>(std::size(kCutDepths));
static_assert(kNumCuts <= sampler_simd::kMaxCuts);

// A 32-bit key that orders logits as the old sort did: larger first (+0 and -0 tie, as they
// compare equal). NaN never comes from the model.
uint32_t descending_key(float v) {
  const auto bits = std::bit_cast<uint32_t>(v + 0.0f);  // -0 + +0 is +0
  const uint32_t ascending = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
  return ~ascending;
}

// Sorts ids[0, count), given in increasing order, into the old order. Many candidates (a flat
// distribution's top_p set can be half the vocabulary) are sorted by a stable radix sort on
// the value key instead of through the indirect comparison: ties stay in id order.
void sort_candidates(const float* v, int32_t* ids, size_t count, Scratch& s) {
  if (count <= 1024) {
    std::sort(ids, ids + count, Before{v});
    return;
  }
  s.keys.resize(count);
  s.keys_tmp.resize(count);
  for (size_t i = 0; i < count; ++i)
    s.keys[i] =
        (static_cast<uint64_t>(descending_key(v[ids[i]])) << 32) | static_cast<uint32_t>(ids[i]);
  // LSD over the value key's 32 bits in passes of 11, 11 and 10 bits.
  for (int shift = 32; shift < 64; shift += 11) {
    constexpr size_t kBuckets = 2048;
    size_t offsets[kBuckets] = {};
    for (uint64_t key : s.keys)
      ++offsets[(key >> shift) & (kBuckets - 1)];
    size_t sum = 0;
    for (size_t& offset : offsets)
      sum += std::exchange(offset, sum);
    for (uint64_t key : s.keys)
      s.keys_tmp[offsets[(key >> shift) & (kBuckets - 1)]++] = key;
    s.keys.swap(s.keys_tmp);
  }
  for (size_t i = 0; i < count; ++i)
    ids[i] = static_cast<int32_t>(static_cast<uint32_t>(s.keys[i]));
}

// Fills s.ids with the first ids of the full order (of all ids with v >= t when `all` is
// false, or every id), sorted. Returns how many are sorted: min(found, limit).
size_t sorted_prefix(const sampler_simd::Kernels& k, std::span<const float> v, float t, bool all,
                     size_t limit, Scratch& s) {
  const size_t n = v.size();
  if (s.ids.size() < n) s.ids.resize(n);
  size_t found = 0;
  if (all) {
    std::iota(s.ids.begin(), s.ids.begin() + static_cast<std::ptrdiff_t>(n), 0);
    found = n;
  } else {
    found = k.gather_ge(v.data(), n, t, s.ids.data());
  }
  if (found <= limit) {
    sort_candidates(v.data(), s.ids.data(), found, s);  // gather and iota: increasing ids
    return found;
  }
  if (found <= 512) {
    const auto first = s.ids.begin();
    std::nth_element(first, first + static_cast<std::ptrdiff_t>(limit),
                     first + static_cast<std::ptrdiff_t>(found), Before{v.data()});
    std::sort(first, first + static_cast<std::ptrdiff_t>(limit), Before{v.data()});
    return limit;
  }
  // Selection over (key, id) pairs: plain integer compares instead of two loads each.
  s.keys.resize(found);
  for (size_t i = 0; i < found; ++i)
    s.keys[i] = (static_cast<uint64_t>(descending_key(v[s.ids[i]])) << 32) |
                static_cast<uint32_t>(s.ids[i]);
  const auto first = s.keys.begin();
  std::nth_element(first, first + static_cast<std::ptrdiff_t>(limit), s.keys.end());
  std::sort(first, first + static_cast<std::ptrdiff_t>(limit));
  for (size_t i = 0; i < limit; ++i)
    s.ids[i] = static_cast<int32_t>(static_cast<uint32_t>(s.keys[i]));
  return limit;
}

// Log-softmax of the raw logits for the requested top entries and the sampled token.
void fill_logprobs(std::span<const float> raw, int32_t sampled, int top_n, SampleResult& out) {
  const sampler_simd::Kernels& k = sampler_simd::best_kernels();
  const float max_logit = k.max(raw.data(), raw.size());
  const double sum = k.exp_sums(raw.data(), raw.size(), max_logit, nullptr, 0, nullptr);
  const float log_norm = max_logit + static_cast<float>(std::log(sum));
  out.logprob = TokenLogprob{sampled, raw[sampled] - log_norm};
  if (top_n <= 0) return;
  const size_t n = std::min<size_t>(static_cast<size_t>(top_n), raw.size());
  // The shallowest cut above which at least n ids lie; else every id.
  float cuts[kNumCuts];
  int64_t counts[kNumCuts];
  for (int j = 0; j < kNumCuts; ++j)
    cuts[j] = max_logit - kCutDepths[j];
  bool all = !std::isfinite(max_logit);
  float t = kMasked;
  if (!all) {
    k.count_ge(raw.data(), raw.size(), cuts, kNumCuts, counts);
    all = true;
    for (int j = 0; j < kNumCuts; ++j) {
      if (counts[j] >= static_cast<int64_t>(n)) {
        t = cuts[j];
        all = false;
        break;
      }
    }
  }
  Scratch& s = scratch();
  const size_t m = sorted_prefix(k, raw, t, all, n, s);
  for (size_t i = 0; i < m; ++i)
    out.top_logprobs.push_back({s.ids[i], raw[s.ids[i]] - log_norm});
}

void apply_masks(std::span<float> logits, const SamplingParams& params,
                 const SamplerContext& context) {
  const auto vocab = static_cast<int32_t>(logits.size());
  if (!context.allowed_token_bitmask.empty()) {
    sampler_simd::best_kernels().apply_bitmask(logits.data(), logits.size(),
                                               context.allowed_token_bitmask.data(),
                                               context.allowed_token_bitmask.size());
  }
  if (!params.allowed_token_ids.empty()) {
    // Everything else is masked; the allowed logits are kept as they are.
    std::vector<float> kept(params.allowed_token_ids.size(), kMasked);
    for (size_t i = 0; i < kept.size(); ++i) {
      const int32_t token = params.allowed_token_ids[i];
      if (token >= 0 && token < vocab) kept[i] = logits[token];
    }
    std::fill(logits.begin(), logits.end(), kMasked);
    for (size_t i = 0; i < kept.size(); ++i) {
      const int32_t token = params.allowed_token_ids[i];
      if (token >= 0 && token < vocab) logits[token] = kept[i];
    }
  }
  const std::span<const int32_t> output = context.output_token_ids;
  for (const std::vector<int32_t>& word : params.bad_words_token_ids) {
    if (word.empty() || word.size() - 1 > output.size()) continue;
    // The word would be completed by its last id when the output ends with the ones before it.
    const size_t prefix = word.size() - 1;
    if (!std::equal(word.begin(), word.begin() + static_cast<std::ptrdiff_t>(prefix),
                    output.end() - static_cast<std::ptrdiff_t>(prefix)))
      continue;
    const int32_t last = word.back();
    if (last >= 0 && last < vocab) logits[last] = kMasked;
  }

  for (const auto& [token, bias] : params.logit_bias) {
    if (token >= 0 && token < vocab) logits[token] += bias;
  }
  const bool too_short = static_cast<int>(context.output_token_ids.size()) < params.min_tokens;
  if (too_short) {
    for (int32_t token : params.stop_token_ids) {
      if (token >= 0 && token < vocab) logits[token] = kMasked;
    }
  }
  if (too_short || params.ignore_eos) {
    for (int32_t token : context.eos_token_ids) {
      if (token >= 0 && token < vocab) logits[token] = kMasked;
    }
  }
}

// Penalties touch only the ids present in the prompt and output: a per-thread count array
// (zero between calls) finds each once, and is cleared through the list of those found.
void apply_penalties(std::span<float> logits, const SamplingParams& params,
                     const SamplerContext& context) {
  const auto vocab = static_cast<int32_t>(logits.size());
  const bool repetition = params.repetition_penalty != 1.0f;
  const bool frequency = params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f;
  if (!repetition && !frequency) return;
  Scratch& s = scratch();
  if (s.counts.size() < logits.size()) s.counts.resize(logits.size(), 0);
  auto clear = [&] {
    for (int32_t token : s.present)
      s.counts[static_cast<size_t>(token)] = 0;
    s.present.clear();
  };
  if (repetition) {
    for (auto ids : {context.prompt_token_ids, context.output_token_ids}) {
      for (int32_t token : ids) {
        if (token < 0 || token >= vocab || s.counts[static_cast<size_t>(token)] != 0) continue;
        s.counts[static_cast<size_t>(token)] = 1;
        s.present.push_back(token);
        float& v = logits[token];
        v = v > 0 ? v / params.repetition_penalty : v * params.repetition_penalty;
      }
    }
    clear();
  }
  if (frequency) {
    for (int32_t token : context.output_token_ids) {
      if (token < 0 || token >= vocab) continue;
      if (s.counts[static_cast<size_t>(token)]++ == 0) s.present.push_back(token);
    }
    for (int32_t token : s.present) {
      const int count = s.counts[static_cast<size_t>(token)];
      logits[token] -=
          params.frequency_penalty * static_cast<float>(count) + params.presence_penalty;
    }
    clear();
  }
}

// What is known about the sorted prefix ids[0, m) of the full order.
struct Prefix {
  size_t m = 0;
  bool whole = false;        // m is the vocabulary
  bool holds_top_k = false;  // m == top_k: ids past it never matter
  bool holds_min_p = false;  // every id outside fails min_p
};

// The old full-sort algorithm, run on a sorted prefix; nullopt when the prefix is too short to
// decide. Weights are exp(v - max) in f64 (the old probabilities times their common sum, which
// cancels in every comparison it made); `total` is the sum over the whole vocabulary, needed
// only when the kept set reaches past the prefix.
std::optional<int32_t> draw_from_prefix(std::span<const float> v, float max_logit,
                                        const Prefix& prefix, double total,
                                        const SamplingParams& params, double u, Scratch& s) {
  const size_t m = prefix.m;
  const size_t vocab = v.size();
  if (s.weights.size() < m) s.weights.resize(m);
  for (size_t i = 0; i < m; ++i)
    s.weights[i] = std::exp(static_cast<double>(v[s.ids[i]] - max_logit));
  const std::vector<double>& w = s.weights;

  size_t keep = vocab;
  if (params.min_p > 0.0f) {
    // Weights fall along the order, so the old trim from the end keeps the leading ids that
    // reach min_p times the first (at least one).
    const double threshold = params.min_p * (m > 0 ? w[0] : 0.0);
    size_t j = 0;
    while (j < m && !(w[j] < threshold))
      ++j;
    if (j < m) {
      keep = std::max<size_t>(j, 1);
    } else if (!prefix.whole && prefix.holds_min_p) {
      keep = m;
    } else if (!prefix.whole && !prefix.holds_top_k) {
      return std::nullopt;
    }
  }
  if (params.top_k > 0) keep = std::min(keep, static_cast<size_t>(params.top_k));
  // The kept set may run past the prefix only when it is the whole vocabulary (its mass is
  // `total` then).
  if (keep > m && keep != vocab) return std::nullopt;
  bool beyond = keep > m;
  if (params.top_p < 1.0f) {
    double kept_mass = 0.0;
    if (beyond) {
      kept_mass = total;
    } else {
      for (size_t i = 0; i < keep; ++i)
        kept_mass += w[i];
    }
    double cumulative = 0.0;
    bool reached = false;
    for (size_t i = 0; i < std::min(keep, m); ++i) {
      cumulative += w[i] / kept_mass;
      if (cumulative >= params.top_p) {
        keep = i + 1;
        reached = true;
        break;
      }
    }
    if (!reached && beyond) return std::nullopt;
    beyond = keep > m;
  }
  if (!beyond) {
    while (keep > 1 && w[keep - 1] == 0.0)
      --keep;  // masked tokens are never drawn
  }
  double mass = 0.0;
  if (beyond) {
    mass = total;
  } else {
    for (size_t i = 0; i < keep; ++i)
      mass += w[i];
  }
  const double target = u * mass;
  double cumulative = 0.0;
  for (size_t i = 0; i < std::min(keep, m); ++i) {
    cumulative += w[i];
    if (target < cumulative) return s.ids[i];
  }
  if (beyond) return std::nullopt;
  return s.ids[keep - 1];
}

int32_t sample_filtered(std::span<float> logits, const SamplingParams& params, double u) {
  const sampler_simd::Kernels& k = sampler_simd::best_kernels();
  const size_t vocab = logits.size();
  const float max_logit = params.temperature == 1.0f
                              ? k.max(logits.data(), vocab)
                              : k.divide_max(logits.data(), vocab, params.temperature);
  Scratch& s = scratch();
  const std::span<const float> v = logits;
  const size_t top_k =
      params.top_k > 0 ? std::min(vocab, static_cast<size_t>(params.top_k)) : vocab;
  if (!std::isfinite(max_logit)) {
    // Everything masked (or an infinite logit): the old arithmetic on the whole order.
    Prefix all{.m = sorted_prefix(k, v, kMasked, true, vocab, s), .whole = true};
    all.holds_top_k = params.top_k > 0;
    return *draw_from_prefix(v, max_logit, all, 0.0, params, u, s);
  }

  // Below this no id can pass min_p: its weight is under min_p with a margin for the rounding of
  // v - max in f32.
  float min_p_floor = kMasked;
  if (params.min_p > 0.0f) {
    const double log_min_p = std::log(static_cast<double>(params.min_p));
    const double margin = 0.01 + 1e-5 * (std::fabs(max_logit) + std::fabs(log_min_p));
    // Never above the max, which always survives min_p (alone, when min_p > 1).
    min_p_floor = std::min(max_logit, static_cast<float>(max_logit + log_min_p - margin));
  }
  float cuts[kNumCuts];
  for (int j = 0; j < kNumCuts; ++j)
    cuts[j] = max_logit - kCutDepths[j];

  // The first cut to try: the shallowest that holds top_k ids, or (no top_k, no min_p) enough
  // mass for top_p or for the uniform draw itself.
  int first_cut = 0;
  double total = 0.0;
  if (top_k < vocab) {
    int64_t counts[kNumCuts];
    k.count_ge(v.data(), vocab, cuts, kNumCuts, counts);
    first_cut = kNumCuts;
    for (int j = 0; j < kNumCuts; ++j) {
      if (counts[j] >= static_cast<int64_t>(top_k)) {
        first_cut = j;
        break;
      }
    }
  } else if (params.min_p <= 0.0f) {
    double masses[kNumCuts];
    total = k.exp_sums(v.data(), vocab, max_logit, cuts, kNumCuts, masses);
    const double fraction = params.top_p < 1.0f ? static_cast<double>(params.top_p) : u;
    // The margin covers the f32 exp and sums of the pass against the f64 ones of the prefix.
    const double needed = total * std::min(1.0, fraction * (1.0 + 1e-5) + 1e-6);
    first_cut = kNumCuts;
    for (int j = 0; j < kNumCuts; ++j) {
      if (masses[j] >= needed) {
        first_cut = j;
        break;
      }
    }
  }

  for (int j = first_cut;; ++j) {
    bool all = j >= kNumCuts;
    float t = kMasked;
    if (!all) t = cuts[j];
    Prefix prefix;
    if (t <= min_p_floor) {  // nothing below the floor can matter
      t = min_p_floor;
      all = false;
      prefix.holds_min_p = true;
    }
    prefix.m = sorted_prefix(k, v, t, all, top_k, s);
    prefix.whole = prefix.m == vocab;
    prefix.holds_top_k = prefix.m == top_k && top_k < vocab;
    if (auto token = draw_from_prefix(v, max_logit, prefix, total, params, u, s)) return *token;
    if (all || prefix.holds_min_p) {
      // Cannot happen: the whole order or the whole min_p set always decides. Take the
      // longest prefix's last id rather than loop.
      return s.ids[prefix.m - 1];
    }
    // With no mass pass yet, a prefix that reaches past itself needs the total.
    if (total == 0.0) total = k.exp_sums(v.data(), vocab, max_logit, nullptr, 0, nullptr);
  }
}

}  // namespace

double sampler_uniform(uint64_t seed, uint64_t index) {
  const uint64_t bits = mix64(mix64(seed ^ 0x6A09E667F3BCC909ull) + index * 0x9E3779B97F4A7C15ull);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;  // 53 random bits
}

SampleResult sample_token(std::span<float> logits, const SamplingParams& params,
                          const SamplerContext& context) {
  SampleResult result;
  if (logits.empty()) return result;
  Scratch& s = scratch();
  if (params.logprobs >= 0) s.raw.assign(logits.begin(), logits.end());
  apply_masks(logits, params, context);
  apply_penalties(logits, params, context);

  if (params.temperature <= 1e-5f) {
    // The first of the largest: ties go to the lower id, deterministically.
    const sampler_simd::Kernels& k = sampler_simd::best_kernels();
    const float best = k.max(logits.data(), logits.size());
    const size_t at = k.find_first(logits.data(), logits.size(), best);
    result.token_id = static_cast<int32_t>(at < logits.size() ? at : 0);
  } else {
    result.token_id = sample_filtered(
        logits, params, sampler_uniform(context.seed, context.output_token_ids.size()));
  }
  if (params.logprobs >= 0) fill_logprobs(s.raw, result.token_id, params.logprobs, result);
  return result;
}

}  // namespace mm
