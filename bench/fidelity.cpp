// The fidelity table of bench/RESULTS.md: the CPU backend's fast (int8-dot) and exact numerics
// against transformers on the bundled model (models/minimax-m2-tiny), every format.
//   fidelity [--models DIR] [--heldout FILE.jsonl] [--max-docs N]
// Per format and numerics: the log-probability error over the whole vocabulary at the
// fixture's positions (fixtures/<format>.safetensors, transformers on dequantized weights with
// f32 activations), top-1 agreement there, greedy tokens of the fixture's held-out tool prompt
// that match transformers' continuation (of 32, or of the reference's length when shorter)
// and of fast against exact, and the perplexity of the held-out documents (tools/train/
// gen_data.py's heldout.jsonl; each document's first 1024 tokens, as tools/train/evaluate.py
// measures it: the README's table is the transformers column).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/model/model_runner.h"
#include "daemon/model/safetensors.h"
#include "daemon/text/tokenizer.h"

namespace {

namespace fs = std::filesystem;

constexpr int kBlockSize = 16;
constexpr int kMaxDocTokens = 1024;
constexpr int kGreedyTokens = 32;

std::vector<int32_t> table_for(size_t tokens) {
  std::vector<int32_t> table(tokens / kBlockSize + 2);
  std::iota(table.begin(), table.end(), 0);
  return table;
}

// Logits of every position of `ids` (one sequence from position 0), f32 [ids.size(), vocab].
std::vector<float> all_logits(mm::ModelRunner& runner, const std::vector<int32_t>& ids) {
  mm::ForwardBatch batch;
  batch.add_chunk(table_for(ids.size()), kBlockSize, ids, 0, true);
  return runner.forward(batch);
}

std::vector<int32_t> greedy(mm::ModelRunner& runner, const std::vector<int32_t>& prompt, int n) {
  const auto table = table_for(prompt.size() + static_cast<size_t>(n));
  const int64_t vocab = runner.config().vocab_size;
  mm::ForwardBatch batch;
  batch.add_chunk(table, kBlockSize, prompt, 0, false);
  std::vector<float> logits = runner.forward(batch);
  std::vector<int32_t> out;
  for (int step = 0; step < n; ++step) {
    const int32_t next = static_cast<int32_t>(
        std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin());
    out.push_back(next);
    if (step + 1 == n) break;
    mm::ForwardBatch decode;
    const int32_t token[1] = {next};
    decode.add_chunk(table, kBlockSize, token, static_cast<int32_t>(prompt.size()) + step, false);
    logits = runner.forward(decode);
  }
  return out;
}

std::vector<double> log_softmax(const float* row, int64_t vocab) {
  double top = row[0];
  for (int64_t v = 1; v < vocab; ++v)
    top = std::max(top, static_cast<double>(row[v]));
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v)
    sum += std::exp(row[v] - top);
  std::vector<double> out(static_cast<size_t>(vocab));
  for (int64_t v = 0; v < vocab; ++v)
    out[static_cast<size_t>(v)] = row[v] - top - std::log(sum);
  return out;
}

size_t matched_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n])
    ++n;
  return n;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

}  // namespace

