#include "daemon/engine/prompt_logprobs.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mm {

ScoredToken score_token(std::span<const float> logits, int32_t token, int top_n) {
  ScoredToken out;
  out.token_id = token;
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  // Summed in double: a 200k vocabulary of exp() terms loses digits in float.
  double sum = 0.0;
  for (float v : logits)
    sum += std::exp(static_cast<double>(v - max_logit));
  const float log_norm = max_logit + static_cast<float>(std::log(sum));
  const float mine = logits[static_cast<size_t>(token)];
  out.logprob = mine - log_norm;
  // Rank in the order the top list uses: higher logit first, ties to the lower id.
  int ahead = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > mine || (logits[i] == mine && static_cast<int32_t>(i) < token)) ++ahead;
  }
  out.rank = ahead + 1;
  if (top_n <= 0) return out;
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  const auto n = std::min<size_t>(static_cast<size_t>(top_n), ids.size());
  std::partial_sort(
      ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
      [&](int32_t a, int32_t b) {
        return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] ||
               (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
      });
  out.top_logprobs.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.top_logprobs.push_back({ids[i], logits[static_cast<size_t>(ids[i])] - log_norm});
  return out;
}

}  // namespace mm
