#include "daemon/frontends/http/openai_frontend.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <random>
#include <string_view>
#include <utility>

#include "daemon/engine/engine.h"
#include "daemon/frontends/http/anthropic_response.h"
#include "daemon/frontends/http/completion_logprobs.h"
#include "daemon/frontends/http/prometheus.h"
#include "daemon/frontends/request_mapping.h"
#include "daemon/service/log.h"

namespace mm {
namespace {

using nlohmann::json;

// Dumps with invalid UTF-8 replaced (a token may end inside a character), never throwing.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string lowered(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// RFC 6750: the scheme is case-insensitive; the key is compared in time that does not depend on
// where it differs.
bool bearer_matches(std::string_view header, const std::string& key) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() < kScheme.size() || lowered(header.substr(0, kScheme.size())) != kScheme)
    return false;
  std::string_view given = header.substr(kScheme.size());
  while (!given.empty() && given.front() == ' ')
    given.remove_prefix(1);
  unsigned char diff = given.size() == key.size() ? 0 : 1;
  for (size_t i = 0; i < key.size(); ++i)
    diff |= static_cast<unsigned char>(key[i] ^ (i < given.size() ? given[i] : 0));
  return diff == 0;
}

// The host of a Host header or an origin's authority, without the port ("[::1]:8000" -> "::1").
std::string host_name(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    return lowered(
        authority.substr(1, close == std::string_view::npos ? authority.npos : close - 1));
  }
  const size_t colon = authority.find(':');
  return lowered(authority.substr(0, colon));
}

bool is_loopback_name(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0 ||
         (host.size() > 10 && host.compare(host.size() - 10, 10, ".localhost") == 0);
}

json bytes_array(const std::string& bytes) {
  json out = json::array();
  for (unsigned char c : bytes)
    out.push_back(static_cast<int>(c));
  return out;
}

// A path segment with its %XX escapes decoded (a model id may hold '/' or spaces).
std::string percent_decoded(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto hex = [](char c) {
      return c >= '0' && c <= '9'   ? c - '0'
             : c >= 'a' && c <= 'f' ? c - 'a' + 10
             : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                    : -1;
    };
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Anthropic's Messages API answers in its own shapes, errors included.
bool is_anthropic_path(const std::string& path) {
  return path == "/v1/messages" || path.starts_with("/v1/messages/");
}

}  // namespace

OpenAiFrontend::OpenAiFrontend(OpenAiOptions options) : options_(std::move(options)) {
  std::random_device device;
  id_salt_ = (static_cast<uint64_t>(device()) << 32) ^ device();
  started_ = unix_now();
}

OpenAiFrontend::~OpenAiFrontend() {
  close();
}

void OpenAiFrontend::start(uv_loop_t* loop, Engine& engine) {
  loop_ = loop;
  shared_options_ = std::make_shared<const OpenAiOptions>(options_);
  engine_ = &engine;
  async_ = new uv_async_t{};
  uv_async_init(loop_, async_, &OpenAiFrontend::on_async);
  async_->data = this;
  notifier_ = std::make_shared<LoopNotifier>(async_);
  mailbox_ = std::make_shared<ConnectionMailbox>(notifier_);
  server_ = std::make_unique<http::HttpServer>(loop_, options_.http,
                                               static_cast<http::HttpHandler&>(*this));
  server_->start();
  log_info("HTTP: serving the OpenAI API on http://" +
           (options_.http.host.find(':') != std::string::npos ? "[" + options_.http.host + "]"
                                                              : options_.http.host) +
           ":" + std::to_string(server_->port()) + "/v1" +
           (options_.api_key.empty() ? "" : " (API key required)"));
}

void OpenAiFrontend::begin_drain(std::function<void()> on_drained) {
  // The listener stays open: /health answers 503 "draining" and new work a 503 until the
  // running requests are done and the daemon closes the server.
  draining_ = true;
  on_drained_ = std::move(on_drained);
  check_drained();
}

void OpenAiFrontend::check_drained() {
  if (draining_ && exchanges_.empty() && pending_work_.empty() && on_drained_)
    std::exchange(on_drained_, nullptr)();
}

void OpenAiFrontend::close() {
  // Preparations still on the worker pool finish on their own and are dropped.
  for (auto& [id, work] : pending_work_)
    work->frontend = nullptr;
  pending_work_.clear();
  for (auto& [key, exchange] : exchanges_) {
    if (engine_ != nullptr) engine_->cancel(exchange->engine_id);
    exchange->connection = nullptr;
  }
  exchanges_.clear();
  exchange_of_connection_.clear();
  if (mailbox_) mailbox_->close();
  // The server object outlives close(): its connections' close callbacks still report to it
  // while the loop runs down. It goes with this frontend, after the loop has finished.
  if (server_) server_->close();
  if (notifier_) notifier_->detach();
  if (async_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(async_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_async_t*>(handle); });
    async_ = nullptr;
  }
}

