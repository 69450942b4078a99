// /metrics text: gauges, counters and cumulative histogram buckets as Prometheus reads them.
#include "daemon/frontends/http/prometheus.h"

#include <gtest/gtest.h>

namespace mm::http {
namespace {

TEST(Prometheus, ExposesGaugesCountersAndCumulativeBuckets) {
  EngineStatus s;
  s.state = EngineState::kReady;
  s.num_running = 3;
  s.num_kv_blocks_total = 100;
  s.num_kv_blocks_used = 25;
  s.prefix_query_tokens_total = 10;
  s.prefix_hit_tokens_total = 4;
  s.time_to_first_token.observe(0.002);  // bucket le=0.005
  s.time_to_first_token.observe(100.0);  // +Inf only
  const std::string text = prometheus_text(s, "my \"model\"");
  EXPECT_NE(text.find("# TYPE mmd_num_requests_running gauge\n"), std::string::npos);
  EXPECT_NE(text.find("mmd_num_requests_running{model_name=\"my \\\"model\\\"\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("mmd_kv_cache_usage_perc{model_name=\"my \\\"model\\\"\"} 0.25\n"),
            std::string::npos);
  EXPECT_NE(text.find("mmd_prefix_cache_hit_rate{model_name=\"my \\\"model\\\"\"} 0.4\n"),
            std::string::npos);
  EXPECT_NE(text.find("mmd_time_to_first_token_seconds_bucket{model_name=\"my "
                      "\\\"model\\\"\",le=\"0.001\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("mmd_time_to_first_token_seconds_bucket{model_name=\"my "
                      "\\\"model\\\"\",le=\"0.005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("mmd_time_to_first_token_seconds_bucket{model_name=\"my "
                      "\\\"model\\\"\",le=\"+Inf\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("mmd_time_to_first_token_seconds_count{model_name=\"my \\\"model\\\"\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("mmd_engine_ready{model_name=\"my \\\"model\\\"\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace mm::http
