// The `quantization_config` of config.json (quant-formats.md §1–§3): which scheme each Linear
// of the model uses, and how the KV cache is quantized. Immutable after parsing; resolve() is
// safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/model/linear_scheme.h"
#include "daemon/model/name_pattern.h"

namespace mm {

enum class QuantMethod : uint8_t { kNone, kFp8, kCompressedTensors, kQuark };

std::string_view quant_method_name(QuantMethod method);

struct KvCacheScheme {
  bool fp8 = false;       // false: the cache keeps the activation dtype (BF16)
  bool per_head = false;  // compressed-tensors strategy attn_head: one scale per KV head
  // The checkpoint spelling of the scales: "self_attn.k_scale" (compressed-tensors) or
  // "self_attn.k_proj.output_scale" (Quark).
  std::string k_scale_suffix;
  std::string v_scale_suffix;
  std::string origin;
};

class QuantConfig {
 public:
  // Parses the quantization block of config.json text (`quantization_config`, the older
  // `compression_config`, or either under `text_config`). Throws LoadError naming the field.
  static QuantConfig parse(const std::string& config_text, const std::string& file);

  QuantMethod method() const { return method_; }
  const KvCacheScheme& kv_cache() const { return kv_cache_; }
  // The scheme of the Linear called `module_name` (e.g. "model.layers.3.self_attn.q_proj").
  // Throws LoadError naming the module and the scheme when mmd cannot run it.
  LinearScheme resolve(std::string_view module_name) const;
  // Notes worth showing a user (targets that matched nothing known, ...).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct Group {
    std::string name;
    std::vector<NamePattern> targets;
    std::optional<LinearScheme> scheme;  // nullopt: not runnable, see `unsupported`
    std::string unsupported;
  };

  LinearScheme resolve_fp8(std::string_view module_name) const;
  LinearScheme resolve_compressed_tensors(std::string_view module_name) const;
  LinearScheme resolve_quark(std::string_view module_name) const;

  QuantMethod method_ = QuantMethod::kNone;
  std::string file_;
  KvCacheScheme kv_cache_;
  std::vector<std::string> warnings_;
  // fp8: the block and the modules left unconverted.
  LinearScheme fp8_scheme_;
  std::vector<std::string> fp8_not_converted_;
  // compressed-tensors and Quark.
  std::vector<Group> groups_;  // Quark: layer_quant_config globs then the global config
  std::vector<NamePattern> ignore_;
  std::vector<std::string> quark_layer_globs_;  // parallel to groups_ for Quark ("" = global)
};

}  // namespace mm
