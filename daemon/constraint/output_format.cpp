#include "daemon/constraint/output_format.h"

#include "daemon/text/error.h"

namespace mm::constraint {

using text::ChatRequestError;
using text::JsonValue;
using text::OutputFormat;

namespace {

OutputFormat schema_format(const JsonValue& schema, const std::string& where) {
  OutputFormat out;
  out.kind = OutputFormat::Kind::kJsonSchema;
  out.where = where;
  if (schema.is_string()) {  // vLLM accepts the schema as JSON text too
    try {
      out.schema = JsonValue::parse(schema.as_string(), where);
    } catch (const text::TextError& error) {
      throw ChatRequestError(where, std::string("is not valid JSON: ") + error.what());
    }
  } else {
    out.schema = schema;
  }
  if (!out.schema.is_object() && !out.schema.is_bool())
    throw ChatRequestError(where, "must be a JSON Schema object");
  return out;
}

OutputFormat regex_format(const JsonValue& regex, const std::string& where) {
  if (!regex.is_string() || regex.as_string().empty())
    throw ChatRequestError(where, "must be a non-empty string");
  OutputFormat out;
  out.kind = OutputFormat::Kind::kRegex;
  out.regex = regex.as_string();
  out.where = where;
  return out;
}

OutputFormat choice_format(const JsonValue& choices, const std::string& where) {
  if (!choices.is_array() || choices.as_array().empty())
    throw ChatRequestError(where, "must be a non-empty array of strings");
  OutputFormat out;
  out.kind = OutputFormat::Kind::kChoice;
  out.where = where;
  for (const JsonValue& c : choices.as_array()) {
    if (!c.is_string() || c.as_string().empty())
      throw ChatRequestError(where, "must be a non-empty array of non-empty strings");
    out.choices.push_back(c.as_string());
  }
  return out;
}

}  // namespace

OutputFormat output_format_from_json(const JsonValue& format, const std::string& where) {
  const JsonValue* type = format.find("type");
  if (type == nullptr || !type->is_string())
    throw ChatRequestError(where + ".type", "must be \"text\", \"json_object\" or \"json_schema\"");
  const std::string& t = type->as_string();
  OutputFormat out;
  out.where = where;
  if (t == "text") return out;
  if (t == "json_object") {
    out.kind = OutputFormat::Kind::kJsonObject;
    return out;
  }
  if (t != "json_schema")
    throw ChatRequestError(where + ".type", "must be \"text\", \"json_object\" or \"json_schema\"");
  const JsonValue* spec = format.find("json_schema");
  if (spec == nullptr || !spec->is_object())
    throw ChatRequestError(where + ".json_schema", "must be an object with a \"schema\"");
  const JsonValue* schema = spec->find("schema");
  if (schema == nullptr) throw ChatRequestError(where + ".json_schema.schema", "is required");
  if (const JsonValue* strict = spec->find("strict");
      strict != nullptr && !strict->is_bool() && !strict->is_null())
    throw ChatRequestError(where + ".json_schema.strict", "must be a boolean");
  return schema_format(*schema, where + ".json_schema.schema");
}

OutputFormat guided_from_json(std::string_view field, const JsonValue& value) {
  const std::string where(field);
  if (field == "guided_json") return schema_format(value, where);
  if (field == "guided_regex") return regex_format(value, where);
  if (field == "guided_choice") return choice_format(value, where);
  if (field != "structured_outputs")
    throw ChatRequestError(where, "is not a structured-output field");
  if (!value.is_object()) throw ChatRequestError(where, "must be an object");
  OutputFormat out;
  int count = 0;
  for (const auto& [key, v] : value.as_object()) {
    const std::string at = where + "." + key;
    if (v.is_null()) continue;
    if (key == "json") {
      out = schema_format(v, at);
    } else if (key == "regex") {
      out = regex_format(v, at);
    } else if (key == "choice") {
      out = choice_format(v, at);
    } else if (key == "json_object") {
      if (!v.is_bool()) throw ChatRequestError(at, "must be a boolean");
      if (!v.as_bool()) continue;
      out.kind = OutputFormat::Kind::kJsonObject;
      out.where = at;
    } else if (key == "disable_fallback" || key == "disable_any_whitespace" ||
               key == "disable_additional_properties" || key == "whitespace_pattern") {
      continue;  // backend tuning knobs of vLLM; mmd has one backend
    } else {
      throw ChatRequestError(at, "is not supported (json, regex, choice, json_object are)");
    }
    ++count;
  }
  if (count > 1)
    throw ChatRequestError(where, "must set only one of json, regex, choice, json_object");
  return out;
}

void apply_output_format(OutputFormat format, text::ChatRequest& request) {
  if (format.kind == OutputFormat::Kind::kText) return;
  if (request.output.kind != OutputFormat::Kind::kText)
    throw ChatRequestError(format.where, "conflicts with '" + request.output.where +
                                             "': a request has one output format");
  request.output = std::move(format);
}

}  // namespace mm::constraint
