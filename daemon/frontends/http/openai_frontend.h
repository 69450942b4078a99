// mmd's OpenAI-compatible HTTP API, as one of the daemon's frontends: /v1/chat/completions,
// /v1/completions (whole or streamed as server-sent events), /v1/models, /tokenize,
// /detokenize, /health, /metrics and /version, on the HttpServer. Requests become Engine
// requests; the engine's sinks post to a mailbox the loop thread drains through a uv_async
// handle, and each request's tokens go through the model's TextStream (detokenizer,
// reasoning and tool-call parsers) into OpenAI's JSON. Errors take vLLM's JSON shape. A client
// that disconnects cancels its request. Everything runs on the loop thread except the sinks.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/engine/request.h"
#include "daemon/engine/sampling_params.h"
#include "daemon/frontends/connection_mailbox.h"
#include "daemon/frontends/http/completion_batch.h"
#include "daemon/frontends/http/http_server.h"
#include "daemon/frontends/http/openai_request.h"
#include "daemon/frontends/http/output_format.h"
#include "daemon/frontends/text_adapter.h"
#include "daemon/service/frontend.h"

namespace mm {

struct OpenAiOptions {
  http::HttpServerOptions http;
  std::string served_model_name;
  std::string daemon_version;
  std::string api_key;                       // empty: no authentication
  std::vector<std::string> allowed_origins;  // CORS; empty: no CORS headers; "*": any origin
  // Host header values answered besides the bound address's own names ("*": any). On a
  // loopback address only these and localhost / 127.0.0.1 / [::1] are, against DNS rebinding.
  std::vector<std::string> allowed_hosts;
  SamplingParams default_sampling;
  std::shared_ptr<TextAdapter> text;  // null: the model has no tokenizer (every /v1 call fails)
  bool enable_auto_tool_choice = false;
  bool reasoning_parser = false;  // messages carry reasoning_content
  int max_model_len = 0;
  int vocab_size = 0;            // the model's logits; allowed_token_ids beyond it are a 400
  int max_waiting_requests = 0;  // 0: no limit; else 429 once the engine has this many waiting
  std::string tokenizer_info;    // GET /tokenizer_info's body (http/tokenizer_info.h); empty: 404
};

class OpenAiFrontend : public Frontend, private http::HttpHandler {
 public:
  explicit OpenAiFrontend(OpenAiOptions options);
  ~OpenAiFrontend() override;

  void start(uv_loop_t* loop, Engine& engine) override;
  void begin_drain(std::function<void()> on_drained) override;
  void close() override;
  int port() const { return server_ ? server_->port() : 0; }

 private:
  struct ToolCall {
    std::string id;
    std::string name;
    std::string arguments;
  };
  // One generation request from its arrival to its last byte.
  struct Exchange {
    uint64_t key = 0;
    http::HttpConnection* connection = nullptr;  // null once the client is gone
    RequestId engine_id = 0;
    http::GenerationRequest request;
    std::string id;  // chatcmpl-... / cmpl-...
    int64_t created = 0;
    std::unique_ptr<TextStream> text;
    int prompt_tokens = 0;
    int num_tokens = 0;
    bool stopped = false;  // a stop string matched; the engine was told to cancel
    bool stream_started = false;
    std::string echo;  // completions with echo: the prompt's text
    // Accumulated (whole responses) or pending for the next chunk (streams).
    std::string content;
    std::string reasoning;
    std::vector<ToolCall> tool_calls;
    bool any_tool_call = false;
    std::vector<ipc::ToolCallDelta> tool_call_deltas;  // streams: since the last chunk
    std::vector<SampleResult> logprob_tokens;
    std::vector<int32_t> token_ids;         // since the last chunk
    std::vector<int32_t> prompt_token_ids;  // return_token_ids only
    size_t text_offset = 0;                 // completions logprobs: bytes of text before this chunk
    http::HeaderList cors;
    // A wire format of its own (/v1/responses): it takes the pieces instead of the fields above.
    std::unique_ptr<http::OutputFormat> format;
    std::string format_events;  // streams: its events not yet written
    bool anthropic = false;  // /v1/messages: Anthropic's shapes (format is its writer), errors too
    // Prompt scoring (openai_scoring.cpp): the engine's scores of prompt tokens 1.., once the
    // prompt is computed; and, for a batch of prompts, the batch and this prompt's place in it.
    std::vector<ScoredToken> prompt_scores;
    bool has_prompt_scores = false;
    bool prompt_logprobs_sent = false;  // echo: the prompt's part of the logprobs is written
    std::shared_ptr<http::CompletionBatch> batch;
    size_t batch_index = 0;
  };

  // HttpHandler
  void handle(http::HttpConnection& connection, http::HttpRequest request) override;
  void connection_lost(http::HttpConnection& connection) override;

