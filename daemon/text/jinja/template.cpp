#include "daemon/text/jinja/template.h"

#include <ctime>

#include "daemon/text/error.h"
#include "daemon/text/jinja/interpreter.h"
#include "daemon/text/jinja/parser.h"

namespace mm::text {
namespace {

using jinja::KwArgs;
using jinja::Value;

constexpr int64_t kMaxRange = 1'000'000;

Value function(std::string name, std::function<Value(std::vector<Value>&, KwArgs&)> fn) {
  auto callable = std::make_shared<jinja::Callable>();
  callable->name = std::move(name);
  callable->call = std::move(fn);
  return Value(callable);
}

int64_t int_of(const Value& v, const char* what) {
  if (v.is_int()) return v.data().as_int();
  if (v.is_bool()) return v.data().as_bool() ? 1 : 0;
  throw TextError(std::string(what) + ": expected an integer, got " + v.type_name());
}

std::vector<std::pair<std::string, Value>> make_globals() {
  std::vector<std::pair<std::string, Value>> globals;
  globals.emplace_back("range", function("range", [](std::vector<Value>& args, KwArgs&) -> Value {
                         if (args.empty() || args.size() > 3)
                           throw TextError("range: expected 1 to 3 arguments");
                         int64_t start = 0, stop = 0, step = 1;
                         if (args.size() == 1) {
                           stop = int_of(args[0], "range");
                         } else {
                           start = int_of(args[0], "range");
                           stop = int_of(args[1], "range");
                           if (args.size() == 3) step = int_of(args[2], "range");
                         }
                         if (step == 0) throw TextError("range: step must not be zero");
                         JsonArray out;
                         for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                           if (static_cast<int64_t>(out.size()) >= kMaxRange)
                             throw TextError("range: more than 1,000,000 items");
                           out.emplace_back(i);
                         }
                         return Value(JsonValue(std::move(out)));
                       }));
  globals.emplace_back(
      "namespace", function("namespace", [](std::vector<Value>& args, KwArgs& kwargs) -> Value {
        auto ns = jinja::make_namespace();
        for (const Value& arg : args) {
          if (!arg.is_dict()) throw TextError("namespace: positional argument must be a mapping");
          for (const auto& [k, v] : arg.data().as_object())
            ns->attributes.emplace_back(k, Value(v));
        }
        for (auto& [k, v] : kwargs) {
          if (!k.empty() && k[0] == '_')
            throw TextError("namespace: underscore-prefixed attribute '" + k + "'");
          if (Value* existing = ns->find(k)) {
            *existing = v;
          } else {
            ns->attributes.emplace_back(k, v);
          }
        }
        return Value(ns);
      }));
  globals.emplace_back("dict",
                       function("dict", [](std::vector<Value>& args, KwArgs& kwargs) -> Value {
                         JsonObject out;
                         auto put = [&](const std::string& k, JsonValue v) {
                           for (auto& [key, value] : out) {
                             if (key == k) {
                               value = std::move(v);
                               return;
                             }
                           }
                           out.emplace_back(k, std::move(v));
                         };
                         for (const Value& arg : args) {
                           if (!arg.is_dict())
                             throw TextError("dict: positional argument must be a mapping");
                           for (const auto& [k, v] : arg.data().as_object())
                             put(k, v);
                         }
                         for (auto& [k, v] : kwargs)
                           put(k, v.to_json("dict"));
                         return Value(JsonValue(std::move(out)));
                       }));
  globals.emplace_back(
      "raise_exception",
      function("raise_exception", [](std::vector<Value>& args, KwArgs&) -> Value {
        throw TextError("raise_exception: " + (args.empty() ? std::string() : args[0].to_string()));
      }));
  globals.emplace_back(
      "strftime_now", function("strftime_now", [](std::vector<Value>& args, KwArgs&) -> Value {
        if (args.empty() || !args[0].is_string())
          throw TextError("strftime_now: expected a format string");
        const std::time_t now = std::time(nullptr);
        std::tm local{};
        localtime_r(&now, &local);
        char buffer[512];
        const size_t n = std::strftime(buffer, sizeof(buffer), args[0].str_data().c_str(), &local);
        return Value::of(std::string(buffer, n));
      }));
  return globals;
}

}  // namespace

JinjaTemplate::JinjaTemplate(std::shared_ptr<const jinja::Node> root, std::string name)
    : root_(std::move(root)), name_(std::move(name)) {}

JinjaTemplate JinjaTemplate::parse(std::string_view source, std::string name) {
  std::shared_ptr<const jinja::Node> root = jinja::parse(source, name);
  return JinjaTemplate(std::move(root), std::move(name));
}

std::string JinjaTemplate::render(const JsonObject& variables) const {
  auto globals = make_globals();
  // Caller variables shadow the globals, as Jinja's render context does.
  std::vector<std::pair<std::string, Value>> names;
  for (const auto& [key, value] : variables)
    names.emplace_back(key, Value(value));
  for (auto& g : globals)
    names.push_back(std::move(g));
  jinja::Interpreter interpreter(name_, std::move(names));
  return interpreter.render(*root_);
}

}  // namespace mm::text
