// Wire format to native types for the D-Bus frontend: the a{sv} request options become an
// EngineRequest's SamplingParams and priority; an EngineStatus becomes the a{sv} GetStatus
// returns. Pure functions; thread-safe.
#pragma once

#include <sdbus-c++/Types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "daemon/engine/engine_metrics.h"
#include "daemon/engine/request.h"

namespace mm {

using DbusOptions = std::map<std::string, sdbus::Variant>;

// Builds the request from its prompt and options, which apply over `defaults` (the model's
// generation config, see generation_defaults.h on main). Throws sdbus::Error
// org.mmd.Error.InvalidArgument naming the option (unknown key, wrong type, value out of
// range) or saying the prompt is empty.
EngineRequest request_from_dbus(std::vector<int32_t> prompt_token_ids, const DbusOptions& options,
                                const SamplingParams& defaults = {});

DbusOptions status_to_dbus(const EngineStatus& status, uint32_t num_active_requests);

}  // namespace mm
