#include "sim/trace_diff.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::sim {

namespace {

// No trace line comes near this; a longer one means the file is not a trace.
constexpr size_t kLineBytesMax = 16 * 1024 * 1024;

// One key and value of a flat JSON object. `value` is decoded for strings
// (\uXXXX escapes above 0x7f are kept as written) and the literal text for
// numbers, true, false and null.
struct Field {
  std::string key;
  std::string value;
  bool is_string = false;
};

class FlatObjectParser {
 public:
  explicit FlatObjectParser(std::string_view text) : text_(text) {}

  // The fields of a one-level JSON object (the only shape a trace line has),
  // or nullopt if the text is anything else.
  std::optional<std::vector<Field>> parse() {
    std::vector<Field> fields;
    skip_space();
    if (!eat('{')) return std::nullopt;
    skip_space();
    if (eat('}')) return finish(std::move(fields));
    for (;;) {
      Field f;
      skip_space();
      if (!string(&f.key)) return std::nullopt;
      skip_space();
      if (!eat(':')) return std::nullopt;
      skip_space();
      if (peek() == '"') {
        f.is_string = true;
        if (!string(&f.value)) return std::nullopt;
      } else if (!literal(&f.value)) {
        return std::nullopt;
      }
      fields.push_back(std::move(f));
      skip_space();
      if (eat('}')) return finish(std::move(fields));
      if (!eat(',')) return std::nullopt;
    }
  }

 private:
  std::optional<std::vector<Field>> finish(std::vector<Field> fields) {
    skip_space();
    if (pos_ != text_.size()) return std::nullopt;
    return fields;
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\r')) ++pos_;
  }
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool string(std::string* out) {
    if (!eat('"')) return false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (pos_ >= text_.size()) return false;
      const char e = text_[pos_++];
      switch (e) {
        case '"': *out += '"'; break;
        case '\\': *out += '\\'; break;
        case '/': *out += '/'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > text_.size()) return false;
          int code = 0;
          for (int i = 0; i < 4; ++i) {
            const int h = hex(text_[pos_ + i]);
            if (h < 0) return false;
            code = code * 16 + h;
          }
          if (code < 0x80) {
            *out += static_cast<char>(code);
          } else {
            out->append(text_.substr(pos_ - 2, 6));
          }
          pos_ += 4;
          break;
        }
        default: return false;
      }
    }
    return false;
  }
  bool literal(std::string* out) {
    const size_t start = pos_;
    for (std::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        *out = std::string(word);
        return true;
      }
    }
    if (peek() == '-') ++pos_;
    const size_t digits = pos_;
    while (pos_ < text_.size() && ((text_[pos_] >= '0' && text_[pos_] <= '9') || text_[pos_] == '.' ||
                                   text_[pos_] == 'e' || text_[pos_] == 'E' || text_[pos_] == '+' ||
                                   text_[pos_] == '-')) {
      ++pos_;
    }
    if (pos_ == digits) return false;
    *out = std::string(text_.substr(start, pos_ - start));
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

struct Event {
  uint64_t line = 0;
  uint64_t number = 0;
  std::string text;
  std::vector<Field> fields;  // t_ns, src, ev, then the event's own fields
};

