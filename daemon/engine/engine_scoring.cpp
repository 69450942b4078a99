// The engine's prompt scoring (params.prompt_logprobs): which positions of a step's chunks need
// logits rows, turning those rows into scores, and ending prompt-only (max_tokens 0) requests.
// Engine-thread members of Engine, kept apart from the step loop in engine.cpp.
#include <algorithm>

#include "daemon/engine/engine.h"

namespace mm {

std::vector<Engine::ScoreRow> Engine::add_score_rows(const SchedulerOutput& out,
                                                     ForwardBatch& batch) {
  std::vector<ScoreRow> rows;
  int32_t first_token = 0;  // the chunk's first index in the batch (chunks are laid out in order)
  for (const ScheduledSeq& s : out.scheduled) {
    const Active& active = active_.at(s.id);
    const int prompt_len = static_cast<int>(active.request.prompt_token_ids.size());
    if (active.request.params.prompt_logprobs >= 0 && !active.prompt_scores_sent) {
      // Positions 0..prompt_len-2 score tokens 1..prompt_len-1. A recompute after preemption
      // skips the ones already scored.
      const int begin = std::max(s.start_position, static_cast<int>(active.prompt_scores.size()));
      const int end = std::min(s.start_position + s.num_tokens, prompt_len - 1);
      for (int position = begin; position < end; ++position) {
        batch.logits_indices.push_back(first_token + (position - s.start_position));
        rows.push_back(ScoreRow{s.id, position});
      }
    }
    first_token += s.num_tokens;
  }
  return rows;
}

void Engine::deliver_prompt_scores(const SchedulerOutput& out, const std::vector<ScoreRow>& rows,
                                   std::span<const float> logits, size_t first_row) {
  const auto vocab = static_cast<size_t>(runner_->config().vocab_size);
  for (size_t r = 0; r < rows.size(); ++r) {
    Active& active = active_.at(rows[r].id);
    const auto& prompt = active.request.prompt_token_ids;
    // Rows come in position order per sequence, starting at the first one not yet scored.
    if (static_cast<size_t>(rows[r].position) != active.prompt_scores.size()) continue;
    active.prompt_scores.push_back(score_token(logits.subspan((first_row + r) * vocab, vocab),
                                               prompt[static_cast<size_t>(rows[r].position) + 1],
                                               active.request.params.prompt_logprobs));
  }
  for (const ScheduledSeq& s : out.scheduled) {
    auto it = active_.find(s.id);
    if (it == active_.end()) continue;
    Active& active = it->second;
    const auto prompt_len = active.request.prompt_token_ids.size();
    if (active.request.params.prompt_logprobs < 0 || active.prompt_scores_sent ||
        active.prompt_scores.size() + 1 < prompt_len)
      continue;
    active.prompt_scores_sent = true;
    active.sink->on_prompt_logprobs(active.id, active.prompt_scores);
    // Delivered: freed. A recompute after preemption does not score again (the flag says so).
    std::vector<ScoredToken>().swap(active.prompt_scores);
  }
}

void Engine::finish_prompt_only(const SchedulerOutput& out, std::vector<Finish>& finishes) {
  for (const ScheduledSeq& s : out.scheduled) {
    auto it = active_.find(s.id);
    if (it == active_.end() || it->second.request.params.max_tokens > 0 || !s.wants_logits)
      continue;
    finish(it->second, FinishReason::kLength, "", finishes);
  }
}

}  // namespace mm
