#include "daemon/engine/scheduler.h"

#include <algorithm>
#include <cassert>

namespace mm {

Scheduler::Scheduler(const SchedulerConfig& config, BlockPool& pool)
    : config_(config), pool_(pool) {}

int Scheduler::blocks_for(int num_tokens) const {
  return (num_tokens + pool_.block_size() - 1) / pool_.block_size();
}

std::optional<AdmissionError> Scheduler::add(SeqId id, std::vector<int32_t> prompt,
                                             int max_num_tokens, int priority,
                                             bool read_prefix_cache) {
  const int prompt_len = static_cast<int>(prompt.size());
  if (prompt_len == 0) return AdmissionError{"the prompt is empty"};
  if (prompt_len > config_.max_model_len) {
    return AdmissionError{"the prompt has " + std::to_string(prompt_len) +
                          " tokens, more than max_model_len (" +
                          std::to_string(config_.max_model_len) + ")"};
  }
  max_num_tokens = std::clamp(max_num_tokens, prompt_len, config_.max_model_len);
  if (blocks_for(max_num_tokens) > pool_.max_num_blocks()) {
    return AdmissionError{"the sequence needs up to " + std::to_string(max_num_tokens) +
                          " tokens of KV cache (" + std::to_string(blocks_for(max_num_tokens)) +
                          " blocks) but the cache holds at most " +
                          std::to_string(pool_.max_num_blocks()) + " blocks"};
  }
  Sequence seq;
  seq.id = id;
  seq.token_ids = std::move(prompt);
  seq.max_num_tokens = max_num_tokens;
  seq.priority = priority;
  seq.read_prefix_cache = read_prefix_cache;
  seq.arrival = next_arrival_++;
  waiting_.emplace(QueueKey{priority, seq.arrival}, id);
  sequences_.emplace(id, std::move(seq));
  return std::nullopt;
}

Scheduler::CachedPrefix Scheduler::find_cached_prefix(const Sequence& seq) const {
  CachedPrefix prefix;
  if (!config_.enable_prefix_caching || !seq.read_prefix_cache) return prefix;
  const int block_size = pool_.block_size();
  // At least one token must be computed to produce logits, so the last token is never served
  // from the cache.
  const int max_cached_blocks = (static_cast<int>(seq.token_ids.size()) - 1) / block_size;
  BlockHash hash = root_hash(config_.cache_salt);
  for (int b = 0; b < max_cached_blocks; ++b) {
    hash = chain_block_hash(
        hash, std::span(seq.token_ids).subspan(static_cast<size_t>(b) * block_size, block_size));
    if (prefix.tier_hashes.empty()) {
      if (auto block = pool_.lookup(hash)) {
        prefix.blocks.push_back(*block);
        prefix.hashes.push_back(hash);
        continue;
      }
    }
    // Missed the pool: the prefix goes on while the lower tier holds the next block.
    if (lower_tier_ == nullptr || !lower_tier_->contains(hash)) break;
    prefix.tier_hashes.push_back(hash);
  }
  return prefix;
}

int Scheduler::admit(Sequence& seq, int budget, SchedulerOutput& out) {
  CachedPrefix prefix = find_cached_prefix(seq);
  const int block_size = pool_.block_size();
  // Restores take budget too, and leave at least one token to compute this step.
  const int cost = std::max(config_.restore_cost_per_block, 0);
  int num_restores = static_cast<int>(prefix.tier_hashes.size());
  if (cost > 0) num_restores = std::min(num_restores, (budget - 1) / cost);
  prefix.tier_hashes.resize(static_cast<size_t>(num_restores));
  const int restore_cost = num_restores * cost;
  const int num_pool_blocks = static_cast<int>(prefix.blocks.size());
  const int cached_tokens = (num_pool_blocks + num_restores) * block_size;
  const int num_tokens =
      std::min(static_cast<int>(seq.token_ids.size()) - cached_tokens, budget - restore_cost);
  const int needed = blocks_for(cached_tokens + num_tokens) - num_pool_blocks;
  // Hits still in the free queue stop being allocatable once taken.
  const auto free_hits = std::count_if(prefix.blocks.begin(), prefix.blocks.end(),
                                       [&](BlockId block) { return pool_.ref_count(block) == 0; });
  // Decided before anything is taken: a refused admission leaves the free queue's order and
  // the prefix-cache counters as they were, and is simply tried again next step.
  if (!pool_.can_allocate(needed + static_cast<int>(free_hits))) return -1;
  pool_.touch(prefix.blocks);
  seq.block_table = std::move(prefix.blocks);
  // Only the pool's hits: restored blocks are cached once the step that needs them ran, so a
  // restore that fails never leaves a cached block holding garbage.
  seq.block_hashes = std::move(prefix.hashes);
  seq.num_computed_tokens = cached_tokens;
  if (!reserve_blocks(seq, num_tokens)) {  // cannot happen after can_allocate; stay safe
    release(seq);
    return -1;
  }
  for (int i = 0; i < num_restores; ++i) {
    const int index = num_pool_blocks + i;
    out.restores.push_back(BlockRestore{seq.id, index, seq.block_table[static_cast<size_t>(index)],
                                        prefix.tier_hashes[static_cast<size_t>(i)]});
  }
  // Counted once per admission (a recompute after preemption is a new admission).
  num_prefix_query_tokens_ += static_cast<int64_t>(seq.token_ids.size());
  num_prefix_hit_tokens_ += cached_tokens;
  num_tier_hit_tokens_ += static_cast<int64_t>(num_restores) * block_size;
  return restore_cost;
}

void Scheduler::restore_failed(SeqId id, int block_index) {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return;
  Sequence& seq = it->second;
  const int from = std::min(seq.num_computed_tokens, block_index * pool_.block_size());
  const int lost = seq.num_computed_tokens - from;
  seq.num_computed_tokens = from;
  num_prefix_hit_tokens_ -= lost;
  num_tier_hit_tokens_ -= lost;
}

bool Scheduler::reserve_blocks(Sequence& seq, int num_tokens) {
  const int needed =
      blocks_for(seq.num_computed_tokens + num_tokens) - static_cast<int>(seq.block_table.size());
  if (needed <= 0) return true;
  std::vector<BlockId> blocks = pool_.allocate(needed);
  if (blocks.empty()) return false;
  seq.block_table.insert(seq.block_table.end(), blocks.begin(), blocks.end());
  return true;
}

void Scheduler::release(Sequence& seq) {
  // Tail first: the prefix blocks end up last in the free queue, evicted last.
  std::vector<BlockId> reversed(seq.block_table.rbegin(), seq.block_table.rend());
  pool_.free(reversed);
  seq.block_table.clear();
  seq.block_hashes.clear();
  seq.num_computed_tokens = 0;
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int budget = config_.max_num_batched_tokens;
  std::unordered_map<SeqId, size_t> scheduled_index;

  auto unschedule = [&](SeqId id) {
    auto it = scheduled_index.find(id);
    if (it == scheduled_index.end()) return;
    budget += out.scheduled[it->second].num_tokens;
    out.scheduled[it->second].num_tokens = 0;  // compacted below
    scheduled_index.erase(it);
  };

  // Running sequences: those needing one token first, then the rest, each in queue order.
  std::vector<SeqId> order;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [key, id] : running_) {
      const Sequence& seq = sequences_.at(id);
      const int remaining = static_cast<int>(seq.token_ids.size()) - seq.num_computed_tokens;
      if ((remaining == 1) == (pass == 0)) order.push_back(id);
    }
  }
  for (SeqId id : order) {
    if (budget == 0) break;
    if (!running_.contains({sequences_.at(id).priority, sequences_.at(id).arrival})) continue;
    Sequence& seq = sequences_.at(id);
    const int remaining = static_cast<int>(seq.token_ids.size()) - seq.num_computed_tokens;
    const int num_tokens = std::min(remaining, budget);
    if (num_tokens <= 0) continue;
    bool placed = reserve_blocks(seq, num_tokens);
    while (!placed) {
      // Out of blocks: the newest running sequence gives its blocks back.
      const auto victim_it = std::prev(running_.end());
      const SeqId victim = victim_it->second;
      Sequence& victim_seq = sequences_.at(victim);
      unschedule(victim);
      release(victim_seq);
      running_.erase(victim_it);
      waiting_.emplace(QueueKey{victim_seq.priority, victim_seq.arrival}, victim);
      out.preempted.push_back(victim);
      if (victim == id) break;
      placed = reserve_blocks(seq, num_tokens);
    }
    if (!placed) continue;
    scheduled_index[id] = out.scheduled.size();
    out.scheduled.push_back(ScheduledSeq{
        id, seq.num_computed_tokens, num_tokens,
        seq.num_computed_tokens + num_tokens == static_cast<int>(seq.token_ids.size())});
    budget -= num_tokens;
  }

  // Admission, in queue order, while there is budget, room for another sequence and blocks.
  // A step that preempted admits nothing: the pool is full.
  while (out.preempted.empty() && budget > 0 && !waiting_.empty() &&
         static_cast<int>(running_.size()) < config_.max_num_seqs) {
    const auto it = waiting_.begin();
    Sequence& seq = sequences_.at(it->second);
    const int restore_cost = admit(seq, budget, out);
    if (restore_cost < 0) break;
    budget -= restore_cost;
    out.num_restore_tokens += restore_cost;
    const int num_tokens =
        std::min(static_cast<int>(seq.token_ids.size()) - seq.num_computed_tokens, budget);
    running_.emplace(it->first, it->second);
    waiting_.erase(it);
    scheduled_index[seq.id] = out.scheduled.size();
    out.scheduled.push_back(ScheduledSeq{
        seq.id, seq.num_computed_tokens, num_tokens,
        seq.num_computed_tokens + num_tokens == static_cast<int>(seq.token_ids.size())});
    budget -= num_tokens;
  }

  std::erase_if(out.scheduled, [](const ScheduledSeq& s) { return s.num_tokens == 0; });
  out.num_batched_tokens = config_.max_num_batched_tokens - budget - out.num_restore_tokens;
  return out;
}

