#include "daemon/text/tool_call_parser.h"

#include <cstdio>

#include "daemon/text/jinja/string_ops.h"
#include "daemon/text/markers.h"

namespace mm::text {
namespace {

constexpr std::string_view kInvokeOpen = "<invoke";
constexpr std::string_view kInvokeClose = "</invoke>";
constexpr std::string_view kParamOpen = "<parameter";
constexpr std::string_view kParamClose = "</parameter>";

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

size_t skip_space(std::string_view text, size_t pos) {
  while (pos < text.size() && is_space(text[pos]))
    ++pos;
  return pos;
}

// True when `text` starts with `marker`; `partial` is set when `text` is a proper prefix of it.
bool starts_with(std::string_view text, std::string_view marker, bool& partial) {
  if (text.size() >= marker.size()) return text.substr(0, marker.size()) == marker;
  partial = partial || marker.substr(0, text.size()) == text;
  return false;
}

// Parses ` name="X">`, ` name='X'>` or ` name=X>` after a tag name. Returns the name and sets
// `end` past '>'; empty when the header is malformed; sets `incomplete` when more text is needed.
std::string parse_name_header(std::string_view text, size_t pos, size_t& end, bool& incomplete) {
  const size_t close = text.find('>', pos);
  if (close == std::string_view::npos) {
    incomplete = true;
    return {};
  }
  std::string_view header = text.substr(pos, close - pos);
  size_t i = skip_space(header, 0);
  if (header.substr(i, 4) != "name") return {};
  i = skip_space(header, i + 4);
  if (i >= header.size() || header[i] != '=') return {};
  i = skip_space(header, i + 1);
  std::string_view name = header.substr(i);
  while (!name.empty() && is_space(name.back()))
    name.remove_suffix(1);
  if (name.size() >= 2 && (name.front() == '"' || name.front() == '\'') &&
      name.back() == name.front()) {
    name = name.substr(1, name.size() - 2);
  } else if (!name.empty() && (name.front() == '"' || name.front() == '\'')) {
    return {};
  }
  if (name.empty()) return {};
  end = close + 1;
  return std::string(name);
}

std::string json_escape_body(std::string_view text) {
  std::string quoted;
  append_json_string(text, false, quoted);
  return quoted.substr(1, quoted.size() - 2);
}

}  // namespace

ToolCallParser::ToolCallParser(std::vector<ToolSchema> tools, uint64_t id_seed)
    : tools_(std::move(tools)), rng_(id_seed != 0 ? id_seed : std::random_device{}()) {}

std::string ToolCallParser::next_id() {
  std::string id = "call_";
  for (int i = 0; i < 3; ++i) {
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(rng_()));
    id.append(hex, 8);
  }
  return id;
}

const ToolSchema* ToolCallParser::find_tool(std::string_view name) const {
  for (const ToolSchema& tool : tools_) {
    if (tool.name == name) return &tool;
  }
  return nullptr;
}

void ToolCallParser::consume(size_t n) {
  if (state_ == State::kInvokeBody || state_ == State::kParamValue)
    invoke_raw_.append(buffer_, 0, n);
  buffer_.erase(0, n);
}

void ToolCallParser::content(std::string_view text, std::vector<ToolCallEvent>& out) {
  if (text.empty()) return;
  if (!out.empty() && out.back().kind == ToolCallEvent::Kind::kContent) {
    out.back().text.append(text);
  } else {
    out.push_back({ToolCallEvent::Kind::kContent, -1, std::string(text), {}});
  }
}

void ToolCallParser::arguments(std::string text, std::vector<ToolCallEvent>& out) {
  if (text.empty()) return;
  out.push_back({ToolCallEvent::Kind::kArguments, num_calls_, std::move(text), {}});
}

std::vector<ToolCallEvent> ToolCallParser::push(std::string_view text) {
  std::vector<ToolCallEvent> out;
  buffer_.append(text);
  while (step(out)) {
  }
  return out;
}

