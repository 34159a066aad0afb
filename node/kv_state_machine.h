// KvStateMachine: the key-value store's StateMachine, applying committed
// command entries (node/commands.h) to a storage::KvEngine.
//
// Layout in the engine: user key K is stored under "d" + K; internal records
// live under "m" (today only "m/keys", the number of user keys as a u64, so
// that DBSIZE is O(1) and survives restarts). The namespaces cannot collide
// whatever bytes a client uses.
//
// Invariants:
//   - Each entry is applied as ONE engine write batch that carries its
//     index: the data an entry produced and the applied index become
//     durable together (INVARIANTS.md R6). applied_index() is the engine's.
//   - Entries at or below applied_index() are skipped (replay after a
//     restart is idempotent); an entry past applied_index() + 1 is a
//     programmer error of the driver.
//   - apply() is deterministic: replicas that apply the same entries hold
//     the same engine contents, so digest() agrees (INVARIANTS.md C3).
//   - After an engine write fails, the machine is failed: every later apply,
//     skip, persist or restore returns that error (the engine's durable
//     state is then unknown; the node must stop).
//
// The engine is used by one fiber at a time (KvEngine's contract), so every
// engine call here runs under a fiber Mutex: the apply fiber and the RESP
// connection fibers reading through read_view() may interleave safely.
//
// Snapshot format (version 1), all integers little endian:
//   u8 version (=1), u64 entry count, then per engine entry (key order)
//   u32 key length, key, u32 value length, value; then u64 checksum64 of
//   everything before it. restore() validates all of it before touching
//   the engine.
#pragma once

#include <cstdint>
#include <memory>

#include "core/scheduler.h"
#include "core/sync.h"
#include "node/commands.h"
#include "node/state_machine.h"
#include "storage/kv_engine.h"

namespace keel::node {

struct KvStateMachineStats {
  uint64_t applied_commands = 0;  // entries applied (including error replies)
  uint64_t skipped_entries = 0;   // no-op and configuration entries
  uint64_t malformed_commands = 0;
  uint64_t replayed_entries = 0;  // entries at or below applied_index(), skipped
  uint64_t restores = 0;
};

class KvStateMachine final : public StateMachine {
 public:
  static constexpr uint8_t kSnapshotVersion = 1;
  // Engine entries read per scan while counting, snapshotting or wiping.
  static constexpr size_t kScanPageMax = 4096;
  // Most engine entries in one snapshot (a bound on what restore() accepts).
  static constexpr uint64_t kSnapshotEntriesMax = uint64_t{1} << 32;

  // Opens the machine over `engine`, which it borrows (the caller keeps it
  // alive longer than the machine). Reads the key count. Errors from the
  // engine; Corruption when the internal records do not decode, or when an
  // interrupted restore left the engine incomplete (the data directory must
  // then be wiped and the node caught up by snapshot). May suspend.
  static core::Result<std::unique_ptr<KvStateMachine>> open(core::Scheduler& fibers, storage::KvEngine& engine);

  core::LogIndex applied_index() const override { return engine_.applied_index(); }
  core::LogIndex durable_index() const override { return durable_; }

  // Decodes and applies one command; the value is an encoded CommandReply
  // (node/commands.h). A command that does not decode is applied as a no-op
  // with an error reply. Errors (Status): the engine's, or the failure
  // recorded by an earlier one. May suspend.
  core::Result<core::Bytes> apply(core::LogIndex index, core::ByteView command) override;
  core::Status skip(core::LogIndex index) override;
  core::Status persist() override;

  // The whole engine (user data and internal records) at applied_index().
  // May suspend.
  core::Result<core::Bytes> snapshot() override;
  // Replaces the state with `data` at `index`. Precondition of the caller:
  // index > applied_index() (snapshots only move a replica forward);
  // FailedPrecondition otherwise. Errors: Corruption for bad bytes (the
  // engine is not touched then), engine errors. Durable on return.
  // May suspend.
  core::Status restore(core::LogIndex index, core::ByteView data) override;

  ReadView& read_view() { return view_; }
  // storage::KvDigest of the engine contents; 0 if the engine fails (the
  // failure is also recorded). May suspend.
  uint64_t digest() override;
  bool busy() const override { return mutex_.locked(); }

  uint64_t key_count() const { return keys_; }
  const KvStateMachineStats& stats() const { return stats_; }

 private:
  class View final : public ReadView {
   public:
    explicit View(KvStateMachine& m) : machine_(m) {}
    core::Result<std::optional<core::Bytes>> get(core::ByteView key) override;
    core::Result<uint64_t> size() override { return machine_.keys_; }

   private:
    KvStateMachine& machine_;
  };

  KvStateMachine(core::Scheduler& fibers, storage::KvEngine& engine);
  core::Status check_usable() const;
  core::Status write(const storage::WriteBatch& batch, core::LogIndex index);
  core::Result<std::optional<core::Bytes>> get_user(core::ByteView key);
  // Every engine entry (both namespaces), in key order. Under the mutex.
  core::Result<std::vector<storage::KvEntry>> scan_all();

  storage::KvEngine& engine_;
  core::Mutex mutex_;
  View view_{*this};
  core::LogIndex durable_;
  uint64_t keys_ = 0;
  core::Status failed_;
  KvStateMachineStats stats_;
};

// Engine key of user key `key`.
core::Bytes kv_data_key(core::ByteView key);

}  // namespace keel::node
