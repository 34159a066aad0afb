// Trace diff: the first event at which two keel-sim traces part
// (`keel-sim --diff A.jsonl B.jsonl`), for finding where two runs of one
// seed stopped being the same run (a determinism bug, or the effect of a
// code change).
//
// A trace (`keel-sim --trace FILE`, core/trace.h) is JSON lines of two
// kinds: events {"t_ns":…,"src":"…","ev":"…",fields…}, which are hashed into
// the run's digest, and log lines {"t_ns":…,"src":"…","level":"…","msg":"…"},
// which are not. Only events are compared, in order; two event lines are the
// same event when their text is equal (the text holds exactly what is
// hashed: time, source, kind and every field with its value).
//
// A trace's first line must be the run.start event (seed, workload). Two
// traces whose run.start lines differ are of different runs: an error, not a
// difference. The files are streamed, so traces of any length can be
// compared; only a few events of context are kept.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace keel::sim {

struct TraceDiff {
  // Events compared before the first difference (or in all, when identical).
  uint64_t events_compared = 0;
  bool identical = true;
  // For a difference, the 1-based event number and each file's line number
  // of it (0 when that file has no such event: it ended first).
  uint64_t event = 0;
  uint64_t line_a = 0;
  uint64_t line_b = 0;
  // A readable report: identical (with the event count), or the first
  // differing event of each file with kTraceDiffContext events of context
  // before and after it from both files.
  std::string report;
};

inline constexpr int kTraceDiffContext = 3;

// Compares the traces at `path_a` and `path_b`. Errors (InvalidArgument or
// NotFound, with a message naming the file and line): a file that is
// missing or unreadable, empty, not a keel trace (its first line is not a
// run.start event, or a line is not a trace event or log line), or traces of
// different runs ("traces of different runs: seed 1 workload register vs
// seed 2 workload register").
core::Result<TraceDiff> diff_trace_files(const std::string& path_a, const std::string& path_b);

// The same for a command line: returns the exit code of `keel-sim --diff`
// (0 identical, 1 different, 2 error) and sets `*report` to what to print
// (the report, or "keel-sim: " and the error).
int diff_traces(const std::string& path_a, const std::string& path_b, std::string* report);

}  // namespace keel::sim
