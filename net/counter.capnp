@0xbb5b3a48e322b95f;
# Messages of the demo replicated counter (node/counter.h).

struct CounterMessage {
  union {
    increment @0 :UInt64;          # client -> primary: the operation id
    incremented @1 :Incremented;   # primary -> client
    replicate @2 :Replicate;       # primary -> backup
    replicated @3 :UInt64;         # backup -> primary: its durable length
    readLog @4 :Void;              # anyone -> node: send your whole log
    log @5 :List(UInt64);          # node -> asker: its durable log
  }
}

struct Incremented {
  opId @0 :UInt64;
  value @1 :UInt64;                # the counter after this increment
  error @2 :Text;                  # non-empty: not applied (definitely)
}

struct Replicate {
  first @0 :UInt64;                # 1-based position of opIds[0]
  opIds @1 :List(UInt64);
}
