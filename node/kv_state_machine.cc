#include "node/kv_state_machine.h"

#include <string>
#include <utility>

namespace keel::node {

using core::Bytes;
using core::ByteView;
using core::LogIndex;
using core::Status;

namespace {

constexpr char kDataPrefix = 'd';
constexpr char kMetaPrefix = 'm';
constexpr ByteView kKeyCountKey = "m/keys";
// Present while a restore too large for one batch is being written.
constexpr ByteView kRestoringKey = "m/restoring";

Bytes encode_count(uint64_t n) {
  Bytes out;
  core::put_u64(out, n);
  return out;
}

}  // namespace

Bytes kv_data_key(ByteView key) {
  Bytes out;
  out.reserve(key.size() + 1);
  out.push_back(kDataPrefix);
  out.append(key.data(), key.size());
  return out;
}

KvStateMachine::KvStateMachine(core::Scheduler& fibers, storage::KvEngine& engine)
    : engine_(engine), mutex_(fibers), durable_(engine.applied_index()) {}

core::Result<std::unique_ptr<KvStateMachine>> KvStateMachine::open(core::Scheduler& fibers,
                                                                   storage::KvEngine& engine) {
  std::unique_ptr<KvStateMachine> m(new KvStateMachine(fibers, engine));
  KEEL_TRY_ASSIGN(std::optional<Bytes> restoring, engine.get(kRestoringKey));
  if (restoring) {
    return core::corruption("kv state machine: a snapshot restore to index " + *restoring +
                            " was interrupted; the engine holds a partial state");
  }
  KEEL_TRY_ASSIGN(std::optional<Bytes> count, engine.get(kKeyCountKey));
  if (count) {
    if (count->size() != 8) return core::corruption("kv state machine: bad key count record");
    m->keys_ = core::get_u64(count->data());
  }
  return m;
}

Status KvStateMachine::check_usable() const { return failed_; }

Status KvStateMachine::write(const storage::WriteBatch& batch, LogIndex index) {
  Status s = engine_.write_batch(batch, index);
  if (!s.is_ok()) failed_ = s.with_context("kv state machine: write of entry " + index.to_string());
  return s;
}

core::Result<std::optional<Bytes>> KvStateMachine::get_user(ByteView key) { return engine_.get(kv_data_key(key)); }

core::Result<Bytes> KvStateMachine::apply(LogIndex index, ByteView command) {
  core::LockGuard guard(mutex_);
  KEEL_TRY(check_usable());
  if (index <= engine_.applied_index()) {
    ++stats_.replayed_entries;
    return encode_reply(CommandReply::error("ERR entry " + index.to_string() + " was applied before"));
  }
  KEEL_ASSERT_MSG(index == engine_.applied_index().next(), "entries must be applied in index order without gaps");

  storage::WriteBatch batch;
  CommandReply reply;
  int64_t keys_delta = 0;
  core::Result<Command> decoded = decode_command(command);
  if (!decoded.is_ok()) {
    // Every replica decodes the same bytes the same way, so they all take
    // this branch together and stay equal.
    ++stats_.malformed_commands;
    reply = CommandReply::error("ERR malformed command: " + decoded.status().message());
  } else {
    const KeyReader reader = [this](ByteView key) { return get_user(key); };
    core::Result<ApplyOutcome> outcome = apply_command(*decoded, reader);
    if (!outcome.is_ok()) {
      failed_ = outcome.status().with_context("kv state machine: read while applying entry " + index.to_string());
      return failed_;
    }
    for (const auto& [key, value] : outcome->writes) {
      if (value) {
        batch.put(kv_data_key(key), *value);
      } else {
        batch.del(kv_data_key(key));
      }
    }
    keys_delta = outcome->keys_delta;
    if (keys_delta != 0) {
      KEEL_ASSERT(keys_delta > 0 || static_cast<uint64_t>(-keys_delta) <= keys_);
      batch.put(kKeyCountKey, encode_count(keys_ + static_cast<uint64_t>(keys_delta)));
    }
    reply = std::move(outcome->reply);
  }
  KEEL_TRY(write(batch, index));
  keys_ += static_cast<uint64_t>(keys_delta);
  ++stats_.applied_commands;
  return encode_reply(reply);
}

Status KvStateMachine::skip(LogIndex index) {
  core::LockGuard guard(mutex_);
  KEEL_TRY(check_usable());
  if (index <= engine_.applied_index()) {
    ++stats_.replayed_entries;
    return Status::ok();
  }
  KEEL_ASSERT_MSG(index == engine_.applied_index().next(), "entries must be applied in index order without gaps");
  KEEL_TRY(write(storage::WriteBatch(), index));
  ++stats_.skipped_entries;
  return Status::ok();
}

Status KvStateMachine::persist() {
  core::LockGuard guard(mutex_);
  KEEL_TRY(check_usable());
  const LogIndex index = engine_.applied_index();
  Status s = engine_.persist();
  if (!s.is_ok()) {
    failed_ = s.with_context("kv state machine: persist");
    return failed_;
  }
  durable_ = index;
  return Status::ok();
}

core::Result<std::vector<storage::KvEntry>> KvStateMachine::scan_all() {
  std::vector<storage::KvEntry> all;
  Bytes start;
  for (;;) {
    KEEL_TRY_ASSIGN(std::vector<storage::KvEntry> page, engine_.scan(start, ByteView(), kScanPageMax));
    const bool last = page.size() < kScanPageMax;
    if (!page.empty()) {
      // The next page starts just after the last key seen.
      start = page.back().key;
      start.push_back('\0');
    }
    for (storage::KvEntry& e : page) all.push_back(std::move(e));
    if (last) return all;
  }
}

core::Result<Bytes> KvStateMachine::snapshot() {
  core::LockGuard guard(mutex_);
  KEEL_TRY(check_usable());
  KEEL_TRY_ASSIGN(std::vector<storage::KvEntry> all, scan_all());
  Bytes out;
  out.push_back(static_cast<char>(kSnapshotVersion));
  core::put_u64(out, all.size());
  for (const storage::KvEntry& e : all) {
    core::put_u32(out, static_cast<uint32_t>(e.key.size()));
    out += e.key;
    core::put_u32(out, static_cast<uint32_t>(e.value.size()));
    out += e.value;
  }
  core::put_u64(out, core::checksum64(out));
  return out;
}

namespace {

core::Result<std::vector<storage::KvEntry>> decode_snapshot(ByteView data) {
  auto bad = [](const char* what) { return core::corruption(std::string("kv snapshot: ") + what); };
  if (data.size() < 1 + 8 + 8) return bad("truncated");
  const ByteView body = data.substr(0, data.size() - 8);
  if (core::checksum64(body) != core::get_u64(data.data() + body.size())) return bad("checksum mismatch");
  if (static_cast<uint8_t>(body[0]) != KvStateMachine::kSnapshotVersion) return bad("unknown version");
  const uint64_t count = core::get_u64(body.data() + 1);
  if (count > KvStateMachine::kSnapshotEntriesMax) return bad("too many entries");
  size_t pos = 9;
  std::vector<storage::KvEntry> entries;
  auto field = [&](Bytes& out, size_t max) {
    if (body.size() - pos < 4) return false;
    const uint32_t n = core::get_u32(body.data() + pos);
    pos += 4;
    if (n > max || body.size() - pos < n) return false;
    out.assign(body.data() + pos, n);
    pos += n;
    return true;
  };
  for (uint64_t i = 0; i < count; ++i) {
    storage::KvEntry e;
    if (!field(e.key, storage::kKeyBytesMax) || !field(e.value, storage::kValueBytesMax)) return bad("bad entry");
    if (e.key.empty() || (e.key[0] != kDataPrefix && e.key[0] != kMetaPrefix)) return bad("key outside the namespaces");
    if (!entries.empty() && !(entries.back().key < e.key)) return bad("keys out of order");
    entries.push_back(std::move(e));
  }
  if (pos != body.size()) return bad("trailing bytes");
  return entries;
}

}  // namespace

Status KvStateMachine::restore(LogIndex index, ByteView data) {
  core::LockGuard guard(mutex_);
  KEEL_TRY(check_usable());
  if (index <= engine_.applied_index()) {
    return core::failed_precondition("kv state machine: snapshot at " + index.to_string() +
                                     " is not past the applied index " + engine_.applied_index().to_string());
  }
  KEEL_TRY_ASSIGN(std::vector<storage::KvEntry> entries, decode_snapshot(data));
  uint64_t keys = 0;
  for (const storage::KvEntry& e : entries) {
    if (e.key == kKeyCountKey) {
      if (e.value.size() != 8) return core::corruption("kv snapshot: bad key count record");
      keys = core::get_u64(e.value.data());
    }
    if (e.key == kRestoringKey) return core::corruption("kv snapshot: holds a restore marker");
  }
  // Bound memory and engine batches by checking against the data records.
  uint64_t data_records = 0;
  for (const storage::KvEntry& e : entries) data_records += e.key[0] == kDataPrefix ? 1 : 0;
  if (data_records != keys) return core::corruption("kv snapshot: key count record disagrees with the data");

  KEEL_TRY_ASSIGN(std::vector<storage::KvEntry> existing, scan_all());
  auto fail = [this](Status s) {
    failed_ = s.with_context("kv state machine: restore");
    return failed_;
  };
  if (existing.size() + entries.size() <= storage::kBatchOpsMax) {
    // The common case: one atomic batch replaces everything.
    storage::WriteBatch batch;
    for (const storage::KvEntry& e : existing) batch.del(e.key);
    for (const storage::KvEntry& e : entries) batch.put(e.key, e.value);
    Status s = engine_.write_batch(batch, index);
    if (!s.is_ok()) return fail(s);
  } else {
    // Too large for one batch: mark the engine as mid-restore first, so a
    // crash part-way is detected by open() instead of passing a mixed
    // state off as the state at some index. The marker is written before
    // any data, so any flushed prefix of these writes includes it.
    Status s = engine_.put(kRestoringKey, index.to_string());
    for (size_t i = 0; s.is_ok() && i < existing.size(); ++i) s = engine_.del(existing[i].key);
    for (size_t i = 0; s.is_ok() && i < entries.size(); ++i) s = engine_.put(entries[i].key, entries[i].value);
    if (!s.is_ok()) return fail(s);
    storage::WriteBatch finish;
    finish.del(kRestoringKey);
    s = engine_.write_batch(finish, index);
    if (!s.is_ok()) return fail(s);
  }
  keys_ = keys;
  ++stats_.restores;
  Status s = engine_.persist();
  if (!s.is_ok()) return fail(s);
  durable_ = index;
  return Status::ok();
}

uint64_t KvStateMachine::digest() {
  core::LockGuard guard(mutex_);
  core::Result<uint64_t> d = engine_.digest();
  if (!d.is_ok()) {
    failed_ = d.status().with_context("kv state machine: digest");
    return 0;
  }
  return *d;
}

core::Result<std::optional<Bytes>> KvStateMachine::View::get(ByteView key) {
  core::LockGuard guard(machine_.mutex_);
  KEEL_TRY(machine_.check_usable());
  return machine_.get_user(key);
}

}  // namespace keel::node
