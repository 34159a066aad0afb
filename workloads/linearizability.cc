#include "workloads/linearizability.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/assert.h"

namespace keel::workloads {

namespace {

uint64_t mix64(uint64_t x) {
  // splitmix64's finalizer: a fixed bijection with good avalanche, used for
  // Zobrist keys and hashing. Deterministic, so runs are reproducible.
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The set of (linearized set, model state) pairs already explored. Open
// addressing with linear probing; the linearized set of each entry is stored
// as a window of bitset words in one arena.
class Memo {
 public:
  Memo() : slots_(1024, 0) {}

  // Inserts the pair; returns false when it was already present.
  bool insert(uint64_t set_hash, int64_t state, uint32_t base, const uint64_t* words,
              uint32_t len) {
    uint64_t h = mix64(set_hash ^ mix64(static_cast<uint64_t>(state)));
    size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      uint32_t slot = slots_[i];
      if (slot == 0) break;
      const Entry& e = entries_[slot - 1];
      if (e.hash == h && e.state == state && e.base == base && e.len == len &&
          std::equal(words, words + len, arena_.begin() + static_cast<ptrdiff_t>(e.offset))) {
        return false;
      }
    }
    entries_.push_back(Entry{h, state, base, len, arena_.size()});
    arena_.insert(arena_.end(), words, words + len);
    if (entries_.size() * 2 > slots_.size()) {
      rehash(slots_.size() * 2);
    } else {
      place(entries_.size() - 1);
    }
    return true;
  }

  size_t entries() const { return entries_.size(); }
  size_t bytes() const {
    return entries_.capacity() * sizeof(Entry) + arena_.capacity() * sizeof(uint64_t) +
           slots_.capacity() * sizeof(uint32_t);
  }

 private:
  struct Entry {
    uint64_t hash;
    int64_t state;
    uint32_t base;
    uint32_t len;
    uint64_t offset;
  };

  void place(size_t index) {
    size_t mask = slots_.size() - 1;
    size_t i = entries_[index].hash & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = static_cast<uint32_t>(index + 1);
  }

  void rehash(size_t slot_count) {
    slots_.assign(slot_count, 0);
    for (size_t i = 0; i < entries_.size(); ++i) place(i);
  }

  std::vector<Entry> entries_;
  std::vector<uint64_t> arena_;
  std::vector<uint32_t> slots_;
};

struct SearchOutcome {
  Verdict verdict = Verdict::kPass;
  uint64_t steps = 0;
  uint64_t memo_entries = 0;
  uint64_t memo_bytes = 0;
  // The longest linearizable prefix found (model operation indices, in
  // linearization order).
  std::vector<uint32_t> best;
};

// Wing–Gong–Lowe search over one key. Operation i of `model` is ops[i];
// ops are sorted by invocation so that operation index = call order.
class Search {
 public:
  Search(const KeyModel& model, const std::vector<const Operation*>& ops,
         const LinearizabilityOptions& options)
      : model_(model), options_(options), n_(static_cast<uint32_t>(ops.size())) {
    KEEL_ASSERT(ops.size() < (1u << 30));
    KEEL_ASSERT(model.size() == ops.size());
    build_entries(ops);
    words_ = (n_ + 63) / 64;
    bits_.assign(words_ + 1, 0);
    word_count_.assign(words_ + 1, 0);
    zobrist_.resize(n_);
    for (uint32_t i = 0; i < n_; ++i) zobrist_[i] = mix64(0x6b65656cull + i);
    // Symmetry breaking. Two indeterminate operations with the same effect
    // (e.g. two unanswered INCRBY 1) are interchangeable: both may be placed
    // anywhere after their invocations, so any linearization that places the
    // later-invoked one first stays valid with the two swapped. Only the
    // order "earlier-invoked first" is explored, which turns 2^k subsets of k
    // such operations into k + 1 counts.
    previous_twin_.assign(n_, kNone);
    std::map<std::tuple<uint8_t, int64_t, int64_t>, uint32_t> last_of_signature;
    for (uint32_t i = 0; i < n_; ++i) {
      if (ops[i]->effective_complete_time() != kInstantInfinity) continue;
      auto [it, inserted] = last_of_signature.try_emplace(model.signature(i), i);
      if (!inserted) {
        previous_twin_[i] = it->second;
        it->second = i;
      }
    }
  }

  // The call/return entries in time order (node ids 1..2n).
  const std::vector<uint32_t>& order() const { return order_; }
  uint32_t node_op(uint32_t node) const { return node_op_[node]; }
  bool node_is_call(uint32_t node) const { return node_is_call_[node] != 0; }

