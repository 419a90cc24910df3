#!/usr/bin/env bash
# The GPU check of the paper's DPM-Solver (VP) arm, in one call of under 10 minutes: train the presets
# cifar10-vp-multistage and cifar10-vp-unified for MINUTES each on one CIFAR-10 batch file with a short-run
# recipe (below), then for each: a DPM-Solver-3 grid at 20 network evaluations from the EMA weights and one
# from the raw weights (the same noise), and FD_featnet over FD_COUNT DPM-Solver-3 samples. Sampling the
# multistage run reads its checkpoint of about 3.9 GB (network, EMA and Adam moments; files over 2 GiB are
# read in pieces). Every step writes to $OUT as it finishes, so a call cut short still returns what it did.
#
# Stage first (on the machine that sends the run), from the repo root:
#   bash ../shared/device/stage.sh ../shared/data/cifar10/data_batch_1.bin    # -> .device/extra/data_batch_1.bin
# then, on the GPU machine, from the repo root:
#   bash .device/setup.sh && bash scripts/gpu-cifar10-vp.sh
#
# The short-run recipe (docs/training.md, "The DPM-Solver (VP) arm", says why) overrides the presets, which
# keep the paper's schedule (lr 2e-4 warmed up over 5000 steps, EMA 0.9999 per step, dropout 0.1, 450k
# steps), none of which a 2-minute run (~400-600 steps) can use:
# Env: MINUTES (2), PRECISION (bf16; falls back to tf32 when a bf16 run fails), BATCH (32: a step of these
# networks costs about the same from batch 32 to 128 on an H200, so a small batch buys steps), LR (peak
# learning rate, 1e-3), WARMUP (steps of linear warm-up, 25), EMA_HALFLIFE (EMA half-life in images, 10000, at most
# EMA_RAMP = 0.05 of the images seen), DROPOUT (0), SHARES (multistage: `balanced` stage sampling, every
# decoder trains every step, with these shares of each batch; the paper's `uniform` trains one stage per
# batch), COUNT (images per grid, 64), FD_COUNT (samples for FD_featnet, 2000; 0 = none), FEATNET_EPOCHS (10),
# PRESETS, DATA, EXTRA (more --set overrides), DEVICE (cuda; `cpu` with tiny EXTRA overrides, one preset at a
# time, is a dry run of the script).
set -uo pipefail
OUT=${OUT:-/tmp/stagediff-out}
MINUTES=${MINUTES:-2}
PRECISION=${PRECISION:-bf16}
BATCH=${BATCH:-32}
LR=${LR:-1e-3}
WARMUP=${WARMUP:-25}
EMA_HALFLIFE=${EMA_HALFLIFE:-10000}
EMA_RAMP=${EMA_RAMP:-0.05}
DROPOUT=${DROPOUT:-0}
SHARES=${SHARES:-[0.44,0.19,0.37]}
PRESETS=${PRESETS:-cifar10-vp-multistage cifar10-vp-unified}
DATA=${DATA:-.device/extra/data_batch_1.bin}
EXTRA=${EXTRA:-}
COUNT=${COUNT:-64}
FD_COUNT=${FD_COUNT:-2000}
FEATNET_EPOCHS=${FEATNET_EPOCHS:-10}
DEVICE=${DEVICE:-cuda}
# Past this many seconds a preset skips its FD_featnet, so that the call ends within 10 minutes.
FD_DEADLINE=${FD_DEADLINE:-450}
export STAGEDIFF_KERNEL_CACHE=${STAGEDIFF_KERNEL_CACHE:-/tmp/stagediff-kernels}
mkdir -p "$OUT"
if [ ! -f "$DATA" ]; then
  echo "no CIFAR-10 batch at $DATA: stage one with bash ../shared/device/stage.sh ../shared/data/cifar10/data_batch_1.bin" >&2
  exit 1
fi
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }
cli() { node dist/src/cli/main.js "$@"; }
cli info | tee "$OUT/info.txt"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/info.txt"
status=0

# FD_featnet's feature network and reference statistics, from the training batch (docs/evaluation.md).
if [ "$FD_COUNT" -gt 0 ]; then
  cli featnet --data "$DATA" --device "$DEVICE" --epochs "$FEATNET_EPOCHS" --out "$OUT/featnet.safetensors" 2>&1 | tail -1 | tee "$OUT/featnet.txt" &&
    cli fid-stats --data "$DATA" --device "$DEVICE" --featnet "$OUT/featnet.safetensors" --out "$OUT/ref-featnet.npz" 2>&1 | tail -1 | tee -a "$OUT/featnet.txt" ||
    { echo "featnet failed: no FD_featnet" | tee -a "$OUT/summary.txt"; FD_COUNT=0; }
fi

train() { # preset run-dir precision
  local stages=
  [ "$1" = cifar10-vp-unified ] || stages="--set training.stageSampling=balanced --set training.stageShares=$SHARES"
  cli train --preset "$1" --data "$DATA" --run-dir "$2" --device "$DEVICE" --set precision="$3" \
    --set training.batchSize="$BATCH" --set training.lr="$LR" --set training.warmupSteps="$WARMUP" \
    --set training.ema.kind=halflife --set training.ema.halfLifeImages="$EMA_HALFLIFE" --set training.ema.rampUpRatio="$EMA_RAMP" \
    --set model.network.dropout="$DROPOUT" $stages --set output.logEveryImages=$((BATCH * 25)) \
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
  echo "$preset: checkpoint $(du -h "$(ls "$run"/checkpoint-*.safetensors | tail -1)" | cut -f1) at $(elapsed) s" | tee -a "$OUT/summary.txt"
  for weights in ema net; do
    cli sample --checkpoint "$run" --weights "$weights" --sampler dpm-solver --order 3 --steps 20 --count "$COUNT" --seed 0 \
      --device "$DEVICE" --precision "$used" --out "$OUT/$preset-dpm-solver-3-20-$weights.png" 2>&1 | tee "$OUT/$preset-sample-$weights.txt" || status=1
  done
  if [ "$FD_COUNT" -gt 0 ] && [ "$(elapsed)" -lt "$FD_DEADLINE" ]; then
    cli eval --checkpoint "$run" --ref "$OUT/ref-featnet.npz" --featnet "$OUT/featnet.safetensors" --count "$FD_COUNT" --batch 250 \
      --sampler dpm-solver --order 3 --steps 20 --device "$DEVICE" --precision "$used" 2>&1 | tr '\r' '\n' | grep -v '^\(sampl\|eval\) ' | tee "$OUT/$preset-eval.txt" || status=1
    cp "$run/log.jsonl" "$OUT/$preset-log.jsonl"
  elif [ "$FD_COUNT" -gt 0 ]; then
    echo "$preset: FD_featnet skipped at $(elapsed) s (past FD_DEADLINE = $FD_DEADLINE s)" | tee -a "$OUT/summary.txt"
  fi
  fd=$(grep -ho 'FD_featnet [0-9.]*' "$OUT/$preset-eval.txt" 2>/dev/null)
  echo "$preset: trained in $used; last log line $(grep -v '"eval"' "$run/log.jsonl" | tail -1); ${fd:-no FD_featnet}; done at $(elapsed) s" | tee -a "$OUT/summary.txt"
done
exit $status
