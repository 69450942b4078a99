#include "client/mmctl/bench_command.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "client/mmctl/daemon_session.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/http_stream_client.h"

namespace mm {

namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto low = static_cast<size_t>(rank);
  const size_t high = std::min(low + 1, values.size() - 1);
  return values[low] + (values[high] - values[low]) * (rank - static_cast<double>(low));
}

nlohmann::ordered_json summary(const std::vector<double>& ms) {
  return {{"p50_ms", percentile(ms, 50)},
          {"p90_ms", percentile(ms, 90)},
          {"p99_ms", percentile(ms, 99)},
          {"count", ms.size()}};
}

// One streamed completion through the OpenAI endpoint. `logprobs: 0` makes each chunk list
// its tokens, so the count per chunk is exact (as a shm Delta's token_ids are).
client::Outcome http_request(HttpStreamClient& http, const ipc::Submit& submit,
                             const std::function<void(size_t)>& on_tokens) {
  const nlohmann::json body = {{"prompt", submit.prompt_token_ids},
                               {"max_tokens", *submit.sampling.max_tokens},
                               {"ignore_eos", true},
                               {"temperature", 0},
                               {"logprobs", 0},
                               {"stream", true}};
  client::Outcome outcome;
  std::string error;
  const int status = http.post("/v1/completions", body.dump(), [&](const std::string& data) {
    if (data == "[DONE]") return;
    const auto event = nlohmann::json::parse(data, nullptr, false);
    if (event.is_discarded() || !event.contains("choices")) {
      error = data;
      return;
    }
    if (event["choices"].empty()) return;
    const auto& logprobs = event["choices"][0]["logprobs"];
    on_tokens(logprobs.is_object() ? logprobs["tokens"].size() : 0);
  });
  outcome.ok = status == 200 && error.empty();
  if (!outcome.ok) outcome.error.message = "HTTP " + std::to_string(status) + " " + error;
  return outcome;
}

}  // namespace