std::vector<ToolCallEvent> ToolCallParser::finish() {
  std::vector<ToolCallEvent> out;
  final_ = true;
  while (step(out)) {
  }
  if (state_ == State::kInvokeBody || state_ == State::kParamValue) {
    // Cut off inside an invoke: the call is aborted and its raw text becomes content.
    out.push_back({ToolCallEvent::Kind::kAborted, num_calls_, {}, {}});
    invoke_raw_.append(buffer_);
    buffer_.clear();
    content(invoke_raw_, out);
    invoke_raw_.clear();
    ++num_calls_;
  }
  if (state_ == State::kBlock && !block_has_calls_) content(block_raw_, out);
  block_raw_.clear();
  content(buffer_, out);
  buffer_.clear();
  state_ = State::kText;
  return out;
}

bool ToolCallParser::step(std::vector<ToolCallEvent>& out) {
  switch (state_) {
    case State::kText:
      return step_text(out);
    case State::kBlock:
      return step_block(out);
    case State::kInvokeBody:
      return step_invoke_body(out);
    case State::kParamValue:
      return step_param_value(out);
    case State::kRawInvoke:
      return step_raw_invoke(out);
  }
  return false;
}

bool ToolCallParser::step_text(std::vector<ToolCallEvent>& out) {
  const size_t open = buffer_.find(kToolCallOpen);
  if (open == std::string::npos) {
    const size_t keep = final_ ? 0 : partial_marker_suffix(buffer_, {kToolCallOpen});
    content(std::string_view(buffer_).substr(0, buffer_.size() - keep), out);
    buffer_.erase(0, buffer_.size() - keep);
    return false;
  }
  content(std::string_view(buffer_).substr(0, open), out);
  buffer_.erase(0, open + kToolCallOpen.size());
  block_raw_ = std::string(kToolCallOpen);
  block_has_calls_ = false;
  state_ = State::kBlock;
  return true;
}

bool ToolCallParser::step_block(std::vector<ToolCallEvent>& out) {
  const size_t spaces = skip_space(buffer_, 0);
  block_raw_.append(buffer_, 0, spaces);
  buffer_.erase(0, spaces);
  if (buffer_.empty()) return false;
  bool partial = false;
  std::string_view view(buffer_);
  if (starts_with(view, kToolCallClose, partial)) {
    buffer_.erase(0, kToolCallClose.size());
    block_raw_.clear();
    state_ = State::kText;
    return true;
  }
  // Until a call completes, the block's own text is returned as content if nothing parses.
  auto flush_block_raw = [&] {
    if (!block_has_calls_) content(block_raw_, out);
    block_raw_.clear();
  };
  if (starts_with(view, kInvokeOpen, partial)) {
    size_t end = 0;
    bool incomplete = false;
    const std::string name = parse_name_header(view, kInvokeOpen.size(), end, incomplete);
    if (incomplete && !final_) return false;
    if (name.empty() || (!tools_.empty() && find_tool(name) == nullptr)) {
      // Malformed header or unknown tool: the invoke stays text.
      const size_t header_end = incomplete ? buffer_.size() : buffer_.find('>') + 1;
      flush_block_raw();
      content(view.substr(0, header_end), out);
      buffer_.erase(0, header_end);
      if (!name.empty()) state_ = State::kRawInvoke;
      return true;
    }
    out.push_back({ToolCallEvent::Kind::kStart, num_calls_, name, next_id()});
    tool_ = find_tool(name);
    num_params_ = 0;
    invoke_raw_ = block_raw_;
    invoke_raw_.append(buffer_, 0, end);
    block_raw_.clear();
    buffer_.erase(0, end);
    state_ = State::kInvokeBody;
    return true;
  }
  if (partial && !final_) return false;
  // Stray text inside a block is content, up to the next tag.
  const size_t next_tag = buffer_.find('<', 1);
  const size_t n = next_tag == std::string::npos ? buffer_.size() : next_tag;
  flush_block_raw();
  content(view.substr(0, n), out);
  buffer_.erase(0, n);
  return true;
}