const Field* field(const Event& e, std::string_view key) {
  for (const Field& f : e.fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

std::string value_or(const Event& e, std::string_view key, std::string_view fallback) {
  const Field* f = field(e, key);
  return f != nullptr ? f->value : std::string(fallback);
}

// Reads the events of one trace file in order, skipping its log lines.
class TraceReader {
 public:
  explicit TraceReader(std::string path) : path_(std::move(path)) {}

  core::Status open() {
    std::error_code error_code;
    if (std::filesystem::is_directory(path_, error_code)) {
      return core::invalid_argument("cannot read " + path_ + ": it is a directory");
    }
    errno = 0;
    in_.open(path_, std::ios::in | std::ios::binary);
    if (!in_.is_open()) {
      const int error = errno;
      if (error == ENOENT) return core::not_found("cannot read " + path_ + ": no such file");
      return core::invalid_argument("cannot read " + path_ + ": " +
                                    (error != 0 ? std::strerror(error) : "cannot open the file"));
    }
    return core::Status::ok();
  }

  // The next event, nullopt at the end of the file. The first line must be
  // the run.start event.
  core::Result<std::optional<Event>> next() {
    std::string text;
    while (std::getline(in_, text)) {
      ++line_;
      if (text.size() > kLineBytesMax) return bad("a line longer than " + std::to_string(kLineBytesMax) + " bytes");
      if (text.find_first_not_of(" \t\r") == std::string::npos) {
        if (line_ == 1) return bad("its first line is empty (expected the run.start event)");
        continue;
      }
      if (!text.empty() && text.back() == '\r') text.pop_back();
      auto fields = FlatObjectParser(text).parse();
      if (!fields) return bad("not a JSON object");
      const bool has_prefix = fields->size() >= 3 && (*fields)[0].key == "t_ns" && !(*fields)[0].is_string &&
                              (*fields)[1].key == "src" && (*fields)[1].is_string;
      const bool is_event = has_prefix && (*fields)[2].key == "ev" && (*fields)[2].is_string;
      const bool is_log = has_prefix && fields->size() == 4 && (*fields)[2].key == "level" && (*fields)[3].key == "msg";
      if (!is_event && !is_log) return bad("not a trace event or log line");
      if (line_ == 1 && !(is_event && (*fields)[2].value == "run.start")) {
        return bad("its first line is not a run.start event");
      }
      if (!is_event) continue;
      Event e;
      e.line = line_;
      e.number = ++events_;
      e.text = std::move(text);
      e.fields = std::move(*fields);
      return std::optional<Event>(std::move(e));
    }
    if (in_.bad()) return core::invalid_argument("cannot read " + path_ + ": read error after line " + std::to_string(line_));
    if (line_ == 0) return core::invalid_argument(path_ + " is not a keel trace: the file is empty");
    return std::optional<Event>();
  }

  const std::string& path() const { return path_; }
  uint64_t events() const { return events_; }

 private:
  core::Status bad(const std::string& why) const {
    return core::invalid_argument(path_ + " is not a keel trace: line " + std::to_string(line_) + ": " + why);
  }

  std::string path_;
  std::ifstream in_;
  uint64_t line_ = 0;
  uint64_t events_ = 0;
};

std::string run_name(const Event& start) {
  return "seed " + value_or(start, "seed", "?") + " workload " + value_or(start, "workload", "?");
}

std::string seconds(const Event& e) {
  const Field* t = field(e, "t_ns");
  if (t == nullptr) return "?";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.9f s", static_cast<double>(std::strtoll(t->value.c_str(), nullptr, 10)) / 1e9);
  return buf;
}

// "t=1.000000000 s n2 raft.start": when, where and what an event is.
std::string headline(const Event& e) {
  return "t=" + seconds(e) + " " + value_or(e, "src", "?") + " " + value_or(e, "ev", "?");
}

// The keys whose values differ between two events (time included).
std::string differing_fields(const Event& a, const Event& b) {
  std::string out;
  auto add = [&out](const std::string& key) {
    if (out.find("'" + key + "'") == std::string::npos) out += (out.empty() ? "" : ", ") + ("'" + key + "'");
  };
  for (const Field& f : a.fields) {
    const Field* g = field(b, f.key);
    if (g == nullptr || g->value != f.value || g->is_string != f.is_string) add(f.key);
  }
  for (const Field& g : b.fields) {
    if (field(a, g.key) == nullptr) add(g.key);
  }
  return out;
}

void append_context(std::string& out, const TraceReader& reader, const std::deque<Event>& before,
                    const std::optional<Event>& at, const std::vector<Event>& after) {
  out += "\n" + reader.path() + " around it:\n";
  auto row = [&out](const Event& e, bool mark) {
    char prefix[64];
    std::snprintf(prefix, sizeof prefix, "%s line %-7llu event %-7llu ", mark ? ">" : " ",
                  static_cast<unsigned long long>(e.line), static_cast<unsigned long long>(e.number));
    out += prefix;
    out += e.text;
    out += '\n';
  };
  for (const Event& e : before) row(e, false);
  if (at) {
    row(*at, true);
  } else {
    out += ">  (end of file after " + std::to_string(reader.events()) + " events)\n";
  }
  for (const Event& e : after) row(e, false);
}

}  // namespace

core::Result<TraceDiff> diff_trace_files(const std::string& path_a, const std::string& path_b) {
  TraceReader a(path_a);
  TraceReader b(path_b);
  KEEL_TRY(a.open());
  KEEL_TRY(b.open());
  KEEL_TRY_ASSIGN(std::optional<Event> start_a, a.next());
  KEEL_TRY_ASSIGN(std::optional<Event> start_b, b.next());
  // next() rejects a first line that is not run.start, and an empty file.
  if (!start_a || !start_b) return core::invalid_argument("not a keel trace: no run.start event");
  if (start_a->text != start_b->text) {
    std::string message = "traces of different runs: " + run_name(*start_a) + " vs " + run_name(*start_b);
    if (run_name(*start_a) == run_name(*start_b)) {
      message += " (their run.start lines differ in " + differing_fields(*start_a, *start_b) + ")";
    }
    return core::invalid_argument(message);
  }

  TraceDiff diff;
  diff.events_compared = 1;
  std::deque<Event> before_a;
  std::deque<Event> before_b;
  for (;;) {
    KEEL_TRY_ASSIGN(std::optional<Event> ea, a.next());
    KEEL_TRY_ASSIGN(std::optional<Event> eb, b.next());
    if (!ea && !eb) break;
    if (ea && eb && ea->text == eb->text) {
      ++diff.events_compared;
      before_a.push_back(std::move(*ea));
      before_b.push_back(std::move(*eb));
      if (before_a.size() > kTraceDiffContext) before_a.pop_front();
      if (before_b.size() > kTraceDiffContext) before_b.pop_front();
      continue;
    }
    diff.identical = false;
    diff.event = diff.events_compared + 1;
    diff.line_a = ea ? ea->line : 0;
    diff.line_b = eb ? eb->line : 0;
    std::vector<Event> after_a;
    std::vector<Event> after_b;
    for (int i = 0; i < kTraceDiffContext; ++i) {
      if (ea) {
        KEEL_TRY_ASSIGN(std::optional<Event> e, a.next());
        if (e) after_a.push_back(std::move(*e));
      }
      if (eb) {
        KEEL_TRY_ASSIGN(std::optional<Event> e, b.next());
        if (e) after_b.push_back(std::move(*e));
      }
    }
    std::string& r = diff.report;
    r = "traces differ at event " + std::to_string(diff.event) + " (events are the lines hashed into the digest; " +
        "log lines are ignored)\n";
    auto describe = [&r](const TraceReader& reader, const std::optional<Event>& e) {
      if (e) {
        r += "  " + reader.path() + " line " + std::to_string(e->line) + ": " + headline(*e) + "\n";
      } else {
        r += "  " + reader.path() + ": ends after " + std::to_string(reader.events()) + " events\n";
      }
    };
    describe(a, ea);
    describe(b, eb);
    if (ea && eb) r += "  differing fields: " + differing_fields(*ea, *eb) + "\n";
    append_context(r, a, before_a, ea, after_a);
    append_context(r, b, before_b, eb, after_b);
    return diff;
  }
  diff.report = "traces are identical: " + std::to_string(diff.events_compared) + " events (" + run_name(*start_a) +
                ")\n";
  return diff;
}

int diff_traces(const std::string& path_a, const std::string& path_b, std::string* report) {
  auto diff = diff_trace_files(path_a, path_b);
  if (!diff.is_ok()) {
    *report = "keel-sim: " + diff.status().message() + "\n";
    return 2;
  }
  *report = diff->report;
  return diff->identical ? 0 : 1;
}

}  // namespace keel::sim
