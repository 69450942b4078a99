#include "daemon/frontends/http/responses_response.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace mm::http {
namespace {

using json = nlohmann::ordered_json;

// Invalid UTF-8 replaced (a piece may end inside a character), never throwing.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool all_space(const std::string& text) {
  return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

const char* event_prefix(bool reasoning) {
  return reasoning ? "response.reasoning_text." : "response.output_text.";
}

}  // namespace

ResponsesWriter::ResponsesWriter(json echo, std::string model, bool stream, std::string id_hex,
                                 int64_t created_at)
    : echo_(std::move(echo)),
      model_(std::move(model)),
      stream_(stream),
      id_hex_(std::move(id_hex)),
      id_("resp_" + id_hex_),
      created_at_(created_at) {}

json ResponsesWriter::item_json(const Item& item) const {
  switch (item.kind) {
    case Kind::kReasoning: {
      json content = json::array();
      if (item.status != "in_progress")
        content.push_back({{"type", "reasoning_text"}, {"text", item.text}});
      return {{"id", item.id},      {"type", "reasoning"},          {"summary", json::array()},
              {"content", content}, {"encrypted_content", nullptr}, {"status", item.status}};
    }
    case Kind::kMessage: {
      json content = json::array();
      if (item.status != "in_progress")
        content.push_back({{"type", "output_text"},
                           {"text", item.text},
                           {"annotations", json::array()},
                           {"logprobs", json::array()}});
      return {{"id", item.id},
              {"type", "message"},
              {"status", item.status},
              {"role", "assistant"},
              {"content", content}};
    }
    case Kind::kFunctionCall:
      break;
  }
  return {{"id", item.id},           {"type", "function_call"}, {"status", item.status},
          {"call_id", item.call_id}, {"name", item.name},       {"arguments", item.text}};
}

json ResponsesWriter::response_json(const std::string& status) const {
  json out = {{"id", id_},
              {"object", "response"},
              {"created_at", created_at_},
              {"status", status},
              {"background", false},
              {"error", error_},
              {"incomplete_details", incomplete_details_}};
  if (completed_at_ != 0) out["completed_at"] = completed_at_;
  for (auto it = echo_.begin(); it != echo_.end(); ++it)
    out[it.key()] = it.value();
  out["model"] = model_;
  json output = json::array();
  if (status != "in_progress") {
    for (const Item& item : items_)
      output.push_back(item_json(item));
  }
  out["output"] = output;
  out["usage"] = usage_;
  return out;
}

void ResponsesWriter::emit(json event) {
  event["sequence_number"] = sequence_number_++;
  const std::string type = event["type"].get<std::string>();
  out_ += "event: " + type + "\ndata: " + dump(event) + "\n\n";
}

void ResponsesWriter::start() {
  if (started_) return;
  started_ = true;
  if (!stream_) return;
  emit({{"type", "response.created"}, {"response", response_json("in_progress")}});
  emit({{"type", "response.in_progress"}, {"response", response_json("in_progress")}});
}

void ResponsesWriter::open(Item item) {
  items_.push_back(std::move(item));
  current_ = static_cast<int>(items_.size()) - 1;
  const Item& opened = items_.back();
  if (!stream_) return;
  emit({{"type", "response.output_item.added"},
        {"output_index", current_},
        {"item", item_json(opened)}});
  if (opened.kind == Kind::kFunctionCall) return;
  const bool reasoning = opened.kind == Kind::kReasoning;
  json part = reasoning ? json{{"type", "reasoning_text"}, {"text", ""}}
                        : json{{"type", "output_text"},
                               {"text", ""},
                               {"annotations", json::array()},
                               {"logprobs", json::array()}};
  emit({{"type", "response.content_part.added"},
        {"item_id", opened.id},
        {"output_index", current_},
        {"content_index", 0},
        {"part", part}});
}

void ResponsesWriter::close_current(const char* status) {
  if (current_ < 0) return;
  Item& item = items_[static_cast<size_t>(current_)];
  item.status = status;
  const int index = std::exchange(current_, -1);
  if (!stream_) return;
  if (item.kind == Kind::kFunctionCall) {
    emit({{"type", "response.function_call_arguments.done"},
          {"item_id", item.id},
          {"output_index", index},
          {"name", item.name},
          {"arguments", item.text}});
  } else {
    const bool reasoning = item.kind == Kind::kReasoning;
    json done = {{"type", std::string(event_prefix(reasoning)) + "done"},
                 {"item_id", item.id},
                 {"output_index", index},
                 {"content_index", 0},
                 {"text", item.text}};
    if (!reasoning) done["logprobs"] = json::array();
    emit(std::move(done));
    emit({{"type", "response.content_part.done"},
          {"item_id", item.id},
          {"output_index", index},
          {"content_index", 0},
          {"part", item_json(item)["content"][0]}});
  }
  emit({{"type", "response.output_item.done"}, {"output_index", index}, {"item", item_json(item)}});
}

