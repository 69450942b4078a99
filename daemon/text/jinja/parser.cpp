#include "daemon/text/jinja/parser.h"

#include <charconv>
#include <set>

#include "daemon/text/error.h"
#include "daemon/text/jinja/lexer.h"

namespace mm::text::jinja {
namespace {

constexpr int kMaxDepth = 200;  // nesting limit: deeper input is an error, not a stack overflow

class Parser {
 public:
  Parser(std::vector<Token> tokens, std::string_view name)
      : tokens_(std::move(tokens)), name_(name) {}

  NodePtr parse_template() {
    std::string end_tag;
    NodePtr body = parse_body({}, end_tag);
    if (peek().type != TokenType::kEnd) fail(peek(), "unexpected token");
    return body;
  }

 private:
  const Token& peek(size_t ahead = 0) const {
    const size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  [[noreturn]] void fail(const Token& at, const std::string& what) const {
    std::string shown = at.type == TokenType::kEnd ? "end of template" : "'" + at.text + "'";
    if (at.type == TokenType::kBlockEnd) shown = "end of tag";
    if (at.type == TokenType::kVarEnd) shown = "'}}'";
    throw TextError(std::string(name_) + ":" + std::to_string(at.line) + ":" +
                    std::to_string(at.column) + ": " + what + " (at " + shown + ")");
  }
  // Integer literals and `x.0` subscripts: out-of-range digits are a template error, not a throw
  // from the standard library escaping the renderer.
  int64_t integer_literal(const Token& t) const {
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), value);
    if (ec != std::errc() || end != t.text.data() + t.text.size())
      fail(t, "integer literal out of range");
    return value;
  }
  bool is_op(std::string_view op, size_t ahead = 0) const {
    return peek(ahead).type == TokenType::kOperator && peek(ahead).text == op;
  }
  bool is_name(std::string_view name, size_t ahead = 0) const {
    return peek(ahead).type == TokenType::kName && peek(ahead).text == name;
  }
  void expect_op(std::string_view op) {
    if (!is_op(op)) fail(peek(), "expected '" + std::string(op) + "'");
    next();
  }
  void expect_block_end() {
    if (peek().type != TokenType::kBlockEnd) fail(peek(), "expected end of tag");
    next();
  }
  std::string expect_name() {
    if (peek().type != TokenType::kName) fail(peek(), "expected a name");
    return next().text;
  }
  NodePtr make(NodeKind kind, const Token& at) {
    return std::make_unique<Node>(kind, at.line, at.column);
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxDepth)
        parser.fail(parser.peek(), "template nests deeper than 200 levels");
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };

  // ---- statements ------------------------------------------------------------------------

  // Parses until a `{% tag %}` whose name is in `end_tags`; leaves the tag's remaining tokens
  // (after the name) unread and stores the name in `end_tag`.
  NodePtr parse_body(const std::set<std::string>& end_tags, std::string& end_tag) {
    DepthGuard guard(*this);
    NodePtr body = make(NodeKind::kBody, peek());
    while (true) {
      const Token& t = peek();
      if (t.type == TokenType::kEnd) {
        if (!end_tags.empty()) {
          std::string names;
          for (const auto& n : end_tags)
            names += (names.empty() ? "'" : ", '") + n + "'";
          fail(t, "missing end tag, expected one of " + names);
        }
        return body;
      }
      if (t.type == TokenType::kText) {
        NodePtr text = make(NodeKind::kText, t);
        text->text = next().text;
        body->children.push_back(std::move(text));
      } else if (t.type == TokenType::kVarBegin) {
        next();
        NodePtr out = make(NodeKind::kOutput, t);
        out->children.push_back(parse_tuple());
        if (peek().type != TokenType::kVarEnd) fail(peek(), "expected '}}'");
        next();
        body->children.push_back(std::move(out));
      } else if (t.type == TokenType::kBlockBegin) {
        next();
        const Token& tag = peek();
        if (tag.type != TokenType::kName) fail(tag, "expected a tag name");
        if (end_tags.count(tag.text) != 0) {
          end_tag = next().text;
          return body;
        }
        body->children.push_back(parse_statement());
      } else {
        fail(t, "unexpected token");
      }
    }
  }

