#include "storage/log.h"

#include <algorithm>
#include <utility>

namespace keel::storage {

using core::Bytes;
using core::ByteView;
using core::LogIndex;
using core::Result;
using core::Status;
using core::put_u32;
using core::put_u64;

namespace {

// See storage/LOG_FORMAT.md.
constexpr char kSegmentMagic[8] = {'K', 'E', 'E', 'L', '-', 'L', 'O', 'G'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint64_t kSegmentHeaderBytes = 32;
constexpr uint32_t kSegmentFlagReset = 1;
constexpr uint64_t kRecordHeaderBytes = 32;
constexpr uint64_t kHeaderChecksumSeed = 0x6b65656c2d686472ull;  // "keel-hdr"
constexpr std::string_view kSegmentSuffix = ".log";
constexpr std::string_view kTempSuffix = ".log.tmp";
constexpr size_t kSegmentNameDigits = 20;
// Recovery and reads fetch at most this many bytes per read_at call.
constexpr uint64_t kReadChunkBytesMax = 4ull * 1024 * 1024;

std::string segment_name(LogIndex first) {
  std::string digits = std::to_string(first.value());
  return std::string(kSegmentNameDigits - digits.size(), '0') + digits + std::string(kSegmentSuffix);
}

// Parses "<20 digits>.log"; false for anything else.
bool parse_segment_name(const std::string& name, LogIndex& first) {
  if (name.size() != kSegmentNameDigits + kSegmentSuffix.size()) return false;
  if (name.compare(kSegmentNameDigits, std::string::npos, kSegmentSuffix) != 0) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < kSegmentNameDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(name[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  first = LogIndex(v);
  return true;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Bytes encode_segment_header(LogIndex first, uint32_t flags) {
  Bytes out(kSegmentMagic, sizeof(kSegmentMagic));
  put_u32(out, kFormatVersion);
  put_u32(out, flags);
  put_u64(out, first.value());
  put_u64(out, core::checksum64(out, kHeaderChecksumSeed));
  KEEL_ASSERT(out.size() == kSegmentHeaderBytes);
  return out;
}

uint32_t record_header_check(const char* header) {
  return static_cast<uint32_t>(core::checksum64(ByteView(header + 4, kRecordHeaderBytes - 4), kHeaderChecksumSeed));
}

void encode_record(Bytes& out, LogIndex index, LogIndex synced, ByteView payload) {
  const size_t start = out.size();
  put_u32(out, 0);  // header check, filled below
  put_u32(out, static_cast<uint32_t>(payload.size()));
  put_u64(out, index.value());
  put_u64(out, synced.value());
  put_u64(out, core::checksum64(payload, index.value()));
  const uint32_t check = record_header_check(out.data() + start);
  for (int i = 0; i < 4; ++i) out[start + i] = static_cast<char>((check >> (8 * i)) & 0xff);
  out.append(payload.data(), payload.size());
}

// A record as parsed from bytes, or why it is not one.
struct ParsedRecord {
  bool valid = false;
  uint64_t payload_bytes = 0;
  LogIndex index;
  LogIndex synced;
  const char* reason = "";
};

// Parses the record at `p` of `buf`; valid only if header and payload
// checksums hold and it fits in `buf`.
ParsedRecord parse_record(ByteView buf, uint64_t p) {
  ParsedRecord r;
  if (buf.size() - p < kRecordHeaderBytes) {
    r.reason = "truncated record header";
    return r;
  }
  const char* h = buf.data() + p;
  if (core::get_u32(h) != record_header_check(h)) {
    r.reason = "record header checksum mismatch";
    return r;
  }
  r.payload_bytes = core::get_u32(h + 4);
  r.index = LogIndex(core::get_u64(h + 8));
  r.synced = LogIndex(core::get_u64(h + 16));
  if (r.payload_bytes > Log::kRecordBytesMax) {
    r.reason = "record length over the maximum";
    return r;
  }
  if (buf.size() - p - kRecordHeaderBytes < r.payload_bytes) {
    r.reason = "record extends past end of file";
    return r;
  }
  const ByteView payload = buf.substr(p + kRecordHeaderBytes, r.payload_bytes);
  if (core::checksum64(payload, r.index.value()) != core::get_u64(h + 24)) {
    r.reason = "record payload checksum mismatch";
    return r;
  }
  r.valid = true;
  return r;
}

Result<Bytes> read_whole(core::File& file, uint64_t size) {
  Bytes out;
  out.reserve(size);
  while (out.size() < size) {
    KEEL_TRY_ASSIGN(Bytes chunk, file.read_at(out.size(), std::min(kReadChunkBytesMax, size - out.size())));
    if (chunk.empty()) return core::io_error("short read of " + file.path());
    out += chunk;
  }
  return out;
}

std::string at(const std::string& path, uint64_t offset) {
  return path + " offset " + std::to_string(offset);
}

}  // namespace

struct Log::Segment {
  LogIndex first;
  std::string path;
  std::unique_ptr<core::File> file;
  bool reset = false;
  // offsets[i] is the file offset of record first + i.
  std::vector<uint64_t> offsets;
  // Offset just past the last record.
  uint64_t end = kSegmentHeaderBytes;

  uint64_t count() const { return offsets.size(); }
  LogIndex last() const { return LogIndex(first.value() + offsets.size() - 1); }
  uint64_t offset_of(LogIndex i) const { return offsets[i.value() - first.value()]; }
  uint64_t end_of(LogIndex i) const {
    const uint64_t k = i.value() - first.value() + 1;
    return k < offsets.size() ? offsets[k] : end;
  }
};

namespace {

// Marks the log busy for the duration of a call (one fiber at a time).
class BusyGuard {
 public:
  explicit BusyGuard(bool& busy) : busy_(busy) {
    KEEL_ASSERT_MSG(!busy_, "Log used by two fibers at once");
    busy_ = true;
  }
  ~BusyGuard() { busy_ = false; }

 private:
  bool& busy_;
};

}  // namespace

Log::Log(core::Disk& disk, std::string dir, LogOptions options)
    : disk_(disk), dir_(std::move(dir)), options_(options) {
  KEEL_ASSERT(options_.segment_bytes_max > kSegmentHeaderBytes);
}

Log::~Log() = default;

std::string Log::segment_path(LogIndex first) const { return dir_ + "/" + segment_name(first); }

Result<std::unique_ptr<Log>> Log::open(core::Disk& disk, std::string dir, LogOptions options) {
  std::unique_ptr<Log> log(new Log(disk, std::move(dir), options));
  BusyGuard guard(log->busy_);
  KEEL_TRY(log->recover());
  return log;
}

Status Log::check_usable() const {
  if (!failed_.is_ok()) {
    return core::failed_precondition("log " + dir_ + " failed earlier and must be reopened: " + failed_.to_string());
  }
  return Status::ok();
}

Status Log::fail(Status status) {
  if (failed_.is_ok()) failed_ = status;
  return status;
}

Status Log::recover() {
  KEEL_TRY(disk_.make_dirs(dir_));
  // A segment created or removed just before a failed directory sync is
  // visible but not durable: make the names durable before trusting them.
  KEEL_TRY(disk_.sync_dir(dir_));
  KEEL_TRY_ASSIGN(std::vector<std::string> names, disk_.list(dir_));
  std::vector<std::pair<LogIndex, std::string>> found;
  bool removed_temp = false;
  for (const std::string& name : names) {
    LogIndex first;
    if (parse_segment_name(name, first)) {
      found.emplace_back(first, name);
    } else if (ends_with(name, kTempSuffix)) {
      // A segment whose creation did not finish: it never held a record.
      KEEL_TRY(disk_.remove(dir_ + "/" + name));
      removed_temp = true;
    } else {
      return core::failed_precondition("log directory " + dir_ + " holds an unexpected file '" + name +
                                       "'; move it away (nothing was changed)");
    }
  }
  if (removed_temp) KEEL_TRY(disk_.sync_dir(dir_));
  std::sort(found.begin(), found.end());

  for (const auto& [first, name] : found) {
    auto seg = std::make_unique<Segment>();
    seg->first = first;
    seg->path = dir_ + "/" + name;
    KEEL_TRY_ASSIGN(seg->file, disk_.open(seg->path, core::OpenMode::kReadWrite));
    KEEL_TRY_ASSIGN(const Bytes header, seg->file->read_at(0, kSegmentHeaderBytes));
    if (header.size() < kSegmentHeaderBytes) {
      return core::corruption(at(seg->path, 0) + ": truncated segment header (" + std::to_string(header.size()) +
                              " of " + std::to_string(kSegmentHeaderBytes) + " bytes)");
    }
    if (header.compare(0, sizeof(kSegmentMagic), kSegmentMagic, sizeof(kSegmentMagic)) != 0) {
      return core::corruption(at(seg->path, 0) + ": not a keel log segment (bad magic)");
    }
    // The version decides the layout of the rest, so it is checked first.
    const uint32_t version = core::get_u32(header.data() + 8);
    const bool header_ok =
        core::checksum64(ByteView(header).substr(0, 24), kHeaderChecksumSeed) == core::get_u64(header.data() + 24);
    if (version != kFormatVersion) {
      return core::failed_precondition(seg->path + ": log format version " + std::to_string(version) +
                                       ", this build reads version " + std::to_string(kFormatVersion) +
                                       (header_ok ? "" : " (or the header is damaged)"));
    }
    if (!header_ok) return core::corruption(at(seg->path, 0) + ": segment header checksum mismatch");
    const uint32_t flags = core::get_u32(header.data() + 12);
    if ((flags & ~kSegmentFlagReset) != 0) {
      return core::corruption(at(seg->path, 12) + ": unknown segment flags " + std::to_string(flags));
    }
    if (core::get_u64(header.data() + 16) != first.value()) {
      return core::corruption(at(seg->path, 16) + ": header says first index " +
                              std::to_string(core::get_u64(header.data() + 16)) + ", file name says " +
                              first.to_string());
    }
    seg->reset = (flags & kSegmentFlagReset) != 0;
    segments_.push_back(std::move(seg));
  }

  // Segments older than the newest reset segment are leftovers of an
  // interrupted truncate_prefix past the end: finish deleting them.
  size_t newest_reset = 0;
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (segments_[i]->reset) newest_reset = i;
  }
  for (size_t i = 0; i < newest_reset; ++i) {
    KEEL_COVER(options_.coverage, "log: recovery removed segments left by an interrupted reset");
    segments_[i]->file.reset();
    KEEL_TRY(disk_.remove(segments_[i]->path));
    KEEL_TRY(disk_.sync_dir(dir_));
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(newest_reset));

  for (size_t i = 0; i < segments_.size(); ++i) {
    Segment& seg = *segments_[i];
    KEEL_TRY(recover_segment(seg, i + 1 == segments_.size()));
    if (i > 0) {
      const Segment& prev = *segments_[i - 1];
      if (seg.first != prev.last().next()) {
        return core::corruption("log " + dir_ + ": gap between segments: " + prev.path + " ends at index " +
                                prev.last().to_string() + ", " + seg.path + " starts at " + seg.first.to_string());
      }
    }
  }

  if (segments_.empty()) {
    KEEL_TRY(start_segment(LogIndex(1), /*reset=*/false));
  }
  first_index_ = segments_.front()->first;
  last_index_ = LogIndex(segments_.back()->first.value() + segments_.back()->count() - 1);
  // Whatever recovery found may sit only in the OS cache (after a process
  // crash); make it durable before anyone counts on it. A plain fsync is not
  // enough: after an fsync failed, the kernel may keep the unwritten bytes
  // as clean cache pages that no later fsync writes (Linux since 4.13), so
  // the last segment (the only one that can hold unsynced records: a full
  // segment is synced before the next one starts) is written anew.
  KEEL_TRY(rewrite_last_segment());
  synced_index_ = last_index_;
  return Status::ok();
}

Status Log::rewrite_last_segment() {
  Segment& seg = *segments_.back();
  KEEL_TRY_ASSIGN(const Bytes data, read_whole(*seg.file, seg.end));
  const std::string temp = seg.path.substr(0, seg.path.size() - kSegmentSuffix.size()) + std::string(kTempSuffix);
  {
    KEEL_TRY_ASSIGN(auto file, disk_.open(temp, core::OpenMode::kCreate));
    KEEL_TRY(file->truncate(0));
    KEEL_TRY(file->append(data));
    KEEL_TRY(file->sync());
  }
  seg.file.reset();
  // A crash before the rename leaves the old segment and a temp file, which
  // the next recovery removes.
  KEEL_TRY(disk_.rename(temp, seg.path));
  KEEL_TRY(disk_.sync_dir(dir_));
  KEEL_TRY_ASSIGN(seg.file, disk_.open(seg.path, core::OpenMode::kReadWrite));
  return Status::ok();
}

Status Log::recover_segment(Segment& seg, bool last) {
  KEEL_TRY_ASSIGN(const uint64_t size, seg.file->size());
  KEEL_TRY_ASSIGN(const Bytes data, read_whole(*seg.file, size));
  uint64_t p = kSegmentHeaderBytes;
  LogIndex expected = seg.first;
  while (p < data.size()) {
    const ParsedRecord r = parse_record(data, p);
    if (r.valid && r.index == expected) {
      seg.offsets.push_back(p);
      p += kRecordHeaderBytes + r.payload_bytes;
      expected = expected.next();
      continue;
    }
    const std::string why = r.valid ? "record has index " + r.index.to_string() + ", expected " + expected.to_string()
                                     : std::string(r.reason);
    if (!last) {
      return core::corruption(at(seg.path, p) + ": " + why + " (in a completed segment)");
    }
    // In the last segment a bad record is a torn tail unless a later valid
    // record says the writer had already synced past it.
    for (uint64_t q = p + 1; q + kRecordHeaderBytes <= data.size(); ++q) {
      const ParsedRecord later = parse_record(data, q);
      if (later.valid && later.index > expected && later.synced >= expected) {
        return core::corruption(at(seg.path, p) + ": " + why + "; record " + later.index.to_string() + " at offset " +
                                std::to_string(q) + " shows index " + expected.to_string() + " was synced");
      }
    }
    KEEL_COVER(options_.coverage, "log: recovery truncated a torn tail");
    KEEL_TRY(seg.file->truncate(p));
    KEEL_TRY(seg.file->sync());
    break;
  }
  seg.end = p;
  return Status::ok();
}

Status Log::start_segment(LogIndex first, bool reset) {
  const std::string path = segment_path(first);
  const std::string temp = path.substr(0, path.size() - kSegmentSuffix.size()) + std::string(kTempSuffix);
  {
    KEEL_TRY_ASSIGN(auto file, disk_.open(temp, core::OpenMode::kCreate));
    KEEL_TRY(file->truncate(0));
    KEEL_TRY(file->append(encode_segment_header(first, reset ? kSegmentFlagReset : 0)));
    KEEL_TRY(file->sync());
  }
  KEEL_TRY(disk_.rename(temp, path));
  KEEL_TRY(disk_.sync_dir(dir_));
  auto seg = std::make_unique<Segment>();
  seg->first = first;
  seg->path = path;
  seg->reset = reset;
  KEEL_TRY_ASSIGN(seg->file, disk_.open(path, core::OpenMode::kReadWrite));
  segments_.push_back(std::move(seg));
  return Status::ok();
}

Status Log::remove_segment_file(const Segment& seg) {
  KEEL_TRY(disk_.remove(seg.path));
  // One directory sync per removal keeps the surviving segments contiguous
  // whatever subset of removals a crash would otherwise keep.
  return disk_.sync_dir(dir_);
}

Log::Segment* Log::segment_for(LogIndex index) {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), index,
                             [](LogIndex i, const std::unique_ptr<Segment>& s) { return i < s->first; });
  KEEL_ASSERT(it != segments_.begin());
  return std::prev(it)->get();
}

Result<LogIndex> Log::append(const std::vector<Bytes>& records) {
  std::vector<ByteView> views(records.begin(), records.end());
  return append(views);
}

Result<LogIndex> Log::append(const std::vector<ByteView>& records) {
  BusyGuard guard(busy_);
  KEEL_TRY(check_usable());
  if (records.size() > kAppendRecordsMax) {
    return core::invalid_argument("append of " + std::to_string(records.size()) + " records; at most " +
                                  std::to_string(kAppendRecordsMax));
  }
  for (ByteView r : records) {
    if (r.size() > kRecordBytesMax) {
      return core::invalid_argument("record of " + std::to_string(r.size()) + " bytes; at most " +
                                    std::to_string(kRecordBytesMax));
    }
  }
  const LogIndex first_new = last_index_.next();
  size_t i = 0;
  while (i < records.size()) {
    Segment* seg = segments_.back().get();
    const uint64_t record_bytes = kRecordHeaderBytes + records[i].size();
    if (seg->count() > 0 && seg->end + record_bytes > options_.segment_bytes_max) {
      // Close the full segment: a completed segment is always durable, so
      // recovery may treat any damage in it as corruption.
      Status s = seg->file->sync();
      if (!s.is_ok()) return fail(s);
      synced_index_ = last_index_;
      s = start_segment(last_index_.next(), /*reset=*/false);
      if (!s.is_ok()) return fail(s);
      continue;
    }
    // Encode as many records as fit in this segment into one write.
    Bytes buf;
    uint64_t buf_bytes = 0;
    for (size_t k = i; k < records.size() && buf_bytes < options_.segment_bytes_max; ++k) {
      buf_bytes += kRecordHeaderBytes + records[k].size();
    }
    buf.reserve(std::min(buf_bytes, options_.segment_bytes_max));
    std::vector<uint64_t> offsets;
    uint64_t end = seg->end;
    LogIndex index = last_index_.next();
    while (i < records.size()) {
      const uint64_t bytes = kRecordHeaderBytes + records[i].size();
      if (!offsets.empty() || seg->count() > 0) {
        if (end + bytes > options_.segment_bytes_max) break;
      }
      offsets.push_back(end);
      encode_record(buf, index, synced_index_, records[i]);
      end += bytes;
      index = index.next();
      ++i;
    }
    Status s = seg->file->write_at(seg->end, buf);
    // A failed write leaves unknown bytes after the last record; only a
    // reopen (whose recovery inspects them) may write again.
    if (!s.is_ok()) return fail(s);
    seg->offsets.insert(seg->offsets.end(), offsets.begin(), offsets.end());
    seg->end = end;
    last_index_ = LogIndex(index.value() - 1);
  }
  return first_new;
}

Status Log::sync() {
  BusyGuard guard(busy_);
  KEEL_TRY(check_usable());
  if (synced_index_ == last_index_) return Status::ok();
  const LogIndex target = last_index_;
  Status s = segments_.back()->file->sync();
  if (!s.is_ok()) return fail(s);
  synced_index_ = target;
  return Status::ok();
}

Result<std::vector<Bytes>> Log::read(LogIndex from, uint64_t max_bytes) {
  BusyGuard guard(busy_);
  KEEL_TRY(check_usable());
  if (from < first_index_ || from > last_index_.next()) {
    return core::not_found("log " + dir_ + " holds " + first_index_.to_string() + ".." + last_index_.to_string() +
                           ", asked for " + from.to_string());
  }
  std::vector<Bytes> out;
  uint64_t total = 0;
  LogIndex next = from;
  while (next <= last_index_) {
    // Snapshot what this read needs: a suspension inside read_at cannot
    // change the segment list, since the log is used by one fiber.
    Segment* seg = segment_for(next);
    // Choose the records of this segment that fit the budget.
    LogIndex stop = next;
    while (stop <= seg->last()) {
      const uint64_t payload = seg->end_of(stop) - seg->offset_of(stop) - kRecordHeaderBytes;
      if (!out.empty() || stop != next) {
        if (total + payload > max_bytes) break;
      }
      total += payload;
      stop = stop.next();
    }
    if (stop == next) break;
    const uint64_t begin = seg->offset_of(next);
    const uint64_t end = seg->end_of(stop.prev());
    Bytes data;
    while (data.size() < end - begin) {
      KEEL_TRY_ASSIGN(Bytes chunk,
                      seg->file->read_at(begin + data.size(), std::min(kReadChunkBytesMax, end - begin - data.size())));
      if (chunk.empty()) return core::io_error("short read of " + seg->path);
      data += chunk;
    }
    for (LogIndex i = next; i < stop; i = i.next()) {
      const uint64_t p = seg->offset_of(i) - begin;
      const ParsedRecord r = parse_record(data, p);
      if (!r.valid || r.index != i || p + kRecordHeaderBytes + r.payload_bytes != seg->end_of(i) - begin) {
        return core::corruption(at(seg->path, seg->offset_of(i)) + ": " +
                                (r.valid ? "record index or length does not match the log" : r.reason));
      }
      out.push_back(data.substr(p + kRecordHeaderBytes, r.payload_bytes));
    }
    next = stop;
    if (stop <= seg->last()) break;  // budget exhausted inside this segment
  }
  return out;
}

Status Log::truncate_suffix(LogIndex from) {
  BusyGuard guard(busy_);
  KEEL_TRY(check_usable());
  KEEL_ASSERT_MSG(from >= first_index_, "truncate_suffix below the first index");
  if (from > last_index_) return Status::ok();
  Segment* target = segment_for(from);
  // Newest first, so that a crash part-way leaves a contiguous log.
  while (segments_.back().get() != target) {
    Status s = remove_segment_file(*segments_.back());
    if (!s.is_ok()) return fail(s);
    segments_.pop_back();
  }
  if (from == target->first && segments_.size() > 1) {
    Status s = remove_segment_file(*target);
    if (!s.is_ok()) return fail(s);
    segments_.pop_back();
  } else {
    const uint64_t cut = target->offset_of(from);
    Status s = target->file->truncate(cut);
    if (s.is_ok()) s = target->file->sync();
    if (!s.is_ok()) return fail(s);
    target->offsets.resize(from.value() - target->first.value());
    target->end = cut;
  }
  last_index_ = from.prev();
  synced_index_ = std::min(synced_index_, last_index_);
  return Status::ok();
}

Status Log::truncate_prefix(LogIndex new_first) {
  BusyGuard guard(busy_);
  KEEL_TRY(check_usable());
  if (new_first <= first_index_) return Status::ok();
  if (new_first > last_index_.next()) {
    // Reset: the new segment is made durable first; its reset flag tells
    // recovery that any older segment left behind by a crash is obsolete.
    Status s = start_segment(new_first, /*reset=*/true);
    if (!s.is_ok()) return fail(s);
    std::unique_ptr<Segment> fresh = std::move(segments_.back());
    segments_.pop_back();
    for (auto& seg : segments_) {
      seg->file.reset();
      s = remove_segment_file(*seg);
      if (!s.is_ok()) return fail(s);
    }
    segments_.clear();
    segments_.push_back(std::move(fresh));
    first_index_ = new_first;
    last_index_ = new_first.prev();
    synced_index_ = last_index_;
    return Status::ok();
  }
  first_index_ = new_first;
  // Oldest first; the last segment always stays.
  while (segments_.size() > 1 && segments_[1]->first <= new_first) {
    segments_.front()->file.reset();
    Status s = remove_segment_file(*segments_.front());
    if (!s.is_ok()) return fail(s);
    segments_.erase(segments_.begin());
  }
  return Status::ok();
}

}  // namespace keel::storage
