// The model fingerprint that salts the KV tiers' keys and heads their files: a cached block
// is only ever read by the model, precision and layout that wrote it. Engine thread.
#pragma once

#include <filesystem>

#include "daemon/engine/block_hash.h"
#include "daemon/model/model_runner.h"

namespace mm {

// Covers the checkpoint's config.json (its bytes) and weights (each *.safetensors file's name,
// size and modification time: a rewritten shard changes it without reading 200 GB), the KV
// dtype, block size and shape, the per-layer K/V scales, the backend and the tensor-parallel
// layout, and the tier format version.
BlockHash kv_model_fingerprint(const std::filesystem::path& model, ModelRunner& runner);

}  // namespace mm
