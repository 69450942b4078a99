// Jinja filters, tests, attribute/item access and Python str/dict methods, with Jinja2's
// semantics. One dispatch per family; unknown names are errors naming the filter/test/method.
#include <algorithm>
#include <charconv>
#include <cmath>

#include "daemon/text/error.h"
#include "daemon/text/jinja/interpreter.h"
#include "daemon/text/jinja/string_ops.h"

namespace mm::text::jinja {
namespace {

// Python's int() would grow a big integer; ours is int64, so a float outside it (or NaN) is not
// convertible and the filter's default applies.
bool fits_int64(double d) {
  return d >= -9223372036854775808.0 && d < 9223372036854775808.0;
}

// Positional-or-keyword argument access for builtins.
struct Args {
  std::vector<Value>& pos;
  KwArgs& kw;
  const Value* get(size_t index, std::string_view name) const {
    for (const auto& [key, value] : kw) {
      if (key == name) return &value;
    }
    return index < pos.size() ? &pos[index] : nullptr;
  }
};

std::string as_text(const Value& v) {
  return v.to_string();
}

Value make_method(std::string name, std::function<Value(std::vector<Value>&, KwArgs&)> fn) {
  auto callable = std::make_shared<Callable>();
  callable->name = std::move(name);
  callable->call = std::move(fn);
  return Value(callable);
}

int64_t int_arg(Interpreter& in, const Node& at, const Value* v, int64_t fallback,
                const char* what) {
  if (v == nullptr || v->is_none()) return fallback;
  if (v->is_int()) return v->data().as_int();
  if (v->is_bool()) return v->data().as_bool() ? 1 : 0;
  in.fail(at, std::string(what) + " must be an integer, got " + v->type_name());
}

std::optional<std::string> opt_string(Interpreter& in, const Node& at, const Value* v,
                                      const char* what) {
  if (v == nullptr || v->is_none()) return std::nullopt;
  if (!v->is_string()) in.fail(at, std::string(what) + " must be a string, got " + v->type_name());
  return v->str_data();
}

// Python ordering for sort/dictsort/min/max: numbers, strings, lists of those.
int compare_values(Interpreter& in, const Node& at, const JsonValue& a, const JsonValue& b,
                   bool case_sensitive) {
  auto num = [](const JsonValue& v) {
    return v.is_bool() ? (v.as_bool() ? 1.0 : 0.0) : v.as_number();
  };
  if ((a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool())) {
    return num(a) < num(b) ? -1 : (num(a) > num(b) ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    if (case_sensitive) return a.as_string().compare(b.as_string());
    return py_lower(a.as_string()).compare(py_lower(b.as_string()));
  }
  if (a.is_array() && b.is_array()) {
    const auto& x = a.as_array();
    const auto& y = b.as_array();
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
      const int c = compare_values(in, at, x[i], y[i], case_sensitive);
      if (c != 0) return c;
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  in.fail(at, "cannot order values of different types");
}

// `attribute="a.b"` lookups used by map/selectattr/sort/join/groupby-like filters.
Value dotted_attribute(Interpreter& in, const Node& at, Value item, const std::string& path) {
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    // Digits index a list, as Jinja's environment.getitem does; a number too large for an index
    // is looked up as a name, which finds nothing.
    int64_t index = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
    const bool numeric =
        !part.empty() && part[0] != '-' && ec == std::errc() && end == part.data() + part.size();
    item = numeric ? in.get_item(at, item, Value::of(index)) : in.get_attr(at, item, part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return item;
}

JsonDumpOptions tojson_options(Interpreter& in, const Node& at, Args& a) {
  JsonDumpOptions options;
  if (const Value* v = a.get(0, "ensure_ascii")) options.ensure_ascii = v->truthy();
  if (const Value* v = a.get(1, "indent"); v != nullptr && !v->is_none()) {
    if (v->is_string()) in.fail(at, "tojson: string indent is not supported");
    options.indent = static_cast<int>(int_arg(in, at, v, 0, "tojson indent"));
  }
  options.item_separator = options.indent ? "," : ", ";
  if (const Value* v = a.get(2, "separators"); v != nullptr && !v->is_none()) {
    if (!v->is_list() || v->data().as_array().size() != 2 || !v->data().as_array()[0].is_string() ||
        !v->data().as_array()[1].is_string()) {
      in.fail(at, "tojson: separators must be a pair of strings");
    }
    options.item_separator = v->data().as_array()[0].as_string();
    options.key_separator = v->data().as_array()[1].as_string();
  }
  if (const Value* v = a.get(3, "sort_keys")) options.sort_keys = v->truthy();
  return options;
}

}  // namespace

std::vector<Value> Interpreter::iterate(const Node& at, const Value& iterable) {
  std::vector<Value> items;
  if (iterable.is_undefined()) return items;
  if (iterable.is_list()) {
    for (const JsonValue& v : iterable.data().as_array())
      items.emplace_back(v);
  } else if (iterable.is_dict()) {
    for (const auto& [key, v] : iterable.data().as_object())
      items.push_back(Value::of(key));
  } else if (iterable.is_string()) {
    for (uint32_t cp : to_code_points(iterable.str_data()))
      items.push_back(Value::of(from_code_points({cp})));
  } else if (iterable.is_namespace()) {
    fail(at, "'Namespace' object is not iterable");
  } else {
    fail(at, "'" + iterable.type_name() + "' object is not iterable");
  }
  return items;
}

Value Interpreter::get_item(const Node& at, const Value& object, const Value& key) {
  check_defined(at, object);
  if (object.is_dict()) {
    if (key.is_string()) {
      if (const JsonValue* v = object.data().find(key.str_data())) return Value(*v);
    }
    return Value(Undefined{"'dict object' has no attribute '" + key.to_string() + "'"});
  }
  if ((object.is_list() || object.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t index = key.is_bool() ? int64_t{key.data().as_bool()} : key.data().as_int();
    if (object.is_list()) {
      const JsonArray& items = object.data().as_array();
      const auto n = static_cast<int64_t>(items.size());
      if (index < 0) index += n;
      if (index < 0 || index >= n) return Value(Undefined{"list index out of range"});
      return Value(items[static_cast<size_t>(index)]);
    }
    const auto cps = to_code_points(object.str_data());
    const auto n = static_cast<int64_t>(cps.size());
    if (index < 0) index += n;
    if (index < 0 || index >= n) return Value(Undefined{"string index out of range"});
    return Value::of(from_code_points({cps[static_cast<size_t>(index)]}));
  }
  if (key.is_string()) return get_attr(at, object, key.str_data());
  return Value(Undefined{"'" + object.type_name() + " object' has no item " + key.repr()});
}

Value Interpreter::get_attr(const Node& at, const Value& object, const std::string& name) {
  check_defined(at, object);
  if (object.is_namespace()) {
    if (Value* v = object.ns().find(name)) return *v;
    return Value(Undefined{"'Namespace' object has no attribute '" + name + "'"});
  }
  if (object.is_dict()) {
    const JsonValue& data = object.data();
    if (name == "items" || name == "keys" || name == "values") {
      return make_method(name, [data, name](std::vector<Value>&, KwArgs&) -> Value {
        JsonArray out;
        for (const auto& [k, v] : data.as_object()) {
          if (name == "items")
            out.emplace_back(JsonArray{JsonValue(k), v});
          else if (name == "keys")
            out.emplace_back(k);
          else
            out.push_back(v);
        }
        return Value(JsonValue(std::move(out)));
      });
    }
    if (name == "get") {
      return make_method(name, [data](std::vector<Value>& args, KwArgs&) -> Value {
        if (args.empty()) throw TextError("dict.get: missing key");
        if (args[0].is_string()) {
          if (const JsonValue* v = data.find(args[0].str_data())) return Value(*v);
        }
        return args.size() > 1 ? args[1] : Value::none();
      });
    }
    if (const JsonValue* v = object.data().find(name)) return Value(*v);
    return Value(Undefined{"'dict object' has no attribute '" + name + "'"});
  }
  if (object.is_string()) {
    const std::string& text = object.str_data();
    Interpreter* self = this;
    const Node* where = &at;
    auto method = [&](auto fn) { return make_method(name, fn); };
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      return method([=](std::vector<Value>& args, KwArgs&) -> Value {
        const std::optional<std::string> chars =
            args.empty() ? std::nullopt : opt_string(*self, *where, &args[0], "strip chars");
        return Value::of(py_strip(text, chars, name != "rstrip", name != "lstrip"));
      });
    }
    if (name == "split" || name == "rsplit") {
      return method([=](std::vector<Value>& args, KwArgs& kwargs) -> Value {
        Args a{args, kwargs};
        const auto sep = opt_string(*self, *where, a.get(0, "sep"), "split separator");
        const int64_t maxsplit = int_arg(*self, *where, a.get(1, "maxsplit"), -1, "maxsplit");
        JsonArray out;
        for (auto& piece : py_split(text, sep, maxsplit, name == "rsplit"))
          out.emplace_back(std::move(piece));
        return Value(JsonValue(std::move(out)));
      });
    }
    if (name == "startswith" || name == "endswith") {
      return method([=](std::vector<Value>& args, KwArgs&) -> Value {
        if (args.empty()) self->fail(*where, name + " takes one argument");
        std::vector<std::string> options;
        if (args[0].is_string()) {
          options.push_back(args[0].str_data());
        } else if (args[0].is_list()) {
          for (const JsonValue& v : args[0].data().as_array()) {
            if (!v.is_string()) self->fail(*where, name + ": tuple items must be strings");
            options.push_back(v.as_string());
          }
        } else {
          self->fail(*where,
                     name + " argument must be a string or tuple, not " + args[0].type_name());
        }
        for (const auto& o : options) {
          const bool hit = name == "startswith"
                               ? text.compare(0, o.size(), o) == 0
                               : text.size() >= o.size() &&
                                     text.compare(text.size() - o.size(), o.size(), o) == 0;
          if (hit) return Value::of(true);
        }
        return Value::of(false);
      });
    }
    if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
      return method([=](std::vector<Value>&, KwArgs&) -> Value {
        if (name == "upper") return Value::of(py_upper(text));
        if (name == "lower") return Value::of(py_lower(text));
        if (name == "title") return Value::of(py_title(text));
        return Value::of(py_capitalize(text));
      });
    }
    if (name == "replace") {
      return method([=](std::vector<Value>& args, KwArgs&) -> Value {
        if (args.size() < 2 || !args[0].is_string() || !args[1].is_string())
          self->fail(*where, "replace takes two strings");
        const int64_t count = args.size() > 2 ? int_arg(*self, *where, &args[2], -1, "count") : -1;
        return Value::of(py_replace(text, args[0].str_data(), args[1].str_data(), count));
      });
    }
    if (name == "find" || name == "rfind" || name == "count") {
      return method([=](std::vector<Value>& args, KwArgs&) -> Value {
        if (args.empty() || !args[0].is_string()) self->fail(*where, name + " takes a string");
        const std::string& needle = args[0].str_data();
        if (name == "count") {
          if (needle.empty()) return Value::of(static_cast<int64_t>(code_point_count(text) + 1));
          int64_t n = 0;
          for (size_t p = text.find(needle); p != std::string::npos;
               p = text.find(needle, p + needle.size()))
            ++n;
          return Value::of(n);
        }
        const size_t p = name == "find" ? text.find(needle) : text.rfind(needle);
        if (p == std::string::npos) return Value::of(int64_t{-1});
        return Value::of(static_cast<int64_t>(code_point_count(text.substr(0, p))));
      });
    }
    if (name == "join") {
      return method([=](std::vector<Value>& args, KwArgs&) -> Value {
        if (args.empty()) self->fail(*where, "join takes one argument");
        std::string out;
        bool first = true;
        for (const Value& item : self->iterate(*where, args[0])) {
          if (!item.is_string())
            self->fail(*where, "join: sequence item is " + item.type_name() + ", not str");
          if (!first) out += text;
          first = false;
          out += item.str_data();
        }
        return Value::of(std::move(out));
      });
    }
    if (name == "splitlines") {
      return method([=](std::vector<Value>&, KwArgs&) -> Value {
        JsonArray out;
        size_t start = 0;
        for (size_t i = 0; i < text.size(); ++i) {
          if (text[i] == '\n' || text[i] == '\r') {
            out.emplace_back(text.substr(start, i - start));
            if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            start = i + 1;
          }
        }
        if (start < text.size()) out.emplace_back(text.substr(start));
        return Value(JsonValue(std::move(out)));
      });
    }
    if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum" ||
        name == "isupper" || name == "islower") {
      return method([=](std::vector<Value>&, KwArgs&) -> Value {
        if (text.empty()) return Value::of(false);
        bool ok = true, cased = false;
        for (uint32_t cp : to_code_points(text)) {
          const bool digit = cp >= '0' && cp <= '9';
          const bool upper = cp >= 'A' && cp <= 'Z';
          const bool lower = cp >= 'a' && cp <= 'z';
          cased = cased || upper || lower;
          if (name == "isdigit")
            ok = ok && digit;
          else if (name == "isspace")
            ok = ok && is_python_space(cp);
          else if (name == "isalpha")
            ok = ok && (upper || lower);
          else if (name == "isalnum")
            ok = ok && (upper || lower || digit);
          else if (name == "isupper")
            ok = ok && !lower;
          else
            ok = ok && !upper;
        }
        if (name == "isupper" || name == "islower") ok = ok && cased;
        return Value::of(ok);
      });
    }
    return Value(Undefined{"'str object' has no attribute '" + name + "'"});
  }
  return Value(Undefined{"'" + object.type_name() + " object' has no attribute '" + name + "'"});
}

bool Interpreter::apply_test(const Node& at, const std::string& name, const Value& input,
                             std::vector<Value>& args) {
  auto arg = [&](size_t i) -> const Value& {
    if (i >= args.size()) fail(at, "test '" + name + "' needs an argument");
    return args[i];
  };
  if (name == "defined") return !input.is_undefined();
  if (name == "undefined") return input.is_undefined();
  if (name == "none") return input.is_none();
  if (name == "string") return input.is_string();
  if (name == "mapping") return input.is_dict() || input.is_namespace();
  if (name == "iterable")
    return input.is_list() || input.is_dict() || input.is_string() || input.is_undefined();
  if (name == "sequence")
    return input.is_list() || input.is_dict() || input.is_string() || input.is_undefined();
  if (name == "number") return input.is_number();
  if (name == "integer") return input.is_int();
  if (name == "float") return input.is_data() && input.data().is_float();
  if (name == "boolean") return input.is_bool();
  if (name == "true") return input.is_bool() && input.data().as_bool();
  if (name == "false") return input.is_bool() && !input.data().as_bool();
  if (name == "callable") return input.is_callable();
  if (name == "sameas") return input.equals(arg(0)) && input.type_name() == arg(0).type_name();
  if (name == "eq" || name == "equalto" || name == "==") return input.equals(arg(0));
  if (name == "ne" || name == "!=") return !input.equals(arg(0));
  if (name == "lower") return input.is_string() && py_lower(input.str_data()) == input.str_data();
  if (name == "upper") return input.is_string() && py_upper(input.str_data()) == input.str_data();
  if (name == "in") {
    Node op_node = Node(NodeKind::kBinary, at.line, at.column);
    op_node.text = "in";
    return eval_binary(op_node, input, arg(0)).truthy();
  }
  if (name == "lt" || name == "lessthan" || name == "gt" || name == "greaterthan" || name == "le" ||
      name == "ge" || name == "<" || name == ">" || name == "<=" || name == ">=") {
    Node op_node = Node(NodeKind::kBinary, at.line, at.column);
    op_node.text = name == "lt" || name == "lessthan"      ? "<"
                   : name == "gt" || name == "greaterthan" ? ">"
                   : name == "le"                          ? "<="
                   : name == "ge"                          ? ">="
                                                           : name;
    return eval_binary(op_node, input, arg(0)).truthy();
  }
  if (name == "even" || name == "odd" || name == "divisibleby") {
    if (!input.is_int()) fail(at, "test '" + name + "' needs an integer");
    const int64_t v = input.data().as_int();
    if (name == "even") return v % 2 == 0;
    if (name == "odd") return v % 2 != 0;
    const int64_t d = int_arg(*this, at, &arg(0), 1, "divisibleby");
    if (d == 0) fail(at, "divisibleby zero");
    return v % d == 0;
  }
  fail(at, "unknown test '" + name + "'");
}

Value Interpreter::apply_filter(const Node& at, const std::string& name, Value input,
                                std::vector<Value>& args, KwArgs& kwargs) {
  Args a{args, kwargs};
  auto list_of = [&](const Value& v) { return iterate(at, v); };
  auto to_list = [&](const std::vector<Value>& items) {
    JsonArray out;
    for (const Value& v : items)
      out.push_back(v.to_json(name_));
    return Value(JsonValue(std::move(out)));
  };
  if (name == "tojson") {
    if (input.is_undefined()) fail(at, "tojson: Object of type Undefined is not JSON serializable");
    return Value::of(input.to_json(name_).dump(tojson_options(*this, at, a)));
  }
  if (name == "safe" || name == "string") {
    if (name == "safe") return input;
    return Value::of(as_text(input));
  }
  if (name == "trim") {
    return Value::of(py_strip(as_text(input),
                              opt_string(*this, at, a.get(0, "chars"), "trim chars"), true, true));
  }
  if (name == "length" || name == "count") {
    if (input.is_string())
      return Value::of(static_cast<int64_t>(code_point_count(input.str_data())));
    if (input.is_namespace()) return Value::of(static_cast<int64_t>(input.ns().attributes.size()));
    return Value::of(static_cast<int64_t>(list_of(input).size()));
  }
  if (name == "upper") return Value::of(py_upper(as_text(input)));
  if (name == "lower") return Value::of(py_lower(as_text(input)));
  if (name == "title") return Value::of(py_title(as_text(input)));
  if (name == "capitalize") return Value::of(py_capitalize(as_text(input)));
  if (name == "replace") {
    const Value* old = a.get(0, "old");
    const Value* rep = a.get(1, "new");
    if (old == nullptr || rep == nullptr) fail(at, "replace needs old and new");
    return Value::of(py_replace(as_text(input), as_text(*old), as_text(*rep),
                                int_arg(*this, at, a.get(2, "count"), -1, "count")));
  }
  if (name == "default" || name == "d") {
    const Value* fallback = a.get(0, "default_value");
    const Value* boolean = a.get(1, "boolean");
    const bool use_fallback =
        input.is_undefined() || (boolean != nullptr && boolean->truthy() && !input.truthy());
    if (use_fallback) return fallback != nullptr ? *fallback : Value::of(std::string());
    return input;
  }
  if (name == "items") {
    if (input.is_undefined()) return Value(JsonValue(JsonArray{}));
    if (!input.is_dict()) fail(at, "items filter needs a mapping, got " + input.type_name());
    JsonArray out;
    for (const auto& [k, v] : input.data().as_object())
      out.emplace_back(JsonArray{JsonValue(k), v});
    return Value(JsonValue(std::move(out)));
  }
  if (name == "list") return to_list(list_of(input));
  if (name == "first" || name == "last") {
    auto items = list_of(input);
    if (items.empty()) return Value(Undefined{"No " + name + " item, sequence was empty."});
    return name == "first" ? items.front() : items.back();
  }
  if (name == "reverse") {
    if (input.is_string()) {
      auto cps = to_code_points(input.str_data());
      std::reverse(cps.begin(), cps.end());
      return Value::of(from_code_points(cps));
    }
    auto items = list_of(input);
    std::reverse(items.begin(), items.end());
    return to_list(items);
  }
  if (name == "join") {
    const Value* sep = a.get(0, "d");
    const Value* attribute = a.get(1, "attribute");
    std::string out;
    bool first = true;
    for (Value item : list_of(input)) {
      if (attribute != nullptr) item = dotted_attribute(*this, at, item, as_text(*attribute));
      if (!first && sep != nullptr) out += as_text(*sep);
      first = false;
      out += as_text(item);
    }
    return Value::of(std::move(out));
  }
  if (name == "int") {
    if (input.is_int()) return input;
    if (input.is_bool()) return Value::of(int64_t{input.data().as_bool()});
    if (input.is_data() && input.data().is_float() && fits_int64(input.data().as_float()))
      return Value::of(static_cast<int64_t>(input.data().as_float()));
    if (input.is_string()) {
      try {
        size_t used = 0;
        const std::string t = py_strip(input.str_data(), std::nullopt, true, true);
        const int64_t v = std::stoll(t, &used);
        if (used == t.size()) return Value::of(v);
        if (const double d = std::stod(t); fits_int64(d)) return Value::of(static_cast<int64_t>(d));
      } catch (const std::exception&) {
      }
    }
    const Value* fallback = a.get(0, "default");
    return fallback != nullptr ? *fallback : Value::of(int64_t{0});
  }
  if (name == "float") {
    if (input.is_number())
      return Value::of(input.is_bool() ? (input.data().as_bool() ? 1.0 : 0.0)
                                       : input.data().as_number());
    if (input.is_string()) {
      try {
        return Value::of(std::stod(input.str_data()));
      } catch (const std::exception&) {
      }
    }
    const Value* fallback = a.get(0, "default");
    return fallback != nullptr ? *fallback : Value::of(0.0);
  }
  if (name == "abs") {
    if (input.is_int())
      return Value::of(input.data().as_int() < 0 ? -input.data().as_int() : input.data().as_int());
    if (input.is_number()) return Value::of(std::fabs(input.data().as_number()));
    fail(at, "abs needs a number");
  }
  if (name == "round") {
    if (!input.is_number()) fail(at, "round needs a number");
    const int64_t precision = int_arg(*this, at, a.get(0, "precision"), 0, "precision");
    const std::string method = a.get(1, "method") ? as_text(*a.get(1, "method")) : "common";
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double v =
        (input.is_bool() ? (input.data().as_bool() ? 1.0 : 0.0) : input.data().as_number()) * scale;
    double r = method == "ceil" ? std::ceil(v) : method == "floor" ? std::floor(v) : std::round(v);
    return Value::of(r / scale);
  }
  if (name == "indent") {
    const Value* width_v = a.get(0, "width");
    std::string pad = width_v != nullptr && width_v->is_string()
                          ? width_v->str_data()
                          : std::string(static_cast<size_t>(std::max<int64_t>(
                                            0, int_arg(*this, at, width_v, 4, "width"))),
                                        ' ');
    const bool first = a.get(1, "first") != nullptr && a.get(1, "first")->truthy();
    const bool blank = a.get(2, "blank") != nullptr && a.get(2, "blank")->truthy();
    const std::string text = as_text(input);
    std::string out;
    size_t start = 0;
    bool is_first = true;
    while (start <= text.size()) {
      const size_t nl = text.find('\n', start);
      const std::string line =
          text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      const bool indent_this = (is_first ? first : true) && (blank || !line.empty());
      if (!is_first) out += "\n";
      if (indent_this) out += pad;
      out += line;
      is_first = false;
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    return Value::of(std::move(out));
  }
  if (name == "unique") {
    std::vector<Value> out;
    for (const Value& item : list_of(input)) {
      bool seen = false;
      for (const Value& o : out)
        seen = seen || o.equals(item);
      if (!seen) out.push_back(item);
    }
    return to_list(out);
  }
  if (name == "sort" || name == "dictsort" || name == "min" || name == "max") {
    const bool reverse = a.get(name == "sort" ? 0 : 99, "reverse") != nullptr &&
                         a.get(name == "sort" ? 0 : 99, "reverse")->truthy();
    const bool case_sensitive = a.get(name == "sort" ? 1 : 0, "case_sensitive") != nullptr &&
                                a.get(name == "sort" ? 1 : 0, "case_sensitive")->truthy();
    const Value* attribute = a.get(name == "sort" ? 2 : 1, "attribute");
    std::vector<Value> items;
    if (name == "dictsort") {
      if (!input.is_dict()) fail(at, "dictsort needs a mapping");
      for (const auto& [k, v] : input.data().as_object())
        items.emplace_back(JsonValue(JsonArray{JsonValue(k), v}));
    } else {
      items = list_of(input);
    }
    auto key = [&](const Value& v) -> JsonValue {
      if (name == "dictsort") return v.data().as_array()[0];
      if (attribute != nullptr)
        return dotted_attribute(*this, at, v, as_text(*attribute)).to_json(name_);
      return v.to_json(name_);
    };
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
      const int c = compare_values(*this, at, key(x), key(y), case_sensitive);
      return reverse ? c > 0 : c < 0;
    });
    if (name == "min" || name == "max") {
      if (items.empty()) return Value(Undefined{"No " + name + " item, sequence was empty."});
      return name == "min" ? items.front() : items.back();
    }
    return to_list(items);
  }
  if (name == "sum") {
    const Value* attribute = a.get(0, "attribute");
    Value total = a.get(1, "start") ? *a.get(1, "start") : Value::of(int64_t{0});
    Node plus(NodeKind::kBinary, at.line, at.column);
    plus.text = "+";
    for (Value item : list_of(input)) {
      if (attribute != nullptr) item = dotted_attribute(*this, at, item, as_text(*attribute));
      total = eval_binary(plus, total, item);
    }
    return total;
  }
  if (name == "map") {
    std::vector<Value> out;
    const Value* attribute = a.get(99, "attribute");
    for (const Value& item : list_of(input)) {
      if (attribute != nullptr) {
        Value v = dotted_attribute(*this, at, item, as_text(*attribute));
        if (v.is_undefined() && a.get(99, "default") != nullptr) v = *a.get(99, "default");
        out.push_back(v);
      } else {
        if (args.empty() || !args[0].is_string()) fail(at, "map needs a filter name or attribute=");
        std::vector<Value> rest(args.begin() + 1, args.end());
        KwArgs kw;
        out.push_back(apply_filter(at, args[0].str_data(), item, rest, kw));
      }
    }
    return to_list(out);
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    const bool by_attr = name == "selectattr" || name == "rejectattr";
    const bool keep_if = name == "select" || name == "selectattr";
    std::vector<Value> out;
    for (const Value& item : list_of(input)) {
      Value subject = item;
      size_t test_index = 0;
      if (by_attr) {
        if (args.empty()) fail(at, name + " needs an attribute name");
        subject = dotted_attribute(*this, at, item, as_text(args[0]));
        test_index = 1;
      }
      bool result;
      if (args.size() > test_index) {
        std::vector<Value> test_args(args.begin() + static_cast<ptrdiff_t>(test_index) + 1,
                                     args.end());
        result = apply_test(at, as_text(args[test_index]), subject, test_args);
      } else {
        result = subject.truthy();
      }
      if (result == keep_if) out.push_back(item);
    }
    return to_list(out);
  }
  if (name == "attr") {
    if (args.empty()) fail(at, "attr needs a name");
    return get_attr(at, input, as_text(args[0]));
  }
  if (name == "wordcount")
    return Value::of(static_cast<int64_t>(py_split(as_text(input), std::nullopt, -1).size()));
  if (name == "center") {
    const int64_t width = int_arg(*this, at, a.get(0, "width"), 80, "width");
    const std::string text = as_text(input);
    const auto len = static_cast<int64_t>(code_point_count(text));
    if (width <= len) return Value::of(text);
    const int64_t total = width - len;
    const int64_t left = total / 2 + (total & width & 1);
    return Value::of(std::string(static_cast<size_t>(left), ' ') + text +
                     std::string(static_cast<size_t>(total - left), ' '));
  }
  if (name == "escape" || name == "e" || name == "forceescape") {
    std::string out;
    for (char c : as_text(input)) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&#34;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out.push_back(c);
      }
    }
    return Value::of(std::move(out));
  }
  if (name == "batch") {
    const int64_t size = int_arg(*this, at, a.get(0, "linecount"), 1, "linecount");
    if (size <= 0) fail(at, "batch size must be positive");
    JsonArray out, current;
    for (const Value& item : list_of(input)) {
      current.push_back(item.to_json(name_));
      if (static_cast<int64_t>(current.size()) == size) {
        out.emplace_back(std::move(current));
        current = {};
      }
    }
    if (!current.empty()) out.emplace_back(std::move(current));
    return Value(JsonValue(std::move(out)));
  }
  fail(at, "unknown filter '" + name + "'");
}

}  // namespace mm::text::jinja
