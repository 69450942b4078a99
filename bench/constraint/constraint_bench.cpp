// Constrained decoding cost (issue 17).
//
//   mmd-bench-constraint mask [--vocab 200064]
//     A synthetic byte-level BPE vocabulary of MiniMax-M2's size (every byte, ASCII words with and
//     without a leading space, JSON punctuation runs, digits, CJK characters and their cut UTF-8
//     pieces, code fragments); five representative grammars; per grammar: compile time, and the
//     mask time (thread CPU time) per generated token while walking a canonical answer tokenized
//     longest-match: the first request (nothing cached) and then 20 requests (fresh matchers, the
//     vocabulary's inside sets warm), median and p99.
//   mmd-bench-constraint decode CHECKPOINT [--output 128] [--threads N] [--requests 4]
//     Engine decode tokens/s at batch 1 with and without a JSON-shaped constraint (synthetic
//     token bytes over the checkpoint's vocabulary; min_tokens = max_tokens so both run as long).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "daemon/constraint/constraint.h"
#include "daemon/engine/engine.h"
#include "daemon/text/json_value.h"

namespace {

using Clock = std::chrono::steady_clock;
using mm::constraint::Matcher;
using mm::constraint::VocabIndex;
using mm::text::JsonValue;

std::vector<std::string> synthetic_vocab(size_t size) {
  std::mt19937_64 rng(42);
  std::vector<std::string> tokens;
  auto seen = std::make_unique<std::unordered_set<std::string>>();
  auto add = [&](std::string t) {
    if (tokens.size() < size && !t.empty() && seen->insert(t).second)
      tokens.push_back(std::move(t));
  };
  for (int b = 0; b < 256; ++b)
    add(std::string(1, static_cast<char>(b)));
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqz";
  const char* punct[] = {"\"",  "\":", "\": ", "\", \"", "\"}",  "\"]",  "[\"",  "{\"", "},", "}]",
                         "],",  ", ",  ": ",   "\n",     "\n\n", "  ",   "    ", "\t",  "()", "();",
                         "</",  "/>",  "<",    ">",      "\\n",  "\\\"", "=\"",  "\">", "',", "'",
                         "...", "->",  "::",   "#",      "//",   "/*",   "*/",   "{",   "}",  "[",
                         "]",   ",",   ".",    ";",      "_",    "-",    "+",    "=="};
  for (const char* p : punct)
    add(p);
  auto cjk = [&] {
    const uint32_t cp = 0x4E00 + static_cast<uint32_t>(rng() % 0x5000);
    std::string s;
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
    return s;
  };
  while (tokens.size() < size) {
    const uint64_t kind = rng() % 100;
    std::string t;
    if (kind < 55) {  // words, half with a leading space, some capitalised
      if (rng() % 2) t += ' ';
      const size_t len = 2 + rng() % 9;
      for (size_t i = 0; i < len; ++i)
        t += letters[std::min<size_t>(rng() % 26, rng() % 26)];
      if (rng() % 5 == 0)
        t[t[0] == ' ' ? 1 : 0] = static_cast<char>(std::toupper(t[t[0] == ' ' ? 1 : 0]));
    } else if (kind < 65) {  // digits
      const size_t len = 1 + rng() % 3;
      for (size_t i = 0; i < len; ++i)
        t += static_cast<char>('0' + rng() % 10);
    } else if (kind < 82) {  // CJK runs and cut pieces
      const size_t n = 1 + rng() % 3;
      for (size_t i = 0; i < n; ++i)
        t += cjk();
      if (rng() % 4 == 0) t = t.substr(rng() % 2 + 1);                // starts mid-character
      if (rng() % 4 == 0) t = t.substr(0, t.size() - 1 - rng() % 2);  // ends mid-character
    } else if (kind < 92) {  // words glued to JSON punctuation
      std::string w;
      for (size_t i = 0, len = 1 + rng() % 6; i < len; ++i)
        w += letters[rng() % 26];
      const char* p = punct[rng() % (sizeof(punct) / sizeof(punct[0]))];
      t = rng() % 2 ? w + p : std::string(p) + w;
    } else {  // code-like identifiers
      t = rng() % 2 ? "_" : ".";
      for (size_t i = 0, len = 2 + rng() % 8; i < len; ++i)
        t += letters[rng() % 26];
    }
    add(t);
  }
  return tokens;
}

// Longest-match tokenization of `text` over the vocabulary (as a decode would produce tokens).
std::vector<int32_t> tokenize(const VocabIndex& vocab, const std::string& text) {
  std::vector<int32_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t node = 0;
    int32_t best = -1;
    size_t best_len = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      uint32_t next = 0;
      bool found = false;
      for (uint32_t e = vocab.edge_begin(node); e < vocab.edge_end(node); ++e) {
        if (vocab.edge_byte(e) == static_cast<uint8_t>(text[i])) {
          next = vocab.edge_child(e);
          found = true;
          break;
        }
      }
      if (!found) break;
      node = next;
      if (vocab.tokens_begin(node) != vocab.tokens_end(node)) {
        best = *vocab.tokens_begin(node);
        best_len = i - pos + 1;
      }
    }
    out.push_back(best);
    pos += best_len;
  }
  return out;
}

