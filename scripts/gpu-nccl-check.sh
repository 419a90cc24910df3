#!/usr/bin/env bash
# Issue 12's GPU check of training on several GPUs, on a machine with one GPU: the NCCL path with one rank
# (the test, then `train --gpus 1`, which runs the launcher, the rendezvous and NCCL end to end). Run from
# the repo root after the build; results go to $OUT. With more GPUs, GPUS=N trains on N of them.
set -euo pipefail
OUT=${OUT:-/tmp/stagediff-out}
GPUS=${GPUS:-1}
mkdir -p "$OUT"
node dist/src/cli/main.js info | tee "$OUT/info.txt"
node --test dist/test/distributed/nccl.test.js 2>&1 | tee "$OUT/nccl-test.txt"
rm -rf /tmp/nccl-run
node dist/src/cli/main.js train --gpus "$GPUS" --preset quickstart --device cuda --run-dir /tmp/nccl-run \
  --images 20480 --set output.snapshotEveryImages=1000000000 2>&1 | tee "$OUT/train-gpus.txt"
cp /tmp/nccl-run/log.jsonl "$OUT/"
