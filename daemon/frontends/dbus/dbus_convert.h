// Wire format to native types for the D-Bus frontend: the a{sv} request options become
// ipc::SamplingOptions (checked by to_sampling_params, the limits every frontend shares), the
// chat's shape (tools, tool_choice, template kwargs) and the output options; StartChat's
// messages_json and those options become the native text::ChatRequest; an EngineStatus becomes
// the a{sv} GetStatus returns. Pure functions; thread-safe.
#pragma once

#include <sdbus-c++/Types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/engine/engine_metrics.h"
#include "daemon/engine/request.h"
#include "daemon/text/chat_request.h"
#include "ipc/protocol.h"

namespace mm {

using DbusOptions = std::map<std::string, sdbus::Variant>;

// One request's options, read from a{sv} and not yet applied.
struct DbusRequestOptions {
  ipc::SamplingOptions sampling;
  int priority = 0;
  bool include_stop_str_in_output = false;
  bool skip_special_tokens = true;
  // Chats only (StartChat, TokenizeChat): JSON text as sent, parsed by chat_request_from_dbus.
  std::optional<std::string> tools_json;
  std::optional<std::string> tool_choice;  // a mode name or a JSON object
  std::optional<std::string> chat_template_kwargs_json;
  std::optional<bool> add_generation_prompt;
  std::optional<bool> continue_final_message;
};

// Reads `options`. `chat`: the chat keys are allowed. Throws sdbus::Error
// org.mmd.Error.InvalidArgument naming the option (unknown key, wrong type, a value that does
// not fit its type).
DbusRequestOptions options_from_dbus(const DbusOptions& options, bool chat);

// The native chat of StartChat / TokenizeChat: messages_json parsed once and read by the readers
// every frontend uses, then tools, tool_choice and template kwargs. Throws sdbus::Error
// org.mmd.Error.InvalidArgument naming the field ("messages[1].tool_calls",
// "option 'tool_choice'").
text::ChatRequest chat_request_from_dbus(const std::string& messages_json,
                                         const DbusRequestOptions& options);

// Builds the engine request from its prompt and options, which apply over `defaults` (the
// model's generation config). Throws sdbus::Error org.mmd.Error.InvalidArgument naming the
// option out of range, or saying the prompt is empty.
EngineRequest request_from_dbus(std::vector<int32_t> prompt_token_ids,
                                const DbusRequestOptions& options,
                                const SamplingParams& defaults = {});

DbusOptions status_to_dbus(const EngineStatus& status, uint32_t num_active_requests);

}  // namespace mm
