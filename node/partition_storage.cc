#include "node/partition_storage.h"

#include "storage/meta_file.h"

namespace keel::node {

namespace {

using core::Epoch;
using core::Offset;
using core::Status;

core::LogIndex index_of(Offset o) { return core::LogIndex(o.value() + 1); }

core::Bytes encode_record(const consensus::Record& r) {
  core::Bytes out;
  core::put_u64(out, r.epoch.value());
  out += r.data;
  return out;
}

}  // namespace

core::Result<std::unique_ptr<PartitionStorage>> PartitionStorage::open(core::Disk& disk, std::string dir,
                                                                       Offset engine_applied) {
  std::unique_ptr<PartitionStorage> s(new PartitionStorage(disk, std::move(dir)));
  KEEL_TRY(disk.make_dirs(s->dir_));
  // Names renamed in just before a failed directory sync are visible but
  // not durable: make them durable before trusting them.
  KEEL_TRY(disk.sync_dir(s->dir_));
  KEEL_TRY_ASSIGN(Meta meta, s->read_meta());
  KEEL_TRY_ASSIGN(s->log_, storage::Log::open(disk, s->dir_ + "/log"));
  s->start_ = meta.start;
  s->start_epoch_ = meta.epoch;
  if (meta.installing) {
    if (engine_applied == meta.installing->first) {
      // The engine holds the image: finish the install.
      s->installing_ = meta.installing;
      KEEL_TRY(s->complete_install());
    } else {
      // The engine never made it durable: as if it never began.
      KEEL_TRY(s->write_meta(Meta{meta.start, meta.epoch, std::nullopt}));
    }
  }
  // A compaction or install cut short leaves records below the start.
  if (s->log_->first_index() < index_of(s->start_) || s->log_->last_index() < index_of(s->start_)) {
    KEEL_TRY(s->log_->truncate_prefix(index_of(s->start_)));
  }
  KEEL_TRY(s->load(engine_applied));
  return s;
}

Status PartitionStorage::load(Offset engine_applied) {
  consensus::PartitionPersisted p;
  p.log_start = start_;
  p.snapshot_epoch = start_epoch_;
  core::LogIndex next = index_of(start_);
  Epoch last = start_epoch_;
  while (next <= log_->last_index()) {
    KEEL_TRY_ASSIGN(std::vector<core::Bytes> chunk, log_->read(next, 4 << 20));
    for (core::Bytes& payload : chunk) {
      if (payload.size() < 8) return core::corruption(dir_ + ": partition record " + next.to_string() + " is short");
      const Epoch epoch(core::get_u64(payload.data()));
      if (epoch < last || epoch.value() == 0) {
        return core::corruption(dir_ + ": partition record epochs decrease at " + next.to_string());
      }
      last = epoch;
      p.records.push_back(consensus::Record{epoch, Offset(next.value() - 1), payload.substr(8)});
      next = next.next();
    }
  }
  const Offset end(start_.value() + p.records.size());
  if (engine_applied > end || engine_applied < start_) {
    return core::corruption(dir_ + ": the engine applied offset " + engine_applied.to_string() +
                            " lies outside the log [" + start_.to_string() + ", " + end.to_string() + "]");
  }
  p.applied = engine_applied;
  loaded_ = std::move(p);
  return Status::ok();
}

Status PartitionStorage::save(const consensus::PartitionReady& ready) {
  if (ready.truncate_from) {
    KEEL_TRY(log_->truncate_suffix(index_of(std::max(*ready.truncate_from, start_))));
  }
  if (ready.records.empty()) return Status::ok();
  if (index_of(ready.records.front().offset) != log_->last_index().next()) {
    return core::failed_precondition(dir_ + ": records at offset " + ready.records.front().offset.to_string() +
                                     " do not follow the log");
  }
  std::vector<core::Bytes> payloads;
  payloads.reserve(ready.records.size());
  for (const consensus::Record& r : ready.records) payloads.push_back(encode_record(r));
  KEEL_TRY(log_->append(payloads).status());
  return log_->sync();
}

Status PartitionStorage::compact(Offset start, Epoch epoch) {
  if (start <= start_) return Status::ok();
  KEEL_TRY(write_meta(Meta{start, epoch, installing_}));
  start_ = start;
  start_epoch_ = epoch;
  return log_->truncate_prefix(index_of(start));
}

Status PartitionStorage::begin_install(Offset offset, Epoch epoch) {
  installing_ = std::make_pair(offset, epoch);
  return write_meta(Meta{start_, start_epoch_, installing_});
}

Status PartitionStorage::complete_install() {
  if (!installing_) return core::failed_precondition(dir_ + ": no install in progress");
  const auto [offset, epoch] = *installing_;
  // The whole old log goes first (durably), and only then does the start
  // move: a crash in between leaves the install to finish again at open(),
  // never old records after the snapshot's start.
  if (log_->last_index() >= log_->first_index()) KEEL_TRY(log_->truncate_suffix(log_->first_index()));
  KEEL_TRY(write_meta(Meta{offset, epoch, std::nullopt}));
  installing_.reset();
  start_ = offset;
  start_epoch_ = epoch;
  return log_->truncate_prefix(index_of(offset));
}

Status PartitionStorage::write_meta(const Meta& meta) {
  core::Bytes body = "KPS1";
  core::put_u64(body, meta.start.value());
  core::put_u64(body, meta.epoch.value());
  core::put_u64(body, meta.installing ? 1 : 0);
  core::put_u64(body, meta.installing ? meta.installing->first.value() : 0);
  core::put_u64(body, meta.installing ? meta.installing->second.value() : 0);
  return storage::write_meta_file(disk_, dir_ + "/start", body);
}

core::Result<PartitionStorage::Meta> PartitionStorage::read_meta() {
  const std::string path = dir_ + "/start";
  KEEL_TRY_ASSIGN(std::optional<core::Bytes> payload, storage::read_meta_file(disk_, path));
  Meta meta;
  if (!payload) return meta;
  const core::Bytes& b = *payload;
  if (b.size() != 4 + 5 * 8 || b.substr(0, 4) != "KPS1") return core::corruption(path + ": malformed start record");
  const char* p = b.data() + 4;
  meta.start = Offset(core::get_u64(p));
  meta.epoch = Epoch(core::get_u64(p + 8));
  if (core::get_u64(p + 16) != 0) meta.installing = std::make_pair(Offset(core::get_u64(p + 24)), Epoch(core::get_u64(p + 32)));
  if (meta.start.value() > 0 && meta.epoch.value() == 0) return core::corruption(path + ": a start without its epoch");
  return meta;
}

}  // namespace keel::node