struct Case {
  const char* name;
  std::shared_ptr<const mm::constraint::Grammar> (*compile)();
  std::string answer;  // what the "model" writes
};

std::shared_ptr<const mm::constraint::Grammar> schema(const char* text) {
  mm::constraint::OutputSpec spec;
  spec.kind = mm::constraint::OutputSpec::Kind::kJsonSchema;
  spec.schema = JsonValue::parse(text);
  spec.where = "schema";
  return mm::constraint::compile_output(spec, false);
}

// This thread's CPU time: the machine is shared (other builds), so wall time would count the
// time slices others took.
double thread_cpu_us() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int run_mask(size_t vocab_size) {
  const auto t0 = Clock::now();
  const std::vector<std::string> tokens = synthetic_vocab(vocab_size);
  auto vocab = std::make_shared<VocabIndex>(tokens, std::vector<int32_t>{});
  const double build_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const auto p0 = Clock::now();
  mm::constraint::prewarm(*vocab);
  const double prewarm_ms = std::chrono::duration<double, std::milli>(Clock::now() - p0).count();
  std::printf("vocabulary: %zu tokens, %zu trie nodes, built in %.0f ms, prewarmed in %.0f ms\n",
              tokens.size(), vocab->num_trie_nodes(), build_ms, prewarm_ms);
  static const char* kTools =
      R"([{"type":"function","function":{"name":"bash","parameters":{"type":"object","properties":{"command":{"type":"string"},"timeout":{"type":"integer","minimum":0,"maximum":600000},"description":{"type":"string"}},"required":["command"]}}},
    {"type":"function","function":{"name":"read_file","parameters":{"type":"object","properties":{"file_path":{"type":"string"},"offset":{"type":"integer"},"limit":{"type":"integer"}},"required":["file_path"]}}}])";
  const std::vector<Case> cases = {
      {"person (object, bounded integer, enum)",
       [] {
         return schema(
             R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":150},"role":{"enum":["admin","user","guest"]},"email":{"type":"string"}},"required":["name","age","role"],"additionalProperties":false})");
       },
       R"({"name": "Ada Lovelace, née Byron 阿达", "age": 36, "role": "admin", "email": "ada@example.com"})"},
      {"recipe (nested arrays of objects)",
       [] {
         return schema(
             R"({"type":"object","properties":{"title":{"type":"string"},"ingredients":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"quantity":{"type":"number","minimum":0},"unit":{"enum":["g","ml","pcs"]}},"required":["name","quantity","unit"]}},"steps":{"type":"array","items":{"type":"string"}}},"required":["title","ingredients","steps"]})");
       },
       R"({"title": "Green tea", "ingredients": [{"name": "water", "quantity": 250, "unit": "ml"}, {"name": "tea leaves", "quantity": 2.5, "unit": "g"}], "steps": ["Boil the water and let it cool to eighty degrees.", "Steep the leaves for two minutes, then pour."]})"},
      {"ui tree (recursive $ref)",
       [] {
         return schema(
             R"({"$defs":{"ui":{"type":"object","properties":{"type":{"enum":["div","button","form","field"]},"label":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/ui"}}},"required":["type","label","children"],"additionalProperties":false}},"$ref":"#/$defs/ui"})");
       },
       R"({"type": "form", "label": "Sign up", "children": [{"type": "field", "label": "Email address", "children": []}, {"type": "button", "label": "Submit", "children": []}]})"},
      {"json_object (any JSON)",
       [] {
         mm::constraint::OutputSpec spec;
         spec.kind = mm::constraint::OutputSpec::Kind::kJsonObject;
         return mm::constraint::compile_output(spec, false);
       },
       R"({"status": "ok", "count": 3, "items": [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}], "note": null, "ratio": 0.25})"},
      {"tool call, required (MiniMax XML)",
       [] { return mm::constraint::compile_tool_calls(JsonValue::parse(kTools).as_array(), ""); },
       "bash\">\n<parameter name=\"command\">grep -rn \"TODO\" src/ | head -20</parameter>\n"
       "<parameter name=\"timeout\">120000</parameter>\n</invoke>\n</minimax:tool_call>"},
  };
  std::printf(
      "| grammar | compile (ms) | tokens | first request: median / p99 (us) | warm: median / p99 "
      "(us) |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: |\n");
  std::vector<uint32_t> mask(vocab->num_words());
  for (const Case& c : cases) {
    const auto c0 = Clock::now();
    auto grammar = c.compile();
    const double compile_ms = std::chrono::duration<double, std::milli>(Clock::now() - c0).count();
    const std::vector<int32_t> ids = tokenize(*vocab, c.answer);
    std::vector<double> first;
    std::vector<double> warm;
    // Request 0 compiles and builds the tables; requests 1..20 copy its prototype (the daemon's
    // ConstraintCache does this for a repeated schema) and share the states and masks.
    const Matcher prototype(grammar, vocab);
    for (int run = 0; run < 21; ++run) {
      Matcher m = prototype;
      for (int32_t id : ids) {
        const double s = thread_cpu_us();
        m.fill_mask(mask);
        const double us = thread_cpu_us() - s;
        (run == 0 ? first : warm).push_back(us);
        if (run == 0 && us > 1000 && std::getenv("MMD_BENCH_VERBOSE") != nullptr)
          std::fprintf(stderr, "%s: %.0f us before token %d '%s'\n", c.name, us, id,
                       vocab->token(id).c_str());
        if (((mask[static_cast<size_t>(id) >> 5] >> (id & 31)) & 1) == 0 || !m.advance_token(id)) {
          std::fprintf(stderr, "%s: token %d refused\n", c.name, id);
          return 1;
        }
      }
      if (!m.accepts()) {
        std::fprintf(stderr, "%s: the answer does not end the grammar\n", c.name);
        return 1;
      }
    }
    std::printf("| %s | %.2f | %zu | %.1f / %.1f | %.1f / %.1f |\n", c.name, compile_ms, ids.size(),
                percentile(first, 0.5), percentile(first, 0.99), percentile(warm, 0.5),
                percentile(warm, 0.99));
  }
  return 0;
}