  NodePtr parse_statement() {
    const Token& tag = next();
    const std::string& name = tag.text;
    if (name == "if") return parse_if(tag);
    if (name == "for") return parse_for(tag);
    if (name == "set") return parse_set(tag);
    if (name == "macro") return parse_macro(tag);
    if (name == "break" || name == "continue") {
      expect_block_end();
      return make(name == "break" ? NodeKind::kBreak : NodeKind::kContinue, tag);
    }
    if (name == "filter") return parse_filter_block(tag);
    if (name == "generation") {
      expect_block_end();
      std::string end;
      NodePtr body = parse_body({"endgeneration"}, end);
      expect_block_end();
      return body;
    }
    fail(tag, "unsupported tag '" + name + "'");
  }

  NodePtr parse_if(const Token& tag) {
    NodePtr node = make(NodeKind::kIf, tag);
    while (true) {
      node->children.push_back(parse_tuple());
      expect_block_end();
      std::string end;
      node->children.push_back(parse_body({"elif", "else", "endif"}, end));
      if (end == "elif") continue;
      if (end == "else") {
        expect_block_end();
        node->children.push_back(parse_body({"endif"}, end));
      }
      expect_block_end();
      return node;
    }
  }

  NodePtr parse_for(const Token& tag) {
    NodePtr node = make(NodeKind::kFor, tag);
    const bool parenthesised = is_op("(");
    if (parenthesised) next();
    node->names.push_back(expect_name());
    while (is_op(",")) {
      next();
      node->names.push_back(expect_name());
    }
    if (parenthesised) expect_op(")");
    if (!is_name("in")) fail(peek(), "expected 'in'");
    next();
    node->children.push_back(parse_tuple(/*with_condexpr=*/false));
    NodePtr filter;
    if (is_name("if")) {
      next();
      filter = parse_expression();
    }
    if (is_name("recursive")) fail(peek(), "recursive for loops are not supported");
    expect_block_end();
    std::string end;
    node->children.push_back(parse_body({"else", "endfor"}, end));
    NodePtr else_body;
    if (end == "else") {
      expect_block_end();
      else_body = parse_body({"endfor"}, end);
    }
    expect_block_end();
    node->children.push_back(std::move(else_body));
    node->children.push_back(std::move(filter));
    return node;
  }

  NodePtr parse_set(const Token& tag) {
    std::vector<std::string> names{expect_name()};
    bool attribute = false;
    if (is_op(".")) {
      next();
      names.push_back(expect_name());
      attribute = true;
    } else {
      while (is_op(",")) {
        next();
        names.push_back(expect_name());
      }
    }
    if (is_op("=")) {
      next();
      NodePtr node = make(NodeKind::kSet, tag);
      node->names = std::move(names);
      node->flag = attribute;
      node->children.push_back(parse_tuple());
      expect_block_end();
      return node;
    }
    if (attribute || names.size() != 1) fail(peek(), "expected '='");
    if (peek().type == TokenType::kOperator && peek().text == "|")
      fail(peek(), "filtered block set is not supported");
    expect_block_end();
    NodePtr node = make(NodeKind::kSetBlock, tag);
    node->names = std::move(names);
    std::string end;
    node->children.push_back(parse_body({"endset"}, end));
    expect_block_end();
    return node;
  }