// ---- routing ---------------------------------------------------------------------------------

http::HeaderList OpenAiFrontend::cors_headers(const http::HttpRequest& request) const {
  const std::string* origin = request.header("origin");
  if (origin == nullptr || options_.allowed_origins.empty()) return {};
  for (const std::string& allowed : options_.allowed_origins) {
    if (allowed == "*" || allowed == *origin) {
      return {{"Access-Control-Allow-Origin", allowed == "*" ? "*" : *origin}, {"Vary", "Origin"}};
    }
  }
  return {};
}

void OpenAiFrontend::check_host_and_origin(const http::HttpRequest& request) const {
  const auto& hosts = options_.allowed_hosts;
  const bool any_host = std::find(hosts.begin(), hosts.end(), "*") != hosts.end();
  const std::string* host = request.header("host");
  if (host != nullptr && !any_host) {
    const std::string name = host_name(*host);
    const bool listed = std::find(hosts.begin(), hosts.end(), name) != hosts.end();
    // Bound to loopback, only loopback names: a rebound DNS name from a web page is refused.
    if (!listed && is_loopback_name(options_.http.host) && !is_loopback_name(name))
      throw http::ApiError(403, "Host '" + *host +
                                    "' is not one this daemon answers to (it listens on " +
                                    options_.http.host + "; allow more with --allowed-hosts)");
  }
  const std::string* origin = request.header("origin");
  if (origin == nullptr || !pending_cors_.empty()) return;  // no browser, or CORS allows it
  // A browser's same-origin request carries the page's own origin: the Host it talks to.
  const size_t scheme = origin->find("://");
  const std::string authority =
      scheme == std::string::npos ? std::string() : lowered(origin->substr(scheme + 3));
  if (host != nullptr && authority == lowered(*host)) return;
  throw http::ApiError(403, "cross-origin request from '" + *origin +
                                "' refused (allow the origin with --allowed-origins)");
}

void OpenAiFrontend::send_json(http::HttpConnection& connection, int status,
                               const std::string& body) {
  connection.respond(status, "application/json", body, pending_cors_);
}

void OpenAiFrontend::send_error(http::HttpConnection& connection, const http::ApiError& error) {
  http::HeaderList headers = pending_cors_;
  if (error.status() == 401) headers.emplace_back("WWW-Authenticate", "Bearer");
  if (error.status() == 405 && !pending_allow_.empty())
    headers.emplace_back("Allow", pending_allow_);
  if (error.status() == 429 || error.status() == 503) headers.emplace_back("Retry-After", "1");
  connection.respond(error.status(), "application/json",
                     pending_anthropic_
                         ? http::anthropic_error_body(error.status(), error.what())
                         : http::error_body(error.status(), error.what(), error.param()),
                     headers);
}

void OpenAiFrontend::handle(http::HttpConnection& connection, http::HttpRequest request) {
  pending_cors_ = cors_headers(request);
  pending_allow_.clear();
  pending_anthropic_ = is_anthropic_path(request.path);
  try {
    check_host_and_origin(request);
    route(connection, request);
  } catch (const http::ApiError& error) {
    send_error(connection, error);
  } catch (const std::exception& error) {
    log_error(std::string("HTTP: ") + request.method + " " + request.path + ": " + error.what());
    send_error(connection, http::ApiError(500, std::string("internal error: ") + error.what()));
  }
  pending_cors_.clear();
  pending_anthropic_ = false;
}