class CountingSink : public mm::RequestSink {
 public:
  void on_token(mm::RequestId, const mm::SampleResult&) override {}
  void on_finish(mm::RequestId, mm::FinishReason, const mm::Usage& usage,
                 const std::string& message) override {
    std::lock_guard lock(mutex_);
    generated_ += usage.completion_tokens;
    if (!message.empty()) std::fprintf(stderr, "request failed: %s\n", message.c_str());
    done_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return done_; });
    done_ = false;
  }
  int64_t generated_ = 0;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
};

int run_decode(int argc, char** argv) {
  mm::EngineOptions options;
  options.model = argv[2];
  int output = 128;
  int requests = 4;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--output") output = std::stoi(argv[i + 1]);
    if (flag == "--threads") options.runner.num_threads = std::stoi(argv[i + 1]);
    if (flag == "--requests") requests = std::stoi(argv[i + 1]);
  }
  mm::Engine engine(options);
  if (!engine.wait_ready(std::chrono::minutes(10))) {
    std::fprintf(stderr, "the model did not load: %s\n", engine.status().error.c_str());
    return 1;
  }
  const int32_t vocab_size = 16384;
  auto vocab = std::make_shared<VocabIndex>(synthetic_vocab(static_cast<size_t>(vocab_size)),
                                            std::vector<int32_t>{});
  // JSON that never closes (a list of notes), so every request runs its full length with the
  // mask of strings and separators at each step.
  mm::constraint::OutputSpec spec;
  spec.kind = mm::constraint::OutputSpec::Kind::kRegex;
  spec.regex = R"(\{"notes": \[("[^"\\]*", )*)";
  spec.where = "bench";
  auto grammar = mm::constraint::compile_output(spec, false);
  auto sink = std::make_shared<CountingSink>();
  double rate[2] = {0, 0};
  // Alternating runs, best of `requests` each: the machine is shared.
  for (int r = 0; r < 2 * requests; ++r) {
    const bool constrained = r % 2 == 1;
    mm::EngineRequest request;
    for (int i = 0; i < 32; ++i)
      request.prompt_token_ids.push_back(1 + (i * 37 + r) % 1000);
    request.params.max_tokens = output;
    request.params.min_tokens = output;
    request.params.temperature = 1.0f;
    request.params.seed = static_cast<uint64_t>(r);
    if (constrained)
      request.constraint = std::make_shared<mm::constraint::TokenMatcher>(grammar, vocab);
    const int64_t before = sink->generated_;
    const auto s = Clock::now();
    engine.submit(std::move(request), sink);
    sink->wait();
    const double seconds = std::chrono::duration<double>(Clock::now() - s).count();
    rate[constrained ? 1 : 0] = std::max(rate[constrained ? 1 : 0],
                                         static_cast<double>(sink->generated_ - before) / seconds);
  }
  std::printf("decode batch 1, %d tokens: %.2f tok/s free, %.2f tok/s constrained (%+.2f %%)\n",
              output, rate[0], rate[1], 100.0 * (rate[1] - rate[0]) / rate[0]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "mask";
  if (mode == "mask") {
    size_t size = 200064;
    if (argc > 3 && std::string(argv[2]) == "--vocab") size = std::stoul(argv[3]);
    return run_mask(size);
  }
  if (mode == "decode" && argc > 2) return run_decode(argc, argv);
  std::fprintf(stderr,
               "usage: mmd-bench-constraint mask [--vocab N] | decode CHECKPOINT [--output N] "
               "[--threads N] [--requests N]\n");
  return 2;
}
