#include "daemon/model/quant_config.h"

#include <fnmatch.h>

#include "daemon/model/json_reader.h"
#include "daemon/model/load_error.h"

namespace mm {
namespace {

constexpr std::string_view kLinearClass = "Linear";
// Allowed ranges of the integer fields (each is kept as an int).
constexpr int64_t kMaxBits = 64;
constexpr int64_t kMaxGroup = int64_t{1} << 20;  // group_size, block rows and columns

// --- compressed-tensors QuantizationArgs --------------------------------------------------

struct CtArgs {
  int bits = 8;
  std::string type = "int";
  bool symmetric = true;
  std::string strategy;
  int group_size = 0;
  int block_n = 0;
  int block_k = 0;
  bool dynamic = false;
  std::string actorder;  // "", "group", "weight"
};

CtArgs parse_ct_args(const JsonObjectReader& args) {
  CtArgs out;
  out.bits = static_cast<int>(args.optional_integer_in("num_bits", 1, kMaxBits).value_or(8));
  out.type = args.optional_string("type").value_or("int");
  out.symmetric = args.optional_boolean("symmetric").value_or(true);
  const auto group_size = args.optional_integer_in("group_size", -1, kMaxGroup);
  out.strategy = args.optional_string("strategy").value_or("");
  if (out.strategy.empty()) {  // compressed-tensors infers it (quant_args.py)
    out.strategy = !group_size ? "tensor" : (*group_size == -1 ? "channel" : "group");
  }
  out.group_size = static_cast<int>(group_size.value_or(0));
  if (auto block = args.get("block_structure"); block && !block->is_null()) {
    std::string_view text;
    if (!block->get(text)) {  // legacy "128x128"
      const size_t x = text.find('x');
      try {
        if (x == std::string_view::npos) throw std::invalid_argument("no x");
        const long long n = std::stoll(std::string(text.substr(0, x)));
        const long long k = std::stoll(std::string(text.substr(x + 1)));
        args.check_range("block_structure", static_cast<int64_t>(n), 1, kMaxGroup);
        args.check_range("block_structure", static_cast<int64_t>(k), 1, kMaxGroup);
        out.block_n = static_cast<int>(n);
        out.block_k = static_cast<int>(k);
      } catch (const std::logic_error&) {
        args.fail("block_structure", "'" + std::string(text) + "' is not of the form NxK");
      }
    } else {
      auto dims = args.integer_list("block_structure");
      if (dims.size() != 2) args.fail("block_structure", "must be [rows, cols]");
      for (int64_t dim : dims)
        args.check_range("block_structure", dim, 1, kMaxGroup);
      out.block_n = static_cast<int>(dims[0]);
      out.block_k = static_cast<int>(dims[1]);
    }
  }
  if (auto dynamic = args.get("dynamic"); dynamic && !dynamic->is_null()) {
    bool flag;
    std::string_view text;
    if (!dynamic->get(flag)) {
      out.dynamic = flag;
    } else if (!dynamic->get(text)) {
      out.dynamic = true;  // "local"
    }
  }
  if (auto actorder = args.get("actorder"); actorder && !actorder->is_null()) {
    bool flag;
    std::string_view text;
    if (!actorder->get(flag)) {
      out.actorder = flag ? "group" : "";
    } else if (!actorder->get(text)) {
      out.actorder = text == "dynamic" ? "group" : (text == "static" ? "weight" : text);
    }
  }
  return out;
}

std::string describe(const CtArgs& args) {
  std::string out = args.type + std::to_string(args.bits) + " " + args.strategy;
  if (args.strategy == "group") out += " " + std::to_string(args.group_size);
  if (!args.symmetric) out += " asymmetric";
  return out;
}

// Builds the scheme of one config group, or says why mmd cannot run it.
std::optional<LinearScheme> ct_group_scheme(const JsonObjectReader& group,
                                            const std::string& global_format,
                                            std::string& unsupported) {
  auto weights_reader = group.optional_object("weights");
  if (!weights_reader) {
    unsupported = "has no weight quantization";
    return std::nullopt;
  }
  const CtArgs weights = parse_ct_args(*weights_reader);
  std::optional<CtArgs> inputs;
  if (auto reader = group.optional_object("input_activations")) inputs = parse_ct_args(*reader);
  if (group.optional_object("output_activations")) {
    unsupported = "quantizes output activations";
    return std::nullopt;
  }
  std::string format = group.optional_string("format").value_or(global_format);
  if (format.empty() || format == "mixed-precision") {
    // compressed-tensors' inference order (compressors/format.py) for the formats mmd reads.
    if (weights.type == "int") {
      format = inputs ? "int-quantized" : "pack-quantized";
    } else {
      format = inputs ? "float-quantized" : "naive-quantized";
    }
  }

  LinearScheme scheme;
  scheme.symmetric = weights.symmetric;
  scheme.bits = weights.bits;
  if (weights.strategy == "tensor") {
    scheme.strategy = ScaleStrategy::kTensor;
  } else if (weights.strategy == "channel") {
    scheme.strategy = ScaleStrategy::kChannel;
  } else if (weights.strategy == "group") {
    scheme.strategy = ScaleStrategy::kGroup;
    scheme.group_size = weights.group_size;
    if (scheme.group_size <= 0) {
      unsupported = "uses strategy group with group_size " + std::to_string(weights.group_size);
      return std::nullopt;
    }
  } else if (weights.strategy == "block") {
    scheme.strategy = ScaleStrategy::kBlock;
    scheme.block_n = weights.block_n;
    scheme.block_k = weights.block_k;
    if (scheme.block_n <= 0 || scheme.block_k <= 0) {
      unsupported = "uses strategy block without a block_structure";
      return std::nullopt;
    }
  } else {
    unsupported = "uses weight strategy '" + weights.strategy + "'";
    return std::nullopt;
  }
  if (weights.actorder == "group") {
    if (scheme.strategy != ScaleStrategy::kGroup) {
      unsupported = "uses actorder group without group strategy";
      return std::nullopt;
    }
    scheme.has_g_idx = true;
  }

  if (inputs) {
    if (!inputs->dynamic) {
      unsupported =
          "quantizes activations with static scales (input_scale), which mmd does not run";
      return std::nullopt;
    }
    if (inputs->type == "float" && inputs->bits == 8) {
      if (inputs->strategy == "group") {
        scheme.activations = ActQuant::kFp8PerTokenGroup;
        scheme.act_group_size = inputs->group_size;
      } else if (inputs->strategy == "token") {
        scheme.activations = ActQuant::kFp8PerToken;
      } else {
        unsupported = "quantizes activations to fp8 per " + inputs->strategy;
        return std::nullopt;
      }
    } else if (inputs->type == "int" && inputs->bits == 8 && inputs->strategy == "token") {
      scheme.activations = ActQuant::kInt8PerToken;
    } else {
      unsupported = "quantizes activations as " + describe(*inputs);
      return std::nullopt;
    }
  }

  if (weights.type == "int") {
    if (format == "pack-quantized") {
      if (weights.bits != 4 && weights.bits != 8) {
        unsupported = "packs " + std::to_string(weights.bits) + "-bit integers";
        return std::nullopt;
      }
      if (scheme.strategy != ScaleStrategy::kGroup && scheme.strategy != ScaleStrategy::kChannel) {
        unsupported = "packs integers with strategy " + weights.strategy;
        return std::nullopt;
      }
      if (inputs) {
        unsupported = "combines packed int" + std::to_string(weights.bits) +
                      " weights with activation quantization";
        return std::nullopt;
      }
      scheme.format = WeightFormat::kIntPacked;
    } else if (format == "int-quantized" || format == "naive-quantized") {
      if (weights.bits != 8 || scheme.strategy != ScaleStrategy::kChannel || !weights.symmetric) {
        unsupported = "stores " + describe(weights) + " integers unpacked";
        return std::nullopt;
      }
      scheme.format = WeightFormat::kInt8;
    } else {
      unsupported = "uses format '" + format + "'";
      return std::nullopt;
    }
  } else if (weights.type == "float") {
    if (weights.bits != 8 || (format != "float-quantized" && format != "naive-quantized")) {
      unsupported = "stores " + describe(weights) + " floats in format '" + format + "'";
      return std::nullopt;
    }
    if (!weights.symmetric || scheme.strategy == ScaleStrategy::kGroup) {
      unsupported = "stores fp8 weights as " + describe(weights);
      return std::nullopt;
    }
    scheme.format = WeightFormat::kFp8;
  } else {
    unsupported = "has weight type '" + weights.type + "'";
    return std::nullopt;
  }
  return scheme;
}

KvCacheScheme parse_ct_kv_scheme(const JsonObjectReader& args_reader) {
  const CtArgs args = parse_ct_args(args_reader);
  if (args.type != "float" || args.bits != 8 || !args.symmetric ||
      (args.strategy != "tensor" && args.strategy != "attn_head")) {
    throw LoadError(args_reader.where("") + " " + describe(args) +
                    " is not supported (only symmetric fp8 per tensor or per attention head)");
  }
  KvCacheScheme out;
  out.fp8 = true;
  out.per_head = args.strategy == "attn_head";
  out.k_scale_suffix = "self_attn.k_scale";
  out.v_scale_suffix = "self_attn.v_scale";
  out.origin = "kv_cache_scheme";
  return out;
}

// --- Quark ---------------------------------------------------------------------------------

std::optional<LinearScheme> quark_scheme(const JsonObjectReader& layer, std::string& unsupported) {
  auto weight = layer.optional_object("weight");
  if (!weight) {
    unsupported = "has no weight quantization";
    return std::nullopt;
  }
  const std::string dtype = weight->optional_string("dtype").value_or("");
  const std::string qscheme = weight->optional_string("qscheme").value_or("");
  if (dtype != "int8" || qscheme != "per_channel" ||
      weight->optional_integer("ch_axis").value_or(0) != 0 ||
      !weight->optional_boolean("symmetric").value_or(true)) {
    unsupported = "quantizes weights as " + dtype + " " + qscheme +
                  " (mmd reads Quark int8 per-channel symmetric weights)";
    return std::nullopt;
  }
  LinearScheme scheme;
  scheme.format = WeightFormat::kInt8;
  scheme.strategy = ScaleStrategy::kChannel;
  scheme.bits = 8;
  scheme.has_symmetric_zero_point = true;
  if (auto input = layer.optional_object("input_tensors")) {
    const bool per_token = input->optional_string("dtype").value_or("") == "int8" &&
                           input->optional_string("qscheme").value_or("") == "per_channel" &&
                           input->optional_integer("ch_axis").value_or(1) == 1 &&
                           input->optional_boolean("is_dynamic").value_or(false);
    if (!per_token) {
      unsupported = "quantizes inputs other than int8 per-token dynamic";
      return std::nullopt;
    }
    scheme.activations = ActQuant::kInt8PerToken;
  }
  if (layer.optional_object("output_tensors")) {
    unsupported = "quantizes output tensors";
    return std::nullopt;
  }
  return scheme;
}

bool matches_any(const std::vector<NamePattern>& patterns, std::string_view name,
                 const std::string& alias) {
  for (const NamePattern& pattern : patterns) {
    if (pattern.matches(name, kLinearClass) || pattern.matches(alias, kLinearClass)) return true;
  }
  return false;
}

// modules_to_not_convert entries match on whole dotted components ("gate" skips
// "...block_sparse_moe.gate" but would not skip a "gate_proj").
bool dotted_match(std::string_view name, std::string_view entry) {
  if (entry.empty()) return false;
  size_t at = name.find(entry);
  while (at != std::string_view::npos) {
    const bool starts = at == 0 || name[at - 1] == '.';
    const size_t end = at + entry.size();
    const bool ends = end == name.size() || name[end] == '.';
    if (starts && ends) return true;
    at = name.find(entry, at + 1);
  }
  return false;
}

}  // namespace

std::string_view quant_method_name(QuantMethod method) {
  switch (method) {
    case QuantMethod::kNone:
      return "none";
    case QuantMethod::kFp8:
      return "fp8";
    case QuantMethod::kCompressedTensors:
      return "compressed-tensors";
    case QuantMethod::kQuark:
      return "quark";
  }
  return "?";
}

QuantConfig QuantConfig::parse(const std::string& config_text, const std::string& file) {
  simdjson::dom::parser parser;
  JsonObjectReader config(parse_json_document(parser, config_text, file), file, "");
  QuantConfig out;
  out.file_ = file;

  std::optional<JsonObjectReader> block = config.optional_object("quantization_config");
  if (!block) block = config.optional_object("compression_config");
  if (!block) {
    if (auto text_config = config.optional_object("text_config")) {
      block = text_config->optional_object("quantization_config");
    }
  }
  if (!block) return out;

  const std::string method = block->optional_string("quant_method").value_or("");
  if (method == "fp8") {
    out.method_ = QuantMethod::kFp8;
    const std::string fmt = block->optional_string("fmt").value_or("float8_e4m3fn");
    if (fmt != "float8_e4m3fn" && fmt != "e4m3") {
      block->fail("fmt", "'" + fmt + "' is not supported (only float8_e4m3fn)");
    }
    auto sizes = block->integer_list("weight_block_size");
    if (sizes.size() != 2) {
      block->fail("weight_block_size",
                  "must be [rows, cols]; per-tensor fp8 checkpoints are not supported");
    }
    for (int64_t size : sizes)
      block->check_range("weight_block_size", size, 1, kMaxGroup);
    const std::string activation = block->optional_string("activation_scheme").value_or("dynamic");
    if (activation != "dynamic") {
      block->fail("activation_scheme", "'" + activation + "' is not supported (only dynamic)");
    }
    LinearScheme& scheme = out.fp8_scheme_;
    scheme.format = WeightFormat::kFp8;
    scheme.strategy = ScaleStrategy::kBlock;
    scheme.bits = 8;
    scheme.block_n = static_cast<int>(sizes[0]);
    scheme.block_k = static_cast<int>(sizes[1]);
    scheme.activations = ActQuant::kFp8PerTokenGroup;
    scheme.act_group_size = scheme.block_k;
    scheme.scale_suffix = "weight_scale_inv";
    scheme.origin = "quantization_config (fp8)";
    out.fp8_not_converted_ = block->string_list("modules_to_not_convert");
    for (const std::string& name : block->string_list("ignored_layers")) {
      out.fp8_not_converted_.push_back(name);
    }
  } else if (method == "compressed-tensors") {
    out.method_ = QuantMethod::kCompressedTensors;
    const std::string global_format = block->optional_string("format").value_or("");
    // llm-compressor writes these keys as empty objects on ordinary checkpoints; only ones
    // that actually sparsify or rotate something are refused.
    if (auto sparsity = block->optional_object("sparsity_config")) {
      const std::string format = sparsity->optional_string("format").value_or("dense");
      if (sparsity->raw().size() > 0 && format != "dense") {
        block->fail("sparsity_config", "sparse format '" + format + "' is not supported");
      }
    }
    if (auto transform = block->optional_object("transform_config")) {
      if (auto groups = transform->optional_object("config_groups");
          groups && groups->raw().size() > 0) {
        block->fail("transform_config", "transformed (rotated) checkpoints are not supported");
      }
    }
    auto groups = block->object("config_groups");
    for (auto [name_view, value] : groups.raw()) {
      const std::string name(name_view);
      Group group;
      group.name = "config_groups." + name;
      JsonObjectReader reader(value, file, "quantization_config." + group.name);
      for (const std::string& target : reader.string_list("targets")) {
        group.targets.emplace_back(target, reader.where("targets"));
      }
      group.scheme = ct_group_scheme(reader, global_format, group.unsupported);
      if (group.scheme) group.scheme->origin = group.name;
      out.groups_.push_back(std::move(group));
    }
    for (const std::string& entry : block->string_list("ignore")) {
      out.ignore_.emplace_back(entry, block->where("ignore"));
    }
    if (auto kv = block->optional_object("kv_cache_scheme"))
      out.kv_cache_ = parse_ct_kv_scheme(*kv);
  } else if (method == "quark") {
    out.method_ = QuantMethod::kQuark;
    for (const std::string& entry : block->string_list("exclude")) {
      out.ignore_.emplace_back(entry, block->where("exclude"));
    }
    if (auto layers = block->optional_object("layer_quant_config")) {
      for (auto [glob, value] : layers->raw()) {
        Group group;
        group.name = "layer_quant_config." + std::string(glob);
        JsonObjectReader reader(value, file, "quantization_config." + group.name);
        group.scheme = quark_scheme(reader, group.unsupported);
        if (group.scheme) group.scheme->origin = group.name;
        out.groups_.push_back(std::move(group));
        out.quark_layer_globs_.emplace_back(glob);
      }
    }
    if (auto types = block->optional_object("layer_type_quant_config")) {
      for (auto [type, value] : types->raw()) {
        (void)value;
        if (std::string(type) != "Linear") {
          out.warnings_.push_back("layer_type_quant_config entry '" + std::string(type) +
                                  "' names no MiniMax-M2 module type; ignored");
          continue;
        }
        block->fail("layer_type_quant_config", "per-type overrides are not supported");
      }
    }
    Group global;
    global.name = "global_quant_config";
    global.scheme = quark_scheme(block->object("global_quant_config"), global.unsupported);
    if (global.scheme) global.scheme->origin = global.name;
    out.groups_.push_back(std::move(global));
    out.quark_layer_globs_.emplace_back();
    if (auto exported = block->optional_object("export")) {
      if (!exported->string_list("kv_cache_group").empty()) {
        out.kv_cache_.fp8 = true;
        out.kv_cache_.k_scale_suffix = "self_attn.k_proj.output_scale";
        out.kv_cache_.v_scale_suffix = "self_attn.v_proj.output_scale";
        out.kv_cache_.origin = "export.kv_cache_group";
      }
    }
  } else {
    block->fail("quant_method", "'" + method +
                                    "' is not supported (mmd reads fp8, compressed-tensors and "
                                    "quark checkpoints, or unquantized ones)");
  }
  return out;
}

LinearScheme QuantConfig::resolve(std::string_view module_name) const {
  switch (method_) {
    case QuantMethod::kNone: {
      LinearScheme dense;
      dense.origin = "unquantized checkpoint";
      return dense;
    }
    case QuantMethod::kFp8:
      return resolve_fp8(module_name);
    case QuantMethod::kCompressedTensors:
      return resolve_compressed_tensors(module_name);
    case QuantMethod::kQuark:
      return resolve_quark(module_name);
  }
  return {};
}

LinearScheme QuantConfig::resolve_fp8(std::string_view module_name) const {
  for (const std::string& entry : fp8_not_converted_) {
    if (dotted_match(module_name, entry)) {
      LinearScheme dense;
      dense.origin = "modules_to_not_convert '" + entry + "'";
      return dense;
    }
  }
  return fp8_scheme_;
}

LinearScheme QuantConfig::resolve_compressed_tensors(std::string_view module_name) const {
  const std::string alias = hf_module_alias(module_name);
  for (const NamePattern& pattern : ignore_) {
    if (pattern.matches(module_name, kLinearClass) || pattern.matches(alias, kLinearClass)) {
      LinearScheme dense;
      dense.origin = "ignore '" + pattern.text() + "'";
      return dense;
    }
  }
  // compressed-tensors ranks an exact name over a regex over a class name; between groups of
  // the same rank the later one wins, as when vLLM flattens the groups into one map.
  const Group* best = nullptr;
  int best_rank = -1;
  for (const Group& group : groups_) {
    for (const NamePattern& target : group.targets) {
      if (!target.matches(module_name, kLinearClass) && !target.matches(alias, kLinearClass)) {
        continue;
      }
      const int rank = target.kind() == NamePattern::Kind::kExact   ? 2
                       : target.kind() == NamePattern::Kind::kRegex ? 1
                                                                    : 0;
      if (rank >= best_rank) {
        best_rank = rank;
        best = &group;
      }
    }
  }
  if (best == nullptr) {
    LinearScheme dense;
    dense.origin = "no config group targets it";
    return dense;
  }
  if (!best->scheme) {
    throw LoadError(file_ + ": module " + std::string(module_name) + " is quantized by " +
                    best->name + ", which " + best->unsupported + "; mmd cannot run it");
  }
  return *best->scheme;
}

LinearScheme QuantConfig::resolve_quark(std::string_view module_name) const {
  const std::string alias = hf_module_alias(module_name);
  if (matches_any(ignore_, module_name, alias)) {
    LinearScheme dense;
    dense.origin = "exclude";
    return dense;
  }
  const std::string name(module_name);
  for (size_t i = 0; i < groups_.size(); ++i) {
    const std::string& glob = quark_layer_globs_[i];
    if (!glob.empty() && ::fnmatch(glob.c_str(), name.c_str(), 0) != 0 &&
        ::fnmatch(glob.c_str(), alias.c_str(), 0) != 0) {
      continue;
    }
    if (!groups_[i].scheme) {
      throw LoadError(file_ + ": module " + name + " is quantized by " + groups_[i].name +
                      ", which " + groups_[i].unsupported + "; mmd cannot run it");
    }
    return *groups_[i].scheme;
  }
  LinearScheme dense;
  dense.origin = "no Quark config applies";
  return dense;
}

}  // namespace mm
