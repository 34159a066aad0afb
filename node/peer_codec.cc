#include "node/peer_codec.h"

#include "net/capnp_codec.h"
#include "net/raft.capnp.h"

namespace keel::node {

using consensus::Entry;
using consensus::EntryType;
using consensus::Message;
using consensus::MessageType;
using core::LogIndex;
using core::NodeId;
using core::Term;

namespace {

constexpr uint8_t kMessageTypeMax = static_cast<uint8_t>(MessageType::kReadIndexResponse);
constexpr uint8_t kEntryTypeMax = static_cast<uint8_t>(EntryType::kNoop);

void set_config(RaftConfig::Builder b, const consensus::ConfigState& c) {
  auto put = [](auto list, const std::set<NodeId>& ids) {
    unsigned i = 0;
    for (NodeId id : ids) list.set(i++, id.value());
  };
  put(b.initVoters(static_cast<unsigned>(c.voters.size())), c.voters);
  put(b.initVotersOutgoing(static_cast<unsigned>(c.voters_outgoing.size())), c.voters_outgoing);
  put(b.initLearners(static_cast<unsigned>(c.learners.size())), c.learners);
}

consensus::ConfigState get_config(RaftConfig::Reader r) {
  consensus::ConfigState c;
  for (uint32_t id : r.getVoters()) c.voters.insert(NodeId(id));
  for (uint32_t id : r.getVotersOutgoing()) c.voters_outgoing.insert(NodeId(id));
  for (uint32_t id : r.getLearners()) c.learners.insert(NodeId(id));
  return c;
}

core::Bytes to_bytes(capnp::Data::Reader d) { return core::Bytes(reinterpret_cast<const char*>(d.begin()), d.size()); }

capnp::Data::Reader as_data(const core::Bytes& b) {
  return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(b.data()), b.size());
}

}  // namespace

core::Bytes encode_raft_message(const Message& msg) {
  capnp::MallocMessageBuilder builder;
  auto m = builder.initRoot<PeerFrame>().initRaft();
  m.setType(static_cast<uint8_t>(msg.type));
  m.setFrom(msg.from.value());
  m.setTo(msg.to.value());
  m.setTerm(msg.term.value());
  m.setIndex(msg.index.value());
  m.setLogTerm(msg.log_term.value());
  auto entries = m.initEntries(static_cast<unsigned>(msg.entries.size()));
  for (unsigned i = 0; i < msg.entries.size(); ++i) {
    const Entry& e = msg.entries[i];
    auto b = entries[i];
    b.setTerm(e.term.value());
    b.setIndex(e.index.value());
    b.setType(static_cast<uint8_t>(e.type));
    b.setData(as_data(e.data));
  }
  m.setCommit(msg.commit.value());
  m.setReject(msg.reject);
  m.setRejectHint(msg.reject_hint.value());
  m.setTransfer(msg.transfer);
  m.setRound(msg.round);
  m.setContext(as_data(msg.context));
  if (msg.snapshot) {
    m.setHasSnapshot(true);
    auto s = m.initSnapshot();
    s.setIndex(msg.snapshot->meta.index.value());
    s.setTerm(msg.snapshot->meta.term.value());
    set_config(s.initConfig(), msg.snapshot->meta.config);
    s.setData(as_data(msg.snapshot->data));
  }
  return net::encode_message(builder);
}

core::Bytes encode_partition_message(const consensus::PartitionMessage& msg) {
  capnp::MallocMessageBuilder builder;
  auto m = builder.initRoot<PeerFrame>().initPartition();
  m.setType(static_cast<uint8_t>(msg.type));
  m.setPartition(msg.partition.value());
  m.setFrom(msg.from.value());
  m.setTo(msg.to.value());
  m.setEpoch(msg.epoch.value());
  m.setFetchId(msg.fetch_id);
  m.setFetchOffset(msg.fetch_offset.value());
  m.setLastEpoch(msg.last_epoch.value());
  m.setIncarnation(msg.incarnation);
  m.setError(static_cast<uint8_t>(msg.error));
  auto records = m.initRecords(static_cast<unsigned>(msg.records.size()));
  for (unsigned i = 0; i < msg.records.size(); ++i) {
    records[i].setEpoch(msg.records[i].epoch.value());
    records[i].setOffset(msg.records[i].offset.value());
    records[i].setData(as_data(msg.records[i].data));
  }
  m.setHighWatermark(msg.high_watermark.value());
  m.setDivergingEpoch(msg.diverging_epoch.value());
  m.setDivergingEnd(msg.diverging_end.value());
  m.setSnapshotOffset(msg.snapshot_offset.value());
  m.setSnapshotEpoch(msg.snapshot_epoch.value());
  m.setSnapshotData(as_data(msg.snapshot_data));
  return net::encode_message(builder);
}

core::Bytes encode_control_message(const ControlMessage& msg) {
  capnp::MallocMessageBuilder builder;
  auto m = builder.initRoot<PeerFrame>().initControl();
  m.setKind(static_cast<uint8_t>(msg.kind));
  m.setIncarnation(msg.incarnation);
  m.setSentLocal(msg.sent_local);
  m.setMetadataVersion(msg.metadata_version);
  m.setGranted(msg.granted);
  m.setPeerAddress(msg.peer_address);
  m.setClientAddress(msg.client_address);
  m.setPayload(as_data(msg.payload));
  return net::encode_message(builder);
}

core::Bytes encode_peer_hello(const PeerHelloInfo& hello) {
  capnp::MallocMessageBuilder builder;
  auto h = builder.initRoot<PeerFrame>().initHello();
  h.setFrom(hello.from.value());
  h.setTo(hello.to.value());
  h.setClusterProof(hello.cluster_proof);
  h.setNonce(hello.nonce);
  h.setClientAddress(hello.client_address);
  return net::encode_message(builder);
}