void OpenAiFrontend::route(http::HttpConnection& connection, const http::HttpRequest& request) {
  const std::string& method = request.method;
  const std::string& path = request.path;
  if (method == "OPTIONS" && !pending_cors_.empty()) {  // CORS preflight
    http::HeaderList headers = pending_cors_;
    headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    headers.emplace_back("Access-Control-Allow-Headers",
                         "Authorization, Content-Type, x-api-key, anthropic-version, "
                         "anthropic-beta, anthropic-dangerous-direct-browser-access");
    headers.emplace_back("Access-Control-Max-Age", "600");
    connection.respond(204, "", "", headers);
    return;
  }
  auto expect = [&](const char* wanted) {
    const bool get = std::string_view(wanted) == "GET";
    if (method == wanted || (get && method == "HEAD")) return;  // HEAD wherever GET
    pending_allow_ = get ? "GET, HEAD" : wanted;
    throw http::ApiError(405, "method " + method + " is not allowed on " + path +
                                  " (allowed: " + pending_allow_ + ")");
  };
  // Health and metrics stay open (probes and scrapers carry no key), like vLLM's.
  if (path == "/health") {
    expect("GET");
    health(connection);
    return;
  }
  if (path == "/metrics") {
    expect("GET");
    connection.respond(200, "text/plain; version=0.0.4; charset=utf-8",
                       http::prometheus_text(engine_->status(), options_.served_model_name),
                       pending_cors_);
    return;
  }
  if (path == "/version") {
    expect("GET");
    send_json(connection, 200, dump(json{{"version", options_.daemon_version}}));
    return;
  }
  if (!options_.api_key.empty()) {
    const std::string* auth = request.header("authorization");
    const std::string* api_key = request.header("x-api-key");  // Anthropic's clients send this
    if ((auth == nullptr || !bearer_matches(*auth, options_.api_key)) &&
        (api_key == nullptr || !bearer_matches("Bearer " + *api_key, options_.api_key)))
      throw http::ApiError(
          401, "missing or wrong API key (send 'Authorization: Bearer KEY' or 'x-api-key: KEY')");
  }
  static constexpr std::string_view kModelPrefix = "/v1/models/";
  if (path == "/v1/models") {
    expect("GET");
    models(connection);
  } else if (path.starts_with(kModelPrefix) && path.size() > kModelPrefix.size()) {
    expect("GET");
    models(connection, percent_decoded(std::string_view(path).substr(kModelPrefix.size())));
  } else if (path == "/v1/chat/completions") {
    expect("POST");
    queue_work(connection, request, WorkKind::kChat);
  } else if (path == "/v1/completions") {
    expect("POST");
    queue_work(connection, request, WorkKind::kCompletion);
  } else if (path == "/v1/responses") {
    expect("POST");
    queue_work(connection, request, WorkKind::kResponses);
  } else if (path == "/v1/messages") {
    expect("POST");
    queue_work(connection, request, WorkKind::kMessages);
  } else if (path == "/v1/messages/count_tokens") {
    expect("POST");
    queue_work(connection, request, WorkKind::kCountTokens);
  } else if (path == "/tokenize") {
    expect("POST");
    queue_work(connection, request, WorkKind::kTokenize);
  } else if (path == "/detokenize") {
    expect("POST");
    detokenize(connection, request);
  } else if (path == "/tokenizer_info") {
    expect("GET");
    tokenizer_info(connection);
  } else {
    throw http::ApiError(404, "no route for " + method + " " + path);
  }
}

void OpenAiFrontend::health(http::HttpConnection& connection) {
  // Reads the state only: a health check never wakes a sleeping engine.
  const EngineStatus status = engine_->status();
  json body = {{"status", draining_ ? "draining" : engine_state_name(status.state)}};
  int code = 503;
  if (!draining_ && (status.state == EngineState::kReady || status.state == EngineState::kSleeping))
    code = 200;
  if (status.state == EngineState::kSleeping) body["sleep_level"] = status.sleep_level;
  if (status.state == EngineState::kLoading || status.state == EngineState::kWaking)
    body["progress"] = status.load_progress;
  if (!status.error.empty()) body["error"] = status.error;
  send_json(connection, code, dump(body));
}

void OpenAiFrontend::models(http::HttpConnection& connection, const std::string& id) {
  // GET /v1/models/{id}: the one model object, or OpenAI's 404 for another id.
  if (!id.empty() && id != options_.served_model_name)
    throw http::ApiError(404, "The model '" + id + "' does not exist", "model");
  json model = {{"id", options_.served_model_name},
                {"object", "model"},
                {"created", started_},
                {"owned_by", "mmd"},
                {"root", options_.served_model_name},
                {"parent", nullptr}};
  if (options_.max_model_len > 0) model["max_model_len"] = options_.max_model_len;
  if (!id.empty()) {
    send_json(connection, 200, dump(model));
    return;
  }
  send_json(connection, 200, dump(json{{"object", "list"}, {"data", json::array({model})}}));
}

std::string OpenAiFrontend::tokenize_body(const OpenAiOptions& options, const std::string& body) {
  if (!options.text) throw http::ApiError(400, "this model has no tokenizer");
  const http::TokenizeRequest r = http::parse_tokenize_request(body);
  std::vector<int32_t> ids;
  try {
    ids = r.chat ? options.text->render_chat(*r.chat).token_ids
                 : options.text->encode_prompt(*r.prompt);
  } catch (const text::ChatRequestError& error) {
    throw http::ApiError(400, error.what(), error.field());
  } catch (const std::invalid_argument& error) {
    throw http::ApiError(400, error.what());
  }
  json out = {{"count", ids.size()}, {"max_model_len", options.max_model_len}, {"tokens", ids}};
  if (r.return_token_strs) {
    json strs = json::array();
    for (int32_t id : ids)
      strs.push_back(options.text->decode(std::span(&id, 1)));
    out["token_strs"] = strs;
  } else {
    out["token_strs"] = nullptr;
  }
  return dump(out);
}

