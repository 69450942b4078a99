// Admission through the KV tiers below the pool, from token counts, a block pool and a fake
// tier (a set of hashes) alone: which blocks are restored, what they cost the budget, and the
// fall back to recompute when a restore fails.
#include <gtest/gtest.h>

#include <numeric>
#include <unordered_set>

#include "daemon/engine/scheduler.h"

namespace mm {
namespace {

std::vector<int32_t> tokens(int count, int32_t first = 100) {
  std::vector<int32_t> out(static_cast<size_t>(count));
  std::iota(out.begin(), out.end(), first);
  return out;
}

// Holds hashes only: contains() is all the scheduler asks of a tier.
class FakeTier : public KvTier {
 public:
  std::string_view name() const override { return "fake"; }
  bool contains(const BlockHash& key) const override { return keys.contains(key); }
  bool put(const BlockHash& key, std::span<const std::byte>) override {
    keys.insert(key);
    return true;
  }
  bool get(const BlockHash& key, std::span<std::byte>) override { return keys.contains(key); }
  void clear() override { keys.clear(); }
  KvTierStats stats() const override { return {}; }
  std::unordered_set<BlockHash, BlockHashHasher> keys;
};

// The chain hashes of a prompt's first `num_blocks` blocks of 4 tokens (salt 0).
std::vector<BlockHash> chain(const std::vector<int32_t>& prompt, int num_blocks) {
  std::vector<BlockHash> out;
  BlockHash hash = root_hash(0);
  for (int b = 0; b < num_blocks; ++b) {
    hash = chain_block_hash(hash, std::span(prompt).subspan(static_cast<size_t>(b) * 4, 4));
    out.push_back(hash);
  }
  return out;
}

BlockPool make_pool() {
  return BlockPool(BlockPoolOptions{
      .block_size = 4, .blocks_per_chunk = 8, .initial_num_chunks = 1, .max_num_chunks = 1});
}

TEST(SchedulerTiers, APrefixMissingThePoolIsRestoredFromTheTierWithinTheBudget) {
  BlockPool pool = make_pool();
  FakeTier tier;
  const auto prompt = tokens(13);  // blocks 0-2 full; the 13th token is always computed
  for (const BlockHash& h : chain(prompt, 3))
    tier.keys.insert(h);
  Scheduler scheduler({.max_num_batched_tokens = 16, .max_num_seqs = 4}, pool);
  scheduler.set_lower_tier(&tier);
  ASSERT_FALSE(scheduler.add(1, prompt, 20));
  // step | seq 1: 13-token prompt, 3 blocks in the tier | budget 16
  //  1   | restore blocks 0-2 (cost 3), compute token 12 -> logits | 4 used
  const SchedulerOutput s = scheduler.schedule();
  ASSERT_EQ(s.restores.size(), 3u);
  const auto hashes = chain(prompt, 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(s.restores[i].seq, 1);
    EXPECT_EQ(s.restores[i].block_index, i);
    EXPECT_EQ(s.restores[i].block, i);
    EXPECT_EQ(s.restores[i].hash, hashes[static_cast<size_t>(i)]);
  }
  EXPECT_EQ(s.num_restore_tokens, 3);
  ASSERT_EQ(s.scheduled.size(), 1u);
  EXPECT_EQ(s.scheduled[0].start_position, 12);
  EXPECT_EQ(s.scheduled[0].num_tokens, 1);
  EXPECT_EQ(s.num_batched_tokens, 1);
  EXPECT_EQ(scheduler.block_table(1), (std::vector<BlockId>{0, 1, 2, 3}));
  EXPECT_EQ(scheduler.num_prefix_hit_tokens(), 12);
  EXPECT_EQ(scheduler.num_tier_hit_tokens(), 12);
  // Restored blocks join the prefix cache once their step ran.
  EXPECT_EQ(pool.num_cached_blocks(), 0);
  scheduler.step_done(s, {{1, 7}});
  EXPECT_EQ(pool.num_cached_blocks(), 3);
  EXPECT_EQ(pool.lookup(hashes[2]), BlockId{2});
}

TEST(SchedulerTiers, PoolHitsComeFirstAndTheBudgetCapsRestores) {
  BlockPool pool = make_pool();
  FakeTier tier;
  const auto prompt = tokens(25);  // 6 full blocks
  const auto hashes = chain(prompt, 6);
  for (const BlockHash& h : hashes)
    tier.keys.insert(h);
  Scheduler scheduler({.max_num_batched_tokens = 3, .max_num_seqs = 4, .restore_cost_per_block = 1},
                      pool);
  scheduler.set_lower_tier(&tier);
  ASSERT_FALSE(scheduler.add(1, prompt, 25));
  // step | budget 3: 2 restores (blocks 0-1) + 1 computed token (position 8)
  const SchedulerOutput s = scheduler.schedule();
  ASSERT_EQ(s.restores.size(), 2u);
  EXPECT_EQ(s.num_restore_tokens, 2);
  ASSERT_EQ(s.scheduled.size(), 1u);
  EXPECT_EQ(s.scheduled[0].start_position, 8);
  EXPECT_EQ(s.scheduled[0].num_tokens, 1);
  EXPECT_EQ(s.num_batched_tokens, 1);
}

TEST(SchedulerTiers, AFailedRestoreRecomputesFromThatBlock) {
  BlockPool pool = make_pool();
  FakeTier tier;
  const auto prompt = tokens(13);
  for (const BlockHash& h : chain(prompt, 3))
    tier.keys.insert(h);
  Scheduler scheduler({.max_num_batched_tokens = 16, .max_num_seqs = 4}, pool);
  scheduler.set_lower_tier(&tier);
  ASSERT_FALSE(scheduler.add(1, prompt, 20));
  SchedulerOutput s = scheduler.schedule();
  ASSERT_EQ(s.restores.size(), 3u);
  // Block 1's copy turned out damaged: the engine drops the sequence from this step.
  scheduler.restore_failed(1, 1);
  EXPECT_EQ(scheduler.num_computed_tokens(1), 4);
  EXPECT_EQ(scheduler.num_prefix_hit_tokens(), 4);
  EXPECT_EQ(scheduler.num_tier_hit_tokens(), 4);
  s.scheduled.clear();
  scheduler.step_done(s, {});
  // step 2 | positions 4-12 computed (9 tokens) -> logits; no new restores
  const SchedulerOutput s2 = scheduler.schedule();
  EXPECT_TRUE(s2.restores.empty());
  ASSERT_EQ(s2.scheduled.size(), 1u);
  EXPECT_EQ(s2.scheduled[0].start_position, 4);
  EXPECT_EQ(s2.scheduled[0].num_tokens, 9);
  EXPECT_TRUE(s2.scheduled[0].wants_logits);
  EXPECT_EQ(scheduler.block_table(1), (std::vector<BlockId>{0, 1, 2, 3}));
  scheduler.step_done(s2, {{1, 7}});
  EXPECT_EQ(pool.num_cached_blocks(), 3);
}

TEST(SchedulerTiers, WithoutATierNothingIsRestored) {
  BlockPool pool = make_pool();
  Scheduler scheduler({.max_num_batched_tokens = 16, .max_num_seqs = 4}, pool);
  ASSERT_FALSE(scheduler.add(1, tokens(13), 20));
  const SchedulerOutput s = scheduler.schedule();
  EXPECT_TRUE(s.restores.empty());
  EXPECT_EQ(s.scheduled[0].num_tokens, 13);
}

}  // namespace
}  // namespace mm