core::Result<PeerFrameContents> decode_peer_frame(core::ByteView bytes) {
  KEEL_TRY_ASSIGN(auto decoded, net::DecodedMessage::decode(bytes));
  KEEL_TRY_ASSIGN(auto root, decoded->root<PeerFrame>());
  PeerFrameContents out;
  KEEL_TRY(net::guard_decode([&]() -> core::Status {
    if (root.which() == PeerFrame::HELLO) {
      auto h = root.getHello();
      PeerHelloInfo info;
      info.from = NodeId(h.getFrom());
      info.to = NodeId(h.getTo());
      info.cluster_proof = h.getClusterProof();
      info.nonce = h.getNonce();
      info.client_address = h.getClientAddress().cStr();
      out.hello = std::move(info);
      return core::Status::ok();
    }
    if (root.which() == PeerFrame::PARTITION) {
      auto m = root.getPartition();
      if (m.getType() > static_cast<uint8_t>(consensus::PartitionMessageType::kFetchResponse)) {
        return core::invalid_argument("unknown partition message type");
      }
      if (m.getError() > static_cast<uint8_t>(consensus::FetchError::kSnapshotNeeded)) {
        return core::invalid_argument("unknown fetch error");
      }
      consensus::PartitionMessage msg;
      msg.type = static_cast<consensus::PartitionMessageType>(m.getType());
      msg.partition = core::PartitionId(m.getPartition());
      msg.from = NodeId(m.getFrom());
      msg.to = NodeId(m.getTo());
      msg.epoch = core::Epoch(m.getEpoch());
      msg.fetch_id = m.getFetchId();
      msg.fetch_offset = core::Offset(m.getFetchOffset());
      msg.last_epoch = core::Epoch(m.getLastEpoch());
      msg.incarnation = m.getIncarnation();
      msg.error = static_cast<consensus::FetchError>(m.getError());
      for (auto r : m.getRecords()) {
        msg.records.push_back(
            consensus::Record{core::Epoch(r.getEpoch()), core::Offset(r.getOffset()), to_bytes(r.getData())});
      }
      msg.high_watermark = core::Offset(m.getHighWatermark());
      msg.diverging_epoch = core::Epoch(m.getDivergingEpoch());
      msg.diverging_end = core::Offset(m.getDivergingEnd());
      msg.snapshot_offset = core::Offset(m.getSnapshotOffset());
      msg.snapshot_epoch = core::Epoch(m.getSnapshotEpoch());
      msg.snapshot_data = to_bytes(m.getSnapshotData());
      out.partition = std::move(msg);
      return core::Status::ok();
    }
    if (root.which() == PeerFrame::CONTROL) {
      auto m = root.getControl();
      if (m.getKind() < static_cast<uint8_t>(ControlKind::kHeartbeat) ||
          m.getKind() > static_cast<uint8_t>(ControlKind::kAlterIsr)) {
        return core::invalid_argument("unknown control message kind");
      }
      ControlMessage msg;
      msg.kind = static_cast<ControlKind>(m.getKind());
      msg.incarnation = m.getIncarnation();
      msg.sent_local = m.getSentLocal();
      msg.metadata_version = m.getMetadataVersion();
      msg.granted = m.getGranted();
      msg.peer_address = m.getPeerAddress().cStr();
      msg.client_address = m.getClientAddress().cStr();
      msg.payload = to_bytes(m.getPayload());
      out.control = std::move(msg);
      return core::Status::ok();
    }
    if (root.which() != PeerFrame::RAFT) return core::invalid_argument("unknown peer frame");
    auto m = root.getRaft();
    if (m.getType() > kMessageTypeMax) return core::invalid_argument("unknown raft message type");
    Message msg;
    msg.type = static_cast<MessageType>(m.getType());
    msg.from = NodeId(m.getFrom());
    msg.to = NodeId(m.getTo());
    msg.term = Term(m.getTerm());
    msg.index = LogIndex(m.getIndex());
    msg.log_term = Term(m.getLogTerm());
    for (auto e : m.getEntries()) {
      if (e.getType() > kEntryTypeMax) return core::invalid_argument("unknown raft entry type");
      msg.entries.push_back(Entry{Term(e.getTerm()), LogIndex(e.getIndex()), static_cast<EntryType>(e.getType()),
                                  to_bytes(e.getData())});
    }
    msg.commit = LogIndex(m.getCommit());
    msg.reject = m.getReject();
    msg.reject_hint = LogIndex(m.getRejectHint());
    msg.transfer = m.getTransfer();
    msg.round = m.getRound();
    msg.context = to_bytes(m.getContext());
    if (m.getHasSnapshot()) {
      auto s = m.getSnapshot();
      consensus::Snapshot snap;
      snap.meta.index = LogIndex(s.getIndex());
      snap.meta.term = Term(s.getTerm());
      snap.meta.config = get_config(s.getConfig());
      snap.data = to_bytes(s.getData());
      msg.snapshot = std::move(snap);
    }
    out.raft = std::move(msg);
    return core::Status::ok();
  }));
  return out;
}

uint64_t cluster_proof(std::string_view secret, NodeId from, NodeId to, uint64_t nonce) {
  core::Bytes b(secret);
  core::put_u32(b, from.value());
  core::put_u32(b, to.value());
  core::put_u64(b, nonce);
  return core::checksum64(b, 0x6b65656c2d706565ULL);
}

}  // namespace keel::node
