// Opening the files of a checkpoint folder safely: only regular files (symlinks to regular
// files included, as in a Hugging Face cache) are opened, checked with stat() before open(),
// so that a FIFO, device or directory in place of a shard or a JSON file is refused at once
// instead of blocking the loader. Stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace mm {

// Text files (config.json, tokenizer.json, ...) larger than this are refused.
inline constexpr uint64_t kMaxCheckpointTextBytes = 1ull << 30;

// Opens `path` read-only and returns the descriptor (the caller closes it) and its size.
// Throws LoadError naming the file when it is missing, not a regular file (saying what it
// is), a dangling symlink or a symlink loop, or cannot be opened.
int open_regular_file(const std::filesystem::path& path, uint64_t* size);

// The whole content of a regular file; nullopt when nothing exists at `path` (not even a
// dangling symlink). Throws LoadError when something is there but cannot be read as a file.
std::optional<std::string> read_regular_file(const std::filesystem::path& path,
                                             uint64_t max_bytes = kMaxCheckpointTextBytes);

}  // namespace mm
