#include "client/mmctl/inspect_command.h"

#include <algorithm>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/mmctl/exit_codes.h"
#include "client/mmctl/human_format.h"
#include "daemon/model/checkpoint.h"
#include "daemon/model/inspect_report.h"
#include "daemon/model/model_weights.h"
#include "daemon/model/quant_config.h"
#include "daemon/model/weight_packing.h"
#include "daemon/service/model_text_files.h"

namespace mm {
namespace {

// What mmd reads besides the weights: tokenizer.json and the chat template.
struct TextReport {
  bool has_tokenizer = false;
  int32_t vocab_size = 0;
  std::string chat_template;  // where it came from
};

// What the model runner refuses before packing (weight_packing.h: the embedding's dtype, KV
// scales, int4 layouts): mmd's load fails on these, so inspect does too.
void inspect_runnable(InspectReport& report) {
  if (!report.valid) return;
  try {
    const Checkpoint checkpoint(report.folder);
    const std::string config_file = (std::filesystem::path(report.folder) / "config.json").string();
    const std::string text = checkpoint.read_text_file("config.json").value_or("");
    const QuantConfig quant = QuantConfig::parse(text, config_file);
    check_runnable(checkpoint, bind_model_weights(checkpoint, *report.config, quant));
  } catch (const std::exception& error) {
    report.valid = false;
    report.error = error.what();
  }
}

// mmd refuses to start when these fail (daemon/service/model_text_files.h); so does inspect.
void inspect_text_files(InspectReport& report, TextReport& text,
                        const std::string& chat_template_file) {
  if (!report.valid) return;
  try {
    text.has_tokenizer = has_tokenizer_file(report.folder);
    if (!text.has_tokenizer) return;  // mmd then serves token ids and reads no template
    text.vocab_size = load_model_tokenizer(report.folder).vocab_size();
    text.chat_template = load_model_chat_template(report.folder, chat_template_file).origin;
  } catch (const std::exception& error) {
    report.valid = false;
    report.error = error.what();
  }
}

nlohmann::ordered_json report_json(const InspectReport& report, const TextReport& text) {
  nlohmann::ordered_json out;
  out["path"] = report.folder;
  out["valid"] = report.valid;
  if (!report.valid) out["error"] = report.error;
  if (report.config) {
    const ModelConfig& c = *report.config;
    out["architecture"] = {
        {"name", c.architecture},
        {"model_type", c.model_type},
        {"num_hidden_layers", c.num_hidden_layers},
        {"hidden_size", c.hidden_size},
        {"num_attention_heads", c.num_attention_heads},
        {"num_key_value_heads", c.num_key_value_heads},
        {"head_dim", c.head_dim},
        {"rotary_dim", c.rotary_dim},
        {"rope_theta", c.rope_theta},
        {"num_local_experts", c.num_local_experts},
        {"num_experts_per_tok", c.num_experts_per_tok},
        {"intermediate_size", c.intermediate_size},
        {"vocab_size", c.vocab_size},
        {"max_position_embeddings", c.max_position_embeddings},
        {"tie_word_embeddings", c.tie_word_embeddings},
    };
  }
  out["quant_method"] = report.quant_method;
  out["kv_cache"] = report.kv_cache;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const PrecisionRow& row : report.rows) {
    rows.push_back({{"component", row.component},
                    {"layers", row.layers},
                    {"tensors", row.num_tensors},
                    {"params", row.num_params},
                    {"scheme", row.scheme},
                    {"dtype", row.dtype},
                    {"bytes", row.num_bytes}});
  }
  out["precision"] = rows;
  out["totals"] = {{"shards", report.num_shards},
                   {"tensors", report.num_tensors},
                   {"mtp_tensors", report.num_mtp_tensors},
                   {"params", report.num_params},
                   {"active_params_per_token", report.num_active_params},
                   {"file_bytes", report.file_bytes},
                   {"resident_bytes", report.resident_bytes},
                   {"active_bytes_per_token", report.active_bytes_per_token},
                   {"kv_bytes_per_token_bf16", report.kv_bytes_per_token_bf16},
                   {"kv_bytes_per_token_fp8", report.kv_bytes_per_token_fp8}};
  out["tokenizer"] = {{"present", text.has_tokenizer}, {"vocab_size", text.vocab_size}};
  out["chat_template"] = text.chat_template;
  out["tensor_parallel_sizes"] = report.tensor_parallel_sizes;
  if (!report.tensor_parallel_limit.empty())
    out["tensor_parallel_limit"] = report.tensor_parallel_limit;
  out["warnings"] = report.warnings;
  return out;
}

void print_table(const std::vector<std::vector<std::string>>& table, std::ostream& out) {
  std::vector<size_t> widths(table.front().size(), 0);
  for (const auto& row : table) {
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  for (size_t r = 0; r < table.size(); ++r) {
    out << "|";
    for (size_t i = 0; i < table[r].size(); ++i) {
      out << " " << std::left << std::setw(static_cast<int>(widths[i])) << table[r][i] << " |";
    }
    out << "\n";
    if (r == 0) {
      out << "|";
      for (size_t width : widths)
        out << std::string(width + 2, '-') << "|";
      out << "\n";
    }
  }
}

void print_text(const InspectReport& report, const TextReport& text, std::ostream& out) {
  out << "Checkpoint    " << report.folder << "\n";
  if (report.config) {
    const ModelConfig& c = *report.config;
    out << "Architecture  " << c.architecture << " (" << c.model_type << ")\n"
        << "  layers " << c.num_hidden_layers << ", hidden " << c.hidden_size << ", heads "
        << c.num_attention_heads << " q / " << c.num_key_value_heads << " kv x " << c.head_dim
        << " (RoPE on " << c.rotary_dim << " dims, theta " << c.rope_theta << ")\n"
        << "  experts " << c.num_local_experts << " (top " << c.num_experts_per_tok
        << ") x intermediate " << c.intermediate_size << ", vocab " << c.vocab_size
        << ", max positions " << c.max_position_embeddings << "\n";
  }
  if (!report.quant_method.empty()) {
    out << "Quantization  " << report.quant_method << "\n"
        << "KV cache      " << report.kv_cache << "\n";
  }
  if (report.num_shards > 0) {
    out << "Files         " << report.num_shards << " shard(s), " << report.num_tensors
        << " tensors, " << format_bytes(report.file_bytes) << "\n";
  }
  if (!report.rows.empty()) {
    out << "\nPrecision map\n";
    std::vector<std::vector<std::string>> table = {
        {"Component", "Layers", "Tensors", "Params", "Scheme", "Dtype", "Bytes"}};
    for (const PrecisionRow& row : report.rows) {
      table.push_back({row.component, row.layers.empty() ? "-" : row.layers,
                       std::to_string(row.num_tensors), format_count(row.num_params), row.scheme,
                       row.dtype.empty() ? "-" : row.dtype, format_bytes(row.num_bytes)});
    }
    print_table(table, out);
    out << "\nTotals\n"
        << "  parameters        " << format_count(report.num_params) << " (active per token "
        << format_count(report.num_active_params) << ")\n"
        << "  on disk           " << format_bytes(report.file_bytes) << "\n"
        << "  resident          " << format_bytes(report.resident_bytes) << "\n"
        << "  read per token    " << format_bytes(report.active_bytes_per_token)
        << " (batch-1 decode)\n"
        << "  KV per token      BF16 " << format_bytes(report.kv_bytes_per_token_bf16) << ", FP8 "
        << format_bytes(report.kv_bytes_per_token_fp8) << "\n";
    out << "  tensor parallel   ";
    for (size_t i = 0; i < report.tensor_parallel_sizes.size(); ++i)
      out << (i > 0 ? ", " : "") << report.tensor_parallel_sizes[i];
    out << (report.tensor_parallel_sizes.size() == 1 ? " rank only" : " ranks") << "\n";
    if (!report.tensor_parallel_limit.empty())
      out << "                    (" << report.tensor_parallel_limit << ")\n";
  }
  if (text.has_tokenizer) {
    out << "Tokenizer     tokenizer.json, " << text.vocab_size << " ids\n";
    if (!text.chat_template.empty()) out << "Chat template " << text.chat_template << "\n";
  } else if (report.valid) {
    out << "Tokenizer     none: mmd serves token-id prompts only\n";
  }
  for (const std::string& warning : report.warnings)
    out << "warning: " << warning << "\n";
  out << "\nValidation    " << (report.valid ? "OK" : "FAILED") << "\n";
}

}  // namespace

int run_inspect_command(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err) {
  bool json = false;
  std::string chat_template_file;
  std::vector<std::string> paths;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--chat-template" && i + 1 < args.size()) {
      chat_template_file = args[++i];
    } else if (arg.starts_with("--chat-template=")) {
      chat_template_file = arg.substr(std::string("--chat-template=").size());
    } else if (arg.starts_with("-")) {
      err << "mmctl inspect: unknown option " << arg << "\n";
      return kExitUsage;
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.size() != 1) {
    err << "usage: mmctl inspect [--json] [--chat-template FILE] CHECKPOINT_DIR\n";
    return kExitUsage;
  }
  InspectReport report = inspect_checkpoint(paths.front());
  inspect_runnable(report);
  TextReport text;
  inspect_text_files(report, text, chat_template_file);
  if (json) {
    out << report_json(report, text).dump(2) << "\n";
  } else {
    print_text(report, text, out);
  }
  if (!report.valid) {
    err << "mmctl inspect: error: " << report.error << "\n";
    return kExitBadCheckpoint;
  }
  return kExitOk;
}

}  // namespace mm
