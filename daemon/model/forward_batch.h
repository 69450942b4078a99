// The flat batch the model runner executes in one step (nano-vllm style): every token of every
// scheduled sequence, prefill chunks and decodes alike, in one list. Built by the scheduler
// (or a test) on the engine thread and read by the runner on the same thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace mm {

struct ForwardBatch {
  std::vector<int32_t> token_ids;     // [num_tokens]
  std::vector<int32_t> positions;     // [num_tokens] absolute position in its sequence
  std::vector<int32_t> seq_of_token;  // [num_tokens] index into block_tables
  std::vector<int64_t> slot_mapping;  // [num_tokens] cache slot (block · block_size + offset)
  // [num_seqs][*]: the KV blocks of each sequence, in position order; must cover every
  // position 0..max position of its tokens in this batch.
  std::vector<std::vector<int32_t>> block_tables;
  // Token indices whose logits are returned, in this order (typically each sequence's last).
  std::vector<int32_t> logits_indices;

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
  int64_t num_seqs() const { return static_cast<int64_t>(block_tables.size()); }

  // Appends a new sequence's chunk: `tokens` at positions start_position.. with the given block
  // table; asks logits for every token (all_logits) or only the last. Returns the seq index.
  int32_t add_chunk(std::span<const int32_t> block_table, int block_size,
                    std::span<const int32_t> tokens, int32_t start_position, bool all_logits) {
    const auto seq = static_cast<int32_t>(block_tables.size());
    block_tables.emplace_back(block_table.begin(), block_table.end());
    for (size_t i = 0; i < tokens.size(); ++i) {
      const int32_t position = start_position + static_cast<int32_t>(i);
      if (all_logits || i + 1 == tokens.size()) logits_indices.push_back(static_cast<int32_t>(token_ids.size()));
      token_ids.push_back(tokens[i]);
      positions.push_back(position);
      seq_of_token.push_back(seq);
      slot_mapping.push_back(static_cast<int64_t>(block_table[static_cast<size_t>(position / block_size)]) * block_size +
                             position % block_size);
    }
    return seq;
  }
};

}  // namespace mm