  SearchOutcome run() {
    SearchOutcome out;
    struct Frame {
      uint32_t op;
      int64_t state_before;
    };
    std::vector<Frame> stack;
    size_t agree = 0;  // common prefix length of out.best and stack
    int64_t state = model_.initial_state();
    uint32_t node = next_[kHead];
    while (next_[kHead] != tail_) {
      KEEL_ASSERT(node != tail_);
      if (++out.steps > options_.search_steps_max) {
        out.verdict = Verdict::kUnknown;
        break;
      }
      if (node_is_call_[node]) {
        uint32_t op = node_op_[node];
        if (previous_twin_[op] != kNone && !is_set(previous_twin_[op])) {
          node = next_[node];
          continue;
        }
        std::optional<int64_t> after = model_.step(op, state);
        if (after) {
          set_bit(op);
          if (memo_insert(*after)) {
            stack.push_back(Frame{op, state});
            state = *after;
            lift(op);
            if (stack.size() > out.best.size()) {
              out.best.resize(agree);
              for (size_t i = agree; i < stack.size(); ++i) out.best.push_back(stack[i].op);
              agree = stack.size();
            }
            node = next_[kHead];
            if (memo_.bytes() > options_.memo_bytes_max) {
              out.verdict = Verdict::kUnknown;
              break;
            }
            continue;
          }
          clear_bit(op);
        }
        node = next_[node];
      } else {
        // A return entry of an operation not yet linearized: every
        // linearization of the current prefix fails here. Backtrack.
        if (stack.empty()) {
          out.verdict = Verdict::kFail;
          break;
        }
        Frame frame = stack.back();
        stack.pop_back();
        agree = std::min(agree, stack.size());
        state = frame.state_before;
        clear_bit(frame.op);
        unlift(frame.op);
        node = next_[call_node_[frame.op]];
      }
    }
    out.memo_entries = memo_.entries();
    out.memo_bytes = memo_.bytes();
    return out;
  }

 private:
  static constexpr uint32_t kHead = 0;
  static constexpr uint32_t kNone = UINT32_MAX;

  void build_entries(const std::vector<const Operation*>& ops) {
    struct Event {
      core::Instant time;
      bool is_return;
      uint32_t op;
    };
    std::vector<Event> events;
    events.reserve(2 * n_);
    for (uint32_t i = 0; i < n_; ++i) {
      events.push_back(Event{ops[i]->invoke_time, false, i});
      events.push_back(Event{ops[i]->effective_complete_time(), true, i});
    }
    // Calls before returns at equal times: equal instants count as concurrent.
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      if (a.time != b.time) return a.time < b.time;
      if (a.is_return != b.is_return) return !a.is_return;
      return a.op < b.op;
    });
    uint32_t nodes = 2 * n_ + 2;
    tail_ = nodes - 1;
    next_.assign(nodes, 0);
    prev_.assign(nodes, 0);
    node_op_.assign(nodes, 0);
    node_is_call_.assign(nodes, 0);
    call_node_.assign(n_, 0);
    return_node_.assign(n_, 0);
    order_.clear();
    for (uint32_t k = 0; k < events.size(); ++k) {
      uint32_t node = k + 1;
      order_.push_back(node);
      node_op_[node] = events[k].op;
      node_is_call_[node] = events[k].is_return ? 0 : 1;
      if (events[k].is_return) {
        return_node_[events[k].op] = node;
      } else {
        call_node_[events[k].op] = node;
      }
    }
    for (uint32_t node = 0; node + 1 < nodes; ++node) {
      next_[node] = node + 1;
      prev_[node + 1] = node;
    }
  }

  // Removes operation op's call and return entries from the list.
  void lift(uint32_t op) {
    for (uint32_t node : {call_node_[op], return_node_[op]}) {
      next_[prev_[node]] = next_[node];
      prev_[next_[node]] = prev_[node];
    }
  }

  // Undoes lift(op); lifts and unlifts nest like a stack, so the removed
  // nodes' own links are still valid.
  void unlift(uint32_t op) {
    for (uint32_t node : {return_node_[op], call_node_[op]}) {
      next_[prev_[node]] = node;
      prev_[next_[node]] = node;
    }
  }

  void set_bit(uint32_t op) {
    uint32_t w = op / 64;
    bits_[w] |= 1ull << (op % 64);
    ++word_count_[w];
    set_hash_ ^= zobrist_[op];
    if (!any_bits_ || w > top_word_) top_word_ = w;
    any_bits_ = true;
  }

  void clear_bit(uint32_t op) {
    uint32_t w = op / 64;
    bits_[w] &= ~(1ull << (op % 64));
    --word_count_[w];
    set_hash_ ^= zobrist_[op];
    while (top_word_ > 0 && word_count_[top_word_] == 0) --top_word_;
    any_bits_ = word_count_[top_word_] != 0;
  }