bool ToolCallParser::step_raw_invoke(std::vector<ToolCallEvent>& out) {
  const size_t close = buffer_.find(kInvokeClose);
  if (close == std::string::npos) {
    const size_t keep = final_ ? 0 : partial_marker_suffix(buffer_, {kInvokeClose});
    content(std::string_view(buffer_).substr(0, buffer_.size() - keep), out);
    buffer_.erase(0, buffer_.size() - keep);
    return false;
  }
  content(std::string_view(buffer_).substr(0, close + kInvokeClose.size()), out);
  buffer_.erase(0, close + kInvokeClose.size());
  state_ = State::kBlock;
  return true;
}

void ToolCallParser::close_invoke(std::vector<ToolCallEvent>& out) {
  arguments(num_params_ == 0 ? "{}" : "}", out);
  out.push_back({ToolCallEvent::Kind::kEnd, num_calls_, {}, {}});
  ++num_calls_;
  invoke_raw_.clear();
  block_has_calls_ = true;
  tool_ = nullptr;
}

bool ToolCallParser::step_invoke_body(std::vector<ToolCallEvent>& out) {
  consume(skip_space(buffer_, 0));
  if (buffer_.empty()) return false;
  std::string_view view(buffer_);
  bool partial = false;
  if (starts_with(view, kInvokeClose, partial)) {
    consume(kInvokeClose.size());
    close_invoke(out);
    state_ = State::kBlock;
    return true;
  }
  if (starts_with(view, kToolCallClose, partial)) {  // missing </invoke>: close it here
    close_invoke(out);
    state_ = State::kBlock;
    return true;
  }
  if (starts_with(view, kParamOpen, partial)) {
    size_t end = 0;
    bool incomplete = false;
    std::string name = parse_name_header(view, kParamOpen.size(), end, incomplete);
    if (incomplete && !final_) return false;
    if (name.empty()) {  // malformed parameter tag: skip it (kept in the raw text)
      consume(incomplete ? buffer_.size() : buffer_.find('>') + 1);
      return true;
    }
    consume(end);
    param_name_ = std::move(name);
    streaming_value_ = is_string_only(tool_, param_name_);
    if (streaming_value_) {
      std::string key;
      append_json_string(param_name_, false, key);
      arguments((num_params_ == 0 ? "{" : ", ") + key + ": \"", out);
    }
    ++num_params_;
    scan_pos_ = 0;
    value_start_ = std::string::npos;
    emitted_end_ = 0;
    state_ = State::kParamValue;
    return true;
  }
  if (partial && !final_) return false;
  const size_t next_tag = buffer_.find('<', 1);
  consume(next_tag == std::string::npos ? buffer_.size() : next_tag);  // stray text, kept in raw
  return true;
}

void ToolCallParser::finish_param(size_t value_end, std::vector<ToolCallEvent>& out) {
  const std::string stripped =
      jinja::py_strip(std::string_view(buffer_).substr(0, value_end), std::nullopt, true, true);
  if (streaming_value_) {
    // Already streamed: the stripped value's prefix up to emitted_end_.
    const size_t done = value_start_ == std::string::npos ? 0 : emitted_end_ - value_start_;
    arguments(
        json_escape_body(std::string_view(stripped).substr(std::min(done, stripped.size()))) + "\"",
        out);
  } else {
    std::string key;
    append_json_string(param_name_, false, key);
    const JsonValue value = coerce_parameter(tool_, param_name_, stripped);
    arguments((num_params_ == 1 ? "{" : ", ") + key + ": " + value.dump(), out);
  }
}

