#!/usr/bin/env bash
# The evaluation issue's GPU check, in one call of at most 10 minutes: on one CIFAR-10 batch file, train a
# featnet, compute its reference statistics, train the multistage preset for MINUTES (or take
# CHECKPOINT), then `eval --count 50000` with Heun 18 steps (35 evaluations) in bf16: FD_featnet, sampling
# images/s and the whole eval time. Every step writes its output to $OUT as it finishes, so a run cut short
# still returns what it did.
#
# Run on the GPU machine from the repository root after
#   bash ../shared/device/stage.sh ../shared/data/cifar10/data_batch_1.bin
# as
#   bash .device/setup.sh && bash scripts/gpu-eval.sh
set -euo pipefail
OUT=${OUT:-/tmp/stagediff-out}
DATA=${DATA:-.device/extra/data_batch_1.bin}
# 1.5 minutes of training leave room in the 10-minute call for 50,000 samples at about 150 images/s.
MINUTES=${MINUTES:-1.5}
COUNT=${COUNT:-50000}
BATCH=${BATCH:-500}
FEATNET_EPOCHS=${FEATNET_EPOCHS:-10}
# An existing run folder or checkpoint file to evaluate instead of training one.
CHECKPOINT=${CHECKPOINT:-}
DEVICE=${DEVICE:-cuda}
RUN=/tmp/eval-run
cli() { node dist/src/cli/main.js "$@"; }
# A command's wall time from outside (process start, CUDA and kernel setup included).
timed() {
  local label=$1 t0
  shift
  t0=$(date +%s%N)
  "$@"
  echo "$label wall $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}
mkdir -p "$OUT"
started=$(date +%s)
cli info | tee "$OUT/info.txt"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/info.txt" || true

# The featnet: 9,000 training images, the last 1,000 of the batch held out.
timed featnet cli featnet --data "$DATA" --device "$DEVICE" \
  --epochs "$FEATNET_EPOCHS" --batch 128 --out "$OUT/featnet.safetensors" 2>&1 | tee "$OUT/featnet.txt"
timed fid-stats cli fid-stats --data "$DATA" --device "$DEVICE" \
  --featnet "$OUT/featnet.safetensors" --out "$OUT/ref-featnet.npz" 2>&1 | tee "$OUT/fid-stats.txt"

if [ -z "$CHECKPOINT" ]; then
  # The short-run schedule of scripts/gpu-cifar10-train.sh (docs/training.md), for MINUTES.
  cli train --preset cifar10-edm-multistage-paper --data "$DATA" --run-dir "$RUN" --device "$DEVICE" --set precision=bf16 \
    --set training.batchSize=256 --set training.lr=3e-4 --set training.lrRampUpImages=100000 \
    --set training.stageSampling=balanced --set 'training.stageShares=[0.5,0.3,0.2]' \
    --set output.logEveryImages=25600 --set output.snapshotEveryImages=1000000000 \
    --set output.checkpointEveryImages=1000000000 --minutes "$MINUTES" 2>&1 | tail -5 | tee "$OUT/train.txt"
  CHECKPOINT=$RUN
fi

timed eval cli eval --checkpoint "$CHECKPOINT" --ref "$OUT/ref-featnet.npz" \
  --featnet "$OUT/featnet.safetensors" --count "$COUNT" --batch "$BATCH" --sampler heun --steps 18 \
  --device "$DEVICE" --precision bf16 2>&1 | tee "$OUT/eval.txt"
run_dir=$CHECKPOINT
[ -d "$run_dir" ] || run_dir=$(dirname "$CHECKPOINT")
cp "$run_dir/log.jsonl" "$OUT/log.jsonl" 2>/dev/null || true
echo "gpu-eval.sh: $(( $(date +%s) - started )) s in all" | tee -a "$OUT/eval.txt"
