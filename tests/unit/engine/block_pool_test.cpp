// Exact block ids, reference counts and free-queue order after every operation.
#include "daemon/engine/block_pool.h"

#include <gtest/gtest.h>

namespace mm {
namespace {

BlockPoolOptions small_pool(int chunks = 1, int max_chunks = 1) {
  return BlockPoolOptions{.block_size = 4,
                          .blocks_per_chunk = 4,
                          .initial_num_chunks = chunks,
                          .max_num_chunks = max_chunks};
}

using Ids = std::vector<BlockId>;

TEST(BlockPool, AllocatesFromTheHeadAndFreesToTheTail) {
  BlockPool pool(small_pool());
  EXPECT_EQ(pool.free_queue(), (Ids{0, 1, 2, 3}));
  const Ids a = pool.allocate(2);
  EXPECT_EQ(a, (Ids{0, 1}));
  EXPECT_EQ(pool.ref_count(0), 1);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  EXPECT_EQ(pool.num_used_blocks(), 2);
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3}));
  pool.free(Ids{1, 0});  // tail first, as a sequence frees its table
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3, 1, 0}));
  EXPECT_EQ(pool.allocate(3), (Ids{2, 3, 1}));
  EXPECT_EQ(pool.free_queue(), (Ids{0}));
}

TEST(BlockPool, AllocationFailureChangesNothing) {
  BlockPool pool(small_pool());
  EXPECT_FALSE(pool.can_allocate(5));
  EXPECT_TRUE(pool.allocate(5).empty());
  EXPECT_EQ(pool.num_free_blocks(), 4);
  EXPECT_EQ(pool.free_queue(), (Ids{0, 1, 2, 3}));
}

TEST(BlockPool, SharedBlocksNeedEveryReferenceFreed) {
  BlockPool pool(small_pool());
  const Ids a = pool.allocate(1);
  pool.touch(a);
  EXPECT_EQ(pool.ref_count(0), 2);
  pool.free(a);
  EXPECT_EQ(pool.ref_count(0), 1);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  pool.free(a);
  EXPECT_EQ(pool.ref_count(0), 0);
  EXPECT_EQ(pool.free_queue(), (Ids{1, 2, 3, 0}));
}

TEST(BlockPool, CachedFreeBlocksAreFoundUntilEvicted) {
  BlockPool pool(small_pool());
  const BlockHash h0 = chain_block_hash(root_hash(7), std::vector<int32_t>{1, 2, 3, 4});
  const BlockHash h1 = chain_block_hash(h0, std::vector<int32_t>{5, 6, 7, 8});
  const Ids a = pool.allocate(2);  // 0, 1
  pool.cache_full_block(0, h0);
  pool.cache_full_block(1, h1);
  EXPECT_EQ(pool.num_cached_blocks(), 2);
  pool.free(Ids{1, 0});
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3, 1, 0}));
  // A hit takes the block out of the free queue.
  ASSERT_EQ(pool.lookup(h0), 0);
  pool.touch(Ids{0});
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3, 1}));
  EXPECT_EQ(pool.ref_count(0), 1);
  // Allocating three blocks reaches block 1 and evicts its hash.
  EXPECT_EQ(pool.allocate(3), (Ids{2, 3, 1}));
  EXPECT_FALSE(pool.lookup(h1).has_value());
  EXPECT_EQ(pool.lookup(h0), 0);
  EXPECT_EQ(pool.num_cached_blocks(), 1);
}

