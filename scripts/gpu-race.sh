#!/usr/bin/env bash
# The quality race (docs/results.md) in one GPU call of under 9.5 minutes: train a featnet and its
# reference statistics once, then for each configuration of RUNS train from scratch for MINUTES of training
# time (checkpoints every MARKS minutes), evaluate FD_featnet of every checkpoint on COUNT Heun-18 (35
# evaluations) bf16 samples, and append a line per checkpoint to $OUT/results.jsonl as it finishes; the
# end draws $OUT/race-fd-minutes.png and $OUT/race-fd-images.png. A call cut by its time limit still
# returns every line written so far; a configuration or an eval that would not fit in LIMIT_S is skipped
# (listed in $OUT/skipped.txt).
#
# RUNS is "name|train flags;name2|train flags": the flags follow COMMON on the `stagediff train` command
# line, so they override it; without a --preset of their own they train `cifar10-edm-multistage`. Example:
#   RUNS="unified|--preset cifar10-edm-ddpmpp;ms-bb|--set training.stageSampling=balanced-batch --set training.stageShares=[0.5,0.3,0.2]"
#
# Run on the GPU machine from the repository root after
#   bash ../shared/device/stage.sh ../shared/data/cifar10/data_batch_1.bin
# as
#   bash .device/setup.sh && MINUTES=2 RUNS="..." bash scripts/gpu-race.sh
set -euo pipefail
started=$(date +%s)
OUT=${OUT:-/tmp/stagediff-out}
DATA=${DATA:-.device/extra/data_batch_1.bin}
RUNS=${RUNS:?set RUNS="name|train flags;name2|train flags"}
MINUTES=${MINUTES:-2}
# Checkpoint (and evaluate) every MARKS minutes of training; the end of the run is always one.
MARKS=${MARKS:-$MINUTES}
COUNT=${COUNT:-10000}
BATCH=${BATCH:-500}
FEATNET_EPOCHS=${FEATNET_EPOCHS:-10}
DEVICE=${DEVICE:-cuda}
# The issue's short-run recipe on one H200 (docs/results.md); COMMON="" trains with the presets' own settings.
COMMON=${COMMON:---set precision=bf16 --set training.batchSize=256 --set training.lr=1e-3 --set training.lrRampUpImages=100000 --set training.ema.halfLifeImages=50000}
# Seconds this call may take, and the sampling rate (images/s) used to tell whether an eval still fits:
# 137 images/s for the multistage network in bf16 on an H200 (docs/evaluation.md).
LIMIT_S=${LIMIT_S:-570}
SAMPLE_RATE=${SAMPLE_RATE:-130}
cli() { node dist/src/cli/main.js "$@"; }
race() { node dist/scripts/race-results.js "$@"; }
left() { echo $(( LIMIT_S - ($(date +%s) - started) )); }
skip() { echo "$1" | tee -a "$OUT/skipped.txt"; }
mkdir -p "$OUT"
cli info | tee "$OUT/info.txt"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/info.txt" || true
date -u +%FT%TZ >> "$OUT/info.txt"

cli featnet --data "$DATA" --device "$DEVICE" --epochs "$FEATNET_EPOCHS" --batch 128 --out "$OUT/featnet.safetensors" 2>&1 | tail -3 | tee "$OUT/featnet.txt"
cli fid-stats --data "$DATA" --device "$DEVICE" --featnet "$OUT/featnet.safetensors" --out "$OUT/ref-featnet.npz" 2>&1 | tail -3 | tee "$OUT/fid-stats.txt"

eval_seconds=$(( COUNT / SAMPLE_RATE + 20 ))
read -ra common <<< "$COMMON"
IFS=';' read -ra entries <<< "$RUNS"
for entry in "${entries[@]}"; do
  name=$(echo "${entry%%|*}" | xargs)
  [ -n "$name" ] || continue
  flags=""
  [[ "$entry" == *"|"* ]] && flags=${entry#*|}
  # read -a splits on blanks without expanding globs, so [0.5,0.3,0.2] stays as written.
  read -ra own <<< "$flags"
  preset=(--preset cifar10-edm-multistage)
  [[ " ${own[*]} " == *" --preset "* ]] && preset=()
  if (( $(left) < $(awk -v m="$MINUTES" -v e="$eval_seconds" 'BEGIN { printf "%d", m * 60 + 30 + e }') )); then
    skip "$name: not started, $(left) s left"
    continue
  fi
  run=/tmp/race-runs/$name
  rm -rf "$run"
  mkdir -p "$OUT/$name"
  command=(cli train "${preset[@]}" --data "$DATA" --run-dir "$run" --device "$DEVICE" "${common[@]}" "${own[@]}"
    --set "output.checkpointEveryMinutes=$MARKS" --set output.keepCheckpoints=1000 --set output.logEveryImages=25600
    --set output.snapshotEveryImages=1000000000 --set output.checkpointEveryImages=1000000000 --minutes "$MINUTES")
  echo "stagediff ${command[*]:1}" > "$OUT/$name/command.txt"
  "${command[@]}" > "$OUT/$name/train.txt" 2>&1 || { tail -5 "$OUT/$name/train.txt"; skip "$name: training failed (see $name/train.txt)"; continue; }
  tail -2 "$OUT/$name/train.txt"
  cp "$(ls "$run"/grid-*.png | tail -1)" "$OUT/$name/grid.png"
  for checkpoint in "$run"/checkpoint-*.safetensors; do
    if (( $(left) < eval_seconds )); then
      skip "$name: $(basename "$checkpoint") not evaluated, $(left) s left"
      continue
    fi
    cli eval --checkpoint "$checkpoint" --ref "$OUT/ref-featnet.npz" --featnet "$OUT/featnet.safetensors" --count "$COUNT" \
      --batch "$BATCH" --sampler heun --steps 18 --device "$DEVICE" --precision bf16 > "$OUT/$name/eval-$(basename "$checkpoint" .safetensors).txt" 2>&1 ||
      { skip "$name: eval of $(basename "$checkpoint") failed (see $name/eval-*.txt)"; continue; }
    race record --name "$name" --checkpoint "$checkpoint" --out "$OUT/results.jsonl"
  done
  cp "$run/log.jsonl" "$OUT/$name/log.jsonl"
  if [ -f "$OUT/results.jsonl" ]; then race plot --results "$OUT/results.jsonl" --out "$OUT"; fi
done
echo "gpu-race.sh: $(( $(date +%s) - started )) s in all"