  NodePtr parse_macro(const Token& tag) {
    NodePtr node = make(NodeKind::kMacro, tag);
    node->text = expect_name();
    expect_op("(");
    std::vector<NodePtr> defaults;
    while (!is_op(")")) {
      if (!node->names.empty()) expect_op(",");
      if (is_op(")")) break;
      node->names.push_back(expect_name());
      if (is_op("=")) {
        next();
        defaults.push_back(parse_expression());
      } else {
        defaults.push_back(nullptr);
      }
    }
    next();
    expect_block_end();
    std::string end;
    node->children.push_back(parse_body({"endmacro"}, end));
    if (peek().type == TokenType::kName && peek().text == node->text)
      next();  // {% endmacro name %}
    expect_block_end();
    for (auto& d : defaults)
      node->children.push_back(std::move(d));
    return node;
  }

  NodePtr parse_filter_block(const Token& tag) {
    NodePtr node = make(NodeKind::kFilterBlock, tag);
    NodePtr filter = parse_filter(nullptr);
    expect_block_end();
    std::string end;
    node->children.push_back(parse_body({"endfilter"}, end));
    expect_block_end();
    node->children.push_back(std::move(filter));
    return node;
  }

  // ---- expressions -----------------------------------------------------------------------

  NodePtr parse_tuple(bool with_condexpr = true) {
    const Token& at = peek();
    NodePtr first = with_condexpr ? parse_expression() : parse_or();
    if (!is_op(",")) return first;
    NodePtr tuple = make(NodeKind::kTuple, at);
    tuple->children.push_back(std::move(first));
    while (is_op(",")) {
      next();
      if (peek().type == TokenType::kBlockEnd || peek().type == TokenType::kVarEnd || is_op(")"))
        break;
      tuple->children.push_back(with_condexpr ? parse_expression() : parse_or());
    }
    return tuple;
  }

  NodePtr parse_expression() {
    DepthGuard guard(*this);
    NodePtr expr = parse_or();
    while (is_name("if")) {
      const Token& at = next();
      NodePtr node = make(NodeKind::kCondExpr, at);
      NodePtr cond = parse_or();
      NodePtr otherwise;
      if (is_name("else")) {
        next();
        otherwise = parse_expression();
      }
      node->children.push_back(std::move(expr));
      node->children.push_back(std::move(cond));
      node->children.push_back(std::move(otherwise));
      expr = std::move(node);
    }
    return expr;
  }

  NodePtr binary(NodeKind kind, std::string op, NodePtr lhs, NodePtr rhs, const Token& at) {
    NodePtr node = make(kind, at);
    node->text = std::move(op);
    node->children.push_back(std::move(lhs));
    node->children.push_back(std::move(rhs));
    return node;
  }

  NodePtr parse_or() {
    NodePtr lhs = parse_and();
    while (is_name("or")) {
      const Token& at = next();
      lhs = binary(NodeKind::kOr, "or", std::move(lhs), parse_and(), at);
    }
    return lhs;
  }

  NodePtr parse_and() {
    NodePtr lhs = parse_not();
    while (is_name("and")) {
      const Token& at = next();
      lhs = binary(NodeKind::kAnd, "and", std::move(lhs), parse_not(), at);
    }
    return lhs;
  }

  NodePtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      const Token& at = next();
      NodePtr node = make(NodeKind::kUnary, at);
      node->text = "not";
      node->children.push_back(parse_not());
      return node;
    }
    return parse_compare();
  }

  NodePtr parse_compare() {
    NodePtr lhs = parse_math1();
    std::vector<std::string> ops;
    std::vector<NodePtr> operands;
    const Token& first = peek();
    while (true) {
      const Token& at = peek();
      std::string op;
      if (at.type == TokenType::kOperator &&
          (at.text == "==" || at.text == "!=" || at.text == "<" || at.text == ">" ||
           at.text == "<=" || at.text == ">=")) {
        op = next().text;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      ops.push_back(std::move(op));
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return lhs;
    if (ops.size() == 1)
      return binary(NodeKind::kBinary, ops[0], std::move(lhs), std::move(operands[0]), first);
    // a < b < c means (a < b) and (b < c), each operand evaluated once.
    NodePtr chain = make(NodeKind::kCompare, first);
    chain->names = std::move(ops);
    chain->children.push_back(std::move(lhs));
    for (auto& operand : operands)
      chain->children.push_back(std::move(operand));
    return chain;
  }

  NodePtr parse_math1() {
    NodePtr lhs = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = next();
      lhs = binary(NodeKind::kBinary, at.text, std::move(lhs), parse_concat(), at);
    }
    return lhs;
  }

  NodePtr parse_concat() {
    NodePtr lhs = parse_math2();
    while (is_op("~")) {
      const Token& at = next();
      lhs = binary(NodeKind::kBinary, "~", std::move(lhs), parse_math2(), at);
    }
    return lhs;
  }

  NodePtr parse_math2() {
    NodePtr lhs = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = next();
      lhs = binary(NodeKind::kBinary, at.text, std::move(lhs), parse_pow(), at);
    }
    return lhs;
  }

  NodePtr parse_pow() {
    NodePtr lhs = parse_unary(true);
    while (is_op("**")) {
      const Token& at = next();
      lhs = binary(NodeKind::kBinary, "**", std::move(lhs), parse_unary(true), at);
    }
    return lhs;
  }

  NodePtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    NodePtr node;
    if (is_op("-") || is_op("+")) {
      const Token& at = next();
      node = make(NodeKind::kUnary, at);
      node->text = at.text;
      node->children.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  NodePtr parse_primary() {
    const Token& t = peek();
    switch (t.type) {
      case TokenType::kName: {
        next();
        NodePtr node = make(NodeKind::kLiteral, t);
        if (t.text == "true" || t.text == "True") {
          node->literal = JsonValue(true);
        } else if (t.text == "false" || t.text == "False") {
          node->literal = JsonValue(false);
        } else if (t.text == "none" || t.text == "None") {
          node->literal = JsonValue();
        } else {
          node->kind = NodeKind::kName;
          node->text = t.text;
        }
        return node;
      }
      case TokenType::kString: {
        NodePtr node = make(NodeKind::kLiteral, t);
        std::string text = next().text;
        while (peek().type == TokenType::kString)
          text += next().text;  // adjacent literals join
        node->literal = JsonValue(std::move(text));
        return node;
      }
      case TokenType::kInt: {
        NodePtr node = make(NodeKind::kLiteral, t);
        node->literal = JsonValue(integer_literal(t));
        next();
        return node;
      }
      case TokenType::kFloat: {
        NodePtr node = make(NodeKind::kLiteral, t);
        node->literal = JsonValue(std::strtod(t.text.c_str(), nullptr));
        next();
        return node;
      }
      case TokenType::kOperator:
        if (t.text == "(") {
          next();
          if (is_op(")")) {
            next();
            return make(NodeKind::kTuple, t);
          }
          NodePtr inner = parse_tuple();
          expect_op(")");
          return inner;
        }
        if (t.text == "[") {
          next();
          NodePtr node = make(NodeKind::kList, t);
          while (!is_op("]")) {
            if (!node->children.empty()) expect_op(",");
            if (is_op("]")) break;
            node->children.push_back(parse_expression());
          }
          next();
          return node;
        }
        if (t.text == "{") {
          next();
          NodePtr node = make(NodeKind::kDict, t);
          while (!is_op("}")) {
            if (!node->children.empty()) expect_op(",");
            if (is_op("}")) break;
            node->children.push_back(parse_expression());
            expect_op(":");
            node->children.push_back(parse_expression());
          }
          next();
          return node;
        }
        break;
      default:
        break;
    }
    fail(t, "expected an expression");
  }

  NodePtr parse_postfix(NodePtr node) {
    while (true) {
      const Token& at = peek();
      if (is_op(".")) {
        next();
        const Token& attr = peek();
        if (attr.type == TokenType::kName) {
          NodePtr get = make(NodeKind::kGetAttr, at);
          get->text = next().text;
          get->children.push_back(std::move(node));
          node = std::move(get);
        } else if (attr.type == TokenType::kInt) {
          NodePtr get = make(NodeKind::kGetItem, at);
          get->children.push_back(std::move(node));
          NodePtr key = make(NodeKind::kLiteral, attr);
          key->literal = JsonValue(integer_literal(attr));
          next();
          get->children.push_back(std::move(key));
          node = std::move(get);
        } else {
          fail(attr, "expected an attribute name");
        }
      } else if (is_op("[")) {
        next();
        node = parse_subscript(std::move(node), at);
      } else if (is_op("(")) {
        node = parse_call(std::move(node), at);
      } else {
        return node;
      }
    }
  }

  NodePtr parse_subscript(NodePtr object, const Token& at) {
    NodePtr start;
    if (!is_op(":")) start = parse_tuple();
    if (!is_op(":")) {
      expect_op("]");
      NodePtr get = make(NodeKind::kGetItem, at);
      get->children.push_back(std::move(object));
      get->children.push_back(std::move(start));
      return get;
    }
    next();
    NodePtr stop, step;
    if (!is_op("]") && !is_op(":")) stop = parse_expression();
    if (is_op(":")) {
      next();
      if (!is_op("]")) step = parse_expression();
    }
    expect_op("]");
    NodePtr slice = make(NodeKind::kSlice, at);
    slice->children.push_back(std::move(object));
    slice->children.push_back(std::move(start));
    slice->children.push_back(std::move(stop));
    slice->children.push_back(std::move(step));
    return slice;
  }

  // Parses `( args )` into `node` (whose children[0] is the callee or filter input).
  void parse_args(Node& node) {
    expect_op("(");
    std::vector<NodePtr> keyword_values;
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail(peek(), "*args and **kwargs are not supported");
      if (peek().type == TokenType::kName && is_op("=", 1)) {
        node.names.push_back(next().text);
        next();
        keyword_values.push_back(parse_expression());
      } else {
        if (!keyword_values.empty()) fail(peek(), "positional argument after keyword argument");
        node.children.push_back(parse_expression());
      }
    }
    next();
    node.num_keywords = keyword_values.size();
    for (auto& v : keyword_values)
      node.children.push_back(std::move(v));
  }

  NodePtr parse_call(NodePtr callee, const Token& at) {
    NodePtr call = make(NodeKind::kCall, at);
    call->children.push_back(std::move(callee));
    parse_args(*call);
    return call;
  }

  NodePtr parse_filter(NodePtr input) {
    const Token& at = peek();
    NodePtr filter = make(NodeKind::kFilter, at);
    filter->text = expect_name();
    while (is_op(".")) {
      next();
      filter->text += "." + expect_name();
    }
    filter->children.push_back(std::move(input));
    if (is_op("(")) parse_args(*filter);
    return filter;
  }

  NodePtr parse_filter_expr(NodePtr node) {
    while (true) {
      if (is_op("|")) {
        next();
        node = parse_filter(std::move(node));
      } else if (is_name("is")) {
        const Token& at = next();
        NodePtr test = make(NodeKind::kTest, at);
        if (is_name("not")) {
          next();
          test->flag = true;
        }
        test->text = expect_name();
        test->children.push_back(std::move(node));
        const Token& t = peek();
        if (is_op("(")) {
          parse_args(*test);
        } else if ((t.type == TokenType::kName || t.type == TokenType::kString ||
                    t.type == TokenType::kInt || t.type == TokenType::kFloat || is_op("[") ||
                    is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and") && !is_name("if") &&
                   !is_name("in") && !is_name("not") && !is_name("is")) {
          test->children.push_back(parse_postfix(parse_primary()));
        }
        node = std::move(test);
      } else if (is_op("(")) {
        node = parse_call(std::move(node), peek());
      } else {
        return node;
      }
    }
  }

  std::vector<Token> tokens_;
  std::string_view name_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

NodePtr parse(std::string_view source, std::string_view name) {
  return Parser(lex(source, name), name).parse_template();
}

}  // namespace mm::text::jinja