void OpenAiFrontend::detokenize(http::HttpConnection& connection,
                                const http::HttpRequest& request) {
  if (!options_.text) throw http::ApiError(400, "this model has no tokenizer");
  const std::vector<int32_t> ids = http::parse_detokenize_request(request.body);
  const int32_t vocab = options_.text->vocab_size();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (vocab > 0 && ids[i] >= vocab)
      throw http::ApiError(400,
                           "'tokens[" + std::to_string(i) + "]' " + std::to_string(ids[i]) +
                               " is not a token id of this model (the vocabulary has " +
                               std::to_string(vocab) + ")",
                           "tokens");
  }
  send_json(connection, 200, dump(json{{"prompt", options_.text->decode(ids)}}));
}

// ---- generation ------------------------------------------------------------------------------

// Runs on a worker thread: everything a generation needs that may take long for a large
// request (JSON parsing, template rendering, tokenizing, opening the output stream).
OpenAiFrontend::Prepared OpenAiFrontend::prepare_generation(const OpenAiOptions& options,
                                                            const std::string& body, bool chat) {
  Prepared p;
  p.request = chat ? http::parse_chat_request(body) : http::parse_completion_request(body);
  prepare_parsed(options, p, chat ? "messages" : "prompt");
  return p;
}

void OpenAiFrontend::prepare_parsed(const OpenAiOptions& options, Prepared& p,
                                    const char* prompt_field) {
  http::GenerationRequest& r = p.request;
  const bool chat = r.chat;
  if (!r.model.empty() && r.model != options.served_model_name)
    throw http::ApiError(404,
                         "the model '" + r.model + "' does not exist (this daemon serves '" +
                             options.served_model_name + "')",
                         "model");
  if (!options.text)
    throw http::ApiError(400, "this model has no tokenizer; mmd cannot serve text");
  EngineRequest& engine_request = p.engine_request;
  if (auto problem =
          sampling_params_from(r.sampling, options.default_sampling, engine_request.params))
    throw http::ApiError(400, problem->message, problem->field);
  engine_request.priority = r.priority;
  ipc::Delta& primed = p.primed;
  try {
    TextStreamOptions stream_options{.stop = r.sampling.stop,
                                     .include_stop_str_in_output = r.include_stop_str_in_output,
                                     .skip_special_tokens = r.skip_special_tokens};
    if (chat) {
      const text::ChatPrompt prompt = options.text->render_chat(r.chat_request);
      engine_request.prompt_token_ids = prompt.token_ids;
      stream_options.chat = &r.chat_request;
      p.text = open_chat_stream(*options.text, prompt, stream_options, primed);
      // tool_choice required / named, response_format, guided_*: the grammar of the answer.
      engine_request.constraint = options.text->make_constraint(r.chat_request);
    } else {
      engine_request.prompt_token_ids =
          r.prompt ? options.text->encode_prompt(*r.prompt) : r.prompt_token_ids;
      p.text = options.text->open_stream(stream_options);
    }
  } catch (const text::ChatRequestError& error) {
    throw http::ApiError(400, error.what(), error.field());
  } catch (const std::invalid_argument& error) {
    throw http::ApiError(400, error.what());
  }
  if (auto problem =
          fit_request_to_model(r.sampling, ModelLimits{options.max_model_len, options.vocab_size},
                               options.text.get(), prompt_field, engine_request))
    throw http::ApiError(400, problem->message, problem->field);
  apply_scoring(r, engine_request);
  if (r.return_token_ids || r.prompt_logprobs >= 0)
    p.prompt_token_ids = engine_request.prompt_token_ids;
  if (r.echo) {
    p.echo = r.prompt ? *r.prompt : options.text->decode(r.prompt_token_ids);
  }
}

