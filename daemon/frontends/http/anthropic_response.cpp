#include "daemon/frontends/http/anthropic_response.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <utility>

namespace mm::http {
namespace {

// Ordered: fields go out in the order Anthropic's own answers have them.
using json = nlohmann::ordered_json;

// Dumps with invalid UTF-8 replaced (a token may end inside a character), never throwing.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;

uint64_t fnv1a(uint64_t hash, const std::string& bytes) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= kFnvPrime;
  }
  return hash;
}

std::string signature_of(uint64_t hash) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash));
  return std::string("mmd1.") + buffer;
}

struct AnthropicUsage {
  int prompt_tokens = 0;  // all of the prompt, the cached part included
  int cached_prompt_tokens = 0;
  int output_tokens = 0;
};

json usage_json(const AnthropicUsage& usage) {
  // Anthropic's input_tokens leave out what the cache served; the three add up to the prompt.
  return {{"input_tokens", usage.prompt_tokens - usage.cached_prompt_tokens},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", usage.cached_prompt_tokens},
          {"output_tokens", usage.output_tokens}};
}

std::string sse(const std::string& name, const std::string& data) {
  return "event: " + name + "\ndata: " + data + "\n\n";
}

// A tool call's arguments as the object they spell; the tool-call parser writes whole JSON, so a
// failure means the call was cut off (max_tokens): its input is then what could be read, {}.
json tool_input(const std::string& arguments) {
  json input = json::parse(arguments, nullptr, false);
  return input.is_object() ? input : json::object();
}

}  // namespace

