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
// A snapshot being installed: written before the state machine restores
// it, removed once the state record names it.
constexpr const char* kInstallFileName = "install";

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

core::Result<std::unique_ptr<RaftStorage>> RaftStorage::open(core::Disk& disk, std::string dir,
                                                             core::Coverage* coverage) {
  std::unique_ptr<RaftStorage> s(new RaftStorage(disk, std::move(dir)));
  KEEL_TRY(disk.make_dirs(s->dir_));
  // The state record replaced just before a failed directory sync is
  // visible but not durable: a term or vote read from it must not be acted
  // on until it is.
  KEEL_TRY(disk.sync_dir(s->dir_));
  KEEL_TRY(s->read_state());
  storage::LogOptions log_options;
  log_options.coverage = coverage;
  KEEL_TRY_ASSIGN(s->log_, storage::Log::open(disk, s->dir_ + "/log", log_options));
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
  KEEL_TRY_ASSIGN(snapshot_, decode_snapshot_meta(path, core::ByteView(body).substr(24)));
  return Status::ok();
}

Status RaftStorage::write_state() {
  Bytes body;
  core::put_u64(body, hard_state_.term.value());
  core::put_u64(body, hard_state_.vote.value());
  core::put_u64(body, hard_state_.commit.value());
  body += encode_snapshot_meta(snapshot_);
  return storage::write_meta_file(disk_, dir_ + "/state", body);
}

Bytes RaftStorage::encode_snapshot_meta(const consensus::SnapshotMeta& meta) {
  Bytes body;
  core::put_u64(body, meta.index.value());
  core::put_u64(body, meta.term.value());
  const Bytes config = consensus::encode_config(meta.config);
  core::put_u64(body, config.size());
  body += config;
  return body;
}

core::Result<consensus::SnapshotMeta> RaftStorage::decode_snapshot_meta(const std::string& path, core::ByteView body) {
  if (body.size() < 8 * 3) return core::corruption(path + ": short snapshot record");
  consensus::SnapshotMeta meta;
  meta.index = LogIndex(core::get_u64(body.data()));
  meta.term = Term(core::get_u64(body.data() + 8));
  const uint64_t config_bytes = core::get_u64(body.data() + 16);
  if (config_bytes != body.size() - 24) return core::corruption(path + ": bad configuration length");
  KEEL_TRY_ASSIGN(meta.config, consensus::decode_config(body.substr(24)));
  return meta;
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
  if (hard_state) {
    // Term and vote must be durable before anything that depends on them is
    // sent. The commit index is only a restart hint (Raft relearns it), so
    // a change of commit alone does not cost a rewrite and three syncs.
    if (hard_state->term != hard_state_.term || hard_state->vote != hard_state_.vote) state_changed = true;
    hard_state_ = *hard_state;
  }
  // The term goes to disk before a snapshot or entries of that term: a log
  // whose last term is above the saved term cannot be restarted from.
  if (state_changed) KEEL_TRY(write_state());
  if (snapshot) KEEL_TRY(complete_install(*snapshot));
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
  return Status::ok();
}

Status RaftStorage::begin_install(const consensus::SnapshotMeta& meta,
                                  const std::optional<consensus::HardState>& hard_state) {
  // The snapshot's term may be newer than the saved term: the term goes
  // first, or a restart that completes the install would find a log above
  // its hard state.
  if (hard_state && (hard_state->term != hard_state_.term || hard_state->vote != hard_state_.vote)) {
    hard_state_ = *hard_state;
    KEEL_TRY(write_state());
  }
  if (hard_state_.term < meta.term) {
    return core::internal_error("raft: a snapshot of term " + meta.term.to_string() + " installed in term " +
                                hard_state_.term.to_string());
  }
  return storage::write_meta_file(disk_, dir_ + "/" + kInstallFileName, encode_snapshot_meta(meta));
}

Status RaftStorage::complete_install(const consensus::SnapshotMeta& meta) {
  // The whole log goes: Raft replaced it by the snapshot, and entries after
  // the snapshot's index may conflict with it. Until the state record below
  // names the snapshot, the install record lets a restart finish this.
  if (log_->last_index() >= log_->first_index()) KEEL_TRY(log_->truncate_suffix(log_->first_index()));
  KEEL_TRY(log_->truncate_prefix(meta.index.next()));
  snapshot_ = meta;
  KEEL_TRY(write_state());
  const std::string install = dir_ + "/" + kInstallFileName;
  KEEL_TRY_ASSIGN(bool exists, disk_.exists(install));
  if (!exists) return Status::ok();
  KEEL_TRY(disk_.remove(install));
  return disk_.sync_dir(dir_);
}

core::Result<bool> RaftStorage::recover_install(LogIndex machine_durable) {
  const std::string install = dir_ + "/" + kInstallFileName;
  KEEL_TRY_ASSIGN(std::optional<Bytes> payload, storage::read_meta_file(disk_, install));
  if (!payload) return false;
  KEEL_TRY_ASSIGN(consensus::SnapshotMeta meta, decode_snapshot_meta(install, *payload));
  if (meta.index > snapshot_.index && machine_durable >= meta.index) {
    // The machine holds the snapshot but the log was not yet replaced.
    KEEL_TRY(complete_install(meta));
    return true;
  }
  // Either the install finished (only this record's removal was cut short)
  // or the machine never made the snapshot durable: the log as it stands is
  // the truth.
  KEEL_TRY(disk_.remove(install));
  KEEL_TRY(disk_.sync_dir(dir_));
  return false;
}

Status RaftStorage::compact(const consensus::SnapshotMeta& meta) {
  if (meta.index <= snapshot_.index) return Status::ok();
  snapshot_ = meta;
  KEEL_TRY(write_state());
  return log_->truncate_prefix(meta.index.next());
}

}  // namespace keel::node
