#!/usr/bin/env bash
# Measures the simulator against the mutant catalog in tests/mutants/: each
# mutant (a small realistic bug, as a patch) is applied to a scratch copy of
# the tree, keel-sim is rebuilt, and the workloads are swept seed by seed
# until a checker catches the mutant or the seed budget runs out.
#
#   ci/mutants.sh                      every mutant, 1000 seeds per configuration
#   ci/mutants.sh 05 vote-quorum-off-by-one tests/mutants/07-x.patch
#                                      only these (NN, name, file name or path)
#   ci/mutants.sh --check              apply each mutant and compile only the
#                                      object files it touches (no link, no
#                                      simulation); non-zero if one fails
#   ci/mutants.sh --baseline ...       also sweep every seed of the unmutated
#                                      tree first; seeds failing there are
#                                      reported and not counted for mutants
#
# Options:
#   --seeds N        seeds per configuration at most (default 1000)
#   --jobs J         parallel simulations and compile jobs (default: cores)
#   --configs LIST   workload[:nodes],... swept in order
#                    (default isr-register:3,isr-driver:3,cluster-unique-writes:3,cluster-register:3,register:3,counter:3,unique-writes:3,register:5,demo)
#   --out FILE       the markdown report (default <work>/report.md)
#   --work DIR       scratch directory (default /tmp/keel-mutants)
#   --keep           leave the scratch copy (<work>/src, with its build/) behind
#
# The scratch copy holds the files git lists in the tree, tracked or not
# ignored, as they are on disk now (uncommitted changes included); nothing in
# the tree itself is touched. Seeds run in growing chunks (1..10, 11..50,
# 51..200, 201..1000, then doubling); a mutant is caught by the lowest
# failing seed of the first chunk that fails. Exit status: non-zero when a
# mutant does not apply or does not build (or, with --check, compile), when
# a sweep cannot run, or when the unmutated tree fails (--baseline); uncaught
# mutants are a measurement, not a failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=/tmp/keel-mutants
SEEDS=1000
JOBS=$(nproc)
CONFIGS="isr-register:3,isr-driver:3,cluster-unique-writes:3,cluster-register:3,register:3,counter:3,unique-writes:3,register:5,demo"
OUT=""
KEEP=0
CHECK=0
BASELINE=0
SEED_TIMEOUT=120
SELECTED=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --check) CHECK=1 ;;
    --baseline) BASELINE=1 ;;
    --keep) KEEP=1 ;;
    --seeds) SEEDS=$2; shift ;;
    --seeds=*) SEEDS=${1#*=} ;;
    --jobs) JOBS=$2; shift ;;
    --jobs=*) JOBS=${1#*=} ;;
    --configs) CONFIGS=$2; shift ;;
    --configs=*) CONFIGS=${1#*=} ;;
    --out) OUT=$2; shift ;;
    --out=*) OUT=${1#*=} ;;
    --work) WORK=$2; shift ;;
    --work=*) WORK=${1#*=} ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "mutants.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) SELECTED+=("$1") ;;
  esac
  shift
done
[[ "$SEEDS" =~ ^[1-9][0-9]*$ ]] || { echo "mutants.sh: --seeds takes a positive number" >&2; exit 2; }
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "mutants.sh: --jobs takes a positive number" >&2; exit 2; }
OUT=${OUT:-$WORK/report.md}
WORK=$(mkdir -p "$WORK" && cd "$WORK" && pwd)
SRC=$WORK/src
PRISTINE=$WORK/pristine
BUILD=$SRC/build
LOGS=$WORK/logs
SIM=$BUILD/cmd/keel-sim

# As ci/test.sh: paths are hashed relative to the source root, so this copy
# reuses what the tree's own builds compiled.
export CCACHE_BASEDIR=$SRC
export CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

log() { printf '%s\n' "$*" >&2; }

# --- the mutants --------------------------------------------------------------