TEST(BlockPool, ForgetCachedDropsEveryPrefixWithoutTellingTheListener) {
  BlockPool pool(small_pool());
  int evictions = 0;
  pool.set_evict_listener([&](BlockId, const BlockHash&) { ++evictions; });
  const BlockHash h0 = chain_block_hash(root_hash(3), std::vector<int32_t>{1, 2, 3, 4});
  const BlockHash h1 = chain_block_hash(h0, std::vector<int32_t>{5, 6, 7, 8});
  const Ids a = pool.allocate(2);
  pool.cache_full_block(0, h0);
  pool.cache_full_block(1, h1);
  pool.free(Ids{1});  // 1 free and cached, 0 still in use and cached
  EXPECT_EQ(pool.forget_cached(), 2);
  EXPECT_EQ(pool.num_cached_blocks(), 0);
  EXPECT_FALSE(pool.lookup(h0).has_value());
  EXPECT_FALSE(pool.lookup(h1).has_value());
  EXPECT_FALSE(pool.hash_of(0).has_value());
  EXPECT_EQ(pool.ref_count(0), 1);  // the sequence keeps its block
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3, 1}));
  EXPECT_EQ(pool.allocate(3), (Ids{2, 3, 1}));  // reused without an eviction to report
  EXPECT_EQ(evictions, 0);
  pool.cache_full_block(1, h1);  // the same prefix may be cached again afterwards
  EXPECT_EQ(pool.lookup(h1), 1);
}

TEST(BlockPool, DuplicatePrefixKeepsTheFirstBlock) {
  BlockPool pool(small_pool());
  const BlockHash h = chain_block_hash(root_hash(0), std::vector<int32_t>{9, 9, 9, 9});
  pool.allocate(2);
  pool.cache_full_block(0, h);
  pool.cache_full_block(1, h);
  EXPECT_EQ(pool.lookup(h), 0);
  EXPECT_FALSE(pool.hash_of(1).has_value());
}

TEST(BlockPool, GrowsByChunksUpToTheCapAndShrinksWhenIdle) {
  BlockPool pool(small_pool(1, 3));
  EXPECT_EQ(pool.num_blocks(), 4);
  EXPECT_EQ(pool.max_num_blocks(), 12);
  EXPECT_TRUE(pool.can_allocate(12));
  EXPECT_FALSE(pool.can_allocate(13));
  const Ids a = pool.allocate(6);
  EXPECT_EQ(a, (Ids{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(pool.num_blocks(), 8);
  EXPECT_EQ(pool.free_queue(), (Ids{6, 7}));
  // Blocks 4 and 5 are in the second chunk: it cannot go while they are used.
  pool.free(Ids{0, 1, 2, 3});
  EXPECT_EQ(pool.shrink(), 0);
  pool.free(Ids{5, 4});
  EXPECT_EQ(pool.shrink(), 4);
  EXPECT_EQ(pool.num_blocks(), 4);
  EXPECT_EQ(pool.num_free_blocks(), 4);
  EXPECT_EQ(pool.free_queue(), (Ids{0, 1, 2, 3}));
}

TEST(BlockPool, FreshChunkIsUsedBeforeCachedBlocksAreEvicted) {
  BlockPool pool(small_pool(1, 2));
  const BlockHash h = chain_block_hash(root_hash(0), std::vector<int32_t>{1, 1, 1, 1});
  const Ids a = pool.allocate(4);
  pool.cache_full_block(3, h);
  pool.free(Ids{3});
  EXPECT_EQ(pool.free_queue(), (Ids{3}));
  // Two blocks wanted, one free: the pool grows, and the new blocks come before cached 3.
  EXPECT_EQ(pool.allocate(2), (Ids{4, 5}));
  EXPECT_EQ(pool.lookup(h), 3);
  EXPECT_EQ(pool.free_queue(), (Ids{6, 7, 3}));
}

TEST(BlockHash, ChainsWholePrefixes) {
  const BlockHash root = root_hash(1);
  const std::vector<int32_t> a{1, 2, 3, 4}, b{5, 6, 7, 8};
  EXPECT_EQ(chain_block_hash(root, a), chain_block_hash(root, a));
  EXPECT_NE(chain_block_hash(chain_block_hash(root, a), b),
            chain_block_hash(chain_block_hash(root, b), a));
  EXPECT_NE(chain_block_hash(root_hash(1), a), chain_block_hash(root_hash(2), a));  // salt
}

}  // namespace
}  // namespace mm
