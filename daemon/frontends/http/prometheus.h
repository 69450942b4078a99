// GET /metrics: the engine's status in Prometheus' text exposition format (version 0.0.4),
// under mmd_ names that follow vLLM's vllm: metrics one for one where they exist. Pure.
#pragma once

#include <string>

#include "daemon/engine/engine_metrics.h"

namespace mm::http {

std::string prometheus_text(const EngineStatus& status, const std::string& model_name);

}  // namespace mm::http