  void route(http::HttpConnection& connection, const http::HttpRequest& request);
  // A generation's preparation (off the loop) and its result.
  struct Prepared {
    http::GenerationRequest request;
    EngineRequest engine_request;
    std::unique_ptr<TextStream> text;
    ipc::Delta primed;                      // what the forced tool-call opening completed
    std::vector<int32_t> prompt_token_ids;  // return_token_ids only
    std::string echo;
    std::unique_ptr<http::OutputFormat> format;  // /v1/responses, /v1/messages
    bool anthropic = false;                      // /v1/messages
  };
  enum class WorkKind : uint8_t {
    kChat,
    kCompletion,
    kTokenize,
    kResponses,
    kMessages,
    kCountTokens
  };
  // One request being prepared on the worker pool. Owned by libuv's request until after_work.
  struct Work {
    uv_work_t req{};
    OpenAiFrontend* frontend = nullptr;            // null once the frontend closed
    std::shared_ptr<const OpenAiOptions> options;  // what the worker reads (immutable)
    http::HttpConnection* connection = nullptr;    // null once the client is gone
    uint64_t connection_id = 0;
    WorkKind kind = WorkKind::kChat;
    std::string path;
    std::string body;
    http::HeaderList cors;
    std::optional<http::ApiError> error;
    std::optional<Prepared> prepared;
    std::vector<Prepared> batch;  // completions with several prompts: the 2nd on
    std::string response;  // tokenize
  };
  void queue_work(http::HttpConnection& connection, const http::HttpRequest& request,
                  WorkKind kind);
  static void run_work(uv_work_t* req);
  static void after_work(uv_work_t* req, int status);
  void finish_work(Work& work);
  static Prepared prepare_generation(const OpenAiOptions& options, const std::string& body,
                                     bool chat);
  // After parsing: sampling, the prompt (rendered chat or encoded text), its output stream.
  // `prompt_field` names the request's prompt in errors ("messages", "prompt", "input").
  static void prepare_parsed(const OpenAiOptions& options, Prepared& p, const char* prompt_field);
  // /v1/responses (openai_frontend_responses.cpp): the Responses body as a chat, answered by a
  // ResponsesWriter.
  static Prepared prepare_responses(const OpenAiOptions& options, const std::string& body);
  // /v1/messages and /v1/messages/count_tokens (openai_frontend_anthropic.cpp): Anthropic's
  // Messages body as a chat, answered by an AnthropicMessageWriter through the OutputFormat.
  static Prepared prepare_messages(const OpenAiOptions& options, const std::string& body);
  static std::string count_tokens_body(const OpenAiOptions& options, const std::string& body);
  // Tells the writer which stop sequence ended the message, before its end().
  static void note_stop_sequence(Exchange& exchange);
  void flush_format(Exchange& exchange);
  void finish_format(Exchange& exchange, const Usage& usage, const std::string& reason,
                     const std::string& message);
  // openai_scoring.cpp: a completions body, one Prepared per prompt (the first in
  // work.prepared); a batch started, one engine request per prompt; a member's end; the
  // connection mapped to a member still running; GET /tokenizer_info; how a token is labelled.
  static void prepare_completions(const OpenAiOptions& options, Work& work);
  static void apply_scoring(const http::GenerationRequest& r, EngineRequest& engine_request);
  void start_batch(http::HttpConnection& connection, const std::string& path, Prepared first,
                   std::vector<Prepared> rest);
  void finish_batch_member(Exchange& exchange, nlohmann::json choice, const Usage& usage,
                           const std::string* error);
  void remap_batch(const http::CompletionBatch& batch);
  void tokenizer_info(http::HttpConnection& connection);
  std::string token_label(const Exchange& exchange, int32_t id) const;
  // `batch`: the prompt at `batch_index` of a batch (openai_scoring.cpp).
  void start_generation(http::HttpConnection& connection, const std::string& path,
                        Prepared prepared, std::shared_ptr<http::CompletionBatch> batch = nullptr,
                        size_t batch_index = 0);
  static std::string tokenize_body(const OpenAiOptions& options, const std::string& body);
  static std::vector<int32_t> take_all_token_ids(Exchange& e);
  void detokenize(http::HttpConnection& connection, const http::HttpRequest& request);
  void health(http::HttpConnection& connection);
  void models(http::HttpConnection& connection, const std::string& id = {});
  void send_json(http::HttpConnection& connection, int status, const std::string& body);
  void send_error(http::HttpConnection& connection, const http::ApiError& error);
  http::HeaderList cors_headers(const http::HttpRequest& request) const;
  // Throws 403 for a Host this daemon does not answer to or a cross-origin request without
  // CORS permission (a web page must not drive a loopback daemon).
  void check_host_and_origin(const http::HttpRequest& request) const;

  static void on_async(uv_async_t* handle);
  void deliver();
  void absorb(Exchange& exchange, const ipc::Delta& delta);
  void flush_chunk(Exchange& exchange);
  void send_event(Exchange& exchange, const std::string& data);
  void finish(Exchange& exchange, const ConnectionMailbox::Event& event);
  // The next chunk of `exchange` (its pending output and logprobs, which it takes).
  nlohmann::json chunk(Exchange& exchange, const std::string& finish_reason);
  static nlohmann::json usage_object(const Usage& usage);
  void check_drained();

  OpenAiOptions options_;
  uv_loop_t* loop_ = nullptr;
  Engine* engine_ = nullptr;
  std::unique_ptr<http::HttpServer> server_;
  uv_async_t* async_ = nullptr;  // heap: freed in its close callback
  std::shared_ptr<LoopNotifier> notifier_;
  std::shared_ptr<ConnectionMailbox> mailbox_;
  std::unordered_map<uint64_t, std::unique_ptr<Exchange>> exchanges_;
  std::unordered_map<uint64_t, uint64_t> exchange_of_connection_;
  std::unordered_map<uint64_t, Work*> pending_work_;  // by connection id
  std::shared_ptr<const OpenAiOptions> shared_options_;
  http::HeaderList pending_cors_;
  bool pending_anthropic_ = false;  // the request being answered is Anthropic's: so are its errors
  std::string
      pending_allow_;  // the Allow header of a 405  // CORS headers for the request being answered
  uint64_t next_key_ = 1;
  uint64_t id_salt_ = 0;
  int64_t started_ = 0;
  bool draining_ = false;
  std::function<void()> on_drained_;
};

}  // namespace mm