void Scheduler::cache_blocks(Sequence& seq) {
  if (!config_.enable_prefix_caching) return;
  const int block_size = pool_.block_size();
  const int num_full = seq.num_computed_tokens / block_size;
  BlockHash hash =
      seq.block_hashes.empty() ? root_hash(config_.cache_salt) : seq.block_hashes.back();
  for (int b = static_cast<int>(seq.block_hashes.size()); b < num_full; ++b) {
    hash = chain_block_hash(
        hash, std::span(seq.token_ids).subspan(static_cast<size_t>(b) * block_size, block_size));
    pool_.cache_full_block(seq.block_table[b], hash);
    seq.block_hashes.push_back(hash);
  }
}

void Scheduler::step_done(const SchedulerOutput& output,
                          const std::unordered_map<SeqId, int32_t>& sampled) {
  for (const ScheduledSeq& s : output.scheduled) {
    auto it = sequences_.find(s.id);
    if (it == sequences_.end()) continue;  // removed while the step ran
    Sequence& seq = it->second;
    if (seq.num_computed_tokens != s.start_position) continue;  // preempted meanwhile
    seq.num_computed_tokens += s.num_tokens;
    cache_blocks(seq);
    if (s.wants_logits) {
      auto token = sampled.find(s.id);
      if (token != sampled.end()) seq.token_ids.push_back(token->second);
    }
  }
}

void Scheduler::remove(SeqId id) {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return;
  Sequence& seq = it->second;
  running_.erase(QueueKey{seq.priority, seq.arrival});
  waiting_.erase(QueueKey{seq.priority, seq.arrival});
  release(seq);
  sequences_.erase(it);
}

const std::vector<BlockId>& Scheduler::block_table(SeqId id) const {
  return sequences_.at(id).block_table;
}
int Scheduler::num_computed_tokens(SeqId id) const {
  return sequences_.at(id).num_computed_tokens;
}
const std::vector<int32_t>& Scheduler::token_ids(SeqId id) const {
  return sequences_.at(id).token_ids;
}
bool Scheduler::is_running(SeqId id) const {
  const Sequence& seq = sequences_.at(id);
  return running_.contains(QueueKey{seq.priority, seq.arrival});
}

}  // namespace mm
