@0xa85c0e299d9a256c;
# Node-to-node messages of the Raft group (consensus/types.h Message), and
# the handshake that opens every peer connection.

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

struct PeerFrame {
  union {
    hello @0 :PeerHello;
    raft @1 :RaftMessage;
  }
}
