// /metrics text: gauges, counters and cumulative histogram buckets as Prometheus reads them.
#include "daemon/frontends/http/prometheus.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

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

TEST(Prometheus, InfoMetricsNameTheKvDtypeAndEachSettingsSource) {
  EngineStatus s;
  s.kv_cache_dtype = "fp8_e4m3";
  s.kv_block_size = 16;
  s.num_kv_blocks_total = 4096;
  s.settings = {{"kv_cache_dtype", "fp8_e4m3", "checkpoint"},
                {"max_model_len", "4096", "checkpoint"},
                {"chat_template", "/m/\"x\".jinja", "flag"}};
  const std::string text = prometheus_text(s, "m");
  EXPECT_NE(text.find("# TYPE mmd_cache_config_info gauge\n"), std::string::npos) << text;
  EXPECT_NE(
      text.find("mmd_cache_config_info{model_name=\"m\",cache_dtype=\"fp8_e4m3\","
                "cache_dtype_source=\"checkpoint\",block_size=\"16\",num_blocks=\"4096\"} 1\n"),
      std::string::npos)
      << text;
  // One declaration, one sample per setting; label values escaped.
  size_t declared = 0;
  for (size_t at = text.find("# TYPE mmd_setting_info"); at != std::string::npos;
       at = text.find("# TYPE mmd_setting_info", at + 1))
    ++declared;
  EXPECT_EQ(declared, 1u);
  EXPECT_NE(text.find("mmd_setting_info{model_name=\"m\",name=\"max_model_len\",value=\"4096\","
                      "source=\"checkpoint\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("name=\"chat_template\",value=\"/m/\\\"x\\\".jinja\",source=\"flag\"} 1\n"),
            std::string::npos)
      << text;
}

// The naming rules `promtool check metrics` enforces: a counter's name ends in _total and
// nothing else's does; each family is declared (HELP, TYPE) once; label values escape
// backslash, quote and newline.
TEST(Prometheus, OnlyCountersEndInTotalAndEachFamilyIsDeclaredOnce) {
  EngineStatus s;
  s.num_kv_blocks_total = 64;
  s.settings = {{"a", "x\\y\nz", "flag"}, {"b", "1", "default"}};
  const std::string text = prometheus_text(s, "m");
  std::map<std::string, std::string> types;
  std::map<std::string, int> helps;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string hash, kind, name, type;
    fields >> hash >> kind >> name >> type;
    if (hash != "#") continue;
    if (kind == "HELP") ++helps[name];
    if (kind == "TYPE") {
      EXPECT_FALSE(types.contains(name)) << name << " declared twice";
      types[name] = type;
    }
  }
  ASSERT_GE(types.size(), 15u);
  for (const auto& [name, type] : types) {
    const bool total = name.ends_with("_total");
    EXPECT_EQ(total, type == "counter") << name << " is a " << type;
    EXPECT_EQ(helps[name], 1) << name;
  }
  EXPECT_EQ(types.at("mmd_kv_cache_blocks_capacity"), "gauge");
  EXPECT_NE(text.find("mmd_kv_cache_blocks_capacity{model_name=\"m\"} 64\n"), std::string::npos);
  EXPECT_NE(text.find("value=\"x\\\\y\\nz\""), std::string::npos) << text;
}

}  // namespace
}  // namespace mm::http
