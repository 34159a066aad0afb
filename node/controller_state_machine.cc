#include "node/controller_state_machine.h"

#include "core/assert.h"

namespace keel::node {

namespace {

constexpr std::string_view kImageTag = "keel.controller.v1";

}  // namespace

core::Result<std::unique_ptr<ControllerStateMachine>> ControllerStateMachine::open(core::Disk& disk, std::string dir,
                                                                                   consensus::MetadataConfig config) {
  KEEL_TRY_ASSIGN(auto store, storage::SnapshotStore::open(disk, std::move(dir)));
  KEEL_TRY_ASSIGN(const std::optional<storage::LoadedSnapshot> loaded, store->load_latest());
  std::unique_ptr<ControllerStateMachine> m(new ControllerStateMachine(std::move(store), config));
  if (!loaded) return m;
  const storage::Snapshot& snap = loaded->snapshot;
  if (snap.metadata != kImageTag) {
    return core::failed_precondition("controller image " + snap.index.to_string() + " has another format");
  }
  KEEL_TRY_ASSIGN(m->metadata_, consensus::ClusterMetadata::decode(snap.data, config));
  m->applied_ = snap.index;
  m->durable_ = snap.index;
  return m;
}

core::Result<core::Bytes> ControllerStateMachine::apply(core::LogIndex index, core::ByteView command) {
  KEEL_ASSERT_MSG(index == applied_.next(), "entries must be applied in index order without gaps");
  applied_ = index;
  core::Result<consensus::MetadataCommand> decoded = consensus::decode_command(command);
  if (!decoded.is_ok()) {
    ++refused_;
    return core::Bytes("ERR " + decoded.status().to_string());
  }
  const core::Status s = metadata_.apply(*decoded);
  if (!s.is_ok()) {
    ++refused_;
    return core::Bytes("ERR " + s.to_string());
  }
  return core::Bytes("OK");
}

core::Status ControllerStateMachine::skip(core::LogIndex index) {
  KEEL_ASSERT_MSG(index == applied_.next(), "entries must be applied in index order without gaps");
  applied_ = index;
  return core::Status::ok();
}

core::Status ControllerStateMachine::persist() {
  if (durable_ == applied_) return core::Status::ok();
  KEEL_TRY(store_->save(applied_, kImageTag, metadata_.encode()));
  durable_ = applied_;
  return core::Status::ok();
}

core::Result<core::Bytes> ControllerStateMachine::snapshot() { return metadata_.encode(); }

core::Status ControllerStateMachine::restore(core::LogIndex index, core::ByteView data) {
  KEEL_TRY_ASSIGN(consensus::ClusterMetadata restored, consensus::ClusterMetadata::decode(data, config_));
  KEEL_TRY(store_->save(index, kImageTag, data));
  metadata_ = std::move(restored);
  applied_ = index;
  durable_ = index;
  return core::Status::ok();
}

uint64_t ControllerStateMachine::digest() { return core::checksum64(metadata_.encode()); }

}  // namespace keel::node
