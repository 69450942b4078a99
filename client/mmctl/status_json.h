// The JSON form of a daemon status (mmctl status --json, and the summary bench prints).
#pragma once

#include <nlohmann/json.hpp>

#include "ipc/protocol.h"

namespace mm {

nlohmann::ordered_json status_json(const ipc::StatusReply& status);
// The mean of a histogram in seconds, 0 when it is empty.
double histogram_mean(const ipc::Histogram& histogram);

}  // namespace mm