// Back on the loop thread: the engine's state decides, then the request is submitted.
void OpenAiFrontend::start_generation(http::HttpConnection& connection, const std::string& path,
                                      Prepared prepared,
                                      std::shared_ptr<http::CompletionBatch> batch,
                                      size_t batch_index) {
  if (draining_) throw http::ApiError(503, "mmd is shutting down");
  const EngineStatus status = engine_->status();
  if (status.state == EngineState::kFailed)
    throw http::ApiError(503, "the model failed to load: " + status.error);
  if (status.state == EngineState::kStopped) throw http::ApiError(503, "the engine has stopped");
  if (options_.max_waiting_requests > 0 && status.num_waiting >= options_.max_waiting_requests)
    throw http::ApiError(429, "too many requests waiting (" + std::to_string(status.num_waiting) +
                                  "); try again later");
  http::GenerationRequest& r = prepared.request;
  const bool chat = r.chat;
  for (const std::string& field : r.ignored_fields)
    log_debug("HTTP: " + path + ": field '" + field + "' accepted and ignored");
  EngineRequest engine_request = std::move(prepared.engine_request);
  auto exchange = std::make_unique<Exchange>();
  exchange->text = std::move(prepared.text);
  exchange->prompt_token_ids = std::move(prepared.prompt_token_ids);
  exchange->echo = std::move(prepared.echo);
  exchange->key = next_key_++;
  exchange->connection = &connection;
  exchange->id = (chat ? "chatcmpl-" : "cmpl-") + [&] {
    char buffer[20];
    std::snprintf(
        buffer, sizeof buffer, "%016llx",
        static_cast<unsigned long long>(id_salt_ ^ (exchange->key * 0x9E3779B97F4A7C15ull)));
    return std::string(buffer);
  }();
  exchange->created = unix_now();
  exchange->prompt_tokens = static_cast<int>(engine_request.prompt_token_ids.size());
  exchange->cors = pending_cors_;
  exchange->request = std::move(r);
  exchange->format = std::move(prepared.format);
  exchange->anthropic = prepared.anthropic;
  exchange->batch = std::move(batch);
  exchange->batch_index = batch_index;
  absorb(*exchange, prepared.primed);
  Exchange& e = *exchange;
  exchanges_.emplace(e.key, std::move(exchange));
  exchange_of_connection_[connection.id()] = e.key;
  if (e.batch) e.batch->keys.push_back(e.key);
  e.engine_id =
      engine_->submit(std::move(engine_request), std::make_shared<MailboxSink>(mailbox_, e.key));
  log_debug("HTTP: " + connection.peer() + " " + path + " -> request " +
            std::to_string(e.engine_id) + " (" + std::to_string(e.prompt_tokens) +
            " prompt tokens)");
  // The Responses API announces the response (response.created) before the first token.
  if (e.format && e.request.stream) flush_format(e);
}

// Queues a request's preparation on libuv's worker pool (UV_THREADPOOL_SIZE threads, 4 by
// default), so that one large request never stalls the loop every client shares.
void OpenAiFrontend::queue_work(http::HttpConnection& connection, const http::HttpRequest& request,
                                WorkKind kind) {
  if (draining_) throw http::ApiError(503, "mmd is shutting down");
  auto work = std::make_unique<Work>();
  work->frontend = this;
  work->options = shared_options_;
  work->connection = &connection;
  work->connection_id = connection.id();
  work->kind = kind;
  work->path = request.path;
  work->body = request.body;  // copied once; the worker frees it
  work->cors = pending_cors_;
  work->req.data = work.get();
  Work* raw = work.get();
  pending_work_[connection.id()] = raw;
  const int rc =
      uv_queue_work(loop_, &raw->req, &OpenAiFrontend::run_work, &OpenAiFrontend::after_work);
  if (rc != 0) {
    pending_work_.erase(connection.id());
    throw http::ApiError(503, std::string("cannot queue the request: ") + uv_strerror(rc));
  }
  static_cast<void>(work.release());  // after_work owns it
}

void OpenAiFrontend::run_work(uv_work_t* req) {
  Work& work = *static_cast<Work*>(req->data);
  try {
    if (work.kind == WorkKind::kTokenize) {
      work.response = tokenize_body(*work.options, work.body);
    } else if (work.kind == WorkKind::kCountTokens) {
      work.response = count_tokens_body(*work.options, work.body);
    } else if (work.kind == WorkKind::kMessages) {
      work.prepared = prepare_messages(*work.options, work.body);
    } else if (work.kind == WorkKind::kCompletion) {
      prepare_completions(*work.options, work);  // one or a batch of prompts
    } else {
      work.prepared = work.kind == WorkKind::kResponses
                          ? prepare_responses(*work.options, work.body)
                          : prepare_generation(*work.options, work.body, work.kind == WorkKind::kChat);
    }
  } catch (const http::ApiError& error) {
    work.error = error;
  } catch (const std::exception& error) {
    work.error = http::ApiError(500, std::string("internal error: ") + error.what());
  }
  std::string().swap(work.body);  // a large body is freed here, off the loop
}

void OpenAiFrontend::after_work(uv_work_t* req, int) {
  std::unique_ptr<Work> work(static_cast<Work*>(req->data));
  if (work->frontend != nullptr) work->frontend->finish_work(*work);
}

void OpenAiFrontend::finish_work(Work& work) {
  pending_work_.erase(work.connection_id);
  if (work.connection != nullptr) {
    http::HttpConnection& connection = *work.connection;
    pending_cors_ = work.cors;
    pending_anthropic_ = is_anthropic_path(work.path);
    try {
      if (work.error) throw *work.error;
      if (work.kind == WorkKind::kTokenize || work.kind == WorkKind::kCountTokens) {
        send_json(connection, 200, work.response);
      } else {
        if (work.batch.empty()) {
          start_generation(connection, work.path, std::move(*work.prepared));
        } else {
          start_batch(connection, work.path, std::move(*work.prepared), std::move(work.batch));
        }
      }
    } catch (const http::ApiError& error) {
      send_error(connection, error);
    } catch (const std::exception& error) {
      log_error("HTTP: " + work.path + ": " + error.what());
      send_error(connection, http::ApiError(500, std::string("internal error: ") + error.what()));
    }
    pending_cors_.clear();
    pending_anthropic_ = false;
  }
  check_drained();
}

