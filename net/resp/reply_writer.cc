#include "net/resp/reply_writer.h"

#include <utility>

#include "core/assert.h"
#include "net/resp/wire.h"

namespace keel::net::resp {

namespace {

void append_size(core::Bytes& out, size_t n) { wire::append_int64(out, static_cast<int64_t>(n)); }

void append_bulk(core::Bytes& out, core::ByteView s) {
  out.push_back('$');
  append_size(out, s.size());
  out.append("\r\n", 2);
  out.append(s.data(), s.size());
  out.append("\r\n", 2);
}

}  // namespace

core::Bytes ReplyWriter::take() {
  core::Bytes taken = std::move(out_);
  out_.clear();
  return taken;
}

void ReplyWriter::consume(size_t n) {
  KEEL_ASSERT(n <= out_.size());
  out_.erase(0, n);
}

void ReplyWriter::header(char type, size_t n) {
  out_.push_back(type);
  append_size(out_, n);
  out_.append("\r\n", 2);
}

void ReplyWriter::line(char type, core::ByteView text) {
  out_.push_back(type);
  size_t start = out_.size();
  out_.append(text.data(), text.size());
  for (size_t i = start; i < out_.size(); ++i) {
    if (out_[i] == '\r' || out_[i] == '\n') out_[i] = ' ';
  }
  out_.append("\r\n", 2);
}

void ReplyWriter::ok() { out_.append("+OK\r\n", 5); }

void ReplyWriter::simple_string(core::ByteView s) { line('+', s); }

void ReplyWriter::error(core::ByteView message) { line('-', message); }

void ReplyWriter::integer(int64_t v) {
  out_.push_back(':');
  wire::append_int64(out_, v);
  out_.append("\r\n", 2);
}

void ReplyWriter::bulk(core::ByteView s) { append_bulk(out_, s); }

void ReplyWriter::null() {
  if (protocol_ == Protocol::kResp3) {
    out_.append("_\r\n", 3);
  } else {
    out_.append("$-1\r\n", 5);
  }
}

void ReplyWriter::null_array() {
  if (protocol_ == Protocol::kResp3) {
    out_.append("_\r\n", 3);
  } else {
    out_.append("*-1\r\n", 5);
  }
}

void ReplyWriter::array(size_t n) { header('*', n); }

void ReplyWriter::map(size_t pairs) {
  if (protocol_ == Protocol::kResp3) {
    header('%', pairs);
  } else {
    header('*', pairs * 2);
  }
}

void ReplyWriter::set(size_t n) { header(protocol_ == Protocol::kResp3 ? '~' : '*', n); }

void ReplyWriter::push(size_t n) { header(protocol_ == Protocol::kResp3 ? '>' : '*', n); }

void ReplyWriter::double_value(double v) {
  if (protocol_ == Protocol::kResp3) {
    out_.push_back(',');
    wire::append_double(out_, v);
    out_.append("\r\n", 2);
  } else {
    core::Bytes text;
    wire::append_double(text, v);
    append_bulk(out_, text);
  }
}

void ReplyWriter::boolean(bool v) {
  if (protocol_ == Protocol::kResp3) {
    out_.append(v ? "#t\r\n" : "#f\r\n", 4);
  } else {
    out_.append(v ? ":1\r\n" : ":0\r\n", 4);
  }
}

void ReplyWriter::big_number(core::ByteView digits) {
  KEEL_ASSERT(!digits.empty());
  if (protocol_ == Protocol::kResp3) {
    line('(', digits);
  } else {
    append_bulk(out_, digits);
  }
}

void ReplyWriter::verbatim(core::ByteView format, core::ByteView text) {
  KEEL_ASSERT(format.size() == 3);
  if (protocol_ == Protocol::kResp3) {
    header('=', text.size() + 4);
    out_.append(format.data(), format.size());
    out_.push_back(':');
    out_.append(text.data(), text.size());
    out_.append("\r\n", 2);
  } else {
    append_bulk(out_, text);
  }
}

void ReplyWriter::value(const Value& v) {
  switch (v.type) {
    case Type::kSimpleString: simple_string(v.str); return;
    case Type::kError: error(v.str); return;
    case Type::kInteger: integer(v.integer); return;
    case Type::kBulkString: bulk(v.str); return;
    case Type::kNull: null(); return;
    case Type::kDouble: double_value(v.real); return;
    case Type::kBoolean: boolean(v.integer != 0); return;
    case Type::kBigNumber: big_number(v.str); return;
    case Type::kVerbatim: verbatim(v.format, v.str); return;
    case Type::kArray: array(v.elements.size()); break;
    case Type::kMap:
      KEEL_ASSERT(v.elements.size() % 2 == 0);
      map(v.elements.size() / 2);
      break;
    case Type::kSet: set(v.elements.size()); break;
    case Type::kPush: push(v.elements.size()); break;
  }
  for (const Value& element : v.elements) value(element);
}

void ReplyWriter::bulk_array(std::span<const core::ByteView> items) {
  array(items.size());
  for (core::ByteView item : items) bulk(item);
}

void append_request(core::Bytes& out, std::span<const core::ByteView> argv) {
  KEEL_ASSERT(!argv.empty());
  out.push_back('*');
  append_size(out, argv.size());
  out.append("\r\n", 2);
  for (core::ByteView arg : argv) append_bulk(out, arg);
}

void append_request(core::Bytes& out, const Argv& argv) {
  KEEL_ASSERT(!argv.empty());
  out.push_back('*');
  append_size(out, argv.size());
  out.append("\r\n", 2);
  for (const core::Bytes& arg : argv) append_bulk(out, arg);
}

}  // namespace keel::net::resp
