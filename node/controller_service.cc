#include "node/controller_service.h"

namespace keel::node {

using consensus::CommandType;
using consensus::MetadataCommand;
using core::NodeId;

ControllerService::ControllerService(core::Env& env, ControllerServiceOptions options, RaftNode& raft,
                                     ControllerStateMachine& machine)
    : env_(env),
      options_(std::move(options)),
      raft_(raft),
      machine_(machine),
      sessions_(options_.sessions),
      wake_(env.fibers),
      fibers_(env) {}

ControllerService::~ControllerService() { fibers_.kill_all(); }

void ControllerService::start() {
  running_ = true;
  fibers_.spawn("controller.tick", [this] {
    while (running_) {
      tick();
      env_.sleep_for(options_.tick_interval);
    }
  });
  fibers_.spawn("controller.proposer", [this] { proposer(); });
}

void ControllerService::stop() {
  running_ = false;
  wake_.notify_all();
}

bool ControllerService::serving() const {
  if (!running_ || !raft_.is_leader() || raft_.raft() == nullptr) return false;
  const consensus::Raft& r = *raft_.raft();
  return machine_.applied_index() >= r.commit_index();
}

void ControllerService::tick() {
  if (!serving()) {
    term_ = {0, core::Instant()};
    return;
  }
  const uint64_t term = raft_.raft()->term().value();
  const consensus::ClusterMetadata& meta = machine_.metadata();
  if (term != term_.first) {
    KEEL_COVER(env_.trace.coverage(), "controller service: took over as leader");
    term_ = {term, env_.now()};
    sessions_.reset(env_.now(), meta);
    // Whatever an earlier leader had queued or in flight may be lost with
    // it: let every request be made again.
    pending_.clear();
    heard_.clear();
    env_.trace.info("controller: leading in term " + std::to_string(term) + " at metadata version " +
                    std::to_string(meta.version()));
  }
  if (!meta.created()) {
    bool all = !options_.nodes.empty();
    for (NodeId n : options_.nodes) all = all && heard_.count(n) > 0;
    const bool grace_over = env_.now() >= term_.second + options_.create_grace;
    if ((all || (grace_over && !heard_.empty())) &&
        pending_.insert({0, 0, static_cast<uint8_t>(CommandType::kCreateCluster)}).second) {
      MetadataCommand create;
      create.type = CommandType::kCreateCluster;
      create.partitions = options_.partitions;
      create.replication_factor = options_.replication_factor;
      create.nodes = options_.nodes;
      for (auto& [id, rec] : heard_) create.live.push_back(rec);
      env_.trace.info("controller: creating the cluster: " + std::to_string(options_.partitions) +
                      " partitions, replication factor " + std::to_string(options_.replication_factor) + ", " +
                      std::to_string(heard_.size()) + " of " + std::to_string(options_.nodes.size()) +
                      " nodes alive");
      propose(std::move(create));
    }
    return;
  }
  if (const consensus::NodeRecord* me = meta.node(options_.self);
      me != nullptr && options_.self_incarnation != 0 && me->incarnation == options_.self_incarnation) {
    sessions_.heard_from(options_.self, options_.self_incarnation, env_.now(), meta);
  }
  for (const auto& [id, inc] : sessions_.expired(env_.now(), meta)) {
    if (propose_once(CommandType::kFenceNode, id, inc)) {
      sessions_.fencing(id, inc);
      ++fences_proposed_;
      env_.trace.warn("controller: node " + id.to_string() + " incarnation " + std::to_string(inc) +
                      " missed its session: fencing it");
    }
  }
}

std::optional<ControlMessage> ControllerService::heartbeat(NodeId from, const ControlMessage& beat) {
  if (!serving() || term_.first == 0) return std::nullopt;
  const consensus::ClusterMetadata& meta = machine_.metadata();
  ControlMessage reply;
  reply.kind = ControlKind::kHeartbeatReply;
  reply.sent_local = beat.sent_local;
  reply.incarnation = beat.incarnation;
  if (!meta.created()) {
    bool member = false;
    for (NodeId n : options_.nodes) member = member || n == from;
    if (member && beat.incarnation > 0) {
      consensus::NodeRecord rec;
      rec.id = from;
      rec.incarnation = beat.incarnation;
      rec.peer_address = beat.peer_address;
      rec.client_address = beat.client_address;
      rec.fenced = false;
      heard_[from] = rec;
    }
    return reply;
  }
  const consensus::NodeRecord* rec = meta.node(from);
  if (rec == nullptr) return reply;  // not a member: no lease, no metadata
  if (beat.incarnation >= rec->incarnation) sessions_.heard_from(from, beat.incarnation, env_.now(), meta);
  if (beat.incarnation > rec->incarnation) {
    propose_once(CommandType::kRegisterNode, from, beat.incarnation, &beat);
  } else if (beat.incarnation == rec->incarnation && rec->fenced) {
    propose_once(CommandType::kUnfenceNode, from, beat.incarnation);
  } else if (beat.incarnation == rec->incarnation) {
    reply.granted = sessions_.grants_lease(from, beat.incarnation, meta);
    if (!reply.granted) KEEL_COVER(env_.trace.coverage(), "controller service: lease refused, fence in flight");
  }
  reply.metadata_version = meta.version();
  if (beat.metadata_version != meta.version()) reply.payload = meta.encode();
  return reply;
}

void ControllerService::alter_isr(NodeId from, core::ByteView command) {
  if (!serving()) return;
  auto decoded = consensus::decode_command(command);
  if (!decoded.is_ok() || decoded->type != CommandType::kAlterIsr || decoded->isr.leader != from) {
    env_.trace.warn("controller: refused an ISR request from node " + from.to_string() + ": " +
                    (decoded.is_ok() ? std::string("not an ISR change by its sender") : decoded.status().to_string()));
    return;
  }
  propose(std::move(*decoded));
}

bool ControllerService::propose_once(CommandType type, NodeId node, uint64_t incarnation,
                                     const ControlMessage* beat) {
  if (!pending_.insert({node.value(), incarnation, static_cast<uint8_t>(type)}).second) return false;
  MetadataCommand c;
  c.type = type;
  c.node = node;
  c.incarnation = incarnation;
  if (beat != nullptr) {
    c.peer_address = beat->peer_address;
    c.client_address = beat->client_address;
  }
  propose(std::move(c));
  return true;
}

void ControllerService::propose(MetadataCommand command) {
  queue_.push_back(std::move(command));
  wake_.notify_one();
}

void ControllerService::proposer() {
  while (running_) {
    while (running_ && queue_.empty()) wake_.wait();
    if (!running_) return;
    MetadataCommand cmd = std::move(queue_.front());
    queue_.pop_front();
    const auto reply = raft_.propose(consensus::encode_command(cmd));
    if (!reply.is_ok()) {
      env_.trace.warn("controller: a metadata command was not committed: " + reply.status().to_string());
    } else if (reply->rfind("ERR", 0) == 0) {
      env_.trace.info("controller: a metadata command was refused: " + *reply);
    }
    // Committed, refused or lost: whoever needs it asks again.
    if (cmd.type != CommandType::kAlterIsr && cmd.type != CommandType::kCreateCluster) {
      pending_.erase({cmd.node.value(), cmd.incarnation, static_cast<uint8_t>(cmd.type)});
    } else if (cmd.type == CommandType::kCreateCluster && !machine_.metadata().created()) {
      pending_.erase({0, 0, static_cast<uint8_t>(CommandType::kCreateCluster)});
    }
  }
}

}  // namespace keel::node
