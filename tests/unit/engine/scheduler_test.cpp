// The scheduler from token counts and a block pool alone: no model, no kernels, no threads.
#include "daemon/engine/scheduler.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <set>

namespace mm {
namespace {

std::vector<int32_t> tokens(int count, int32_t first = 100) {
  std::vector<int32_t> out(static_cast<size_t>(count));
  std::iota(out.begin(), out.end(), first);
  return out;
}

BlockPoolOptions pool_of(int num_blocks, int block_size = 4) {
  return BlockPoolOptions{.block_size = block_size,
                          .blocks_per_chunk = num_blocks,
                          .initial_num_chunks = 1,
                          .max_num_chunks = 1};
}

// Samples token 7 for every sequence that wants logits.
std::unordered_map<SeqId, int32_t> sample_all(const SchedulerOutput& out) {
  std::unordered_map<SeqId, int32_t> sampled;
  for (const ScheduledSeq& s : out.scheduled) {
    if (s.wants_logits) sampled[s.id] = 7;
  }
  return sampled;
}

TEST(Scheduler, ChunkedPrefillThenDecodeInterleaves) {
  BlockPool pool(pool_of(16));
  Scheduler scheduler({.max_num_batched_tokens = 8, .max_num_seqs = 4}, pool);
  ASSERT_FALSE(scheduler.add(1, tokens(10), 64));
  ASSERT_FALSE(scheduler.add(2, tokens(3, 500), 64));
  // step | seq 1 (10-token prompt)   | seq 2 (3-token prompt) | budget 8
  //  1   | tokens 0-7 (chunk)        | waits (budget spent)   |
  //  2   | tokens 8-9 -> logits      | tokens 0-2 -> logits   | 5 used
  //  3   | decode 1                  | decode 1               | 2 used
  SchedulerOutput s1 = scheduler.schedule();
  ASSERT_EQ(s1.scheduled.size(), 1u);
  EXPECT_EQ(s1.scheduled[0].id, 1);
  EXPECT_EQ(s1.scheduled[0].num_tokens, 8);
  EXPECT_FALSE(s1.scheduled[0].wants_logits);
  EXPECT_EQ(scheduler.block_table(1), (std::vector<BlockId>{0, 1}));
  scheduler.step_done(s1, sample_all(s1));

  SchedulerOutput s2 = scheduler.schedule();
  ASSERT_EQ(s2.scheduled.size(), 2u);
  EXPECT_EQ(s2.scheduled[0].id, 1);
  EXPECT_EQ(s2.scheduled[0].start_position, 8);
  EXPECT_EQ(s2.scheduled[0].num_tokens, 2);
  EXPECT_TRUE(s2.scheduled[0].wants_logits);
  EXPECT_EQ(s2.scheduled[1].id, 2);
  EXPECT_EQ(s2.scheduled[1].num_tokens, 3);
  EXPECT_EQ(s2.num_batched_tokens, 5);
  EXPECT_EQ(scheduler.block_table(1), (std::vector<BlockId>{0, 1, 2}));
  EXPECT_EQ(scheduler.block_table(2), (std::vector<BlockId>{3}));
  scheduler.step_done(s2, sample_all(s2));
  EXPECT_EQ(scheduler.token_ids(1).size(), 11u);

  SchedulerOutput s3 = scheduler.schedule();
  ASSERT_EQ(s3.scheduled.size(), 2u);
  for (const ScheduledSeq& s : s3.scheduled) {
    EXPECT_EQ(s.num_tokens, 1);
    EXPECT_TRUE(s.wants_logits);
  }
  EXPECT_EQ(s3.scheduled[0].start_position, 10);
  EXPECT_EQ(s3.scheduled[1].start_position, 3);
}

// DecodesGoBeforePrefillChunks: scheduler_free_queue_test.cpp, with a per-step timeline.

TEST(Scheduler, RejectsWhatCanNeverFit) {
  BlockPool pool(pool_of(4));  // 16 tokens
  Scheduler scheduler({.max_num_batched_tokens = 64, .max_model_len = 32}, pool);
  auto too_long = scheduler.add(1, tokens(33), 40);
  ASSERT_TRUE(too_long);
  EXPECT_NE(too_long->message.find("max_model_len (32)"), std::string::npos);
  auto too_big = scheduler.add(2, tokens(10), 20);
  ASSERT_TRUE(too_big);
  EXPECT_NE(too_big->message.find("at most 4 blocks"), std::string::npos) << too_big->message;
  EXPECT_TRUE(scheduler.add(3, tokens(10), 16) == std::nullopt);
  EXPECT_FALSE(scheduler.add(4, {}, 16) == std::nullopt);
  EXPECT_EQ(scheduler.num_waiting(), 1);
}

TEST(Scheduler, PreemptsTheNewestAndRecomputesIt) {
  BlockPool pool(pool_of(4));  // 4 blocks of 4 tokens
  Scheduler scheduler(
      {.max_num_batched_tokens = 64, .max_num_seqs = 4, .enable_prefix_caching = false}, pool);
  scheduler.add(1, tokens(6), 16);
  scheduler.add(2, tokens(6, 300), 16);
  // step 1: both prompts (2 blocks each) -> pool full.
  SchedulerOutput s1 = scheduler.schedule();
  ASSERT_EQ(s1.scheduled.size(), 2u);
  EXPECT_EQ(pool.num_free_blocks(), 0);
  scheduler.step_done(s1, sample_all(s1));
  // steps 2-3: both decode inside their second block (positions 6, 7).
  for (int step = 0; step < 2; ++step) {
    SchedulerOutput s = scheduler.schedule();
    ASSERT_EQ(s.scheduled.size(), 2u);
    scheduler.step_done(s, sample_all(s));
  }
  // step 4: seq 1 needs a third block for position 8: seq 2 (newest) is preempted.
  SchedulerOutput s4 = scheduler.schedule();
  EXPECT_EQ(s4.preempted, (std::vector<SeqId>{2}));
  ASSERT_EQ(s4.scheduled.size(), 1u);
  EXPECT_EQ(s4.scheduled[0].id, 1);
  EXPECT_EQ(scheduler.block_table(1), (std::vector<BlockId>{0, 1, 3}));  // 3: seq 2's tail block
  EXPECT_FALSE(scheduler.is_running(2));
  EXPECT_EQ(scheduler.num_computed_tokens(2), 0);
  EXPECT_EQ(scheduler.token_ids(2).size(), 9u);  // its generated tokens are kept
  scheduler.step_done(s4, sample_all(s4));
  // Once seq 1 is gone, seq 2 is recomputed from scratch: all 9 known tokens at once.
  scheduler.remove(1);
  SchedulerOutput s5 = scheduler.schedule();
  ASSERT_EQ(s5.scheduled.size(), 1u);
  EXPECT_EQ(s5.scheduled[0].id, 2);
  EXPECT_EQ(s5.scheduled[0].start_position, 0);
  EXPECT_EQ(s5.scheduled[0].num_tokens, 9);
  EXPECT_TRUE(s5.scheduled[0].wants_logits);
}

TEST(Scheduler, PrefixCacheServesARepeatedPrompt) {
  BlockPool pool(pool_of(16));
  Scheduler scheduler({.max_num_batched_tokens = 64}, pool);
  scheduler.add(1, tokens(10), 32);
  SchedulerOutput s1 = scheduler.schedule();
  scheduler.step_done(s1, sample_all(s1));
  EXPECT_EQ(pool.num_cached_blocks(), 2);  // tokens 0-7
  scheduler.remove(1);
  EXPECT_EQ(pool.num_used_blocks(), 0);
  // Same 10-token prompt: blocks 0 and 1 are hits, only tokens 8-9 are computed.
  scheduler.add(2, tokens(10), 32);
  SchedulerOutput s2 = scheduler.schedule();
  ASSERT_EQ(s2.scheduled.size(), 1u);
  EXPECT_EQ(s2.scheduled[0].start_position, 8);
  EXPECT_EQ(s2.scheduled[0].num_tokens, 2);
  EXPECT_EQ(scheduler.block_table(2)[0], 0);
  EXPECT_EQ(scheduler.block_table(2)[1], 1);
  EXPECT_EQ(scheduler.num_prefix_hit_tokens(), 8);
  EXPECT_EQ(scheduler.num_prefix_query_tokens(), 20);
  // A prompt of exactly two blocks keeps its last token uncached, so logits can be computed.
  scheduler.step_done(s2, sample_all(s2));
  scheduler.remove(2);
  scheduler.add(3, tokens(8), 32);
  SchedulerOutput s3 = scheduler.schedule();
  ASSERT_EQ(s3.scheduled.size(), 1u);
  EXPECT_EQ(s3.scheduled[0].start_position, 4);
  EXPECT_EQ(s3.scheduled[0].num_tokens, 4);
}

TEST(Scheduler, RespectsMaxNumSeqs) {
  BlockPool pool(pool_of(64));
  Scheduler scheduler({.max_num_batched_tokens = 1000, .max_num_seqs = 2}, pool);
  for (SeqId id = 0; id < 5; ++id)
    scheduler.add(id, tokens(3, 10 * id), 16);
  SchedulerOutput s = scheduler.schedule();
  EXPECT_EQ(s.scheduled.size(), 2u);
  EXPECT_EQ(scheduler.num_running(), 2);
  EXPECT_EQ(scheduler.num_waiting(), 3);
}

TEST(Scheduler, PriorityOrdersAdmission) {
  BlockPool pool(pool_of(64));
  Scheduler scheduler({.max_num_batched_tokens = 1000, .max_num_seqs = 1}, pool);
  scheduler.add(1, tokens(3), 16, /*priority=*/5);
  scheduler.add(2, tokens(3), 16, /*priority=*/0);
  SchedulerOutput s = scheduler.schedule();
  ASSERT_EQ(s.scheduled.size(), 1u);
  EXPECT_EQ(s.scheduled[0].id, 2);
}

// vLLM's priority policy: WAITING sequences are admitted by (priority, arrival), smaller first,
// first come first served within one priority; a running sequence is never displaced by a
// later, more urgent one except through preemption.
TEST(Scheduler, AdmissionOrderIsPriorityThenArrival) {
  BlockPool pool(pool_of(64));
  Scheduler scheduler({.max_num_batched_tokens = 1000, .max_num_seqs = 1}, pool);
  const std::vector<std::pair<SeqId, int>> arrivals = {{10, 3}, {11, 0}, {12, 3}, {13, -2},
                                                       {14, 0}, {15, 3}, {16, -2}};
  for (const auto& [id, priority] : arrivals)
    ASSERT_FALSE(scheduler.add(id, tokens(3, static_cast<int32_t>(id) * 10), 6, priority));
  std::vector<SeqId> admitted;
  while (scheduler.has_work()) {
    SchedulerOutput s = scheduler.schedule();
    ASSERT_EQ(s.scheduled.size(), 1u);
    const SeqId id = s.scheduled[0].id;
    if (admitted.empty() || admitted.back() != id) admitted.push_back(id);
    scheduler.step_done(s, sample_all(s));
    const size_t length = scheduler.token_ids(id).size();
    // A more urgent arrival while 13 runs waits for it, then goes before every other.
    if (id == 13 && length == 4u) {
      ASSERT_FALSE(scheduler.add(17, tokens(3, 170), 6, -5));
    }
    // Each runs alone (max_num_seqs 1) to its 6-token limit, then leaves.
    if (length == 6u) scheduler.remove(id);
  }
  EXPECT_EQ(admitted, (std::vector<SeqId>{13, 17, 16, 11, 14, 10, 12, 15}));
}

// Random arrivals, lengths and cancellations against a small pool. Invariants every step: the
// budget and the sequence cap hold, every scheduled sequence owns blocks for what it computes;
// at the end every sequence finished and no block is held.
TEST(Scheduler, RandomWorkloadKeepsInvariants) {
  int64_t num_preemptions = 0;
  int64_t num_prefix_hits = 0;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    BlockPool pool(BlockPoolOptions{
        .block_size = 4, .blocks_per_chunk = 8, .initial_num_chunks = 1, .max_num_chunks = 3});
    const SchedulerConfig config{.max_num_batched_tokens = 24,
                                 .max_num_seqs = 5,
                                 .max_model_len = 64,
                                 .enable_prefix_caching = seed % 2 == 0};
    Scheduler scheduler(config, pool);
    std::unordered_map<SeqId, int> limits;
    std::set<SeqId> finished;
    SeqId next_id = 0;
    int steps_since_progress = 0;
    for (int step = 0; step < 2000 && (next_id < 40 || scheduler.has_work()); ++step) {
      if (next_id < 40 && rng() % 3 == 0) {
        const int prompt = 1 + static_cast<int>(rng() % 30);
        const int limit = prompt + 1 + static_cast<int>(rng() % 20);
        // Shared prefixes make the cache work: prompts start with one of two stems.
        auto prompt_tokens = tokens(prompt, static_cast<int32_t>(rng() % 2) * 1000);
        ASSERT_FALSE(scheduler.add(next_id, prompt_tokens, limit)) << "seed " << seed;
        limits[next_id++] = limit;
      }
      const bool had_work = scheduler.has_work();
      SchedulerOutput out = scheduler.schedule();
      ASSERT_LE(out.num_batched_tokens, config.max_num_batched_tokens);
      ASSERT_LE(static_cast<int>(out.scheduled.size()), config.max_num_seqs);
      int total = 0;
      for (const ScheduledSeq& s : out.scheduled) {
        total += s.num_tokens;
        ASSERT_GE(static_cast<int>(scheduler.block_table(s.id).size()) * 4,
                  s.start_position + s.num_tokens);
      }
      ASSERT_EQ(total, out.num_batched_tokens);
      num_preemptions += static_cast<int64_t>(out.preempted.size());
      // A step with work to do must schedule something (no livelock from preemption).
      steps_since_progress = had_work && out.scheduled.empty() ? steps_since_progress + 1 : 0;
      ASSERT_LT(steps_since_progress, 3) << "no progress, seed " << seed;
      scheduler.step_done(out, sample_all(out));
      for (const ScheduledSeq& s : out.scheduled) {
        const bool done = static_cast<int>(scheduler.token_ids(s.id).size()) >= limits[s.id];
        const bool cancelled = rng() % 50 == 0;
        if (s.wants_logits && (done || cancelled)) {
          scheduler.remove(s.id);
          finished.insert(s.id);
        }
      }
    }
    EXPECT_EQ(finished.size(), 40u) << "seed " << seed;
    EXPECT_FALSE(scheduler.has_work());
    EXPECT_EQ(pool.num_used_blocks(), 0) << "seed " << seed;
    pool.shrink();
    EXPECT_EQ(pool.num_blocks(), 8);
    num_prefix_hits += scheduler.num_prefix_hit_tokens();
  }
  // The workload is sized so that both preemption and prefix hits really happen.
  EXPECT_GT(num_preemptions, 0);
  EXPECT_GT(num_prefix_hits, 0);
}

}  // namespace
}  // namespace mm