ALL_MUTANTS=()
for p in "$ROOT"/tests/mutants/*.patch; do
  [[ -e "$p" ]] && ALL_MUTANTS+=("$p")
done
MUTANTS=()
if [[ ${#SELECTED[@]} -eq 0 ]]; then
  MUTANTS=("${ALL_MUTANTS[@]}")
else
  for s in "${SELECTED[@]}"; do
    if [[ -f "$s" ]]; then
      MUTANTS+=("$(cd "$(dirname "$s")" && pwd)/$(basename "$s")")
      continue
    fi
    s=${s%.patch}
    matches=()
    for p in "${ALL_MUTANTS[@]}"; do
      b=$(basename "$p" .patch)
      if [[ "$b" == "$s" || "$b" == "$s"-* || "${b#[0-9][0-9]-}" == "$s" ]]; then matches+=("$p"); fi
    done
    if [[ ${#matches[@]} -ne 1 ]]; then
      echo "mutants.sh: '$s' names ${#matches[@]} mutants in tests/mutants/" >&2
      exit 2
    fi
    MUTANTS+=("${matches[0]}")
  done
fi
if [[ ${#MUTANTS[@]} -eq 0 && $BASELINE -eq 0 ]]; then
  echo "mutants.sh: no mutants in $ROOT/tests/mutants" >&2
  exit 2
fi
# Patches are read from a private copy: the tree may change during a run.
mkdir -p "$WORK/patches"
rm -f "$WORK"/patches/*.patch
for i in "${!MUTANTS[@]}"; do
  cp "${MUTANTS[$i]}" "$WORK/patches/"
  MUTANTS[i]=$WORK/patches/$(basename "${MUTANTS[$i]}")
done

# --- the scratch copy ---------------------------------------------------------

# Copies the files git lists (tracked, and untracked but not ignored) as they
# are on disk. Extracted with fresh mtimes (-m), so that ninja rebuilds
# anything an earlier run left compiled from a mutant.
copy_tree() {
  local dest=$1
  mkdir -p "$dest"
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -f "$f" ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xmf - -C "$dest"
}

prepare() {
  log "==> scratch copy of $ROOT in $SRC"
  rm -rf "$PRISTINE" "$LOGS"
  mkdir -p "$LOGS"
  copy_tree "$PRISTINE"
  # The source copy is refreshed file by file; its build/ is kept between
  # runs (ninja rebuilds what changed, ccache the rest).
  if [[ -d "$SRC" ]]; then
    find "$SRC" -mindepth 1 -maxdepth 1 ! -name build ! -name .git -exec rm -rf {} +
  fi
  mkdir -p "$SRC"
  (cd "$PRISTINE" && tar -cf - .) | tar -xmf - -C "$SRC"
  # Its own repository, so that git apply resolves paths against it even
  # when the scratch directory lies inside another checkout.
  [[ -d "$SRC/.git" ]] || git -C "$SRC" init -q
  log "==> configure $BUILD"
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$LOGS/cmake.log" 2>&1 || {
    tail -n 30 "$LOGS/cmake.log" >&2
    echo "mutants.sh: cmake failed on the unmutated copy" >&2
    exit 1
  }
}

cleanup() {
  if [[ $KEEP -eq 0 ]]; then
    rm -rf "$SRC" "$PRISTINE"
  else
    log "scratch copy kept in $SRC"
  fi
}

# Files a patch touches (both sides of each diff --git line).
patch_files() {
  (cd "$SRC" && git apply --numstat "$1" | cut -f3-)
}

# Puts back the pristine version of each file (fresh mtime, so ninja sees it).
RESTORE=()
restore() {
  local f
  for f in "${RESTORE[@]}"; do
    if [[ -f "$PRISTINE/$f" ]]; then
      cp "$PRISTINE/$f" "$SRC/$f"
    else
      rm -f "$SRC/$f"
    fi
  done
  RESTORE=()
}

# Applies a mutant; returns non-zero (leaving the sources pristine) if it
# does not apply.
apply_mutant() {
  local patch=$1 log=$2
  mapfile -t RESTORE < <(patch_files "$patch" 2>/dev/null || true)
  if ! (cd "$SRC" && git apply --check "$patch" && git apply "$patch") >"$log" 2>&1; then
    restore
    return 1
  fi
}

# --- sweeping -----------------------------------------------------------------

# Chunk ends: 10, 50, 200, 1000, then doubling, capped at the budget.
chunk_ends() {
  local e
  for e in 10 50 200 1000; do
    [[ $e -lt $SEEDS ]] && echo "$e"
  done
  e=2000
  while [[ $e -lt $SEEDS ]]; do echo "$e"; e=$((e * 2)); done
  echo "$SEEDS"
}

# Reads keel-sim --json lines, ignoring failures of the seeds given after
# the file. Prints "<results> <lowest failing seed or ->", that seed's first
# violation, and every failing seed (ignored ones included).
parse_sweep() {
  python3 - "$@" <<'EOF'
import json, sys
ignored = {int(s) for s in sys.argv[2:]}
results, failing, every = 0, [], []
for line in open(sys.argv[1], errors="replace"):
    line = line.strip()
    if not line.startswith("{"):
        continue
    try:
        r = json.loads(line)
    except ValueError:
        continue
    results += 1
    if r.get("result") != "pass":
        v = r.get("violations") or ["result: %s" % r.get("result")]
        every.append(int(r["seed"]))
        if int(r["seed"]) not in ignored:
            failing.append((int(r["seed"]), str(v[0])))
failing.sort()
print(results, failing[0][0] if failing else "-")
print(" ".join(failing[0][1].split()) if failing else "")
print(" ".join(str(s) for s in sorted(every)))
EOF
}

config_args() {
  local workload=${1%%:*} nodes=""
  [[ "$1" == *:* ]] && nodes=${1#*:}
  printf '%s\n' --workload "$workload"
  [[ -n "$nodes" ]] && printf '%s\n' --nodes "$nodes"
  return 0
}

config_label() {
  local workload=${1%%:*}
  if [[ "$1" == *:* ]]; then echo "$workload --nodes ${1#*:}"; else echo "$workload"; fi
}

# Seeds at which the unmutated tree fails, per configuration (--baseline):
# a mutant's failure at one of them is no evidence, so it is ignored.
declare -A BASE_FAILS=()

# Sweeps the configurations with the current build. Sets CAUGHT_SEED,
# CAUGHT_CONFIG, CAUGHT_VIOLATION (empty if nothing failed) and SEEDS_RUN.
# With "all" as second argument (the baseline) every seed of every
# configuration runs and the failing ones are recorded in BASE_FAILS;
# otherwise the sweep stops at the first chunk with a failure.
# Returns non-zero if keel-sim could not run a sweep.
sweep() {
  local name=$1 mode=${2:-stop} cfg from to args n out parsed results seed violation every
  local -a cfgs ignored
  CAUGHT_SEED="" CAUGHT_CONFIG="" CAUGHT_VIOLATION="" SEEDS_RUN=0
  IFS=',' read -r -a cfgs <<<"$CONFIGS"
  for cfg in "${cfgs[@]}"; do
    mapfile -t args < <(config_args "$cfg")
    read -r -a ignored <<<"${BASE_FAILS[$cfg]:-}"
    from=1
    for to in $(chunk_ends); do
      out=$LOGS/$name.$(config_label "$cfg" | tr ' ' '_').$from-$to.jsonl
      "$SIM" "${args[@]}" --seeds "$from..$to" --jobs "$JOBS" --json --seed-timeout "$SEED_TIMEOUT" \
        >"$out" 2>"$out.stderr" || true
      parsed=$(parse_sweep "$out" "${ignored[@]}")
      read -r results seed <<<"$(sed -n 1p <<<"$parsed")"
      violation=$(sed -n 2p <<<"$parsed")
      every=$(sed -n 3p <<<"$parsed")
      n=$((to - from + 1))
      SEEDS_RUN=$((SEEDS_RUN + results))
      if [[ $results -ne $n ]]; then
        log "    keel-sim reported $results of $n seeds ($cfg $from..$to); see $out.stderr"
        tail -n 5 "$out.stderr" >&2 || true
        return 1
      fi
      if [[ "$mode" == all && -n "$every" ]]; then
        BASE_FAILS[$cfg]="${BASE_FAILS[$cfg]:-} $every"
      fi
      if [[ "$seed" != "-" && -z "$CAUGHT_SEED" ]]; then
        CAUGHT_SEED=$seed
        CAUGHT_CONFIG=$(config_label "$cfg")
        CAUGHT_VIOLATION=$violation
        if [[ "$violation" == crashed:* ]]; then
          # The sweep only knows the signal; the seed run alone names the assertion.
          local why
          why=$(timeout $((SEED_TIMEOUT + 10)) "$SIM" "${args[@]}" --seed "$seed" 2>&1 >/dev/null |
                grep -m1 -E 'KEEL_ASSERT|terminate|Sanitizer' || true)
          [[ -n "$why" ]] && CAUGHT_VIOLATION="$violation: $why"
        fi
        [[ "$mode" == all ]] || return 0
      fi
      from=$((to + 1))
    done
  done
}

# --- report -------------------------------------------------------------------

ROWS=()
REPROS=()
BASE_NOTES=()
CAUGHT=0
TOTAL=0
FAILED=0

md() { local s=${1//|/\\|}; printf '%s' "$s"; }

add_row() {  # name status seed config violation seeds
  ROWS+=("| $(md "$1") | $(md "$2") | $3 | $(md "$4") | $(md "${5:0:80}") | $6 |")
}

write_report() {
  local pct=0
  [[ $TOTAL -gt 0 ]] && pct=$(awk -v c="$CAUGHT" -v t="$TOTAL" 'BEGIN { printf "%.1f", 100 * c / t }')
  mkdir -p "$(dirname "$OUT")"
  {
    echo "# Mutants vs keel-sim"
    echo
    echo "Tree: $ROOT ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
      [[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]] && echo ', with uncommitted changes')),"
    echo "up to $SEEDS seeds of each of: $CONFIGS; $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    echo "| mutant | caught | first failing seed | configuration | violation | seeds run |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "caught $CAUGHT of $TOTAL ($pct %)"
    if [[ ${#BASE_NOTES[@]} -gt 0 ]]; then
      echo
      echo "The unmutated tree fails too; a mutant failing only at these seeds is not counted as caught:"
      echo
      printf -- '- %s\n' "${BASE_NOTES[@]}"
    fi
    if [[ ${#REPROS[@]} -gt 0 ]]; then
      echo
      echo "Reproduce (from the repository root, on a copy):"
      echo
      printf '    %s\n' "${REPROS[@]}"
    fi
  } >"$OUT"
  echo
  cat "$OUT"
}

# --- modes --------------------------------------------------------------------

# The ninja targets of the object files compiled from source file $1.
object_targets() {
  local f=$1 base t
  base=$(basename "$f")
  while IFS= read -r t; do
    # (grep reads everything: with pipefail, an early exit would fail the pipe)
    if ninja -C "$BUILD" -t query "$t" 2>/dev/null | grep -xF "    $SRC/$f" >/dev/null; then echo "$t"; fi
  done < <(ninja -C "$BUILD" -t targets all | sed -n 's/^\(.*\/'"${base//./\\.}"'\.o\): .*/\1/p')
}

