#include "workloads/convergence.h"

#include <cstdio>
#include <map>

namespace keel::workloads {

namespace {

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string join(const std::vector<std::string>& names) {
  std::string s = "{";
  for (size_t i = 0; i < names.size(); ++i) s += (i == 0 ? "" : ", ") + names[i];
  return s + "}";
}

}  // namespace

ConvergenceResult check_convergence(const std::string& group,
                                    const std::vector<ReplicaDigest>& replicas,
                                    const ConvergenceOptions& options) {
  ConvergenceResult result;
  // applied index -> digest -> replica names; ordered maps keep reports stable.
  std::map<core::LogIndex, std::map<uint64_t, std::vector<std::string>>> by_index;
  for (const ReplicaDigest& r : replicas) by_index[r.applied][r.digest].push_back(r.replica);

  for (const auto& [index, digests] : by_index) {
    if (digests.size() <= 1) continue;
    result.verdict = Verdict::kFail;
    result.report += "group " + group + ": at applied index " + index.to_string() +
                     " replicas disagree:";
    bool first = true;
    for (const auto& [digest, names] : digests) {
      result.report += std::string(first ? " " : ", ") + join(names) + " digest " + hex(digest);
      first = false;
    }
    result.report += "\n";
  }
  if (options.require_equal_applied && by_index.size() > 1) {
    result.verdict = Verdict::kFail;
    result.report += "group " + group + ": replicas stopped at different applied indexes:";
    bool first = true;
    for (const auto& [index, digests] : by_index) {
      std::vector<std::string> names;
      for (const auto& [digest, n] : digests) names.insert(names.end(), n.begin(), n.end());
      result.report += std::string(first ? " " : ", ") + join(names) + " at " + index.to_string();
      first = false;
    }
    result.report += "\n";
  }
  return result;
}

}  // namespace keel::workloads
