// Encode throughput of mm_text's tokenizer on the committed tokenizer corpus
// (tests/fixtures/text/tokenizer_corpus.json), the same input bench/text/hf_encode.py gives
// Hugging Face tokenizers. Bytes/s counts UTF-8 input bytes. Single-threaded.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/text/json_value.h"
#include "daemon/text/tokenizer.h"

namespace {

constexpr int kRepeat = 20;  // the corpus is ~6 KB; repeated so one pass is ~120 KB

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> kTexts = [] {
    const auto doc = mm::text::JsonValue::parse(
        read(std::string(MMD_FIXTURE_DIR) + "/text/tokenizer_corpus.json"));
    std::vector<std::string> texts;
    for (int r = 0; r < kRepeat; ++r) {
      for (const auto& t : doc.find("valid")->as_array())
        texts.push_back(t.as_string());
    }
    return texts;
  }();
  return kTexts;
}

const mm::text::Tokenizer& tokenizer(const std::string& name) {
  static const mm::text::Tokenizer kMiniMax = mm::text::Tokenizer::from_file(
      std::string(MMD_FIXTURE_DIR) + "/text/minimax_test.tokenizer.json");
  static const mm::text::Tokenizer kGpt2 = mm::text::Tokenizer::from_file(
      std::string(MMD_FIXTURE_DIR) + "/text/gpt2_test.tokenizer.json");
  return name == "minimax_test" ? kMiniMax : kGpt2;
}

// One encode call per corpus entry (like serving many prompts).
void encode_entries(benchmark::State& state, const std::string& name) {
  const auto& tok = tokenizer(name);
  const auto& texts = corpus();
  int64_t bytes = 0;
  for (const auto& t : texts)
    bytes += static_cast<int64_t>(t.size());
  for (auto _ : state) {
    for (const auto& t : texts)
      benchmark::DoNotOptimize(tok.encode(t));
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}

// One encode call on the whole corpus joined by newlines (one long prompt).
void encode_joined(benchmark::State& state, const std::string& name) {
  const auto& tok = tokenizer(name);
  std::string joined;
  for (const auto& t : corpus())
    joined += t + "\n";
  for (auto _ : state)
    benchmark::DoNotOptimize(tok.encode(joined));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(joined.size()));
}

BENCHMARK_CAPTURE(encode_entries, minimax_test, std::string("minimax_test"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode_joined, minimax_test, std::string("minimax_test"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode_entries, gpt2_test, std::string("gpt2_test"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode_joined, gpt2_test, std::string("gpt2_test"))
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
