// Test-only: reads a golden-<folder>.safetensors of tests/fixtures/goldens (README there) and
// runs prompts through a ModelRunner the way the tests need (one sequence, contiguous blocks).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "daemon/model/model_runner.h"
#include "daemon/model/safetensors.h"
#include "kernels/backend_factory.h"

namespace mm::testing {

// The backend the whole-model tests run on: MMD_TEST_DEVICE (cpu, cuda[:N] or hip[:N]; the cuda
// and hip presets register runner_test_cuda / runner_test_hip with it), cpu when unset.
inline std::string test_device() {
  const char* device = std::getenv("MMD_TEST_DEVICE");
  return device != nullptr && *device != '\0' ? device : "cpu";
}

// Why the test cannot run on test_device() here (empty: it can).
inline std::string device_skip_reason() {
  const std::string device = test_device();
  if (device == "cpu") return "";
  const std::string platform(gpu_platform_of(device));
  if (!gpu_backend_built(platform))
    return "MMD_TEST_DEVICE=" + device + ": this build has no " + platform + " backend";
  if (gpu_device_count(platform) == 0)
    return "MMD_TEST_DEVICE=" + device + ": no " + platform + " device on this machine (needs a GPU)";
  return "";
}

inline std::filesystem::path fixture_dir() {
  return MMD_FIXTURE_DIR;
}

class Golden {
 public:
  explicit Golden(const std::string& folder)
      : file_(fixture_dir() / "goldens" / ("golden-" + folder + ".safetensors")) {}

  bool has(const std::string& name) const { return find(name) != nullptr; }
  std::vector<int64_t> shape(const std::string& name) const { return find_or_throw(name)->shape; }
  std::vector<float> f32(const std::string& name) const {
    const TensorView view = file_.view(*find_or_throw(name));
    std::vector<float> out(static_cast<size_t>(view.info->num_elements()));
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = view.get_f32(static_cast<int64_t>(i));
    return out;
  }
  std::vector<int32_t> ids(const std::string& name) const {
    const TensorView view = file_.view(*find_or_throw(name));
    std::vector<int32_t> out(static_cast<size_t>(view.info->num_elements()));
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<int32_t>(view.get_i64(static_cast<int64_t>(i)));
    return out;
  }

 private:
  const TensorInfo* find(const std::string& name) const {
    for (const TensorInfo& info : file_.tensors()) {
      if (info.name == name) return &info;
    }
    return nullptr;
  }
  const TensorInfo* find_or_throw(const std::string& name) const {
    const TensorInfo* info = find(name);
    if (info == nullptr) throw std::runtime_error(file_.path().string() + ": no tensor " + name);
    return info;
  }
  SafetensorsFile file_;
};

// Blocks [first_block, first_block + count) as a block table.
inline std::vector<int32_t> contiguous_blocks(int32_t first_block, int32_t count) {
  std::vector<int32_t> table(static_cast<size_t>(count));
  std::iota(table.begin(), table.end(), first_block);
  return table;
}

// Prefills `ids` as one sequence (blocks from first_block) in chunks of `chunk` tokens and
// returns the logits of every position, f32 [ids.size(), vocab].
inline std::vector<float> prefill_all_logits(ModelRunner& runner, std::span<const int32_t> ids,
                                             size_t chunk, int32_t first_block = 0) {
  const int block_size = runner.options().block_size;
  const auto table =
      contiguous_blocks(first_block, static_cast<int32_t>((ids.size() + 64) / block_size + 1));
  std::vector<float> logits;
  for (size_t start = 0; start < ids.size(); start += chunk) {
    const size_t n = std::min(chunk, ids.size() - start);
    ForwardBatch batch;
    batch.add_chunk(table, block_size, ids.subspan(start, n), static_cast<int32_t>(start), true);
    const std::vector<float> part = runner.forward(batch);
    logits.insert(logits.end(), part.begin(), part.end());
  }
  return logits;
}

inline int32_t argmax(std::span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

// Greedy decode: prefill `prompt`, then feed back the argmax `num_steps` times (one token per
// step, as a decode). Returns the generated ids.
inline std::vector<int32_t> greedy(ModelRunner& runner, std::span<const int32_t> prompt,
                                   int num_steps) {
  const int block_size = runner.options().block_size;
  const auto table =
      contiguous_blocks(0, static_cast<int32_t>((prompt.size() + num_steps) / block_size + 1));
  const int64_t vocab = runner.config().vocab_size;
  ForwardBatch batch;
  batch.add_chunk(table, block_size, prompt, 0, false);
  std::vector<float> logits = runner.forward(batch);
  std::vector<int32_t> out;
  for (int step = 0; step < num_steps; ++step) {
    const int32_t next =
        argmax(std::span<const float>(logits).subspan(0, static_cast<size_t>(vocab)));
    out.push_back(next);
    if (step + 1 == num_steps) break;
    ForwardBatch decode;
    const int32_t token[1] = {next};
    decode.add_chunk(table, block_size, token, static_cast<int32_t>(prompt.size()) + step, false);
    logits = runner.forward(decode);
  }
  return out;
}

struct ErrorStats {
  double max_abs = 0;
  double ref_max = 0;
  double rel() const { return ref_max > 0 ? max_abs / ref_max : max_abs; }
};

inline ErrorStats compare(std::span<const float> got, std::span<const float> want) {
  ErrorStats s;
  for (size_t i = 0; i < want.size(); ++i) {
    s.max_abs = std::max(s.max_abs, std::fabs(static_cast<double>(got[i]) - want[i]));
    s.ref_max = std::max(s.ref_max, std::fabs(static_cast<double>(want[i])));
  }
  return s;
}

}  // namespace mm::testing