void OpenAiFrontend::connection_lost(http::HttpConnection& connection) {
  if (auto work = pending_work_.find(connection.id()); work != pending_work_.end()) {
    work->second->connection = nullptr;  // its preparation finishes and is dropped
    pending_work_.erase(work);
  }
  auto it = exchange_of_connection_.find(connection.id());
  if (it == exchange_of_connection_.end()) return;
  auto exchange = exchanges_.find(it->second);
  exchange_of_connection_.erase(it);
  if (exchange == exchanges_.end()) return;
  exchange->second->connection = nullptr;
  engine_->cancel(exchange->second->engine_id);
  if (const auto batch = exchange->second->batch) {
    batch->connection = nullptr;  // every prompt of the batch goes with it
    for (uint64_t key : batch->keys) {
      auto member = exchanges_.find(key);
      if (member == exchanges_.end() || member->second->connection == nullptr) continue;
      member->second->connection = nullptr;
      engine_->cancel(member->second->engine_id);
    }
  }
  log_info("HTTP: request " + std::to_string(exchange->second->engine_id) +
           " cancelled: the client disconnected");
}

void OpenAiFrontend::on_async(uv_async_t* handle) {
  static_cast<OpenAiFrontend*>(handle->data)->deliver();
}

void OpenAiFrontend::deliver() {
  std::vector<uint64_t> touched;
  for (ConnectionMailbox::Event& event : mailbox_->take()) {
    auto it = exchanges_.find(event.client_id);
    if (it == exchanges_.end()) continue;
    Exchange& e = *it->second;
    if (event.finished) {
      // Unmapped first: answering may start the connection's next (pipelined) request.
      if (e.connection != nullptr) exchange_of_connection_.erase(e.connection->id());
      const auto batch = e.batch;
      finish(e, event);
      exchanges_.erase(it);
      if (batch) remap_batch(*batch);
      continue;
    }
    if (event.prompt_scores) {
      e.prompt_scores = *event.prompt_scores;
      e.has_prompt_scores = true;
      continue;
    }
    if (e.stopped) continue;
    ++e.num_tokens;
    e.token_ids.push_back(event.token.token_id);
    ipc::Delta delta;
    e.text->push(std::span(&event.token.token_id, 1), delta);
    absorb(e, delta);
    if (e.request.sampling.logprobs >= 0) e.logprob_tokens.push_back(event.token);
    if (e.text->stop_matched()) {
      e.stopped = true;
      engine_->cancel(e.engine_id);
    }
    if (e.request.stream) touched.push_back(e.key);
  }
  for (uint64_t key : touched) {
    auto it = exchanges_.find(key);
    if (it != exchanges_.end()) flush_chunk(*it->second);
  }
  check_drained();
}

void OpenAiFrontend::absorb(Exchange& e, const ipc::Delta& delta) {
  if (e.format) {
    e.format_events += e.format->push(delta, e.num_tokens);
    return;
  }
  e.content += delta.text;
  e.reasoning += delta.reasoning;
  for (const ipc::ToolCallDelta& call : delta.tool_calls) {
    e.any_tool_call = true;
    if (e.request.stream) e.tool_call_deltas.push_back(call);
    if (call.index >= static_cast<int>(e.tool_calls.size()))
      e.tool_calls.resize(static_cast<size_t>(call.index) + 1);
    ToolCall& acc = e.tool_calls[static_cast<size_t>(call.index)];
    if (!call.id.empty()) acc.id = call.id;
    if (!call.name.empty()) acc.name = call.name;
    acc.arguments += call.arguments;
  }
}

namespace {

json chat_logprob_entry(TextAdapter& text, const TokenLogprob& lp) {
  const std::string bytes = text.token_bytes(lp.token_id);
  return {{"token", text.decode(std::span(&lp.token_id, 1))},
          {"logprob", lp.logprob},
          {"bytes", bytes_array(bytes)}};
}

}  // namespace