  // Every operation below the first call still in the list is linearized, so
  // the set is identified by the words from that point up to the highest set
  // bit. When the list is empty the search is over and nothing is inserted.
  bool memo_insert(int64_t state) {
    uint32_t first = next_[kHead];
    // The entry being linearized was lifted only after this insert, so the
    // list still holds it; skip linearized entries to find the true frontier.
    while (first != tail_ && (!node_is_call_[first] || is_set(node_op_[first]))) {
      first = next_[first];
    }
    uint32_t p = first == tail_ ? n_ : node_op_[first];
    uint32_t base = p / 64;
    uint32_t len = any_bits_ && top_word_ >= base ? top_word_ - base + 1 : 0;
    return memo_.insert(set_hash_, state, base, bits_.data() + base, len);
  }

  bool is_set(uint32_t op) const { return (bits_[op / 64] >> (op % 64)) & 1; }

  const KeyModel& model_;
  const LinearizabilityOptions& options_;
  uint32_t n_;
  uint32_t tail_ = 0;
  std::vector<uint32_t> next_, prev_, node_op_, call_node_, return_node_, order_;
  std::vector<uint8_t> node_is_call_;

  uint32_t words_ = 0;
  std::vector<uint64_t> bits_;
  std::vector<uint8_t> word_count_;
  uint32_t top_word_ = 0;
  bool any_bits_ = false;
  uint64_t set_hash_ = 0;
  std::vector<uint64_t> zobrist_;
  std::vector<uint32_t> previous_twin_;
  Memo memo_;
};

std::string failure_report(const KeyModel& model, const std::vector<const Operation*>& ops,
                           const Search& search, const SearchOutcome& outcome,
                           KeyLinearizability& result) {
  std::vector<bool> in_best(ops.size(), false);
  std::vector<int64_t> states;
  int64_t state = model.initial_state();
  for (uint32_t op : outcome.best) {
    in_best[op] = true;
    std::optional<int64_t> after = model.step(op, state);
    KEEL_ASSERT(after.has_value());
    state = *after;
    states.push_back(state);
  }

  // The operations that could come next after the best prefix: those invoked
  // before the first completion of an operation outside the prefix.
  std::vector<uint32_t> candidates;
  uint32_t blocker = UINT32_MAX;
  for (uint32_t node : search.order()) {
    uint32_t op = search.node_op(node);
    if (in_best[op]) continue;
    if (search.node_is_call(node)) {
      candidates.push_back(op);
    } else {
      blocker = op;
      break;
    }
  }
  KEEL_ASSERT(blocker != UINT32_MAX);

  std::string r = "key " + quote_bytes(result.key) + " is not linearizable under the " +
                  std::string(model_kind_name(model.kind())) + " model (" +
                  std::to_string(ops.size()) + " operations checked)\n";
  r += "Longest linearizable prefix: " + std::to_string(outcome.best.size()) + " of " +
       std::to_string(ops.size()) + " operations";
  size_t shown_from = outcome.best.size() > kReportOpsMax ? outcome.best.size() - kReportOpsMax : 0;
  r += shown_from > 0 ? "; the last " + std::to_string(kReportOpsMax) + ", in order:\n"
                      : (outcome.best.empty() ? ".\n" : ", in order:\n");
  for (size_t i = shown_from; i < outcome.best.size(); ++i) {
    r += "  " + describe(*ops[outcome.best[i]]) + "   => " + model.state_string(states[i]) + "\n";
  }
  r += "State after the prefix: " + model.state_string(state) + "\n";
  r += "No operation below can be linearized next; " + describe(*ops[blocker]) +
       " must take effect before it completes:\n";
  core::Instant from = kInstantInfinity;
  for (size_t i = 0; i < candidates.size() && i < kReportOpsMax; ++i) {
    const Operation& op = *ops[candidates[i]];
    bool legal = model.step(candidates[i], state).has_value();
    r += "  " + describe(op) +
         (legal ? "   (possible here, but nothing linearizes after it)\n"
                : "   (impossible in state " + model.state_string(state) + ")\n");
  }
  if (candidates.size() > kReportOpsMax) {
    r += "  ... " + std::to_string(candidates.size() - kReportOpsMax) + " more\n";
  }
  for (uint32_t c : candidates) from = std::min(from, ops[c]->invoke_time);
  if (!outcome.best.empty()) from = std::min(from, ops[outcome.best.back()]->invoke_time);
  result.window_from = from;
  result.window_to = ops[blocker]->effective_complete_time();
  return r;
}

