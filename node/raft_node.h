// RaftNode: drives a pure consensus::Raft on an Env and serves as the
// Replicator of the key-value front end (v0.1: one group, whole keyspace).
//
// Fibers:
//   raft.loop       the only fiber that touches the Raft object: ticks,
//                   steps received messages, proposes, then handles each
//                   Ready in order — persist (RaftStorage::save, one sync),
//                   then send, then apply, then advance. Messages are
//                   never sent before the state they depend on is durable.
// Its messages travel on the node's PeerBus (node/peer_bus.h), beside the
// partitions' fetches.
//
// A fatal storage error (a failed sync: the page cache can no longer be
// trusted) stops the node: run() returns and the process should exit.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "consensus/raft.h"
#include "core/assert.h"
#include "core/env.h"
#include "core/fiber_group.h"
#include "core/sync.h"
#include "node/peer_bus.h"
#include "node/raft_storage.h"
#include "node/replicator.h"
#include "node/state_machine.h"

namespace keel::node {

struct RaftNodeOptions {
  core::NodeId id;
  // Every voter of the initial configuration, this node included.
  std::map<core::NodeId, MemberAddresses> members;
  core::Duration tick_interval = core::Duration::millis(20);
  // Raft's settings; `id` is filled in from `id` above.
  consensus::Config raft;
  std::string dir = "raft";
  // Take a state-machine snapshot and compact the log once this many
  // entries were applied past the last snapshot.
  uint64_t snapshot_entries = 20000;
  core::Duration proposal_timeout = core::Duration::seconds(5);
  core::Duration read_timeout = core::Duration::seconds(2);
  // Bounded queues: beyond these, new work is refused or messages dropped
  // (Raft tolerates lost messages).
  size_t inbox_messages_max = 8192;
  size_t proposals_max = 8192;
  // TEST ONLY: send a Ready's messages before persisting it (breaks R7).
  bool test_bug_send_before_persist = false;
};

// Called after every handled Ready, and after each applied entry, so that a
// simulator can check protocol invariants online.
class RaftObserver {
 public:
  virtual ~RaftObserver() = default;
  // `synced` is the last index the node's log has made durable.
  virtual void on_ready_handled(const consensus::Raft& raft, core::LogIndex synced) = 0;
  // Called as soon as a Ready's entries and state are saved, before its
  // messages leave: what the node now holds durably.
  virtual void on_persisted(const consensus::Raft& raft, core::LogIndex synced) = 0;
  // `term` is the node's current term: the entry was committed in it or
  // earlier.
  virtual void on_applied(core::NodeId node, const consensus::Entry& entry, core::Term term) = 0;
  // Called as each message leaves, with what this node has durable at that
  // moment: its log's synced index and the term and vote on disk.
  virtual void on_send(const consensus::Message& msg, core::LogIndex synced, const consensus::HardState& durable) {
    (void)msg;
    (void)synced;
    (void)durable;
  }
};

class RaftNode : public Replicator {
 public:
  // `read_view`: what the front end reads after a barrier (the KV machine's
  // view); null for a group nobody reads through RESP (the controller).
  // `bus` carries the group's messages; it must outlive the node, and is
  // started by whoever composes the node.
  RaftNode(core::Env& env, RaftNodeOptions options, PeerBus& bus, StateMachine& state_machine,
           ReadView* read_view = nullptr);
  ~RaftNode() override;
  RaftNode(const RaftNode&) = delete;
  RaftNode& operator=(const RaftNode&) = delete;

  void set_observer(RaftObserver* observer) { observer_ = observer; }

  // Loads storage and the state machine's position, starts listening and
  // the fibers. Errors from storage (Corruption: refuse to start rather than
  // lose acknowledged data). May suspend.
  core::Status start();
  // Blocks until the node stops (fatal error or stop()). May suspend.
  core::Status wait();
  void stop();

  // One group orders the whole keyspace: `key` is not needed.
  core::Result<core::Bytes> propose(core::ByteView key, core::Bytes command) override {
    (void)key;
    return propose(std::move(command));
  }
  core::Status read_barrier(core::ByteView key, bool stale_ok) override {
    (void)key;
    return read_barrier(stale_ok);
  }
  core::Result<core::Bytes> propose(core::Bytes command);
  core::Status read_barrier(bool stale_ok);
  ReadView& read_view() override {
    KEEL_ASSERT_MSG(read_view_ != nullptr, "this Raft group has no read view");
    return *read_view_;
  }

  // Null before start().
  const consensus::Raft* raft() const { return raft_.get(); }
  bool is_leader() const;
  std::optional<core::Address> leader_client_address() const;
  // A member's client (RESP) address: configured, or learned from its
  // handshake; nullopt while unknown.
  std::optional<core::Address> client_address(core::NodeId id) const;
  // "key:value" lines for INFO replication.
  std::string info_replication() const;
  uint64_t applied_entries() const { return applied_entries_; }

 private:
  struct Waiter {
    core::Term term;
    std::shared_ptr<core::Promise<core::Bytes>> promise;
  };
  struct PendingProposal {
    core::Bytes command;
    std::shared_ptr<core::Promise<core::Bytes>> promise;
  };
  void loop();
  core::Status handle_ready();
  // Errors: the state machine's (its storage failed: the node must stop).
  core::Status apply(const consensus::Entry& entry);
  void send(consensus::Message msg);
  core::Status maybe_compact();
  void fail(const core::Status& status);
  core::Status not_leader() const;

  core::Env& env_;
  RaftNodeOptions options_;
  PeerBus& bus_;
  StateMachine& state_machine_;
  ReadView* read_view_;
  RaftObserver* observer_ = nullptr;
  std::unique_ptr<RaftStorage> storage_;
  std::unique_ptr<consensus::Raft> raft_;

  core::WaitList wakeup_;    // the loop waits here for work
  core::WaitList applied_;   // readers wait here for the applied index
  core::WaitList stopped_;
  std::deque<consensus::Message> inbox_;
  std::deque<PendingProposal> proposals_;
  std::deque<std::pair<uint64_t, std::shared_ptr<core::Promise<core::LogIndex>>>> reads_;
  std::map<uint64_t, std::shared_ptr<core::Promise<core::LogIndex>>> read_waiters_;
  std::map<core::LogIndex, Waiter> waiters_;
  std::deque<core::NodeId> unreachable_;
  uint64_t next_read_id_ = 1;
  uint64_t applied_entries_ = 0;
  bool running_ = false;
  core::Status failure_;
  // Cleared by the destructor: a caller parked in propose() or
  // read_barrier() checks it before touching the node again.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Last: destroyed first, killing the fibers that use the members above.
  core::FiberGroup fibers_;
};

}  // namespace keel::node
