#include "daemon/frontends/http/json_body.h"

#include <cstdint>
#include <limits>

#include "daemon/frontends/http/openai_request.h"

namespace mm::http {

nlohmann::ordered_json parse_json_body(std::string_view body) {
  using json = nlohmann::ordered_json;
  try {
    json value = json::parse(body, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth)
        throw ApiError(
            400, "the request body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      return true;
    });
    if (!value.is_object()) throw ApiError(400, "the request body must be a JSON object");
    return value;
  } catch (const json::parse_error& error) {
    throw ApiError(
        400, "the request body is not valid JSON (at byte " + std::to_string(error.byte) + ")");
  } catch (const json::out_of_range& error) {
    throw ApiError(400,
                   std::string("the request body holds a number out of range: ") + error.what());
  }
}

std::string json_type_name(const nlohmann::ordered_json& value) {
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  return "null";
}

text::JsonValue to_text_json(const nlohmann::ordered_json& value) {
  using json = nlohmann::ordered_json;
  switch (value.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      return {};
    case json::value_t::boolean:
      return text::JsonValue(value.get<bool>());
    case json::value_t::number_integer:
      return text::JsonValue(value.get<int64_t>());
    case json::value_t::number_unsigned: {
      const uint64_t u = value.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return text::JsonValue(static_cast<int64_t>(u));
      return text::JsonValue(static_cast<double>(u));
    }
    case json::value_t::number_float:
      return text::JsonValue(value.get<double>());
    case json::value_t::string:
      return text::JsonValue(value.get<std::string>());
    case json::value_t::array: {
      text::JsonArray items;
      items.reserve(value.size());
      for (const json& item : value)
        items.push_back(to_text_json(item));
      return text::JsonValue(std::move(items));
    }
    case json::value_t::object: {
      text::JsonObject members;
      members.reserve(value.size());
      for (auto it = value.begin(); it != value.end(); ++it)
        members.emplace_back(it.key(), to_text_json(it.value()));
      return text::JsonValue(std::move(members));
    }
    case json::value_t::binary:
      break;
  }
  return {};
}

}  // namespace mm::http
