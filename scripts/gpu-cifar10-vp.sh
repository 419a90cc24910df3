#!/usr/bin/env bash
# Issue 18's GPU check of the paper's DPM-Solver (VP) arm: train the presets cifar10-vp-multistage and
# cifar10-vp-unified for a fixed wall-clock time each on one CIFAR-10 batch file, then sample each with
# DPM-Solver-3 at 20 network evaluations into a PNG grid. Logs and grids go to $OUT.
#
# Stage first (on the machine that sends the run), from the repo root:
#   bash ../shared/device/stage.sh ../shared/data/cifar10/data_batch_1.bin    # -> .device/extra/data_batch_1.bin
# then, on the GPU machine, from the repo root:
#   bash .device/setup.sh && bash scripts/gpu-cifar10-vp.sh
# Env: MINUTES (2), PRECISION (bf16; falls back to tf32 when a bf16 run fails), BATCH (128), LR (the preset's
# 2e-4), WARMUP (score-SDE warms up over 5000 steps, more than a 2-minute run takes; 100 here), EMA_DECAY
# (the preset's 0.9999 per step averages over ~10k steps, so a short run's EMA would still be its initial
# weights; 0.995 here), COUNT (images per grid, 64), PRESETS, DATA, EXTRA (more --set overrides), DEVICE (cuda;
# `cpu` with tiny EXTRA overrides is a dry run of the script itself).
set -uo pipefail
OUT=${OUT:-/tmp/stagediff-out}
MINUTES=${MINUTES:-2}
PRECISION=${PRECISION:-bf16}
BATCH=${BATCH:-128}
LR=${LR:-2e-4}
WARMUP=${WARMUP:-100}
EMA_DECAY=${EMA_DECAY:-0.995}
PRESETS=${PRESETS:-cifar10-vp-multistage cifar10-vp-unified}
DATA=${DATA:-.device/extra/data_batch_1.bin}
EXTRA=${EXTRA:-}
COUNT=${COUNT:-64}
DEVICE=${DEVICE:-cuda}
export STAGEDIFF_KERNEL_CACHE=${STAGEDIFF_KERNEL_CACHE:-/tmp/stagediff-kernels}
mkdir -p "$OUT"
if [ ! -f "$DATA" ]; then
  echo "no CIFAR-10 batch at $DATA: stage one with bash ../shared/device/stage.sh ../shared/data/cifar10/data_batch_1.bin" >&2
  exit 1
fi
node dist/src/cli/main.js info | tee "$OUT/info.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/info.txt"
status=0

train() { # preset run-dir precision
  node dist/src/cli/main.js train --preset "$1" --data "$DATA" --run-dir "$2" --device "$DEVICE" --set precision="$3" \
    --set training.batchSize="$BATCH" --set training.lr="$LR" --set training.warmupSteps="$WARMUP" \
    --set training.ema.decay="$EMA_DECAY" --set output.logEveryImages=$((BATCH * 25)) \
    --set output.checkpointEveryImages=1000000000 --set output.snapshotEveryImages=1000000000 $EXTRA \
    --minutes "$MINUTES"
}

for preset in $PRESETS; do
  run=/tmp/vp-runs/$preset
  used=$PRECISION
  log="$OUT/$preset-train-$used.txt"
  rm -rf "$run"
  if ! train "$preset" "$run" "$used" > "$log" 2>&1; then
    tail -5 "$log"
    [ "$used" = bf16 ] || { status=1; continue; }
    echo "$preset: the bf16 run failed (log: $(basename "$log")); training again in tf32" | tee -a "$OUT/summary.txt"
    used=tf32
    log="$OUT/$preset-train-$used.txt"
    rm -rf "$run"
    train "$preset" "$run" "$used" > "$log" 2>&1 || { tail -5 "$log"; status=1; continue; }
  fi
  # the progress bar redraws with carriage returns: keep the log lines
  tr '\r' '\n' < "$log" | grep -E 'stagediff train|img  step|done:'
  cp "$run/log.jsonl" "$OUT/$preset-log.jsonl"
  cp "$(ls "$run"/grid-*.png | tail -1)" "$OUT/$preset-heun.png"
  node dist/src/cli/main.js sample --checkpoint "$run" --sampler dpm-solver --order 3 --steps 20 --count "$COUNT" --seed 0 \
    --device "$DEVICE" --precision "$used" --out "$OUT/$preset-dpm-solver-3-20.png" 2>&1 | tee "$OUT/$preset-sample.txt" || status=1
  echo "$preset: trained in $used; last log line $(tail -1 "$run/log.jsonl")" | tee -a "$OUT/summary.txt"
done
exit $status
