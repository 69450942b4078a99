#include "daemon/frontends/http/json_body.h"

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

}  // namespace mm::http