json OpenAiFrontend::chunk(Exchange& e, const std::string& finish_reason) {
  TextAdapter& text = *options_.text;
  json choice = {{"index", 0}};
  json logprobs = nullptr;
  // Completions with echo: the prompt's tokens (scored by the engine) lead the logprobs.
  const bool echo_scores = !e.request.chat && e.request.echo && e.request.prompt_logprobs >= 0 &&
                           e.has_prompt_scores && !e.prompt_logprobs_sent;
  if (e.request.sampling.logprobs >= 0 && (!e.logprob_tokens.empty() || echo_scores)) {
    const auto label = [&](int32_t id) { return token_label(e, id); };
    if (e.request.chat) {
      json content = json::array();
      for (const SampleResult& token : e.logprob_tokens) {
        json entry =
            chat_logprob_entry(text, token.logprob.value_or(TokenLogprob{token.token_id, 0.0f}));
        entry["token"] = label(token.token_id);
        json top = json::array();
        for (const TokenLogprob& t : token.top_logprobs) {
          top.push_back(chat_logprob_entry(text, t));
          top.back()["token"] = label(t.token_id);
        }
        entry["top_logprobs"] = top;
        content.push_back(entry);
      }
      logprobs = {{"content", content}};
    } else {
      // Keyed by label, the most probable id keeping a shared key (completion_logprobs.h).
      http::CompletionLogprobs lp(e.text_offset);
      if (echo_scores) {
        lp.add_prompt(e.prompt_token_ids, e.prompt_scores, label);
        e.prompt_logprobs_sent = true;
      }
      lp.add_generated(e.logprob_tokens, label);
      e.text_offset = lp.text_offset();
      logprobs = lp.to_json();
    }
  }
  e.logprob_tokens.clear();
  if (e.request.chat) {
    json delta = json::object();
    if (!e.reasoning.empty()) delta["reasoning_content"] = e.reasoning;
    if (!e.content.empty()) delta["content"] = e.content;
    if (!e.tool_call_deltas.empty()) {
      json calls = json::array();
      for (const ipc::ToolCallDelta& call : e.tool_call_deltas) {
        if (!call.name.empty() || !call.id.empty()) {
          calls.push_back({{"index", call.index},
                           {"id", call.id},
                           {"type", "function"},
                           {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        } else if (!calls.empty() && calls.back()["index"] == call.index) {
          calls.back()["function"]["arguments"] =
              calls.back()["function"]["arguments"].get<std::string>() + call.arguments;
        } else {
          calls.push_back({{"index", call.index}, {"function", {{"arguments", call.arguments}}}});
        }
      }
      delta["tool_calls"] = calls;
    }
    choice["delta"] = delta;
  } else {
    choice["text"] = e.content;
  }
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish_reason.empty() ? json(nullptr) : json(finish_reason);
  if (e.request.return_token_ids) choice["token_ids"] = e.token_ids;
  e.token_ids.clear();
  e.content.clear();
  e.reasoning.clear();
  e.tool_call_deltas.clear();
  json out = {{"id", e.id},
              {"object", e.request.chat ? "chat.completion.chunk" : "text_completion"},
              {"created", e.created},
              {"model", options_.served_model_name},
              {"choices", json::array({choice})}};
  if (e.request.include_usage) out["usage"] = nullptr;
  return out;
}

std::vector<int32_t> OpenAiFrontend::take_all_token_ids(Exchange& e) {
  std::vector<int32_t> ids = std::move(e.token_ids);
  e.token_ids.clear();
  return ids;
}

// One server-sent event; nothing once the client is gone (a failed write closes the
// connection, and connection_lost() clears e.connection).
void OpenAiFrontend::send_event(Exchange& e, const std::string& data) {
  if (e.connection != nullptr) e.connection->stream("data: " + data + "\n\n");
}

void OpenAiFrontend::flush_chunk(Exchange& e) {
  if (e.connection == nullptr) return;
  if (e.format) {
    flush_format(e);
    return;
  }
  const bool has_output = !e.content.empty() || !e.reasoning.empty() ||
                          !e.tool_call_deltas.empty() || !e.logprob_tokens.empty();
  if (!e.stream_started) {
    e.stream_started = true;
    e.connection->start_stream(200, "text/event-stream", [&] {
      http::HeaderList headers = e.cors;
      headers.emplace_back("Cache-Control", "no-cache");
      return headers;
    }());
    // The first chunk carries the role (chat) or the echoed prompt (completions).
    Exchange opening;
    opening.request.chat = e.request.chat;
    opening.request.include_usage = e.request.include_usage;
    opening.request.return_token_ids = e.request.return_token_ids;
    opening.id = e.id;
    opening.created = e.created;
    if (e.request.chat) {
      json first = chunk(opening, "");
      first["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
      // vLLM's return_token_ids: the prompt's ids ride on the first chunk.
      if (e.request.return_token_ids) first["prompt_token_ids"] = e.prompt_token_ids;
      send_event(e, dump(first));
    } else if (!e.echo.empty()) {
      opening.content = e.echo;
      send_event(e, dump(chunk(opening, "")));
    }
  }
  if (has_output && e.connection != nullptr) send_event(e, dump(chunk(e, "")));
  // A failed write closes the connection, and connection_lost() clears e.connection.
  if (e.connection != nullptr &&
      e.connection->write_queue_bytes() > options_.http.max_write_queue_bytes) {
    log_warning("HTTP: request " + std::to_string(e.engine_id) +
                " cancelled: its client stopped reading the stream");
    engine_->cancel(e.engine_id);
    http::HttpConnection* connection = e.connection;
    exchange_of_connection_.erase(connection->id());
    e.connection = nullptr;
    connection->close();
  }
}

json OpenAiFrontend::usage_object(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_prompt_tokens}}}};
}

