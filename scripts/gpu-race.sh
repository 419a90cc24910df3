#!/usr/bin/env bash
# The quality race (docs/results.md) in GPU calls of under 9.5 minutes: a featnet and its reference
# statistics (trained once, then reused), and for each configuration of RUNS a run from scratch for MINUTES
# of training time (a checkpoint every MARKS minutes and at the end), FD_featnet of every checkpoint on
# COUNT Heun-18 (35 evaluations) bf16 samples, and a line per checkpoint appended to $OUT/results.jsonl as
# it finishes; $OUT/race-fd-minutes.png and $OUT/race-fd-images.png are redrawn after each configuration.
# A call cut by its time limit still returns every line written so far; a configuration or an eval that
# would not fit in LIMIT_S is skipped (listed in $OUT/skipped.txt).
#
# RUNS is "name|train flags;name2|train flags": the flags follow COMMON on the `stagediff train` command
# line, so they override it; without a --preset of their own they train `cifar10-edm-multistage`. Example:
#   RUNS="unified|--preset cifar10-edm-ddpmpp;ms-bb|--set training.stageSampling=balanced-batch --set training.stageShares=[0.5,0.3,0.2]"
#
# PHASE=both (default) trains and evaluates; PHASE=train only trains; PHASE=eval only evaluates the
# checkpoints of earlier runs of the same names that have no FD yet. Runs live in $RUNS_DIR and the featnet
# in $REF_DIR on the GPU machine, so a train call and an eval call on the same warm machine split a run
# that does not fit in one (8 minutes of training, then four 10,000-sample FDs). FEATNET and REF name a
# featnet and its statistics to use instead (the ones a previous call returned in $OUT), which keeps FDs of
# different calls comparable.
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
PHASE=${PHASE:-both}
MINUTES=${MINUTES:-2}
# Checkpoint (and evaluate) every MARKS minutes of training; the end of the run is always one.
MARKS=${MARKS:-$MINUTES}
COUNT=${COUNT:-10000}
BATCH=${BATCH:-500}
FEATNET_EPOCHS=${FEATNET_EPOCHS:-10}
DEVICE=${DEVICE:-cuda}
RUNS_DIR=${RUNS_DIR:-/tmp/race-runs}
REF_DIR=${REF_DIR:-/tmp/race-ref}
FEATNET=${FEATNET:-$REF_DIR/featnet.safetensors}
REF=${REF:-$REF_DIR/ref-featnet.npz}
# The issue's short-run recipe on one H200 (docs/results.md), with the EMA's half-life capped at 10% of the
# images seen (without the cap a 2-minute run's EMA still holds 6-12% of the random initial weights; the
# race's first two points were measured so). COMMON="" trains with the presets' own settings.
COMMON=${COMMON:---set precision=bf16 --set training.batchSize=256 --set training.lr=1e-3 --set training.lrRampUpImages=100000 --set training.ema.halfLifeImages=50000 --set training.ema.rampUpRatio=0.1}
# Seconds this call may take, and the sampling rate (images/s) used to tell whether an eval still fits:
# 137 images/s for the multistage network in bf16 on an H200 (docs/evaluation.md).
LIMIT_S=${LIMIT_S:-570}
SAMPLE_RATE=${SAMPLE_RATE:-130}
case "$PHASE" in both | train | eval) ;; *) echo "PHASE must be both, train or eval, got \"$PHASE\"" >&2; exit 2 ;; esac
cli() { node dist/src/cli/main.js "$@"; }
race() { node dist/scripts/race-results.js "$@"; }
left() { echo $(( LIMIT_S - ($(date +%s) - started) )); }
skip() { echo "$1" | tee -a "$OUT/skipped.txt"; }
mkdir -p "$OUT" "$RUNS_DIR" "$REF_DIR"
cli info | tee "$OUT/info.txt"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/info.txt" || true
date -u +%FT%TZ >> "$OUT/info.txt"

