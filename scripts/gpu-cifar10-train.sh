#!/usr/bin/env bash
# The GPU check of the whole job: train the paper's EDM multistage CIFAR-10 preset for a fixed time
# on one GPU, then keep the log and the final EMA sample grid. Run on the GPU machine from the repo root
# after ../shared/device/stage.sh ../shared/data/cifar10/data_batch_1.bin (results go to $OUT).
set -euo pipefail
OUT=${OUT:-/tmp/stagediff-out}
MINUTES=${MINUTES:-8}
PRECISION=${PRECISION:-bf16}
BATCH=${BATCH:-256}
mkdir -p "$OUT"
node dist/src/cli/main.js info | tee "$OUT/info.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/info.txt"
# Short-run settings: the LR ramp of 10M images and EMA half-life of 500k images are scaled to minutes.
node dist/src/cli/main.js train --preset cifar10-edm-multistage --data .device/extra/data_batch_1.bin \
  --run-dir /tmp/cifar-run --device cuda --set precision=$PRECISION --set training.batchSize=$BATCH \
  --set training.lrRampUpImages=20000 --set output.logEveryImages=25600 \
  --set output.snapshotEveryImages=1000000000 --set output.checkpointEveryImages=1000000000 \
  --minutes "$MINUTES" 2>&1 | tee "$OUT/train.txt"
cp /tmp/cifar-run/log.jsonl "$OUT/log.jsonl"
cp "$(ls /tmp/cifar-run/grid-*.png | tail -1)" "$OUT/grid.png"
