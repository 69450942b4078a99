// The scheduler's effect on the block pool, step by step: which blocks a sequence holds, the
// free queue's exact order (head = next to allocate and evict) after preemption, remove and
// a refused admission, and the prefix-cache counters. Each test carries its timeline.
#include <gtest/gtest.h>

#include <numeric>

#include "daemon/engine/scheduler.h"

namespace mm {
namespace {

std::vector<int32_t> tokens(int count, int32_t first = 100) {
  std::vector<int32_t> out(static_cast<size_t>(count));
  std::iota(out.begin(), out.end(), first);
  return out;
}

BlockPoolOptions pool_of(int num_blocks) {
  return BlockPoolOptions{.block_size = 4,
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

using Blocks = std::vector<BlockId>;

// (id, start_position, num_tokens, wants_logits) of each scheduled sequence, in batch order.
std::vector<std::tuple<SeqId, int, int, bool>> plan(const SchedulerOutput& out) {
  std::vector<std::tuple<SeqId, int, int, bool>> rows;
  for (const ScheduledSeq& s : out.scheduled)
    rows.emplace_back(s.id, s.start_position, s.num_tokens, s.wants_logits);
  return rows;
}
using Plan = std::vector<std::tuple<SeqId, int, int, bool>>;

// A running sequence that needs one token goes before an older-in-queue running sequence that
// still has a prompt chunk left, even though queue order alone would give the chunk the whole
// budget. Seq 1 is more urgent (priority -1), so it sorts first in the running queue.
TEST(SchedulerTimeline, DecodesGoBeforePrefillChunks) {
  BlockPool pool(pool_of(16));
  Scheduler scheduler({.max_num_batched_tokens = 4, .max_num_seqs = 4}, pool);
  // step | seq 2 (2-token prompt, prio 0) | seq 1 (12-token prompt, prio -1, added after 1) | 4
  //  1   | tokens 0-1 -> logits           | not added yet                                   |
  //  2   | decode at 2                    | admitted: tokens 0-2 (the 3 left)               |
  //  3   | decode at 3                    | tokens 3-5 (chunk; the decode went first)       |
  //  4   | decode at 4                    | tokens 6-8                                      |
  //  5   | decode at 5                    | tokens 9-11 -> logits                           |
  //  6   | decode at 6 (after seq 1 now)  | decode at 12                                    |
  ASSERT_EQ(scheduler.add(2, tokens(2, 500), 64), std::nullopt);
  SchedulerOutput s1 = scheduler.schedule();
  EXPECT_EQ(plan(s1), (Plan{{2, 0, 2, true}}));
  scheduler.step_done(s1, sample_all(s1));
  ASSERT_EQ(scheduler.add(1, tokens(12), 64, /*priority=*/-1), std::nullopt);
  const std::vector<Plan> expected = {
      {{2, 2, 1, true}, {1, 0, 3, false}}, {{2, 3, 1, true}, {1, 3, 3, false}},
      {{2, 4, 1, true}, {1, 6, 3, false}}, {{2, 5, 1, true}, {1, 9, 3, true}},
      {{1, 12, 1, true}, {2, 6, 1, true}},
  };
  for (size_t step = 0; step < expected.size(); ++step) {
    SchedulerOutput s = scheduler.schedule();
    EXPECT_EQ(plan(s), expected[step]) << "step " << step + 2;
    EXPECT_EQ(s.num_batched_tokens, step + 1 < expected.size() ? 4 : 2) << "step " << step + 2;
    EXPECT_TRUE(s.preempted.empty());
    scheduler.step_done(s, sample_all(s));
  }
  EXPECT_EQ(scheduler.token_ids(1).size(), 14u);
  EXPECT_EQ(scheduler.token_ids(2).size(), 8u);
}

// Preemption hands the victim's blocks back tail first and keeps their cached hashes, so the
// recompute finds its own prefix again; a refused admission takes nothing and counts nothing.
TEST(SchedulerTimeline, FreeQueueAfterPreemptionAndRecompute) {
  BlockPool pool(pool_of(5));
  Scheduler scheduler({.max_num_batched_tokens = 64, .max_num_seqs = 4}, pool);
  ASSERT_EQ(scheduler.add(1, tokens(6), 16), std::nullopt);
  ASSERT_EQ(scheduler.add(2, tokens(6, 300), 16), std::nullopt);
  // step | seq 1              | seq 2                             | free queue (head first)
  //  1   | 0-5: blocks 0,1    | 0-5: blocks 2,3                   | 4
  //  2   | decode 6           | decode 6                          | 4
  //  3   | decode 7 (1 full)  | decode 7 (3 full)                 | 4
  //  4   | decode 8: block 4  | preempted: frees 3 then 2         | 3 2
  //  5   | decode 9           | refused: 2,3 hit but 1 more block | 3 2 (unchanged)
  //  -   | removed: 4,1,0     |                                   | 3 2 4 1 0
  //  6   |                    | admitted: hits 2,3, takes 4       | 1 0
  EXPECT_EQ(pool.free_queue(), (Blocks{0, 1, 2, 3, 4}));
  SchedulerOutput s1 = scheduler.schedule();
  EXPECT_EQ(plan(s1), (Plan{{1, 0, 6, true}, {2, 0, 6, true}}));
  EXPECT_EQ(scheduler.block_table(1), (Blocks{0, 1}));
  EXPECT_EQ(scheduler.block_table(2), (Blocks{2, 3}));
  EXPECT_EQ(pool.free_queue(), (Blocks{4}));
  scheduler.step_done(s1, sample_all(s1));
  for (int position : {6, 7}) {
    SchedulerOutput s = scheduler.schedule();
    EXPECT_EQ(plan(s), (Plan{{1, position, 1, true}, {2, position, 1, true}}));
    scheduler.step_done(s, sample_all(s));
  }
  EXPECT_EQ(pool.num_cached_blocks(), 4);

  SchedulerOutput s4 = scheduler.schedule();
  EXPECT_EQ(s4.preempted, (std::vector<SeqId>{2}));
  EXPECT_EQ(plan(s4), (Plan{{1, 8, 1, true}}));
  EXPECT_EQ(scheduler.block_table(1), (Blocks{0, 1, 4}));
  EXPECT_EQ(pool.free_queue(), (Blocks{3, 2}));  // the victim's tail is evicted first
  EXPECT_TRUE(pool.hash_of(2) && pool.hash_of(3));
  scheduler.step_done(s4, sample_all(s4));

  SchedulerOutput s5 = scheduler.schedule();
  EXPECT_EQ(plan(s5), (Plan{{1, 9, 1, true}}));
  EXPECT_EQ(pool.free_queue(), (Blocks{3, 2}));
  EXPECT_EQ(pool.ref_count(2), 0);
  EXPECT_FALSE(scheduler.is_running(2));
  scheduler.step_done(s5, sample_all(s5));
  // Queries: seq 1's and seq 2's 6-token prompts; nothing for the refused step-5 attempt.
  EXPECT_EQ(scheduler.num_prefix_query_tokens(), 12);
  EXPECT_EQ(scheduler.num_prefix_hit_tokens(), 0);

  scheduler.remove(1);
  EXPECT_EQ(pool.free_queue(), (Blocks{3, 2, 4, 1, 0}));
  SchedulerOutput s6 = scheduler.schedule();
  // Seq 2 holds 9 tokens (6 + 3 sampled); blocks 2 and 3 serve 8 of them.
  EXPECT_EQ(plan(s6), (Plan{{2, 8, 1, true}}));
  EXPECT_EQ(scheduler.block_table(2), (Blocks{2, 3, 4}));
  EXPECT_EQ(pool.free_queue(), (Blocks{1, 0}));
  EXPECT_EQ(scheduler.num_prefix_query_tokens(), 12 + 9);
  EXPECT_EQ(scheduler.num_prefix_hit_tokens(), 8);
}

// A refused admission whose prefix hits sit in the middle of the free queue must not move
// them to its tail (which would make them the last evicted for a request that never ran).
TEST(SchedulerTimeline, FreeQueueAfterRemoveAndRefusedAdmission) {
  BlockPool pool(pool_of(8));
  Scheduler scheduler({.max_num_batched_tokens = 64, .max_num_seqs = 4}, pool);
  // step | sequence                                        | free queue (head first)
  //  1   | seq 1 (9 tokens): blocks 0,1,2; 0,1 cached      | 3 4 5 6 7
  //  -   | seq 1 removed: frees 2,1,0                      | 3 4 5 6 7 2 1 0
  //  2   | seq 2 (4 tokens): block 3, cached               | 4 5 6 7 2 1 0
  //  -   | seq 2 removed                                   | 4 5 6 7 2 1 0 3
  //  3   | seq 3 (13 tokens): blocks 4,5,6,7               | 2 1 0 3
  // 4-6  | seq 3 decodes in block 7; seq 4 (17 tokens,     | 2 1 0 3 (unchanged)
  //      | seq 1's first 8) hits 0,1 but needs 3 more      |
  //      | blocks of the 2 others: refused, each step      |
  //  -   | seq 3 removed: frees 7,6,5,4                    | 2 1 0 3 7 6 5 4
  //  7   | seq 4: hits 0,1, takes 2,3,7                    | 6 5 4
  ASSERT_EQ(scheduler.add(1, tokens(9), 16), std::nullopt);
  SchedulerOutput s1 = scheduler.schedule();
  EXPECT_EQ(plan(s1), (Plan{{1, 0, 9, true}}));
  EXPECT_EQ(pool.free_queue(), (Blocks{3, 4, 5, 6, 7}));
  scheduler.step_done(s1, sample_all(s1));
  scheduler.remove(1);
  EXPECT_EQ(pool.free_queue(), (Blocks{3, 4, 5, 6, 7, 2, 1, 0}));

  ASSERT_EQ(scheduler.add(2, tokens(4, 500), 8), std::nullopt);
  SchedulerOutput s2 = scheduler.schedule();
  EXPECT_EQ(scheduler.block_table(2), (Blocks{3}));
  scheduler.step_done(s2, sample_all(s2));
  scheduler.remove(2);
  EXPECT_EQ(pool.free_queue(), (Blocks{4, 5, 6, 7, 2, 1, 0, 3}));

  ASSERT_EQ(scheduler.add(3, tokens(13, 900), 20), std::nullopt);
  SchedulerOutput s3 = scheduler.schedule();
  EXPECT_EQ(scheduler.block_table(3), (Blocks{4, 5, 6, 7}));
  EXPECT_EQ(pool.free_queue(), (Blocks{2, 1, 0, 3}));
  scheduler.step_done(s3, sample_all(s3));
  const int64_t queries_before = scheduler.num_prefix_query_tokens();
  EXPECT_EQ(queries_before, 9 + 4 + 13);

  ASSERT_EQ(scheduler.add(4, tokens(17), 20), std::nullopt);
  for (int attempt = 0; attempt < 3; ++attempt) {
    SchedulerOutput s4 = scheduler.schedule();
    EXPECT_EQ(plan(s4), (Plan{{3, 13 + attempt, 1, true}})) << "attempt " << attempt;
    EXPECT_FALSE(scheduler.is_running(4));
    EXPECT_EQ(pool.free_queue(), (Blocks{2, 1, 0, 3})) << "attempt " << attempt;
    EXPECT_EQ(pool.ref_count(0), 0);
    EXPECT_EQ(pool.ref_count(1), 0);
    EXPECT_EQ(scheduler.num_prefix_query_tokens(), queries_before) << "attempt " << attempt;
    EXPECT_EQ(scheduler.num_prefix_hit_tokens(), 0);
    scheduler.step_done(s4, sample_all(s4));
  }

  scheduler.remove(3);
  EXPECT_EQ(pool.free_queue(), (Blocks{2, 1, 0, 3, 7, 6, 5, 4}));
  SchedulerOutput s5 = scheduler.schedule();
  EXPECT_EQ(plan(s5), (Plan{{4, 8, 9, true}}));
  EXPECT_EQ(scheduler.block_table(4), (Blocks{0, 1, 2, 3, 7}));
  EXPECT_EQ(pool.free_queue(), (Blocks{6, 5, 4}));
  EXPECT_EQ(scheduler.num_prefix_query_tokens(), queries_before + 17);
  EXPECT_EQ(scheduler.num_prefix_hit_tokens(), 8);
}

}  // namespace
}  // namespace mm