const char* anthropic_error_type(int status) {
  switch (status) {
    case 400:
    case 405:
    case 422:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string anthropic_error_body(int status, const std::string& message) {
  return dump(json{{"type", "error"},
                   {"error", {{"type", anthropic_error_type(status)}, {"message", message}}}});
}

std::string thinking_signature(const std::string& thinking) {
  return signature_of(fnv1a(kFnvOffset, thinking));
}

AnthropicMessageWriter::AnthropicMessageWriter(bool stream, std::string id, std::string model,
                                               int prompt_tokens)
    : stream_(stream),
      id_(std::move(id)),
      model_(std::move(model)),
      prompt_tokens_(prompt_tokens) {}

void AnthropicMessageWriter::event(const std::string& name, const std::string& data) {
  events_ += sse(name, data);
}

void AnthropicMessageWriter::open(Block block) {
  close_open_block();
  ++open_index_;
  open_kind_ = block.kind;
  thinking_hash_ = kFnvOffset;
  if (block.kind == Kind::kToolUse) any_tool_use_ = true;
  if (stream_) {
    json content;
    switch (block.kind) {
      case Kind::kThinking:
        content = {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}};
        break;
      case Kind::kText:
        content = {{"type", "text"}, {"text", ""}};
        break;
      case Kind::kToolUse:
        content = {{"type", "tool_use"},
                   {"id", block.id},
                   {"name", block.name},
                   {"input", json::object()}};
        break;
      case Kind::kNone:
        break;
    }
    event("content_block_start", dump(json{{"type", "content_block_start"},
                                           {"index", open_index_},
                                           {"content_block", content}}));
    blocks_.clear();  // a stream keeps the open block only
  }
  blocks_.push_back(std::move(block));
}

void AnthropicMessageWriter::close_open_block() {
  if (open_kind_ == Kind::kNone) return;
  if (stream_) {
    if (open_kind_ == Kind::kThinking) {
      event(
          "content_block_delta",
          dump(json{{"type", "content_block_delta"},
                    {"index", open_index_},
                    {"delta",
                     {{"type", "signature_delta"}, {"signature", signature_of(thinking_hash_)}}}}));
    }
    event("content_block_stop", dump(json{{"type", "content_block_stop"}, {"index", open_index_}}));
  }
  open_kind_ = Kind::kNone;
}

void AnthropicMessageWriter::append(Kind kind, const std::string& text) {
  std::string piece = text;
  if (kind == Kind::kText && open_kind_ != Kind::kText) {
    // Whitespace between thinking and a tool call (or at the end) is no block of its own.
    if (piece.find_first_not_of(" \t\r\n") == std::string::npos) {
      pending_space_ += piece;
      return;
    }
    piece = std::exchange(pending_space_, std::string()) + piece;
  }
  if (piece.empty()) return;
  if (open_kind_ != kind) open(Block{.kind = kind});
  if (kind == Kind::kThinking) thinking_hash_ = fnv1a(thinking_hash_, piece);
  if (!stream_) {
    blocks_.back().text += piece;
    return;
  }
  json delta;
  if (kind == Kind::kThinking) {
    delta = {{"type", "thinking_delta"}, {"thinking", piece}};
  } else if (kind == Kind::kText) {
    delta = {{"type", "text_delta"}, {"text", piece}};
  } else {
    delta = {{"type", "input_json_delta"}, {"partial_json", piece}};
  }
  event("content_block_delta",
        dump(json{{"type", "content_block_delta"}, {"index", open_index_}, {"delta", delta}}));
}

std::string AnthropicMessageWriter::push(const ipc::Delta& delta, int num_tokens) {
  if (stream_ && !started_) {
    started_ = true;
    const json message = {{"id", id_},
                          {"type", "message"},
                          {"role", "assistant"},
                          {"model", model_},
                          {"content", json::array()},
                          {"stop_reason", nullptr},
                          {"stop_sequence", nullptr},
                          {"usage", usage_json(AnthropicUsage{.prompt_tokens = prompt_tokens_,
                                                              .output_tokens = num_tokens})}};
    event("message_start", dump(json{{"type", "message_start"}, {"message", message}}));
    event("ping", R"({"type":"ping"})");
  }
  if (!delta.reasoning.empty()) append(Kind::kThinking, delta.reasoning);
  if (!delta.text.empty()) append(Kind::kText, delta.text);
  for (const ipc::ToolCallDelta& call : delta.tool_calls) {
    if (!call.id.empty() || !call.name.empty()) {
      pending_space_.clear();
      open(Block{
          .kind = Kind::kToolUse, .id = call.id, .name = call.name, .tool_index = call.index});
      append(Kind::kToolUse, call.arguments);
      continue;
    }
    if (call.arguments.empty()) continue;
    if (open_kind_ == Kind::kToolUse && blocks_.back().tool_index == call.index) {
      append(Kind::kToolUse, call.arguments);
    } else if (!stream_) {
      // Arguments of a call whose block is no longer the open one (not seen in practice).
      for (Block& block : blocks_) {
        if (block.kind == Kind::kToolUse && block.tool_index == call.index)
          block.text += call.arguments;
      }
    }
  }
  if (!stream_) return {};
  return std::exchange(events_, std::string());
}

std::string AnthropicMessageWriter::stop_reason(const OutputEnd& end) const {
  if (end.finish_reason == "length") return "max_tokens";
  if (stop_sequence_) return "stop_sequence";
  // A turn that called tools waits for their results.
  if (any_tool_use_) return "tool_use";
  return "end_turn";
}

std::string AnthropicMessageWriter::error_event(int status, const std::string& message) {
  return sse("error", anthropic_error_body(status, message));
}

std::string AnthropicMessageWriter::end(const OutputEnd& end) {
  const AnthropicUsage usage{.prompt_tokens = end.prompt_tokens,
                             .cached_prompt_tokens = end.cached_prompt_tokens,
                             .output_tokens = end.completion_tokens};
  const std::string reason = stop_reason(end);
  const json stop_sequence = stop_sequence_ ? json(*stop_sequence_) : json(nullptr);
  if (stream_) {
    if (end.finish_reason == "error")
      return std::exchange(events_, std::string()) + error_event(500, end.error);
    close_open_block();
    event("message_delta",
          dump(json{{"type", "message_delta"},
                    {"delta", {{"stop_reason", reason}, {"stop_sequence", stop_sequence}}},
                    {"usage", usage_json(usage)}}));
    event("message_stop", R"({"type":"message_stop"})");
    return std::exchange(events_, std::string());
  }
  json content = json::array();
  for (const Block& block : blocks_) {
    switch (block.kind) {
      case Kind::kThinking:
        content.push_back({{"type", "thinking"},
                           {"thinking", block.text},
                           {"signature", thinking_signature(block.text)}});
        break;
      case Kind::kText:
        content.push_back({{"type", "text"}, {"text", block.text}});
        break;
      case Kind::kToolUse:
        content.push_back({{"type", "tool_use"},
                           {"id", block.id},
                           {"name", block.name},
                           {"input", tool_input(block.text)}});
        break;
      case Kind::kNone:
        break;
    }
  }
  return dump(json{{"id", id_},
                   {"type", "message"},
                   {"role", "assistant"},
                   {"model", model_},
                   {"content", content},
                   {"stop_reason", reason},
                   {"stop_sequence", stop_sequence},
                   {"usage", usage_json(usage)}});
}

}  // namespace mm::http
