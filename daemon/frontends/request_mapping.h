// Wire values to engine values and back for the shared-memory frontend: a Submit's sampling
// options over the model's generation defaults become SamplingParams; an EngineStatus becomes
// a StatusReply. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "daemon/engine/engine_metrics.h"
#include "daemon/engine/request.h"
#include "daemon/text/chat_request.h"
#include "ipc/protocol.h"

namespace mm {

// Fills `params`: the options the client set, over `defaults` (the model's generation config
// with --override-generation-config, from default_sampling_params). Returns an error message
// naming the field when a value is out of range, or nullopt.
std::optional<std::string> to_sampling_params(const ipc::SamplingOptions& options,
                                              const SamplingParams& defaults,
                                              SamplingParams& params);

ipc::StatusReply to_status_reply(const EngineStatus& status);

// A Submit's chat as the native ChatRequest every frontend builds: tool calls, tools,
// tool_choice and template kwargs (JSON text on the wire) parsed once and checked by the same
// rules as HTTP's. Throws text::ChatRequestError naming the field ("messages[1].tool_calls").
text::ChatRequest to_chat_request(const ipc::Submit& submit);

}  // namespace mm
