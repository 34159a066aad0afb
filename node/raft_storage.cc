#include "node/raft_storage.h"

#include "storage/meta_file.h"

namespace keel::node {

using consensus::Entry;
using consensus::EntryType;
using core::Bytes;
using core::LogIndex;
using core::Status;
using core::Term;

namespace {

constexpr size_t kEntryHeaderBytes = 9;
// Entries read per log read while loading.
constexpr uint64_t kLoadReadBytesMax = 16 * 1024 * 1024;

}  // namespace

Bytes RaftStorage::encode_entry(const Entry& e) {
  Bytes out;
  out.reserve(kEntryHeaderBytes + e.data.size());
  core::put_u64(out, e.term.value());
  out.push_back(static_cast<char>(e.type));
  out.append(e.data);
  return out;
}

core::Result<Entry> RaftStorage::decode_entry(LogIndex index, core::ByteView record) {
  if (record.size() < kEntryHeaderBytes) return core::corruption("raft entry record too short");
  const auto type = static_cast<uint8_t>(record[8]);
  if (type > static_cast<uint8_t>(EntryType::kNoop)) return core::corruption("raft entry of unknown type");
  Entry e;
  e.term = Term(core::get_u64(record.data()));
  e.index = index;
  e.type = static_cast<EntryType>(type);
  e.data = Bytes(record.substr(kEntryHeaderBytes));
  return e;
}

core::Result<std::unique_ptr<RaftStorage>> RaftStorage::open(core::Disk& disk, std::string dir) {
  std::unique_ptr<RaftStorage> s(new RaftStorage(disk, std::move(dir)));
  KEEL_TRY(disk.make_dirs(s->dir_));
  KEEL_TRY(s->read_state());
  KEEL_TRY_ASSIGN(s->log_, storage::Log::open(disk, s->dir_ + "/log"));
  // A log that restarts after a snapshot begins right after it.
  if (s->log_->last_index() < s->snapshot_.index) {
    KEEL_TRY(s->log_->truncate_prefix(s->snapshot_.index.next()));
  }
  return s;
}

Status RaftStorage::read_state() {
  const std::string path = dir_ + "/state";
  KEEL_TRY_ASSIGN(std::optional<Bytes> payload, storage::read_meta_file(disk_, path));
  if (!payload) return Status::ok();
  const Bytes& body = *payload;
  if (body.size() < 8 * 6) return core::corruption(path + ": short state record");
  const char* p = body.data();
  hard_state_.term = Term(core::get_u64(p));
  hard_state_.vote = core::NodeId(static_cast<uint32_t>(core::get_u64(p + 8)));
  hard_state_.commit = LogIndex(core::get_u64(p + 16));
  snapshot_.index = LogIndex(core::get_u64(p + 24));
  snapshot_.term = Term(core::get_u64(p + 32));
  const uint64_t config_bytes = core::get_u64(p + 40);
  if (config_bytes != body.size() - 48) return core::corruption(path + ": bad configuration length");
  KEEL_TRY_ASSIGN(snapshot_.config, consensus::decode_config(core::ByteView(body).substr(48)));
  return Status::ok();
}

Status RaftStorage::write_state() {
  Bytes body;
  core::put_u64(body, hard_state_.term.value());
  core::put_u64(body, hard_state_.vote.value());
  core::put_u64(body, hard_state_.commit.value());
  core::put_u64(body, snapshot_.index.value());
  core::put_u64(body, snapshot_.term.value());
  const Bytes config = consensus::encode_config(snapshot_.config);
  core::put_u64(body, config.size());
  body += config;
  return storage::write_meta_file(disk_, dir_ + "/state", body);
}

core::Result<consensus::PersistedState> RaftStorage::load(LogIndex applied) {
  consensus::PersistedState p;
  p.hard_state = hard_state_;
  p.snapshot = snapshot_;
  p.applied = applied;
  LogIndex next = snapshot_.index.next();
  if (next < log_->first_index()) {
    return core::corruption("raft log starts at " + log_->first_index().to_string() +
                            " but the snapshot ends at " + snapshot_.index.to_string());
  }
  while (next <= log_->last_index()) {
    KEEL_TRY_ASSIGN(auto records, log_->read(next, kLoadReadBytesMax));
    if (records.empty()) break;
    for (const Bytes& r : records) {
      KEEL_TRY_ASSIGN(Entry e, decode_entry(next, r));
      p.entries.push_back(std::move(e));
      next = next.next();
    }
  }
  // A commit index beyond what survived cannot be trusted blindly; Raft
  // relearns it from the leader.
  if (p.hard_state.commit > snapshot_.index && p.hard_state.commit.value() > snapshot_.index.value() + p.entries.size()) {
    p.hard_state.commit = LogIndex(snapshot_.index.value() + p.entries.size());
  }
  if (p.applied < snapshot_.index) p.applied = snapshot_.index;
  return p;
}

Status RaftStorage::save(const std::optional<consensus::HardState>& hard_state, const std::vector<Entry>& entries,
                         const std::optional<consensus::SnapshotMeta>& snapshot) {
  bool state_changed = false;
  if (snapshot) {
    snapshot_ = *snapshot;
    state_changed = true;
  }
  if (hard_state) {
    // Term and vote must be durable before anything that depends on them is
    // sent. The commit index is only a restart hint (Raft relearns it), so
    // a change of commit alone does not cost a rewrite and three syncs.
    if (hard_state->term != hard_state_.term || hard_state->vote != hard_state_.vote) state_changed = true;
    hard_state_ = *hard_state;
  }
  if (snapshot) {
    // The state machine already holds the snapshot durably; record it, then
    // restart the log after it.
    KEEL_TRY(write_state());
    state_changed = false;
    KEEL_TRY(log_->truncate_prefix(snapshot->index.next()));
  }
  if (!entries.empty()) {
    const LogIndex first = entries.front().index;
    if (first < log_->first_index()) {
      return core::internal_error("raft entries at " + first.to_string() + " precede the log's first index " +
                                  log_->first_index().to_string());
    }
    if (first <= log_->last_index()) KEEL_TRY(log_->truncate_suffix(first));
    if (first != log_->last_index().next()) {
      return core::internal_error("raft entries at " + first.to_string() + " do not follow the log's last index " +
                                  log_->last_index().to_string());
    }
    std::vector<Bytes> records;
    records.reserve(entries.size());
    for (const Entry& e : entries) records.push_back(encode_entry(e));
    KEEL_TRY(log_->append(records).status());
    KEEL_TRY(log_->sync());
  }
  if (state_changed) KEEL_TRY(write_state());
  return Status::ok();
}

Status RaftStorage::compact(const consensus::SnapshotMeta& meta) {
  if (meta.index <= snapshot_.index) return Status::ok();
  snapshot_ = meta;
  KEEL_TRY(write_state());
  return log_->truncate_prefix(meta.index.next());
}

}  // namespace keel::node
