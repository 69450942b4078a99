// The OpenAI Responses API's answer: a Response object ("resp_..."), whole or as server-sent
// events with sequence numbers (response.created, response.in_progress,
// response.output_item.added, response.content_part.added, response.reasoning_text.delta,
// response.output_text.delta, response.function_call_arguments.delta, their .done events,
// response.output_item.done, then response.completed / response.incomplete / response.failed).
// Output items in the order the model wrote them: a reasoning item (its text as reasoning_text
// content), a message item (output_text), one function_call item per tool call. Text that is
// only whitespace between items opens no item. Owned by one exchange on the loop thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/frontends/http/output_format.h"

namespace mm::http {

class ResponsesWriter : public OutputFormat {
 public:
  // `echo`: the request's fields a Response repeats (ResponsesRequest::echo). `id_hex`: the hex
  // digits of this response's id ("resp_" + id_hex; items reuse them).
  ResponsesWriter(nlohmann::ordered_json echo, std::string model, bool stream, std::string id_hex,
                  int64_t created_at);

  bool stream() const override { return stream_; }
  std::string push(const ipc::Delta& delta, int num_tokens) override;
  std::string end(const OutputEnd& end) override;

  const std::string& id() const { return id_; }

 private:
  enum class Kind : uint8_t { kReasoning, kMessage, kFunctionCall };
  struct Item {
    Kind kind;
    std::string id;
    std::string text;  // reasoning, message text or function-call arguments
    std::string call_id;
    std::string name;
    int tool_index = -1;
    std::string status = "in_progress";
  };

  void start();
  void add_text(Kind kind, const std::string& text);
  void open(Item item);
  void close_current(const char* status);
  void emit(nlohmann::ordered_json event);
  nlohmann::ordered_json item_json(const Item& item) const;
  nlohmann::ordered_json response_json(const std::string& status) const;

  nlohmann::ordered_json echo_;
  std::string model_;
  bool stream_;
  std::string id_hex_;
  std::string id_;
  int64_t created_at_;
  std::vector<Item> items_;
  int current_ = -1;     // the open item, -1 when none
  std::string pending_;  // whitespace that may yet lead an item's text
  Kind pending_kind_ = Kind::kMessage;
  int sequence_number_ = 0;  // of the next event
  bool started_ = false;
  int reasoning_tokens_ = 0;  // tokens up to the last one that carried reasoning
  nlohmann::ordered_json usage_;
  nlohmann::ordered_json error_;
  nlohmann::ordered_json incomplete_details_;
  int64_t completed_at_ = 0;
  std::string out_;  // events not yet handed back
};

}  // namespace mm::http