if [ "$PHASE" != train ]; then
  if [ ! -f "$FEATNET" ] || [ ! -f "$REF" ]; then
    cli featnet --data "$DATA" --device "$DEVICE" --epochs "$FEATNET_EPOCHS" --batch 128 --out "$FEATNET" 2>&1 | tail -1 | tee "$OUT/featnet.txt"
    cli fid-stats --data "$DATA" --device "$DEVICE" --featnet "$FEATNET" --out "$REF" 2>&1 | tail -1 | tee "$OUT/fid-stats.txt"
  fi
  cp "$FEATNET" "$OUT/featnet.safetensors"
  cp "$REF" "$OUT/ref-featnet.npz"
fi

eval_seconds=$(( COUNT / SAMPLE_RATE + 20 ))
train_seconds=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 + 30 }')
read -ra common <<< "$COMMON"
IFS=';' read -ra entries <<< "$RUNS"
for entry in "${entries[@]}"; do
  name=$(echo "${entry%%|*}" | xargs)
  [ -n "$name" ] || continue
  run=$RUNS_DIR/$name
  mkdir -p "$OUT/$name"
  if [ "$PHASE" != eval ]; then
    needed=$train_seconds
    [ "$PHASE" = both ] && needed=$(( train_seconds + eval_seconds ))
    if (( $(left) < needed )); then
      skip "$name: not started, $(left) s left"
      continue
    fi
    flags=""
    [[ "$entry" == *"|"* ]] && flags=${entry#*|}
    # read -a splits on blanks without expanding globs, so [0.5,0.3,0.2] stays as written.
    read -ra own <<< "$flags"
    preset=(--preset cifar10-edm-multistage)
    [[ " ${own[*]} " == *" --preset "* ]] && preset=()
    rm -rf "$run"
    command=(cli train "${preset[@]}" --data "$DATA" --run-dir "$run" --device "$DEVICE" "${common[@]}" "${own[@]}"
      --set "output.checkpointEveryMinutes=$MARKS" --set output.keepCheckpoints=1000 --set output.logEveryImages=25600
      --set output.snapshotEveryImages=1000000000 --set output.checkpointEveryImages=1000000000 --minutes "$MINUTES")
    echo "stagediff ${command[*]:1}" > "$OUT/$name/command.txt"
    "${command[@]}" > "$OUT/$name/train.txt" 2>&1 || { tail -5 "$OUT/$name/train.txt"; skip "$name: training failed (see $name/train.txt)"; continue; }
    tail -1 "$OUT/$name/train.txt"
    cp "$(ls "$run"/grid-*.png | tail -1)" "$OUT/$name/grid.png"
  fi
  if [ "$PHASE" != train ]; then
    if ! ls "$run"/checkpoint-*.safetensors > /dev/null 2>&1; then
      skip "$name: no checkpoints in $run to evaluate"
      continue
    fi
    for checkpoint in "$run"/checkpoint-*.safetensors; do
      base=$(basename "$checkpoint")
      # evaluated by an earlier call
      grep -q "\"event\":\"eval\".*\"checkpoint\":\"$base\"" "$run/log.jsonl" 2>/dev/null && continue
      if (( $(left) < eval_seconds )); then
        skip "$name: $base not evaluated, $(left) s left"
        continue
      fi
      cli eval --checkpoint "$checkpoint" --ref "$REF" --featnet "$FEATNET" --count "$COUNT" --batch "$BATCH" \
        --sampler heun --steps 18 --device "$DEVICE" --precision bf16 > "$OUT/$name/eval-${base%.safetensors}.txt" 2>&1 ||
        { skip "$name: eval of $base failed (see $name/eval-${base%.safetensors}.txt)"; continue; }
      race record --name "$name" --checkpoint "$checkpoint" --out "$OUT/results.jsonl"
    done
    if [ -f "$OUT/results.jsonl" ]; then race plot --results "$OUT/results.jsonl" --out "$OUT"; fi
  fi
  cp "$run/log.jsonl" "$OUT/$name/log.jsonl"
done
echo "gpu-race.sh: $(( $(date +%s) - started )) s in all"