int main(int argc, char** argv) {
  fs::path models = fs::path(MMD_SOURCE_DIR) / "models/minimax-m2-tiny";
  fs::path heldout;
  size_t max_docs = 400;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--models") {
      models = argv[i + 1];
    } else if (flag == "--heldout") {
      heldout = argv[i + 1];
    } else if (flag == "--max-docs") {
      max_docs = std::stoul(argv[i + 1]);
    } else {
      std::fprintf(stderr, "fidelity: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::vector<std::string> docs;
  if (!heldout.empty()) {
    std::ifstream in(heldout);
    for (std::string line; std::getline(in, line) && docs.size() < max_docs;)
      docs.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
  }
  std::printf(
      "| format | numerics | mean \\|Δ logprob\\| | max \\|Δ logprob\\| | top-1 = HF | greedy "
      "= HF | greedy fast = exact | perplexity (%zu docs) |\n",
      docs.size());
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const char* format : {"bf16", "fp8", "fp8-w4a16-g32", "fp8-w4a16-g128-kvfp8",
                             "bf16-w4a16-g32-lastbf16", "w8a8-int8"}) {
    const fs::path dir = models / format;
    const mm::SafetensorsFile fixture(models / "fixtures" / (std::string(format) + ".safetensors"));
    auto tensor = [&](const std::string& name) {
      for (const mm::TensorInfo& info : fixture.tensors()) {
        if (info.name == name) return fixture.view(info);
      }
      throw std::runtime_error("fixture has no " + name);
    };
    const mm::TensorView ids_view = tensor("input_ids");
    std::vector<int32_t> ids(static_cast<size_t>(ids_view.info->num_elements()));
    for (size_t i = 0; i < ids.size(); ++i)
      ids[i] = static_cast<int32_t>(ids_view.get_i64(static_cast<int64_t>(i)));
    const mm::TensorView positions = tensor("positions");
    const mm::TensorView hf_logits = tensor("logits");
    const nlohmann::json meta = read_json(models / "fixtures" / (std::string(format) + ".json"));
    const mm::text::Tokenizer tokenizer =
        mm::text::Tokenizer::from_file((dir / "tokenizer.json").string());
    const std::vector<int32_t> tool_prompt =
        tokenizer.encode(meta["tool_prompt"].get<std::string>());
    const std::vector<int32_t> hf_greedy =
        tokenizer.encode(meta["tool_prompt_greedy"].get<std::string>());
    std::vector<std::vector<int32_t>> doc_ids;
    for (const std::string& doc : docs) {
      std::vector<int32_t> t = tokenizer.encode(doc);
      if (t.size() > kMaxDocTokens) t.resize(kMaxDocTokens);
      if (t.size() >= 2) doc_ids.push_back(std::move(t));
    }
    std::vector<int32_t> exact_greedy;
    for (const mm::CpuNumerics numerics : {mm::CpuNumerics::kExact, mm::CpuNumerics::kFast}) {
      mm::RunnerOptions options;
      options.kv_dtype = mm::KvDType::kF32;
      options.num_kv_blocks = kMaxDocTokens / kBlockSize + 8;
      options.cpu_numerics = numerics;
      options.runtime_activation_quant = false;  // the "logits" reference: W8A8 as W8A16
      auto runner = mm::ModelRunner::load(dir, options);
      const int64_t vocab = runner->config().vocab_size;
      const std::vector<float> got = all_logits(*runner, ids);
      double sum_err = 0, max_err = 0;
      int top1 = 0;
      const int64_t num_positions = positions.info->num_elements();
      for (int64_t p = 0; p < num_positions; ++p) {
        std::vector<float> want(static_cast<size_t>(vocab));
        for (int64_t v = 0; v < vocab; ++v)
          want[static_cast<size_t>(v)] = hf_logits.get_f32(p * vocab + v);
        const float* row = got.data() + positions.get_i64(p) * vocab;
        const std::vector<double> a = log_softmax(row, vocab);
        const std::vector<double> b = log_softmax(want.data(), vocab);
        for (int64_t v = 0; v < vocab; ++v) {
          const double e = std::fabs(a[static_cast<size_t>(v)] - b[static_cast<size_t>(v)]);
          sum_err += e;
          max_err = std::max(max_err, e);
        }
        top1 += std::max_element(row, row + vocab) - row ==
                std::max_element(want.begin(), want.end()) - want.begin();
      }
      const std::vector<int32_t> g = greedy(*runner, tool_prompt, kGreedyTokens);
      const size_t ref_len = std::min<size_t>(kGreedyTokens, hf_greedy.size());
      if (numerics == mm::CpuNumerics::kExact) exact_greedy = g;
      double nll = 0;
      size_t count = 0;
      for (const std::vector<int32_t>& t : doc_ids) {
        const std::vector<float> logits = all_logits(*runner, t);
        for (size_t i = 0; i + 1 < t.size(); ++i) {
          const std::vector<double> lp =
              log_softmax(logits.data() + i * static_cast<size_t>(vocab), vocab);
          nll -= lp[static_cast<size_t>(t[i + 1])];
          ++count;
        }
      }
      const std::string ppl =
          count > 0 ? std::to_string(std::exp(nll / static_cast<double>(count))) : "-";
      std::printf("| %s | %s | %.2e | %.2e | %d / %lld | %zu / %zu | %zu / %d | %s |\n", format,
                  std::string(mm::cpu_numerics_name(numerics)).c_str(),
                  sum_err / static_cast<double>(num_positions * vocab), max_err, top1,
                  static_cast<long long>(num_positions),
                  std::min(matched_prefix(g, hf_greedy), ref_len), ref_len,
                  matched_prefix(g, exact_greedy), kGreedyTokens, ppl.c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}