void OpenAiFrontend::finish(Exchange& e, const ConnectionMailbox::Event& event) {
  if (e.connection == nullptr) return;
  if (!e.stopped) {
    ipc::Delta tail;
    e.text->finish(tail);
    absorb(e, tail);
  }
  Usage usage = event.usage;
  usage.prompt_tokens = e.prompt_tokens;
  if (e.stopped) usage.completion_tokens = e.num_tokens;
  // A request the engine refused (prompt too long, a token id out of range) is the client's
  // error; so is one cancelled before its stream began, if it came to that.
  if (event.reason == FinishReason::kError && !e.stream_started) {
    if (e.batch) {  // the batch answers once its last prompt ends
      finish_batch_member(e, nullptr, usage, &event.message);
      return;
    }
    http::HeaderList headers = e.cors;
    e.connection->respond(400, "application/json",
                          e.anthropic ? http::anthropic_error_body(400, event.message)
                                      : http::error_body(400, event.message),
                          headers);
    return;
  }
  std::string reason = e.stopped ? "stop" : std::string(finish_reason_name(event.reason));
  if (event.reason == FinishReason::kCancelled && !e.stopped) reason = "abort";
  if (reason == "stop" && e.any_tool_call && e.request.chat) reason = "tool_calls";
  if (e.anthropic) note_stop_sequence(e);
  if (e.format) {
    finish_format(e, usage, reason, event.message);
    return;
  }
  if (e.request.stream) {
    flush_chunk(e);
    if (e.connection == nullptr) return;
    if (event.reason == FinishReason::kError) {
      send_event(e, http::error_body(500, event.message));
    }
    send_event(e, dump(chunk(e, reason)));
    if (e.request.include_usage) {
      json chunk = {{"id", e.id},
                    {"object", e.request.chat ? "chat.completion.chunk" : "text_completion"},
                    {"created", e.created},
                    {"model", options_.served_model_name},
                    {"choices", json::array()},
                    {"usage", usage_object(usage)}};
      send_event(e, dump(chunk));
    }
    send_event(e, "[DONE]");
    if (e.connection != nullptr) e.connection->end_stream();
    return;
  }
  // Whole response.
  json choice = {{"index", 0}};
  const std::vector<int32_t> all_token_ids = take_all_token_ids(e);
  const std::string content = e.content;
  const std::string reasoning = e.reasoning;
  json logprobs = nullptr;
  if (e.request.sampling.logprobs >= 0) {
    const bool chat = e.request.chat;
    json parsed = chunk(e, reason);  // formats and clears the logprobs (and token ids)
    logprobs = parsed["choices"][0]["logprobs"];
    if (logprobs.is_null()) logprobs = chat ? json{{"content", json::array()}} : json(nullptr);
  }
  if (e.request.chat) {
    json message = {{"role", "assistant"}};
    message["content"] = content.empty() && e.any_tool_call ? json(nullptr) : json(content);
    if (options_.reasoning_parser)
      message["reasoning_content"] = reasoning.empty() ? json(nullptr) : json(reasoning);
    if (e.any_tool_call) {
      json calls = json::array();
      for (const ToolCall& call : e.tool_calls)
        calls.push_back({{"id", call.id},
                         {"type", "function"},
                         {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
      message["tool_calls"] = calls;
    } else {
      message["tool_calls"] = json::array();
    }
    choice["message"] = message;
  } else {
    choice["text"] = e.echo + content;
  }
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = reason;
  if (e.request.return_token_ids) choice["token_ids"] = all_token_ids;
  // vLLM's prompt_logprobs: on the choice (completions) or the response (chat).
  json prompt_logprobs = nullptr;
  if (e.request.prompt_logprobs >= 0 && e.has_prompt_scores)
    prompt_logprobs =
        http::prompt_logprobs_json(e.prompt_token_ids, e.prompt_scores, [&](int32_t id) {
          return options_.text->decode(std::span(&id, 1));
        });
  if (!e.request.chat && e.request.prompt_logprobs >= 0) choice["prompt_logprobs"] = prompt_logprobs;
  if (e.batch) {
    finish_batch_member(e, std::move(choice), usage, nullptr);
    return;
  }
  json body = {{"id", e.id},
               {"object", e.request.chat ? "chat.completion" : "text_completion"},
               {"created", e.created},
               {"model", options_.served_model_name},
               {"choices", json::array({choice})},
               {"usage", usage_object(usage)}};
  if (e.request.return_token_ids) body["prompt_token_ids"] = e.prompt_token_ids;
  if (e.request.chat && e.request.prompt_logprobs >= 0) body["prompt_logprobs"] = prompt_logprobs;
  e.connection->respond(200, "application/json", dump(body), e.cors);
}

}  // namespace mm
