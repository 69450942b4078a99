// OpenAiFrontend's /v1/responses: the Responses body read as a chat (responses_request.h), prepared
// like any chat (prepare_parsed: one prompt path), answered by a ResponsesWriter through the
// exchange's OutputFormat. Kept apart from openai_frontend.cpp so each wire format reads on its
// own.
#include <chrono>
#include <cstdio>
#include <random>

#include "daemon/engine/engine.h"
#include "daemon/frontends/http/openai_frontend.h"
#include "daemon/frontends/http/responses_request.h"
#include "daemon/frontends/http/responses_response.h"
#include "daemon/service/log.h"

namespace mm {
namespace {

// 32 hex digits: ids that do not repeat across requests or restarts.
std::string random_hex() {
  std::random_device device;
  char buffer[33];
  std::snprintf(buffer, sizeof buffer, "%08x%08x%08x%08x", device(), device(), device(), device());
  return buffer;
}

}  // namespace

// Runs on a worker thread, as prepare_generation does.
OpenAiFrontend::Prepared OpenAiFrontend::prepare_responses(const OpenAiOptions& options,
                                                           const std::string& body) {
  http::ResponsesRequest parsed = http::parse_responses_request(body);
  Prepared p;
  p.request = std::move(parsed.generation);
  try {
    prepare_parsed(options, p, "input");
  } catch (const http::ApiError& error) {
    // The shared checks name max_tokens; this API calls it max_output_tokens.
    if (error.param() != "max_tokens") throw;
    std::string message = error.what();
    if (const size_t at = message.find("'max_tokens'"); at != std::string::npos)
      message.replace(at, 12, "'max_output_tokens'");
    throw http::ApiError(error.status(), message, "max_output_tokens");
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  p.format = std::make_unique<http::ResponsesWriter>(
      std::move(parsed.echo), options.served_model_name, p.request.stream, random_hex(), now);
  return p;
}

void OpenAiFrontend::flush_format(Exchange& e) {
  if (e.connection == nullptr || !e.request.stream) return;
  if (!e.stream_started) {
    e.stream_started = true;
    http::HeaderList headers = e.cors;
    headers.emplace_back("Cache-Control", "no-cache");
    e.connection->start_stream(200, "text/event-stream", headers);
  }
  if (!e.format_events.empty()) e.connection->stream(std::exchange(e.format_events, {}));
  // The same back-pressure as the chat stream: a client that stops reading is dropped.
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

void OpenAiFrontend::finish_format(Exchange& e, const Usage& usage, const std::string& reason,
                                   const std::string& message) {
  const std::string out = e.format->end({.finish_reason = reason,
                                         .error = message,
                                         .prompt_tokens = usage.prompt_tokens,
                                         .completion_tokens = usage.completion_tokens,
                                         .cached_prompt_tokens = usage.cached_prompt_tokens});
  if (!e.request.stream) {
    e.connection->respond(200, "application/json", out, e.cors);
    return;
  }
  e.format_events += out;
  flush_format(e);
  if (e.connection != nullptr) e.connection->end_stream();
}

}  // namespace mm
