#include "node/resp_server.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "net/accept.h"
#include "net/resp/command.h"
#include "net/resp/request_parser.h"

namespace keel::node {

using core::Bytes;
using core::ByteView;
using core::Status;
using net::resp::Argv;

namespace {

constexpr std::string_view kNoAuth = "NOAUTH Authentication required.";
constexpr std::string_view kSyntaxError = "ERR syntax error";
constexpr std::string_view kMaxClientsError = "-ERR max number of clients reached\r\n";
// Ports of the cluster bus, shown in CLUSTER NODES as Redis does (port +
// 10000); keel has no cluster bus, clients ignore the field.
constexpr uint32_t kClusterBusPortOffset = 10000;
// How long the accept loop backs off after an unexpected accept error.

std::string lower(ByteView s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

// Redis' rule for client names: printable ASCII without spaces.
bool valid_client_name(ByteView name) {
  return std::all_of(name.begin(), name.end(), [](char ch) { return ch > ' ' && ch <= '~'; });
}

std::string to_hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// A header line body: "field:value\r\n" lines, each terminated.
void append_lines(std::string& out, std::string_view body) {
  if (body.empty()) return;
  out.append(body);
  if (body.size() < 2 || body.substr(body.size() - 2) != "\r\n") out += "\r\n";
}

}  // namespace

std::string cluster_node_id(core::NodeId id) {
  Bytes seed = "keel-node-" + id.to_string();
  std::string hex;
  for (uint64_t i = 0; hex.size() < 40; ++i) hex += to_hex(core::checksum64(seed, i));
  hex.resize(40);
  return hex;
}

struct RespServer::Client {
  uint64_t id = 0;
  core::Stream* stream = nullptr;
  core::Address peer;
  net::resp::ReplyWriter out;
  std::string name;
  bool authenticated = false;
  // READONLY: reads skip the linearizable barrier on this connection.
  bool readonly = false;
  size_t pending_replies = 0;
};

RespServer::RespServer(core::Env& env, Replicator& replicator, RespServerOptions options)
    : env_(env), replicator_(replicator), options_(std::move(options)), fibers_(env) {
  KEEL_ASSERT(options_.limits.clients_max > 0);
  KEEL_ASSERT(options_.limits.read_chunk_bytes > 0);
  KEEL_ASSERT(options_.limits.pipeline_replies_max > 0);
}

RespServer::~RespServer() { stop(); }

Status RespServer::start() {
  KEEL_ASSERT(listener_ == nullptr && !stopped_);
  KEEL_TRY_ASSIGN(listener_, env_.net.listen(options_.address));
  started_at_ = env_.now();
  fibers_.spawn("resp.accept", [this] { accept_loop(); });
  return Status::ok();
}

void RespServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (listener_) listener_->close();
  for (const auto& [id, client] : clients_) client->stream->close();
}

void RespServer::accept_loop() {
  net::accept_connections(env_, *listener_, [this] { return stopped_; }, [this](std::unique_ptr<core::Stream> stream) {
    ++stats_.total_connections_received;
    if (stats_.connected_clients >= options_.limits.clients_max) {
      ++stats_.rejected_connections;
      // Best effort, as Redis: the client learns why before the close.
      (void)stream->write(kMaxClientsError);
      stream->close();
      return;
    }
    // Counted here, not when the fiber first runs, so a burst of accepts
    // cannot overshoot the limit.
    ++stats_.connected_clients;
    auto holder = std::make_shared<std::unique_ptr<core::Stream>>(std::move(stream));
    fibers_.spawn("resp.client", [this, holder] { serve(std::move(*holder)); });
  });
}

void RespServer::serve(std::unique_ptr<core::Stream> stream) {
  Client c;
  c.id = next_client_id_++;
  c.stream = stream.get();
  c.peer = stream->peer();
  c.authenticated = options_.requirepass.empty();
  clients_[c.id] = &c;
  // Unregisters on every way out, including a kill that unwinds the fiber.
  struct Registration {
    RespServer& server;
    uint64_t id;
    ~Registration() {
      server.clients_.erase(id);
      --server.stats_.connected_clients;
    }
  } registration{*this, c.id};
  if (stopped_) return;

  net::resp::RequestParser parser(options_.limits.request);
  Bytes buffer(options_.limits.read_chunk_bytes, '\0');
  Argv argv;
  for (;;) {
    // Answer every complete command buffered before reading more.
    for (;;) {
      core::Result<bool> next = parser.next(argv);
      if (!next.is_ok()) {
        ++stats_.protocol_errors;
        reply_error(c, "ERR " + next.status().message());
        flush(c);
        return;
      }
      if (!*next) break;
      const After after = execute(c, argv);
      if (after == After::kClose || stopped_) {
        flush(c);
        return;
      }
      if (++c.pending_replies >= options_.limits.pipeline_replies_max ||
          c.out.size() >= options_.limits.output_flush_bytes) {
        if (!flush(c)) return;
      }
    }
    if (!flush(c)) return;
    core::Result<size_t> n = stream->read(buffer.data(), buffer.size());
    // End of stream (possibly in the middle of a request) or a broken
    // connection: nothing more to answer.
    if (!n.is_ok() || *n == 0) return;
    stats_.total_net_input_bytes += *n;
    parser.feed(ByteView(buffer.data(), *n));
  }
}

bool RespServer::flush(Client& c) {
  c.pending_replies = 0;
  if (c.out.empty()) return true;
  const Bytes data = c.out.take();
  stats_.total_net_output_bytes += data.size();
  return c.stream->write(data).is_ok();
}

void RespServer::reply_error(Client& c, std::string_view message) {
  ++stats_.total_error_replies;
  c.out.error(message);
}

void RespServer::reply_text(Client& c, std::string_view text) {
  if (c.out.protocol() == net::resp::Protocol::kResp3) {
    c.out.verbatim("txt", text);
  } else {
    c.out.bulk(text);
  }
}

void RespServer::reply_replication_error(Client& c, const Status& s, ByteView first_key) {
  switch (s.code()) {
    case core::Code::kFailedPrecondition: {
      core::Result<core::Address> leader = core::Address::parse(s.message());
      if (leader.is_ok()) {
        reply_error(c, "MOVED " + std::to_string(net::resp::key_slot(first_key)) + " " + leader->to_string());
      } else if (s.message().empty()) {
        reply_error(c, "CLUSTERDOWN no leader");
      } else {
        reply_error(c, "CLUSTERDOWN " + s.message());
      }
      return;
    }
    case core::Code::kUnavailable: reply_error(c, "TRYAGAIN " + s.message()); return;
    case core::Code::kAborted: reply_error(c, "UNCERTAIN " + s.message()); return;
    default: reply_error(c, "ERR " + s.to_string()); return;
  }
}

RespServer::After RespServer::execute(Client& c, const Argv& argv) {
  ++stats_.total_commands_processed;
  core::Result<const net::resp::CommandSpec*> resolved = net::resp::resolve_command(argv);
  if (!resolved.is_ok()) {
    reply_error(c, resolved.status().message());
    return After::kContinue;
  }
  const net::resp::CommandSpec& spec = **resolved;
  // As redis-server: existence and arity first, then authentication.
  if (!c.authenticated && !spec.has_flag(net::resp::kCommandNoAuth)) {
    reply_error(c, kNoAuth);
    return After::kContinue;
  }
  if (options_.route && spec.first_key > 0) {
    if (std::optional<std::string> refused = options_.route(spec, argv, c.readonly)) {
      reply_error(c, *refused);
      return After::kContinue;
    }
  }
  const std::string_view name = spec.name;
  const size_t argc = argv.size();
  if (name == "ping") {
    if (argc > 2) {
      reply_error(c, net::resp::wrong_arity_error("ping"));
    } else if (argc == 2) {
      c.out.bulk(argv[1]);
    } else {
      c.out.simple_string("PONG");
    }
  } else if (name == "echo") {
    c.out.bulk(argv[1]);
  } else if (name == "quit") {
    c.out.ok();
    return After::kClose;
  } else if (name == "select") {
    std::optional<int64_t> db = parse_int64(argv[1]);
    if (!db) {
      reply_error(c, kNotIntegerError);
    } else if (*db != 0) {
      reply_error(c, "ERR DB index is out of range");
    } else {
      c.out.ok();
    }
  } else if (name == "readonly") {
    c.readonly = true;
    c.out.ok();
  } else if (name == "readwrite") {
    c.readonly = false;
    c.out.ok();
  } else if (name == "auth") {
    cmd_auth(c, argv);
  } else if (name == "hello") {
    cmd_hello(c, argv);
  } else if (name == "client") {
    cmd_client(c, argv);
  } else if (name == "command") {
    cmd_command(c, argv);
  } else if (name == "info") {
    cmd_info(c, argv);
  } else if (name == "cluster") {
    cmd_cluster(c, argv);
  } else if (name == "get") {
    cmd_get(c, argv);
  } else if (name == "mget") {
    cmd_mget(c, argv);
  } else if (name == "exists") {
    cmd_exists(c, argv);
  } else if (name == "strlen") {
    cmd_strlen(c, argv);
  } else if (name == "dbsize") {
    cmd_dbsize(c, argv);
  } else if (name == "set") {
    cmd_set(c, argv);
  } else if (name == "del") {
    propose(c, DelCommand{Argv(argv.begin() + 1, argv.end())}, argv[1]);
  } else if (name == "incr") {
    cmd_incr(c, argv, 1, false);
  } else if (name == "decr") {
    cmd_incr(c, argv, -1, false);
  } else if (name == "incrby") {
    cmd_incr(c, argv, 1, true);
  } else if (name == "decrby") {
    cmd_incr(c, argv, -1, true);
  } else if (name == "mset") {
    if (argc % 2 == 0) {
      reply_error(c, net::resp::wrong_arity_error("mset"));
    } else {
      MSetCommand m;
      for (size_t i = 1; i + 1 < argc; i += 2) m.pairs.emplace_back(argv[i], argv[i + 1]);
      propose(c, m, argv[1]);
    }
  } else if (name == "append") {
    propose(c, AppendCommand{argv[1], argv[2]}, argv[1]);
  } else {
    // In the shared command table but not served by this front end.
    reply_error(c, "ERR command '" + std::string(name) + "' is not implemented");
  }
  return After::kContinue;
}

// --- Writes -------------------------------------------------------------

void RespServer::propose(Client& c, const Command& command, ByteView first_key) {
  Status valid = validate_command(command);
  if (!valid.is_ok()) {
    reply_error(c, valid.message());
    return;
  }
  core::Result<Bytes> result = replicator_.propose(first_key, encode_command(command));
  if (!result.is_ok()) {
    reply_replication_error(c, result.status(), first_key);
    return;
  }
  core::Result<CommandReply> reply = decode_reply(*result);
  if (!reply.is_ok()) {
    reply_error(c, "ERR " + reply.status().to_string());
    return;
  }
  switch (reply->kind) {
    case CommandReply::Kind::kOk: c.out.ok(); break;
    case CommandReply::Kind::kNil: c.out.null(); break;
    case CommandReply::Kind::kInteger: c.out.integer(reply->integer); break;
    case CommandReply::Kind::kBulk: c.out.bulk(reply->text); break;
    case CommandReply::Kind::kError: reply_error(c, reply->text); break;
  }
}

void RespServer::cmd_set(Client& c, const Argv& argv) {
  SetCommand set;
  set.key = argv[1];
  set.value = argv[2];
  for (size_t i = 3; i < argv.size(); ++i) {
    const std::string option = lower(argv[i]);
    if (option == "nx" || option == "xx" || option == "ifeq") {
      if (set.condition != SetCondition::kNone) {
        reply_error(c, kSyntaxError);
        return;
      }
      if (option == "nx") {
        set.condition = SetCondition::kNx;
      } else if (option == "xx") {
        set.condition = SetCondition::kXx;
      } else {
        if (i + 1 >= argv.size()) {
          reply_error(c, kSyntaxError);
          return;
        }
        set.condition = SetCondition::kIfEq;
        set.expected = argv[++i];
      }
    } else if (option == "get") {
      if (set.get) {
        reply_error(c, kSyntaxError);
        return;
      }
      set.get = true;
    } else if (option == "ex" || option == "px" || option == "exat" || option == "pxat" || option == "keepttl" ||
               option == "persist") {
      reply_error(c, "ERR EX, PX, EXAT, PXAT, KEEPTTL and PERSIST are not supported: keel keys do not expire");
      return;
    } else {
      reply_error(c, kSyntaxError);
      return;
    }
  }
  propose(c, set, set.key);
}

void RespServer::cmd_incr(Client& c, const Argv& argv, int64_t sign, bool by) {
  int64_t delta = 1;
  if (by) {
    std::optional<int64_t> parsed = parse_int64(argv[2]);
    if (!parsed) {
      reply_error(c, kNotIntegerError);
      return;
    }
    delta = *parsed;
  }
  if (sign < 0) {
    if (delta == INT64_MIN) {
      reply_error(c, "ERR decrement would overflow");
      return;
    }
    delta = -delta;
  }
  propose(c, IncrByCommand{argv[1], delta}, argv[1]);
}

// --- Reads --------------------------------------------------------------

bool RespServer::barrier(Client& c, ByteView first_key) {
  Status s = replicator_.read_barrier(first_key, c.readonly);
  if (s.is_ok()) return true;
  reply_replication_error(c, s, first_key);
  return false;
}

core::Result<std::optional<Bytes>> RespServer::read_key(Client& c, ByteView key) {
  // A key too long to be stored cannot be present.
  if (key.size() > kUserKeyBytesMax) return std::optional<Bytes>();
  core::Result<std::optional<Bytes>> r = replicator_.read_view().get(key);
  if (!r.is_ok()) reply_error(c, "ERR " + r.status().to_string());
  return r;
}

void RespServer::cmd_get(Client& c, const Argv& argv) {
  if (!barrier(c, argv[1])) return;
  core::Result<std::optional<Bytes>> v = read_key(c, argv[1]);
  if (!v.is_ok()) return;
  if (*v) {
    c.out.bulk(**v);
  } else {
    c.out.null();
  }
}

void RespServer::cmd_mget(Client& c, const Argv& argv) {
  if (!barrier(c, argv[1])) return;
  std::vector<std::optional<Bytes>> values;
  size_t bytes = 0;
  for (size_t i = 1; i < argv.size(); ++i) {
    core::Result<std::optional<Bytes>> v = read_key(c, argv[i]);
    if (!v.is_ok()) return;
    bytes += *v ? (*v)->size() + 16 : 8;
    if (bytes > options_.limits.reply_bytes_max) {
      reply_error(c, "ERR the reply would exceed " + std::to_string(options_.limits.reply_bytes_max) + " bytes");
      return;
    }
    values.push_back(std::move(v).value());
  }
  c.out.array(values.size());
  for (const std::optional<Bytes>& v : values) {
    if (v) {
      c.out.bulk(*v);
    } else {
      c.out.null();
    }
  }
}

void RespServer::cmd_exists(Client& c, const Argv& argv) {
  if (!barrier(c, argv[1])) return;
  int64_t n = 0;
  // Redis counts a key named twice twice.
  for (size_t i = 1; i < argv.size(); ++i) {
    core::Result<std::optional<Bytes>> v = read_key(c, argv[i]);
    if (!v.is_ok()) return;
    n += v->has_value() ? 1 : 0;
  }
  c.out.integer(n);
}

void RespServer::cmd_strlen(Client& c, const Argv& argv) {
  if (!barrier(c, argv[1])) return;
  core::Result<std::optional<Bytes>> v = read_key(c, argv[1]);
  if (!v.is_ok()) return;
  c.out.integer(*v ? static_cast<int64_t>((*v)->size()) : 0);
}

void RespServer::cmd_dbsize(Client& c, const Argv& /*argv*/) {
  if (!barrier(c, ByteView())) return;
  core::Result<uint64_t> n = replicator_.read_view().size();
  if (!n.is_ok()) {
    reply_error(c, "ERR " + n.status().to_string());
    return;
  }
  c.out.integer(static_cast<int64_t>(*n));
}

// --- Connection commands ------------------------------------------------

namespace {

// Checks credentials against requirepass; the error reply text, or empty
// when they are good. `user` is empty for the one-argument AUTH form.
std::string check_credentials(const std::string& requirepass, ByteView user, ByteView password, bool user_given) {
  if (requirepass.empty() && !user_given) {
    return "ERR AUTH <password> called without any password configured for the default user. Are you sure your "
           "configuration is correct?";
  }
  const bool user_ok = !user_given || user == "default";
  const bool password_ok = requirepass.empty() || password == requirepass;
  if (user_ok && password_ok) return {};
  return "WRONGPASS invalid username-password pair or user is disabled.";
}

}  // namespace

void RespServer::cmd_auth(Client& c, const Argv& argv) {
  if (argv.size() > 3) {
    reply_error(c, kSyntaxError);
    return;
  }
  const bool user_given = argv.size() == 3;
  const std::string error =
      check_credentials(options_.requirepass, user_given ? ByteView(argv[1]) : ByteView(), argv.back(), user_given);
  if (!error.empty()) {
    reply_error(c, error);
    return;
  }
  c.authenticated = true;
  c.out.ok();
}

void RespServer::cmd_hello(Client& c, const Argv& argv) {
  net::resp::Protocol protocol = c.out.protocol();
  if (argv.size() >= 2) {
    std::optional<int64_t> version = parse_int64(argv[1]);
    if (!version) {
      reply_error(c, "ERR Protocol version is not an integer or out of range");
      return;
    }
    if (*version != 2 && *version != 3) {
      reply_error(c, "NOPROTO unsupported protocol version");
      return;
    }
    protocol = *version == 3 ? net::resp::Protocol::kResp3 : net::resp::Protocol::kResp2;
  }
  std::optional<std::pair<Bytes, Bytes>> credentials;
  std::optional<Bytes> name;
  for (size_t i = 2; i < argv.size();) {
    const std::string option = lower(argv[i]);
    if (option == "auth" && i + 2 < argv.size()) {
      credentials.emplace(argv[i + 1], argv[i + 2]);
      i += 3;
    } else if (option == "setname" && i + 1 < argv.size()) {
      name = argv[i + 1];
      i += 2;
    } else {
      reply_error(c, "ERR Syntax error in HELLO option '" + std::string(argv[i]) + "'");
      return;
    }
  }
  if (credentials) {
    const std::string error = check_credentials(options_.requirepass, credentials->first, credentials->second, true);
    if (!error.empty()) {
      reply_error(c, error);
      return;
    }
    c.authenticated = true;
  }
  if (!c.authenticated) {
    reply_error(c,
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH "
                "<user> <pass> option can be used to authenticate the client and select the RESP protocol version at "
                "the same time");
    return;
  }
  if (name) {
    if (!valid_client_name(*name)) {
      reply_error(c, "ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    c.name = *name;
  }
  // The reply is written in the protocol just selected.
  c.out.set_protocol(protocol);
  c.out.map(7);
  c.out.bulk("server");
  c.out.bulk("redis");
  c.out.bulk("version");
  c.out.bulk(options_.redis_version);
  c.out.bulk("proto");
  c.out.integer(static_cast<int64_t>(protocol));
  c.out.bulk("id");
  c.out.integer(static_cast<int64_t>(c.id));
  c.out.bulk("mode");
  c.out.bulk(options_.topology ? "cluster" : "standalone");
  c.out.bulk("role");
  c.out.bulk("master");
  c.out.bulk("modules");
  c.out.array(0);
}

void RespServer::cmd_client(Client& c, const Argv& argv) {
  const std::string sub = lower(argv[1]);
  auto arity = [&](size_t want) {
    if (argv.size() == want) return true;
    reply_error(c, net::resp::wrong_arity_error("client|" + sub));
    return false;
  };
  auto describe = [](const Client& k) {
    return "id=" + std::to_string(k.id) + " addr=" + k.peer.to_string() + " name=" + k.name +
           " db=0 resp=" + std::to_string(static_cast<int>(k.out.protocol())) + "\n";
  };
  if (sub == "setname") {
    if (!arity(3)) return;
    if (!valid_client_name(argv[2])) {
      reply_error(c, "ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    c.name = argv[2];
    c.out.ok();
  } else if (sub == "getname") {
    if (!arity(2)) return;
    if (c.name.empty()) {
      c.out.null();
    } else {
      c.out.bulk(c.name);
    }
  } else if (sub == "id") {
    if (!arity(2)) return;
    c.out.integer(static_cast<int64_t>(c.id));
  } else if (sub == "setinfo") {
    if (!arity(4)) return;
    const std::string attribute = lower(argv[2]);
    if (attribute != "lib-name" && attribute != "lib-ver") {
      reply_error(c, "ERR Unrecognized option '" + std::string(argv[2]) + "'");
      return;
    }
    c.out.ok();
  } else if (sub == "info") {
    if (!arity(2)) return;
    reply_text(c, describe(c));
  } else if (sub == "list") {
    if (!arity(2)) return;
    std::string text;
    for (const auto& [id, client] : clients_) text += describe(*client);
    reply_text(c, text);
  } else {
    reply_error(c, "ERR unknown subcommand '" + std::string(argv[1]) + "'. Try CLIENT HELP.");
  }
}

namespace {

void write_command_info(net::resp::ReplyWriter& out, const net::resp::CommandSpec& spec) {
  // Redis 7's shape: name, arity, flags, first key, last key, step, ACL
  // categories, tips, key specs, subcommands.
  out.array(10);
  out.bulk(spec.name);
  out.integer(spec.arity);
  std::vector<std::string_view> flags;
  if (spec.has_flag(net::resp::kCommandWrite)) flags.push_back("write");
  if (spec.has_flag(net::resp::kCommandReadonly)) flags.push_back("readonly");
  if (spec.has_flag(net::resp::kCommandNoAuth)) flags.push_back("no_auth");
  out.set(flags.size());
  for (std::string_view f : flags) out.simple_string(f);
  out.integer(spec.first_key);
  out.integer(spec.last_key);
  out.integer(spec.key_step);
  out.set(0);
  out.set(0);
  out.array(0);
  out.array(0);
}

}  // namespace

void RespServer::cmd_command(Client& c, const Argv& argv) {
  const auto table = net::resp::command_table();
  if (argv.size() == 1) {
    c.out.array(table.size());
    for (const net::resp::CommandSpec& spec : table) write_command_info(c.out, spec);
    return;
  }
  const std::string sub = lower(argv[1]);
  if (sub == "count") {
    c.out.integer(static_cast<int64_t>(table.size()));
  } else if (sub == "docs") {
    // Enough for redis-cli's start-up: no documentation to offer.
    c.out.map(0);
  } else if (sub == "list") {
    c.out.array(table.size());
    for (const net::resp::CommandSpec& spec : table) c.out.bulk(spec.name);
  } else if (sub == "info") {
    if (argv.size() == 2) {
      c.out.array(table.size());
      for (const net::resp::CommandSpec& spec : table) write_command_info(c.out, spec);
      return;
    }
    c.out.array(argv.size() - 2);
    for (size_t i = 2; i < argv.size(); ++i) {
      const net::resp::CommandSpec* spec = net::resp::find_command(argv[i]);
      if (spec == nullptr) {
        c.out.null_array();
      } else {
        write_command_info(c.out, *spec);
      }
    }
  } else {
    reply_error(c, "ERR unknown subcommand '" + std::string(argv[1]) + "'. Try COMMAND HELP.");
  }
}

std::string RespServer::info_text(const std::vector<std::string>& wanted) {
  std::vector<InfoSection> sections;
  const std::string port = std::to_string(options_.address.port);
  sections.push_back({"Server", "redis_version:" + options_.redis_version + "\r\nkeel_version:0.1\r\nredis_mode:" +
                                    std::string(options_.topology ? "cluster" : "standalone") + "\r\ntcp_port:" + port +
                                    "\r\nuptime_in_seconds:" +
                                    std::to_string((env_.now() - started_at_).ns() / 1000000000)});
  sections.push_back({"Clients", "connected_clients:" + std::to_string(stats_.connected_clients) +
                                     "\r\nmaxclients:" + std::to_string(options_.limits.clients_max)});
  sections.push_back(
      {"Stats", "total_connections_received:" + std::to_string(stats_.total_connections_received) +
                    "\r\ntotal_commands_processed:" + std::to_string(stats_.total_commands_processed) +
                    "\r\nrejected_connections:" + std::to_string(stats_.rejected_connections) +
                    "\r\ntotal_net_input_bytes:" + std::to_string(stats_.total_net_input_bytes) +
                    "\r\ntotal_net_output_bytes:" + std::to_string(stats_.total_net_output_bytes) +
                    "\r\ntotal_error_replies:" + std::to_string(stats_.total_error_replies) +
                    "\r\nprotocol_errors:" + std::to_string(stats_.protocol_errors)});
  if (options_.info) {
    for (InfoSection& s : options_.info()) sections.push_back(std::move(s));
  }
  sections.push_back({"Cluster", std::string("cluster_enabled:") + (options_.topology ? "1" : "0")});
  std::string keyspace;
  core::Result<uint64_t> keys = replicator_.read_view().size();
  if (keys.is_ok() && *keys > 0) keyspace = "db0:keys=" + std::to_string(*keys) + ",expires=0,avg_ttl=0";
  sections.push_back({"Keyspace", keyspace});

  const bool all = wanted.empty() || std::any_of(wanted.begin(), wanted.end(), [](const std::string& w) {
                     return w == "all" || w == "everything" || w == "default";
                   });
  std::string out;
  for (const InfoSection& s : sections) {
    if (!all && std::find(wanted.begin(), wanted.end(), lower(s.name)) == wanted.end()) continue;
    if (!out.empty()) out += "\r\n";
    out += "# " + s.name + "\r\n";
    append_lines(out, s.body);
  }
  return out;
}

void RespServer::cmd_info(Client& c, const Argv& argv) {
  std::vector<std::string> wanted;
  for (size_t i = 1; i < argv.size(); ++i) wanted.push_back(lower(argv[i]));
  reply_text(c, info_text(wanted));
}

void RespServer::cmd_cluster(Client& c, const Argv& argv) {
  if (!options_.topology) {
    reply_error(c, "ERR This instance has cluster support disabled");
    return;
  }
  const std::string sub = lower(argv[1]);
  const ClusterTopology topology = options_.topology();
  const ClusterMember* self = nullptr;
  for (const ClusterMember& m : topology.members) {
    if (m.self && self == nullptr) self = &m;
  }
  auto write_node = [&](const ClusterMember& m) {
    c.out.array(3);
    c.out.bulk(m.address.host);
    c.out.integer(m.address.port);
    c.out.bulk(m.id);
  };
  // Each master with its ranges and the union of their other replicas.
  std::map<size_t, std::vector<const ClusterSlotRange*>> by_master;
  for (const ClusterSlotRange& r : topology.ranges) by_master[r.master].push_back(&r);
  auto replicas_of = [&](size_t master) {
    std::vector<size_t> out;
    for (const ClusterSlotRange* r : by_master[master]) {
      for (size_t i : r->replicas) {
        if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
      }
    }
    return out;
  };
  uint64_t slots_ok = 0;
  for (const ClusterSlotRange& r : topology.ranges) slots_ok += uint64_t{r.last} - r.first + 1;
  if (sub == "slots") {
    c.out.array(topology.ranges.size());
    for (const ClusterSlotRange& r : topology.ranges) {
      c.out.array(3 + r.replicas.size());
      c.out.integer(r.first);
      c.out.integer(r.last);
      write_node(topology.members[r.master]);
      for (size_t i : r.replicas) write_node(topology.members[i]);
    }
  } else if (sub == "shards") {
    c.out.array(by_master.size());
    for (auto& [master, ranges] : by_master) {
      const std::vector<size_t> replicas = replicas_of(master);
      c.out.map(2);
      c.out.bulk("slots");
      c.out.array(2 * ranges.size());
      for (const ClusterSlotRange* r : ranges) {
        c.out.integer(r->first);
        c.out.integer(r->last);
      }
      c.out.bulk("nodes");
      c.out.array(1 + replicas.size());
      auto write_shard_node = [&](const ClusterMember& m, bool is_master) {
        c.out.map(7);
        c.out.bulk("id");
        c.out.bulk(m.id);
        c.out.bulk("port");
        c.out.integer(m.address.port);
        c.out.bulk("ip");
        c.out.bulk(m.address.host);
        c.out.bulk("endpoint");
        c.out.bulk(m.address.host);
        c.out.bulk("role");
        c.out.bulk(is_master ? "master" : "replica");
        c.out.bulk("replication-offset");
        c.out.integer(0);
        c.out.bulk("health");
        c.out.bulk("online");
      };
      write_shard_node(topology.members[master], true);
      for (size_t i : replicas) write_shard_node(topology.members[i], false);
    }
  } else if (sub == "nodes") {
    std::string text;
    for (size_t i = 0; i < topology.members.size(); ++i) {
      const ClusterMember& m = topology.members[i];
      const bool master = by_master.count(i) > 0;
      // A node that leads nothing is shown as a replica of the first master
      // whose ranges it replicates.
      std::string of = "-";
      if (!master) {
        for (auto& [mi, ranges] : by_master) {
          const std::vector<size_t> replicas = replicas_of(mi);
          if (std::find(replicas.begin(), replicas.end(), i) != replicas.end()) {
            of = topology.members[mi].id;
            break;
          }
        }
      }
      std::string flags = m.self ? "myself," : "";
      flags += master ? "master" : "slave";
      if (m.failed) flags += ",fail";
      text += m.id + " " + m.address.to_string() + "@" + std::to_string(m.address.port + kClusterBusPortOffset) + " " +
              flags + " " + of + " 0 0 " + std::to_string(topology.epoch) +
              (m.failed ? " disconnected" : " connected");
      if (master) {
        for (const ClusterSlotRange* r : by_master[i]) {
          text += " " + std::to_string(r->first);
          if (r->last != r->first) text += "-" + std::to_string(r->last);
        }
      }
      text += "\n";
    }
    reply_text(c, text);
  } else if (sub == "info") {
    const bool ok = slots_ok == net::resp::kSlotCount && topology.ready;
    reply_text(c, std::string("cluster_state:") + (ok ? "ok" : "fail") +
                      "\r\ncluster_slots_assigned:" + std::to_string(slots_ok) +
                      "\r\ncluster_slots_ok:" + std::to_string(slots_ok) +
                      "\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:" +
                      std::to_string(topology.members.size()) + "\r\ncluster_size:" + std::to_string(by_master.size()) +
                      "\r\ncluster_current_epoch:" + std::to_string(topology.epoch) +
                      "\r\ncluster_my_epoch:" + std::to_string(topology.epoch) + "\r\n");
  } else if (sub == "myid") {
    if (self == nullptr) {
      reply_error(c, "ERR this node is not in the cluster topology");
    } else {
      c.out.bulk(self->id);
    }
  } else {
    reply_error(c, "ERR unknown subcommand '" + std::string(argv[1]) + "'. Try CLUSTER HELP.");
  }
}

}  // namespace keel::node