void ResponsesWriter::add_text(Kind kind, const std::string& text) {
  const bool continues = current_ >= 0 && items_[static_cast<size_t>(current_)].kind == kind;
  std::string piece = text;
  if (!continues) {
    // Whitespace alone (between a reasoning block and a tool call, between calls) opens no item;
    // it leads the item's text if real text follows.
    if (pending_kind_ != kind) pending_.clear();
    pending_kind_ = kind;
    if (all_space(text)) {
      pending_ += text;
      return;
    }
    piece = std::exchange(pending_, {}) + text;
    close_current("completed");
    const char* prefix = kind == Kind::kReasoning ? "rs_" : "msg_";
    open({.kind = kind, .id = prefix + id_hex_ + std::to_string(items_.size())});
  }
  Item& item = items_[static_cast<size_t>(current_)];
  item.text += piece;
  if (!stream_) return;
  json event = {{"type", std::string(event_prefix(kind == Kind::kReasoning)) + "delta"},
                {"item_id", item.id},
                {"output_index", current_},
                {"content_index", 0},
                {"delta", piece}};
  if (kind == Kind::kMessage) event["logprobs"] = json::array();
  emit(std::move(event));
}

std::string ResponsesWriter::push(const ipc::Delta& delta, int num_tokens) {
  start();
  if (!delta.reasoning.empty()) {
    reasoning_tokens_ = num_tokens;
    add_text(Kind::kReasoning, delta.reasoning);
  }
  if (!delta.text.empty()) add_text(Kind::kMessage, delta.text);
  for (const ipc::ToolCallDelta& call : delta.tool_calls) {
    if (!call.id.empty() || !call.name.empty()) {
      close_current("completed");
      pending_.clear();
      open({.kind = Kind::kFunctionCall,
            .id = "fc_" + id_hex_ + std::to_string(items_.size()),
            .call_id = call.id,
            .name = call.name,
            .tool_index = call.index});
    }
    auto it = std::find_if(items_.begin(), items_.end(), [&](const Item& item) {
      return item.kind == Kind::kFunctionCall && item.tool_index == call.index;
    });
    if (it == items_.end() || call.arguments.empty()) continue;
    it->text += call.arguments;
    if (stream_)
      emit({{"type", "response.function_call_arguments.delta"},
            {"item_id", it->id},
            {"output_index", static_cast<int>(it - items_.begin())},
            {"delta", call.arguments}});
  }
  return std::exchange(out_, {});
}

std::string ResponsesWriter::end(const OutputEnd& end) {
  start();
  pending_.clear();
  std::string status = "completed";
  if (end.finish_reason == "length") {
    status = "incomplete";
    incomplete_details_ = {{"reason", "max_output_tokens"}};
  } else if (end.finish_reason == "abort") {
    status = "cancelled";
  } else if (end.finish_reason == "error") {
    status = "failed";
    error_ = {{"code", "server_error"}, {"message", end.error}};
  }
  close_current(status == "completed" ? "completed" : "incomplete");
  if (status == "completed")
    completed_at_ = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  // cache_write_tokens counts OpenAI's explicit (billed) cache writes: mmd caches prompt blocks
  // as a side effect, never as a write a request asked for.
  usage_ = {{"input_tokens", end.prompt_tokens},
            {"input_tokens_details",
             {{"cached_tokens", end.cached_prompt_tokens}, {"cache_write_tokens", 0}}},
            {"output_tokens", end.completion_tokens},
            {"output_tokens_details",
             {{"reasoning_tokens", std::min(reasoning_tokens_, end.completion_tokens)}}},
            {"total_tokens", end.prompt_tokens + end.completion_tokens}};
  if (!stream_) return dump(response_json(status));
  const char* type = status == "completed" ? "response.completed"
                     : status == "failed"  ? "response.failed"
                                           : "response.incomplete";
  emit({{"type", type}, {"response", response_json(status)}});
  return std::exchange(out_, {});
}

}  // namespace mm::http
