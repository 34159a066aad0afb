@0xa85c0e299d9a256c;
# Node-to-node messages over the peer bus (node/peer_bus.h): the handshake
# that opens every peer connection, the controller group's Raft messages
# (consensus/types.h Message), partition replication (consensus/partition.h
# PartitionMessage) and the node <-> controller session (node/peer_codec.h ControlMessage).

struct PeerHello {
  from @0 :UInt32;          # the connecting node's id
  to @1 :UInt32;            # the node it believes it is talking to
  clusterProof @2 :UInt64;  # keyed hash of (cluster secret, from, to, nonce)
  nonce @3 :UInt64;
  clientAddress @4 :Text;   # the sender's RESP address, for -MOVED / CLUSTER SLOTS
}

struct RaftEntry {
  term @0 :UInt64;
  index @1 :UInt64;
  type @2 :UInt8;
  data @3 :Data;
}

struct RaftConfig {
  voters @0 :List(UInt32);
  votersOutgoing @1 :List(UInt32);
  learners @2 :List(UInt32);
}

struct RaftSnapshot {
  index @0 :UInt64;
  term @1 :UInt64;
  config @2 :RaftConfig;
  data @3 :Data;
}

struct RaftMessage {
  type @0 :UInt8;
  from @1 :UInt32;
  to @2 :UInt32;
  term @3 :UInt64;
  index @4 :UInt64;
  logTerm @5 :UInt64;
  entries @6 :List(RaftEntry);
  commit @7 :UInt64;
  reject @8 :Bool;
  rejectHint @9 :UInt64;
  transfer @10 :Bool;
  round @11 :UInt64;
  context @12 :Data;
  snapshot @13 :RaftSnapshot;   # present only for kSnapshot
  hasSnapshot @14 :Bool;
}

struct PartitionRecord {
  epoch @0 :UInt64;
  offset @1 :UInt64;
  data @2 :Data;
}

struct PartitionMessage {
  type @0 :UInt8;
  partition @1 :UInt32;
  from @2 :UInt32;
  to @3 :UInt32;
  epoch @4 :UInt64;
  fetchId @5 :UInt64;
  fetchOffset @6 :UInt64;
  lastEpoch @7 :UInt64;
  incarnation @8 :UInt64;
  error @9 :UInt8;
  records @10 :List(PartitionRecord);
  highWatermark @11 :UInt64;
  divergingEpoch @12 :UInt64;
  divergingEnd @13 :UInt64;
  snapshotOffset @14 :UInt64;
  snapshotEpoch @15 :UInt64;
  snapshotData @16 :Data;
}

struct ControlMessage {
  kind @0 :UInt8;             # node/peer_codec.h ControlKind
  incarnation @1 :UInt64;     # the node's process incarnation
  sentLocal @2 :Int64;        # the node's clock when it sent the heartbeat
  metadataVersion @3 :UInt64;
  granted @4 :Bool;           # a reply: the heartbeat earned a lease
  peerAddress @5 :Text;
  clientAddress @6 :Text;
  payload @7 :Data;           # a metadata image, or an encoded command
}

struct PeerFrame {
  union {
    hello @0 :PeerHello;
    raft @1 :RaftMessage;
    partition @2 :PartitionMessage;
    control @3 :ControlMessage;
  }
}
