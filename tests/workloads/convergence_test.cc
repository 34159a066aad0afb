#include "workloads/convergence.h"

#include <catch2/catch.hpp>

using keel::core::LogIndex;
using namespace keel::workloads;

TEST_CASE("convergence: replicas with equal index and digest pass", "[workloads][unit]") {
  std::vector<ReplicaDigest> replicas = {
      {"n1", LogIndex(42), 0xabc}, {"n2", LogIndex(42), 0xabc}, {"n3", LogIndex(42), 0xabc}};
  ConvergenceResult result = check_convergence("g0", replicas);
  REQUIRE(result.verdict == Verdict::kPass);
  REQUIRE(result.report.empty());
  REQUIRE(check_convergence("g0", {}).verdict == Verdict::kPass);
}

TEST_CASE("convergence: different digests at one applied index fail and name the replicas",
          "[workloads][unit]") {
  std::vector<ReplicaDigest> replicas = {
      {"n1", LogIndex(42), 0x1}, {"n2", LogIndex(42), 0x2}, {"n3", LogIndex(42), 0x1}};
  ConvergenceResult result = check_convergence("p3", replicas);
  INFO(result.report);
  REQUIRE(result.verdict == Verdict::kFail);
  REQUIRE(result.report.find("group p3: at applied index 42 replicas disagree: "
                             "{n1, n3} digest 0x0000000000000001, {n2} digest 0x0000000000000002") !=
          std::string::npos);
}

TEST_CASE("convergence: replicas at different applied indexes fail only when required",
          "[workloads][unit]") {
  std::vector<ReplicaDigest> replicas = {
      {"n1", LogIndex(42), 0x1}, {"n2", LogIndex(40), 0x9}, {"n3", LogIndex(42), 0x1}};
  ConvergenceResult strict = check_convergence("g0", replicas);
  REQUIRE(strict.verdict == Verdict::kFail);
  REQUIRE(strict.report.find("{n2} at 40, {n1, n3} at 42") != std::string::npos);
  ConvergenceOptions lax;
  lax.require_equal_applied = false;
  REQUIRE(check_convergence("g0", replicas, lax).verdict == Verdict::kPass);
  replicas.push_back({"n4", LogIndex(40), 0x8});
  REQUIRE(check_convergence("g0", replicas, lax).verdict == Verdict::kFail);
}
