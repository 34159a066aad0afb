// ControllerStateMachine: the cluster metadata (consensus/controller.h) as
// the state machine of the controller's Raft group (doc/ARCHITECTURE.md
// section 9).
//
// Each committed entry is one encoded MetadataCommand. Applying it changes
// the in-memory ClusterMetadata; a command the metadata refuses (stale
// partition epoch, old incarnation, malformed bytes) is applied as a no-op
// that replies "ERR <reason>", the same on every replica. persist() writes
// the whole image with its applied index as one snapshot (the image is
// small: a few dozen bytes per partition), so a restart resumes at the last
// persisted index and Raft replays the rest.
#pragma once

#include <memory>
#include <string>

#include "consensus/controller.h"
#include "core/env.h"
#include "node/state_machine.h"
#include "storage/snapshot.h"

namespace keel::node {

class ControllerStateMachine final : public StateMachine {
 public:
  // Opens (or creates) the machine's snapshot directory `dir` on `disk` and
  // loads the newest image. Errors: as SnapshotStore, Corruption for an
  // image that does not decode. May suspend.
  static core::Result<std::unique_ptr<ControllerStateMachine>> open(core::Disk& disk, std::string dir,
                                                                    consensus::MetadataConfig config);

  core::LogIndex applied_index() const override { return applied_; }
  core::LogIndex durable_index() const override { return durable_; }
  core::Result<core::Bytes> apply(core::LogIndex index, core::ByteView command) override;
  core::Status skip(core::LogIndex index) override;
  core::Status persist() override;
  core::Result<core::Bytes> snapshot() override;
  core::Status restore(core::LogIndex index, core::ByteView data) override;
  uint64_t digest() override;

  const consensus::ClusterMetadata& metadata() const { return metadata_; }
  // Commands applied that the metadata refused (each logged by the caller
  // through the reply).
  uint64_t refused() const { return refused_; }

 private:
  ControllerStateMachine(std::unique_ptr<storage::SnapshotStore> store, consensus::MetadataConfig config)
      : store_(std::move(store)), config_(config), metadata_(config) {}

  std::unique_ptr<storage::SnapshotStore> store_;
  consensus::MetadataConfig config_;
  consensus::ClusterMetadata metadata_;
  core::LogIndex applied_;
  core::LogIndex durable_;
  uint64_t refused_ = 0;
};

}  // namespace keel::node
