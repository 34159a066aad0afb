#include "net/resp/command.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using keel::core::Code;
using keel::net::resp::arity_ok;
using keel::net::resp::Argv;
using keel::net::resp::command_table;
using keel::net::resp::crc16;
using keel::net::resp::find_command;
using keel::net::resp::kCommandConnection;
using keel::net::resp::kCommandNoAuth;
using keel::net::resp::kCommandReadonly;
using keel::net::resp::kCommandWrite;
using keel::net::resp::key_positions;
using keel::net::resp::key_slot;
using keel::net::resp::resolve_command;
using keel::net::resp::unknown_command_error;
using keel::net::resp::wrong_arity_error;

TEST_CASE("command table: lookup is case-insensitive and covers every command", "[resp][unit]") {
  for (std::string name : {"PING", "ECHO", "GET", "SET", "DEL", "EXISTS", "INCR", "INCRBY", "DECR", "DECRBY",
                           "MGET", "MSET", "APPEND", "STRLEN", "DBSIZE", "SELECT", "CLIENT", "COMMAND", "AUTH",
                           "QUIT", "HELLO", "INFO", "CLUSTER", "READONLY", "READWRITE"}) {
    INFO(name);
    const auto* spec = find_command(name);
    REQUIRE(spec != nullptr);
    std::string lower;
    for (char c : name) lower.push_back(static_cast<char>(c - 'A' + 'a'));
    REQUIRE(spec->name == lower);
  }
  REQUIRE(command_table().size() == 25);
  REQUIRE(find_command("gEt") == find_command("GET"));
  REQUIRE(find_command("gets") == nullptr);
  REQUIRE(find_command("ge") == nullptr);
  REQUIRE(find_command("") == nullptr);
  // Table order is alphabetical, so COMMAND output is stable.
  for (size_t i = 1; i < command_table().size(); ++i) {
    REQUIRE(command_table()[i - 1].name < command_table()[i].name);
  }
}

TEST_CASE("command table: flags say what a command may do", "[resp][unit]") {
  REQUIRE(find_command("set")->has_flag(kCommandWrite));
  REQUIRE_FALSE(find_command("set")->has_flag(kCommandReadonly));
  REQUIRE(find_command("mget")->has_flag(kCommandReadonly));
  REQUIRE(find_command("incrby")->has_flag(kCommandWrite));
  REQUIRE(find_command("auth")->has_flag(kCommandNoAuth));
  REQUIRE_FALSE(find_command("get")->has_flag(kCommandNoAuth));
  REQUIRE(find_command("readonly")->has_flag(kCommandConnection));
}

TEST_CASE("command table: arity follows Redis' convention", "[resp][unit]") {
  const auto& get = *find_command("get");
  REQUIRE_FALSE(arity_ok(get, 1));
  REQUIRE(arity_ok(get, 2));
  REQUIRE_FALSE(arity_ok(get, 3));
  const auto& set = *find_command("set");
  REQUIRE_FALSE(arity_ok(set, 2));
  REQUIRE(arity_ok(set, 3));
  REQUIRE(arity_ok(set, 6));
  REQUIRE(arity_ok(*find_command("ping"), 1));
  REQUIRE(arity_ok(*find_command("ping"), 2));
  REQUIRE(arity_ok(*find_command("dbsize"), 1));
  REQUIRE_FALSE(arity_ok(*find_command("dbsize"), 2));
}

TEST_CASE("command table: error texts match redis-server", "[resp][unit]") {
  REQUIRE(wrong_arity_error("get") == "ERR wrong number of arguments for 'get' command");
  REQUIRE(unknown_command_error(Argv{"foo"}) == "ERR unknown command 'foo', with args beginning with: ");
  REQUIRE(unknown_command_error(Argv{"foo", "a", "b c"}) ==
          "ERR unknown command 'foo', with args beginning with: 'a' 'b c' ");
  // Long input is cut at 128 bytes, as Redis cuts it.
  std::string long_arg(200, 'x');
  std::string text = unknown_command_error(Argv{std::string(200, 'n'), long_arg, "next"});
  REQUIRE(text == "ERR unknown command '" + std::string(128, 'n') + "', with args beginning with: '" +
                      std::string(128, 'x') + "' ");

  auto unknown = resolve_command(Argv{"nope", "1"});
  REQUIRE_FALSE(unknown.is_ok());
  REQUIRE(unknown.status().code() == Code::kInvalidArgument);
  REQUIRE(unknown.status().message() == "ERR unknown command 'nope', with args beginning with: '1' ");
  auto arity = resolve_command(Argv{"GET"});
  REQUIRE(arity.status().message() == "ERR wrong number of arguments for 'get' command");
  auto fine = resolve_command(Argv{"Get", "k"});
  REQUIRE(fine.is_ok());
  REQUIRE((*fine)->name == "get");
}

TEST_CASE("command table: key positions", "[resp][unit]") {
  REQUIRE(key_positions(*find_command("get"), 2) == std::vector<size_t>{1});
  REQUIRE(key_positions(*find_command("set"), 5) == std::vector<size_t>{1});
  REQUIRE(key_positions(*find_command("del"), 4) == std::vector<size_t>{1, 2, 3});
  REQUIRE(key_positions(*find_command("mget"), 2) == std::vector<size_t>{1});
  REQUIRE(key_positions(*find_command("mset"), 5) == std::vector<size_t>{1, 3});
  REQUIRE(key_positions(*find_command("ping"), 2).empty());
  REQUIRE(key_positions(*find_command("cluster"), 3).empty());
}

TEST_CASE("cluster slots: CRC16/XMODEM and Redis' key slots", "[resp][unit]") {
  REQUIRE(crc16("123456789") == 0x31c3);
  REQUIRE(crc16("") == 0);
  REQUIRE(key_slot("foo") == 12182);
  REQUIRE(key_slot("bar") == 5061);
  REQUIRE(key_slot("hello") == 866);
  REQUIRE(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
  REQUIRE(key_slot("{user1000}.following") == key_slot("user1000"));
  REQUIRE(key_slot("{user1000}.following") == 3443);
  // Rules from the Redis Cluster specification.
  REQUIRE(key_slot("foo{}{bar}") == crc16("foo{}{bar}") % 16384);  // empty tag: whole key
  REQUIRE(key_slot("foo{{bar}}zap") == key_slot("{bar"));           // tag is "{bar"
  REQUIRE(key_slot("foo{bar}{zap}") == key_slot("bar"));            // first tag wins
  REQUIRE(key_slot("foo{bar") == crc16("foo{bar") % 16384);         // no closing brace
  // Keys spread over (nearly) all slots, and never beyond them.
  std::vector<bool> hit(16384, false);
  size_t distinct = 0;
  for (int i = 0; i < 100000; ++i) {
    auto slot = key_slot("key:" + std::to_string(i));
    REQUIRE(slot < 16384);
    if (!hit[slot]) ++distinct;
    hit[slot] = true;
  }
  REQUIRE(distinct > 16000);
}