KeyLinearizability check_ops(std::string key, std::vector<const Operation*> ops,
                             const LinearizabilityOptions& options, const History& history) {
  KeyLinearizability result;
  result.key = std::move(key);
  size_t total = ops.size();
  ModelKind kind = options.model == ModelKind::kAuto ? infer_model(ops) : options.model;
  result.model = kind;

  // Failed operations did not happen; indeterminate reads observed nothing.
  std::erase_if(ops, [](const Operation* op) {
    return op->outcome == Outcome::kFail ||
           (op->kind == OpKind::kRead && op->outcome != Outcome::kOk);
  });
  if (kind == ModelKind::kRegister && options.prune_unobserved_writes) {
    bool cas_may_observe_inequality = std::any_of(ops.begin(), ops.end(), [](const Operation* op) {
      return op->kind == OpKind::kCas && (op->outcome != Outcome::kOk || !op->cas_applied);
    });
    if (!cas_may_observe_inequality) {
      std::set<std::string_view> observed;
      for (const Operation* op : ops) {
        if (op->kind == OpKind::kRead && op->read_value) observed.insert(*op->read_value);
        if (op->kind == OpKind::kCas) observed.insert(op->expected);
      }
      std::erase_if(ops, [&](const Operation* op) {
        return op->kind == OpKind::kWrite && op->outcome != Outcome::kOk &&
               !observed.contains(op->value);
      });
    }
  }
  result.ops_dropped = total - ops.size();
  result.ops_checked = ops.size();
  std::stable_sort(ops.begin(), ops.end(), [](const Operation* a, const Operation* b) {
    return a->invoke_time < b->invoke_time;
  });

  core::Result<KeyModel> model = KeyModel::compile(kind, ops);
  if (!model.is_ok()) {
    result.verdict = Verdict::kUnknown;
    result.report = "key " + quote_bytes(result.key) + " not checked: " + model.status().to_string();
    return result;
  }
  Search search(*model, ops, options);
  SearchOutcome outcome = search.run();
  result.verdict = outcome.verdict;
  result.search_steps = outcome.steps;
  result.memo_entries = outcome.memo_entries;
  if (outcome.verdict == Verdict::kUnknown) {
    result.report = "key " + quote_bytes(result.key) + ": search budget exhausted after " +
                    std::to_string(outcome.steps) + " steps, " +
                    std::to_string(outcome.memo_entries) + " memo entries (" +
                    std::to_string(outcome.memo_bytes >> 20) + " MiB); longest linearizable "
                    "prefix found: " + std::to_string(outcome.best.size()) + " of " +
                    std::to_string(ops.size()) + " operations. Raise search_steps_max / "
                    "memo_bytes_max or shorten the history.\n";
  } else if (outcome.verdict == Verdict::kFail) {
    result.report = failure_report(*model, ops, search, outcome, result);
    result.report += "Operations on the key around the violation:\n";
    result.report += history.dump_key(result.key, result.window_from, result.window_to,
                                      2 * kReportOpsMax);
  }
  return result;
}

}  // namespace

std::string LinearizabilityResult::summary() const {
  std::string s = "linearizability: " + std::string(verdict_name(verdict)) + " (" +
                  std::to_string(keys.size()) + " keys, " + std::to_string(ops_checked) +
                  " operations, " + std::to_string(search_steps) + " search steps";
  if (!skipped_keys.empty()) {
    s += ", " + std::to_string(skipped_keys.size()) + " append keys left to the durability checker";
  }
  s += ")\n";
  for (const KeyLinearizability& k : keys) {
    if (k.verdict == Verdict::kPass) continue;
    s += std::string(verdict_name(k.verdict)) + " " + k.report;
  }
  return s;
}

KeyLinearizability check_key_linearizability(const History& history, std::string_view key,
                                             const LinearizabilityOptions& options) {
  std::vector<const Operation*> ops;
  for (const Operation& op : history.ops()) {
    if (op.key == key) ops.push_back(&op);
  }
  return check_ops(std::string(key), std::move(ops), options, history);
}

LinearizabilityResult check_linearizability(const History& history,
                                            const LinearizabilityOptions& options) {
  std::map<std::string_view, std::vector<const Operation*>> by_key;
  for (const Operation& op : history.ops()) by_key[op.key].push_back(&op);
  LinearizabilityResult result;
  for (auto& [key, ops] : by_key) {
    bool has_append = std::any_of(ops.begin(), ops.end(), [](const Operation* op) {
      return op->kind == OpKind::kAppend;
    });
    if (has_append) {
      result.skipped_keys.emplace_back(key);
      continue;
    }
    KeyLinearizability k = check_ops(std::string(key), std::move(ops), options, history);
    result.verdict = combine(result.verdict, k.verdict);
    result.ops_checked += k.ops_checked;
    result.search_steps += k.search_steps;
    result.keys.push_back(std::move(k));
  }
  return result;
}

}  // namespace keel::workloads
