#!/usr/bin/env python3
"""Checks a keel-sim sweep of a control workload (isr-acks1) read on stdin.

A control is a workload in which a checker is EXPECTED to fire on some
seeds: acks=1 acknowledges a write after the leader's own fsync, so a
failover can lose it. The sweep passes when at least one seed lost an
acknowledged write (the durability checker sees loss) and no seed failed
for any other reason (the protocol invariants hold in a control too).
"""
import json
import sys

lost = 0
other = []
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("FAIL seed"):
        continue
    record = json.loads(line.split(": ", 1)[1])
    violations = record.get("violations", [])
    if violations and all(v.startswith("C2 durability") for v in violations):
        lost += 1
    else:
        other.append((record.get("seed"), violations))

for seed, violations in other:
    print(f"control: seed {seed} failed for another reason: {violations[:2]}", file=sys.stderr)
if lost == 0:
    print("control: no seed lost an acknowledged write; the durability checker proved nothing", file=sys.stderr)
if other or lost == 0:
    sys.exit(1)
print(f"control: {lost} seeds lost acknowledged writes, as acks=1 allows; nothing else failed")