run_check() {
  local start=$SECONDS patch name f targets status
  prepare
  trap cleanup EXIT
  for patch in "${MUTANTS[@]}"; do
    name=$(basename "$patch" .patch)
    restore
    if ! apply_mutant "$patch" "$LOGS/$name.apply.log"; then
      log "FAIL $name: does not apply"; sed 's/^/    /' "$LOGS/$name.apply.log" >&2
      FAILED=$((FAILED + 1)); continue
    fi
    targets=()
    status="compiles"
    for f in "${RESTORE[@]}"; do
      case "$f" in
        *.h|*.hpp) continue ;;  # compiled through the sources that include them
      esac
      mapfile -t objs < <(object_targets "$f")
      if [[ ${#objs[@]} -eq 0 ]]; then status="no object file for $f"; break; fi
      targets+=("${objs[@]}")
    done
    if [[ "$status" == compiles && ${#targets[@]} -gt 0 ]]; then
      if ! ninja -C "$BUILD" -j "$JOBS" "${targets[@]}" >"$LOGS/$name.build.log" 2>&1; then
        status="does not compile"
      fi
    fi
    if [[ "$status" != compiles ]]; then
      log "FAIL $name: $status"
      grep -E 'error|warning' "$LOGS/$name.build.log" 2>/dev/null | head -n 10 | sed 's/^/    /' >&2 || true
      FAILED=$((FAILED + 1))
    else
      log "ok   $name (${targets[*]##*/})"
    fi
  done
  restore
  log "checked ${#MUTANTS[@]} mutants in $((SECONDS - start)) s: $FAILED failed"
  [[ $FAILED -eq 0 ]]
}

run_full() {
  local start=$SECONDS patch name t0 rel
  prepare
  trap cleanup EXIT
  log "==> build keel-sim (unmutated)"
  if ! ninja -C "$BUILD" -j "$JOBS" keel-sim >"$LOGS/unmutated.build.log" 2>&1; then
    tail -n 30 "$LOGS/unmutated.build.log" >&2
    echo "mutants.sh: the unmutated tree does not build" >&2
    exit 1
  fi
  if [[ $BASELINE -eq 1 ]]; then
    log "==> baseline: the unmutated tree, every seed"
    if ! sweep unmutated all; then FAILED=$((FAILED + 1)); fi
    if [[ ${#BASE_FAILS[@]} -gt 0 ]]; then
      # A real bug, or a checker's false alarm: either way CI must look at it.
      FAILED=$((FAILED + 1))
      add_row "(none: unmutated tree)" "FAILS" "$CAUGHT_SEED" "$CAUGHT_CONFIG" "$CAUGHT_VIOLATION" "$SEEDS_RUN"
      local cfg
      for cfg in "${!BASE_FAILS[@]}"; do
        BASE_NOTES+=("$(config_label "$cfg"): seeds$(tr -s ' ' <<<"${BASE_FAILS[$cfg]}")")
      done
      REPROS+=("build/cmd/keel-sim --workload $CAUGHT_CONFIG --seed $CAUGHT_SEED   # unmutated tree")
      log "    the unmutated tree FAILS: seed $CAUGHT_SEED ($CAUGHT_CONFIG): ${CAUGHT_VIOLATION:0:160}"
      log "    failing seeds (ignored for the mutants): ${BASE_NOTES[*]}"
    else
      add_row "(none: unmutated tree)" "passes" "-" "-" "" "$SEEDS_RUN"
    fi
  fi
  for patch in "${MUTANTS[@]}"; do
    name=$(basename "$patch" .patch)
    t0=$SECONDS
    TOTAL=$((TOTAL + 1))
    restore
    log "==> $name"
    if ! apply_mutant "$patch" "$LOGS/$name.apply.log"; then
      log "    does not apply"; sed 's/^/    /' "$LOGS/$name.apply.log" >&2
      add_row "$name" "does not apply" "-" "-" "" 0
      FAILED=$((FAILED + 1)); continue
    fi
    if ! ninja -C "$BUILD" -j "$JOBS" keel-sim >"$LOGS/$name.build.log" 2>&1; then
      log "    does not build"; grep -E 'error' "$LOGS/$name.build.log" | head -n 10 | sed 's/^/    /' >&2 || true
      add_row "$name" "does not build" "-" "-" "" 0
      FAILED=$((FAILED + 1)); continue
    fi
    if ! sweep "$name"; then
      add_row "$name" "sweep failed" "-" "-" "" "$SEEDS_RUN"
      FAILED=$((FAILED + 1)); continue
    fi
    if [[ -n "$CAUGHT_SEED" ]]; then
      CAUGHT=$((CAUGHT + 1))
      add_row "$name" "caught" "$CAUGHT_SEED" "$CAUGHT_CONFIG" "$CAUGHT_VIOLATION" "$SEEDS_RUN"
      rel=tests/mutants/$(basename "$patch")
      REPROS+=("git apply $rel && build/cmd/keel-sim --workload $CAUGHT_CONFIG --seed $CAUGHT_SEED")
      log "    caught by seed $CAUGHT_SEED ($CAUGHT_CONFIG) after $SEEDS_RUN seeds, $((SECONDS - t0)) s: ${CAUGHT_VIOLATION:0:100}"
    else
      add_row "$name" "no" "-" "-" "" "$SEEDS_RUN"
      log "    not caught in $SEEDS_RUN seeds, $((SECONDS - t0)) s"
    fi
  done
  restore
  write_report
  log "$((SECONDS - start)) s in all; report in $OUT"
  [[ $FAILED -eq 0 ]]
}

if [[ $CHECK -eq 1 ]]; then
  run_check
else
  run_full
fi