bool ToolCallParser::step_param_value(std::vector<ToolCallEvent>& out) {
  // Find the first position where the value provably ends, or stop where it is undecided.
  size_t terminator = std::string::npos;
  size_t tag_length = 0;  // bytes of the terminator consumed with the value (</parameter>)
  size_t pos = scan_pos_;
  bool undecided = false;
  while (true) {
    pos = buffer_.find('<', pos);
    if (pos == std::string::npos) {
      scan_pos_ = buffer_.size();
      break;
    }
    std::string_view rest = std::string_view(buffer_).substr(pos);
    bool partial = false;
    if (starts_with(rest, kParamClose, partial) || starts_with(rest, kInvokeClose, partial)) {
      const bool is_param_close = rest.substr(0, kParamClose.size()) == kParamClose;
      const size_t after = is_param_close ? kParamClose.size() : kInvokeClose.size();
      const size_t next = skip_space(rest, after);
      std::string_view follow = rest.substr(next);
      bool follow_partial = false;
      bool ends = follow.empty() && final_;
      if (!follow.empty()) {
        if (is_param_close) {
          ends = starts_with(follow, kParamOpen, follow_partial) ||
                 starts_with(follow, kInvokeClose, follow_partial) ||
                 starts_with(follow, kToolCallClose, follow_partial);
        } else {
          ends = starts_with(follow, kInvokeOpen, follow_partial) ||
                 starts_with(follow, kToolCallClose, follow_partial);
        }
      }
      if (ends) {
        terminator = pos;
        tag_length = is_param_close ? kParamClose.size() : 0;
        break;
      }
      if ((follow.empty() || follow_partial) && !final_) {
        undecided = true;
        scan_pos_ = pos;
        break;
      }
      pos += 1;  // a literal </parameter> or </invoke> inside the value
      continue;
    }
    if (starts_with(rest, std::string_view("<parameter name="), partial) ||
        starts_with(rest, kToolCallClose, partial)) {
      terminator = pos;  // missing </parameter>: the next tag ends the value
      break;
    }
    if (partial && !final_) {
      undecided = true;
      scan_pos_ = pos;
      break;
    }
    pos += 1;
  }
  if (terminator != std::string::npos) {
    finish_param(terminator, out);
    consume(terminator + tag_length);
    state_ = State::kInvokeBody;
    return true;
  }
  if (streaming_value_) {
    const size_t safe_end = undecided ? scan_pos_ : buffer_.size();
    if (value_start_ == std::string::npos) {
      const size_t first = skip_space(buffer_, 0);
      if (first < safe_end) {
        value_start_ = first;
        emitted_end_ = first;
      }
    }
    if (value_start_ != std::string::npos) {
      size_t end = safe_end;
      while (end > emitted_end_ &&
             jinja::is_python_space(static_cast<unsigned char>(buffer_[end - 1])))
        --end;
      if (end > emitted_end_) {
        arguments(
            json_escape_body(std::string_view(buffer_).substr(emitted_end_, end - emitted_end_)),
            out);
        emitted_end_ = end;
      }
    }
  }
  return false;
}

ParsedToolCalls ToolCallParser::parse(std::string_view text, std::vector<ToolSchema> tools,
                                      uint64_t id_seed) {
  ToolCallParser parser(std::move(tools), id_seed);
  std::vector<ToolCallEvent> events = parser.push(text);
  for (auto& e : parser.finish())
    events.push_back(std::move(e));
  ParsedToolCalls result;
  std::vector<ToolCall> open;
  std::vector<bool> done;
  for (ToolCallEvent& e : events) {
    switch (e.kind) {
      case ToolCallEvent::Kind::kContent:
        result.content += e.text;
        break;
      case ToolCallEvent::Kind::kStart:
        open.resize(static_cast<size_t>(e.index) + 1);
        done.resize(static_cast<size_t>(e.index) + 1, false);
        open[static_cast<size_t>(e.index)] = {e.id, e.text, {}};
        break;
      case ToolCallEvent::Kind::kArguments:
        open[static_cast<size_t>(e.index)].arguments += e.text;
        break;
      case ToolCallEvent::Kind::kEnd:
        done[static_cast<size_t>(e.index)] = true;
        break;
      case ToolCallEvent::Kind::kAborted:
        break;
    }
  }
  for (size_t i = 0; i < open.size(); ++i) {
    if (done[i]) result.calls.push_back(std::move(open[i]));
  }
  return result;
}

}  // namespace mm::text