int run_bench_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  SessionOptions options;
  int concurrency = 4;
  int num_requests = 0;  // default: 4 per client
  int prompt_tokens = 32;
  int output_tokens = 64;
  std::string http_url;  // --http: the same load through the OpenAI endpoint instead of shm
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      if (take_session_flag(args, i, options)) continue;
      const std::string& flag = args[i];
      if (flag == "--concurrency") {
        concurrency = parse_int_flag(flag, flag_value(args, i, flag));
      } else if (flag == "--num-requests") {
        num_requests = parse_int_flag(flag, flag_value(args, i, flag));
      } else if (flag == "--prompt-tokens") {
        prompt_tokens = parse_int_flag(flag, flag_value(args, i, flag));
      } else if (flag == "--output-tokens") {
        output_tokens = parse_int_flag(flag, flag_value(args, i, flag));
      } else if (flag == "--http") {
        http_url = flag_value(args, i, flag);
      } else {
        throw std::invalid_argument("unknown argument '" + flag + "'");
      }
    }
    if (concurrency < 1 || prompt_tokens < 1 || output_tokens < 1 || num_requests < 0)
      throw std::invalid_argument("counts must be at least 1");
  } catch (const std::invalid_argument& error) {
    err << "mmctl bench: " << error.what() << "\n";
    return kExitUsage;
  }
  if (num_requests == 0) num_requests = 4 * concurrency;

  if (http_url.empty()) {
    auto probe = connect_or_report(options, err);
    if (!probe) return kExitNoDaemon;
    try {
      wait_until_ready(*probe, options, err);
    } catch (const client::ClientError& error) {
      err << "mmctl bench: " << error.what() << "\n";
      return kExitNoDaemon;
    }
  }

  std::mutex mutex;
  std::vector<double> ttft_ms;
  std::vector<double> itl_ms;
  std::vector<double> e2e_ms;
  uint64_t num_output_tokens = 0;
  int num_failed = 0;
  std::string first_error;
  int next_request = 0;
  int num_done = 0;  // requests that ended, well or not
  int clients_running = concurrency;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(concurrency));
  for (int c = 0; c < concurrency; ++c) {
    threads.emplace_back([&, c] {
      struct Leaving {  // however this client stops, the progress loop learns it
        std::mutex& mutex;
        int& running;
        ~Leaving() {
          std::lock_guard lock(mutex);
          --running;
        }
      } leaving{mutex, clients_running};
      std::unique_ptr<client::Client> client;
      std::unique_ptr<HttpStreamClient> http;
      try {
        if (!http_url.empty()) {
          http = std::make_unique<HttpStreamClient>(http_url);
        } else {
          client::ConnectOptions connect;
          connect.socket_path = options.socket;
          connect.client_name = "mmctl-bench";
          client = client::Client::connect(connect);
        }
      } catch (const std::exception& error) {  // its requests go to the other clients
        std::lock_guard lock(mutex);
        if (first_error.empty()) first_error = error.what();
        return;
      }
      std::mt19937 random(static_cast<uint32_t>(c) * 7919u + 1u);
      // Ids 3..249 exist in every MiniMax-M2 vocabulary, the tiny fixtures' 256 included.
      std::uniform_int_distribution<int32_t> token(3, 249);
      for (;;) {
        {
          std::lock_guard lock(mutex);
          if (next_request >= num_requests) return;
          ++next_request;
        }
        ipc::Submit submit;
        for (int t = 0; t < prompt_tokens; ++t)
          submit.prompt_token_ids.push_back(token(random));
        submit.sampling.max_tokens = output_tokens;
        submit.sampling.ignore_eos = true;
        submit.sampling.temperature = 0.0f;
        std::vector<double> itl;
        double ttft = -1.0;
        uint64_t tokens = 0;
        try {
          const auto submitted = Clock::now();
          auto last = submitted;
          auto on_tokens = [&](size_t count) {
            if (count == 0) return;
            const auto now = Clock::now();
            const double ms = std::chrono::duration<double, std::milli>(now - last).count();
            if (ttft < 0.0) {
              ttft = ms;
            } else {
              // A delta may carry several tokens (the client fell behind): spread the gap.
              for (size_t k = 0; k < count; ++k)
                itl.push_back(ms / static_cast<double>(count));
            }
            tokens += count;
            last = now;
          };
          client::Outcome outcome;
          if (http) {
            outcome = http_request(*http, submit, on_tokens);
          } else {
            const uint64_t id = client->submit(submit);
            outcome = client->stream(
                id, [&](const ipc::Delta& delta) { on_tokens(delta.token_ids.size()); });
          }
          const double e2e =
              std::chrono::duration<double, std::milli>(Clock::now() - submitted).count();
          std::lock_guard lock(mutex);
          ++num_done;
          // Over shm a request the engine refused (too long, out of range) or cancelled ends
          // with a Finished of reason "error" or "cancelled", not an Error: a failure too.
          const bool finished_badly = outcome.ok && (outcome.finished.reason == "error" ||
                                                     outcome.finished.reason == "cancelled");
          if (!outcome.ok || finished_badly) {
            ++num_failed;
            if (first_error.empty()) {
              first_error = outcome.ok ? outcome.finished.reason + ": " + outcome.finished.message
                                       : outcome.error.message;
            }
            continue;
          }
          if (ttft >= 0.0) ttft_ms.push_back(ttft);
          itl_ms.insert(itl_ms.end(), itl.begin(), itl.end());
          e2e_ms.push_back(e2e);
          num_output_tokens += tokens;
        } catch (const std::exception& error) {  // the connection broke: this client stops
          std::lock_guard lock(mutex);
          ++num_done;
          ++num_failed;
          if (first_error.empty()) first_error = error.what();
          return;
        }
      }
    });
  }
  // A progress line on a terminal while a long run goes (not with --json).
  const bool progress = !options.json && ::isatty(STDERR_FILENO) != 0;
  bool progress_shown = false;
  for (;;) {
    std::unique_lock lock(mutex);
    if (clients_running == 0) break;
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    lock.lock();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (progress && elapsed >= 2.0) {
      char line[160];
      std::snprintf(line, sizeof line,
                    "\r%d / %d requests done (%d failed), %.1f output tokens/s  ", num_done,
                    num_requests, num_failed, static_cast<double>(num_output_tokens) / elapsed);
      err << line << std::flush;
      progress_shown = true;
    }
  }
  for (auto& t : threads)
    t.join();
  if (progress_shown) err << "\n";
  // Requests no client got to (every connection broke first) failed as well.
  num_failed += num_requests - num_done;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double tokens_per_second = static_cast<double>(num_output_tokens) / seconds;
  if (options.json) {
    nlohmann::ordered_json result;
    result["concurrency"] = concurrency;
    result["num_requests"] = num_requests;
    result["prompt_tokens"] = prompt_tokens;
    result["output_tokens"] = output_tokens;
    result["num_failed"] = num_failed;
    if (!first_error.empty()) result["first_error"] = first_error;
    result["seconds"] = seconds;
    result["output_tokens_per_second"] = tokens_per_second;
    result["time_to_first_token"] = summary(ttft_ms);
    result["inter_token_latency"] = summary(itl_ms);
    result["end_to_end"] = summary(e2e_ms);
    out << result.dump(2) << "\n";
  } else {
    char line[256];
    std::snprintf(line, sizeof line,
                  "%d requests (%d failed), concurrency %d, %d prompt + %d output tokens each\n",
                  num_requests, num_failed, concurrency, prompt_tokens, output_tokens);
    out << line;
    std::snprintf(line, sizeof line, "throughput   %.1f output tokens/s over %.2f s\n",
                  tokens_per_second, seconds);
    out << line;
    for (const auto& [name, values] :
         {std::pair{"TTFT       ", &ttft_ms}, std::pair{"inter-token", &itl_ms},
          std::pair{"end-to-end ", &e2e_ms}}) {
      std::snprintf(line, sizeof line, "%s  p50 %8.2f ms  p90 %8.2f ms  p99 %8.2f ms\n", name,
                    percentile(*values, 50), percentile(*values, 90), percentile(*values, 99));
      out << line;
    }
    if (!first_error.empty()) err << "mmctl bench: first error: " << first_error << "\n";
  }
  return num_failed > 0 ? kExitRequestFailed : kExitOk;
}

}  // namespace mm
