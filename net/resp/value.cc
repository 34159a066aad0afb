#include "net/resp/value.h"

#include <cmath>
#include <cstdio>

#include "core/assert.h"

namespace keel::net::resp {

std::string_view type_name(Type type) {
  switch (type) {
    case Type::kSimpleString: return "simple-string";
    case Type::kError: return "error";
    case Type::kInteger: return "integer";
    case Type::kBulkString: return "bulk-string";
    case Type::kNull: return "null";
    case Type::kArray: return "array";
    case Type::kMap: return "map";
    case Type::kSet: return "set";
    case Type::kDouble: return "double";
    case Type::kBoolean: return "boolean";
    case Type::kBigNumber: return "big-number";
    case Type::kVerbatim: return "verbatim";
    case Type::kPush: return "push";
  }
  KEEL_UNREACHABLE();
}

Value Value::simple_string(core::ByteView s) {
  Value v;
  v.type = Type::kSimpleString;
  v.str = core::Bytes(s);
  return v;
}

Value Value::error(core::ByteView message) {
  Value v;
  v.type = Type::kError;
  v.str = core::Bytes(message);
  return v;
}

Value Value::integer_value(int64_t i) {
  Value v;
  v.type = Type::kInteger;
  v.integer = i;
  return v;
}

Value Value::bulk(core::ByteView s) {
  Value v;
  v.type = Type::kBulkString;
  v.str = core::Bytes(s);
  return v;
}

Value Value::null() { return Value(); }

Value Value::array(std::vector<Value> elements) {
  Value v;
  v.type = Type::kArray;
  v.elements = std::move(elements);
  return v;
}

Value Value::map(std::vector<Value> flat_pairs) {
  KEEL_ASSERT_MSG(flat_pairs.size() % 2 == 0, "a map holds key-value pairs");
  Value v;
  v.type = Type::kMap;
  v.elements = std::move(flat_pairs);
  return v;
}

Value Value::set(std::vector<Value> elements) {
  Value v;
  v.type = Type::kSet;
  v.elements = std::move(elements);
  return v;
}

Value Value::double_value(double d) {
  Value v;
  v.type = Type::kDouble;
  v.real = d;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.type = Type::kBoolean;
  v.integer = b ? 1 : 0;
  return v;
}

Value Value::big_number(core::ByteView digits) {
  Value v;
  v.type = Type::kBigNumber;
  v.str = core::Bytes(digits);
  return v;
}

Value Value::verbatim(core::ByteView format, core::ByteView text) {
  KEEL_ASSERT_MSG(format.size() == 3, "a verbatim string's format is three bytes");
  Value v;
  v.type = Type::kVerbatim;
  v.format = core::Bytes(format);
  v.str = core::Bytes(text);
  return v;
}

Value Value::push(std::vector<Value> elements) {
  Value v;
  v.type = Type::kPush;
  v.elements = std::move(elements);
  return v;
}

bool Value::is_aggregate() const {
  return type == Type::kArray || type == Type::kMap || type == Type::kSet || type == Type::kPush;
}

bool Value::operator==(const Value& other) const {
  if (type != other.type || str != other.str || format != other.format || integer != other.integer) {
    return false;
  }
  // Bitwise-different NaNs are the same value on the wire ("nan").
  bool both_nan = std::isnan(real) && std::isnan(other.real);
  if (!both_nan && real != other.real) return false;
  return elements == other.elements;
}

namespace {

std::string escaped(core::ByteView s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned>(u));
      out += hex;
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace

std::string Value::debug_string() const {
  switch (type) {
    case Type::kSimpleString: return "+" + escaped(str);
    case Type::kError: return "-" + escaped(str);
    case Type::kInteger: return ":" + std::to_string(integer);
    case Type::kBulkString: return "$" + escaped(str);
    case Type::kNull: return "null";
    case Type::kDouble: {
      char text[64];
      std::snprintf(text, sizeof(text), ",%.17g", real);
      return text;
    }
    case Type::kBoolean: return integer != 0 ? "#t" : "#f";
    case Type::kBigNumber: return "(" + str;
    case Type::kVerbatim: return "=" + format + ":" + escaped(str);
    case Type::kArray:
    case Type::kMap:
    case Type::kSet:
    case Type::kPush: {
      std::string out = std::string(type_name(type)) + "[";
      for (size_t i = 0; i < elements.size(); ++i) {
        if (i > 0) out += ", ";
        out += elements[i].debug_string();
      }
      return out + "]";
    }
  }
  KEEL_UNREACHABLE();
}

}  // namespace keel::net::resp
