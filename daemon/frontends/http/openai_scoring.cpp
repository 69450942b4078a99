// The scoring side of the OpenAI frontend (what lm-eval and other evaluation harnesses use):
// batches of completions prompts, prompt log-probabilities, max_tokens 0 with echo, token
// labels as ids, and GET /tokenizer_info. OpenAiFrontend members; loop thread except
// prepare_completions and apply_scoring (worker pool, pure).
#include <nlohmann/json.hpp>

#include "daemon/engine/engine.h"
#include "daemon/frontends/http/openai_frontend.h"
#include "daemon/service/log.h"

namespace mm {

using nlohmann::json;

void OpenAiFrontend::prepare_completions(const OpenAiOptions& options, Work& work) {
  http::GenerationRequest request = http::parse_completion_request(work.body);
  const std::vector<http::GenerationRequest::Prompt> prompts = request.prompts;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Prepared p;
    p.request = request;
    p.request.prompt = prompts[i].text;
    p.request.prompt_token_ids = prompts[i].token_ids;
    p.request.prompts.clear();  // each member holds its own prompt only
    try {
      prepare_parsed(options, p, "prompt");
    } catch (const http::ApiError& error) {
      if (prompts.size() == 1) throw;
      // Which prompt of the batch, in the message and the param.
      const std::string where = "prompt[" + std::to_string(i) + "]";
      throw http::ApiError(error.status(), where + ": " + error.what(),
                           error.param() == "prompt" ? where : error.param());
    }
    if (i == 0) {
      work.prepared = std::move(p);
    } else {
      work.batch.push_back(std::move(p));
    }
  }
}

void OpenAiFrontend::apply_scoring(const http::GenerationRequest& r,
                                   EngineRequest& engine_request) {
  SamplingParams& params = engine_request.params;
  params.prompt_logprobs = r.prompt_logprobs;
  if (r.echo_only) {
    // The prompt is computed and scored, nothing is sampled. Without logprobs asked the scores
    // are not shown, but the engine runs the prompt the same way.
    params.max_tokens = 0;
    params.min_tokens = 0;
    params.prompt_logprobs = std::max(params.prompt_logprobs, 0);
  }
}

void OpenAiFrontend::start_batch(http::HttpConnection& connection, const std::string& path,
                                 Prepared first, std::vector<Prepared> rest) {
  auto batch = std::make_shared<http::CompletionBatch>();
  batch->connection = &connection;
  batch->cors = pending_cors_;
  batch->return_token_ids = first.request.return_token_ids;
  batch->num_pending = rest.size() + 1;
  batch->choices.resize(batch->num_pending);
  try {
    start_generation(connection, path, std::move(first), batch, 0);
    for (size_t i = 0; i < rest.size(); ++i)
      start_generation(connection, path, std::move(rest[i]), batch, i + 1);
  } catch (...) {
    // Refused part-way (the engine stopped, too many waiting): the caller answers the error;
    // the prompts already submitted are cancelled and answer nothing.
    batch->answered = true;
    batch->connection = nullptr;
    for (uint64_t key : batch->keys) {
      auto member = exchanges_.find(key);
      if (member == exchanges_.end()) continue;
      member->second->connection = nullptr;
      engine_->cancel(member->second->engine_id);
    }
    exchange_of_connection_.erase(connection.id());
    throw;
  }
  const Exchange& head = *exchanges_.at(batch->keys.front());
  batch->id = head.id;
  batch->created = head.created;
}

void OpenAiFrontend::finish_batch_member(Exchange& e, json choice, const Usage& usage,
                                         const std::string* error) {
  http::CompletionBatch& batch = *e.batch;
  if (error != nullptr && !batch.failed) {
    batch.failed = true;
    batch.error = "prompt[" + std::to_string(e.batch_index) + "]: " + *error;
  }
  if (!choice.is_null()) {
    choice["index"] = e.batch_index;
    if (batch.return_token_ids) choice["prompt_token_ids"] = e.prompt_token_ids;
    batch.choices[e.batch_index] = std::move(choice);
  }
  batch.usage.prompt_tokens += usage.prompt_tokens;
  batch.usage.completion_tokens += usage.completion_tokens;
  batch.usage.cached_prompt_tokens += usage.cached_prompt_tokens;
  if (batch.num_pending > 0) --batch.num_pending;
  if (batch.num_pending > 0 || batch.answered || batch.connection == nullptr) return;
  batch.answered = true;
  if (batch.failed) {
    batch.connection->respond(400, "application/json", http::error_body(400, batch.error),
                              batch.cors);
    return;
  }
  const json body = {{"id", batch.id},           {"object", "text_completion"},
                     {"created", batch.created}, {"model", options_.served_model_name},
                     {"choices", batch.choices}, {"usage", usage_object(batch.usage)}};
  batch.connection->respond(200, "application/json",
                            body.dump(-1, ' ', false, json::error_handler_t::replace), batch.cors);
}

void OpenAiFrontend::remap_batch(const http::CompletionBatch& batch) {
  // The connection stays mapped to a prompt still running, so a disconnect cancels the rest.
  if (batch.connection == nullptr || batch.num_pending == 0) return;
  for (uint64_t key : batch.keys) {
    if (exchanges_.contains(key)) {
      exchange_of_connection_[batch.connection->id()] = key;
      return;
    }
  }
}

void OpenAiFrontend::tokenizer_info(http::HttpConnection& connection) {
  if (options_.tokenizer_info.empty())
    throw http::ApiError(404, "this model has no tokenizer; /tokenizer_info has nothing to say");
  send_json(connection, 200, options_.tokenizer_info);
}

std::string OpenAiFrontend::token_label(const Exchange& e, int32_t id) const {
  if (e.request.return_tokens_as_token_ids) return "token_id:" + std::to_string(id);
  return options_.text->decode(std::span(&id, 1));
}

}  // namespace mm
