// OpenAiFrontend's Anthropic Messages API: /v1/messages read as a chat (anthropic_request.h),
// prepared like every chat (prepare_parsed: one prompt path), answered by an
// AnthropicMessageWriter through the exchange's OutputFormat; /v1/messages/count_tokens renders
// the same prompt and counts it. Errors of these paths take Anthropic's shape (send_error, with
// pending_anthropic_ set by the route).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "daemon/frontends/http/anthropic_request.h"
#include "daemon/frontends/http/anthropic_response.h"
#include "daemon/frontends/http/openai_frontend.h"

namespace mm {
namespace {

// Anthropic's ids are "msg_" and 24 characters; these do not repeat across requests or restarts.
std::string message_id() {
  std::random_device device;
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "msg_%08x%08x%08x", device(), device(), device());
  return buffer;
}

// As prepare_parsed checks it for the generations.
void check_model(const OpenAiOptions& options, const std::string& model) {
  if (model != options.served_model_name)
    throw http::ApiError(404,
                         "the model '" + model + "' does not exist (this daemon serves '" +
                             options.served_model_name + "')",
                         "model");
}

}  // namespace

// Runs on a worker thread, as prepare_generation does.
OpenAiFrontend::Prepared OpenAiFrontend::prepare_messages(const OpenAiOptions& options,
                                                          const std::string& body) {
  Prepared p;
  p.request = http::parse_messages_request(body);
  prepare_parsed(options, p, "messages");
  p.anthropic = true;
  p.format = std::make_unique<http::AnthropicMessageWriter>(
      p.request.stream, message_id(), options.served_model_name,
      static_cast<int>(p.engine_request.prompt_token_ids.size()));
  return p;
}

// Runs on a worker thread: the prompt /v1/messages would run, counted.
std::string OpenAiFrontend::count_tokens_body(const OpenAiOptions& options,
                                              const std::string& body) {
  const http::CountTokensRequest r = http::parse_count_tokens_request(body);
  check_model(options, r.model);
  if (!options.text) throw http::ApiError(400, "this model has no tokenizer");
  size_t num_tokens = 0;
  try {
    num_tokens = options.text->render_chat(r.chat).token_ids.size();
  } catch (const text::ChatRequestError& error) {
    throw http::ApiError(400, error.what(), error.field());
  } catch (const std::invalid_argument& error) {
    throw http::ApiError(400, error.what());
  }
  return nlohmann::json{{"input_tokens", num_tokens}}.dump();
}

void OpenAiFrontend::note_stop_sequence(Exchange& e) {
  if (!e.stopped || !e.text || !e.format) return;
  const std::vector<std::string>& stops = e.request.sampling.stop;
  const std::optional<size_t> matched = e.text->matched_stop();
  if (matched && *matched < stops.size())
    static_cast<http::AnthropicMessageWriter&>(*e.format).set_stop_sequence(stops[*matched]);
}

}  // namespace mm
