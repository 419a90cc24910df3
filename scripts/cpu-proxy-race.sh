#!/usr/bin/env bash
# The CPU proxy of the quality race (docs/results.md, "CPU proxy"): the quickstart's networks on its 16x16
# shapes, FD_featnet per image seen. For each "name|train flags" of RUNS, one at a time: a run from scratch
# (the quickstart preset with the stages of `stagediff cluster` in PARTITION: 40k images, checkpoints at 20k
# and 40k), then FD_featnet of each checkpoint on COUNT Heun-18 (35 evaluations) fp32 samples, image i from
# seed i, against the featnet FEATNET and its statistics REF (made once with `stagediff featnet --source
# shapes --resolution 16 --shapes-count 4096 --epochs 5` and `stagediff fid-stats`). A line per checkpoint
# goes to $OUT_DIR/results.jsonl (scripts/race-results.ts record). A configuration whose flags carry
# --config trains that config instead, without the partition: the unified rows use
# scripts/cpu-proxy-unified.json. A run folder that already holds its 40k checkpoint is not trained again,
# and a checkpoint already evaluated is not evaluated again.
#
#   RUNS="ms-per-sample|--set training.stageSampling=per-sample" PARTITION=runs/quickstart/partition.json \
#     FEATNET=featnet.safetensors REF=ref.npz bash scripts/cpu-proxy-race.sh
set -euo pipefail
RUNS=${RUNS:?set RUNS="name|train flags;name2|train flags"}
OUT_DIR=${OUT_DIR:-/tmp/cpu-proxy}
PARTITION=${PARTITION:?set PARTITION to the quickstart partition.json (stagediff cluster --out)}
FEATNET=${FEATNET:?set FEATNET to the shapes featnet}
REF=${REF:?set REF to its reference statistics}
COUNT=${COUNT:-1000}
cli() { node dist/src/cli/main.js "$@"; }
mkdir -p "$OUT_DIR"
IFS=';' read -ra entries <<< "$RUNS"
for entry in "${entries[@]}"; do
  name=$(echo "${entry%%|*}" | xargs)
  [ -n "$name" ] || continue
  run=$OUT_DIR/$name
  flags=""
  [[ "$entry" == *"|"* ]] && flags=${entry#*|}
  # read -a splits on blanks without expanding globs, so [0.8,0.15,0.05] stays as written.
  read -ra own <<< "$flags"
  base=(--preset quickstart --stages-from "$PARTITION")
  [[ " ${own[*]} " == *" --config "* ]] && base=()
  if [ ! -f "$run/checkpoint-000000040000.safetensors" ]; then
    rm -rf "$run"
    echo "stagediff train ${base[*]} --run-dir $run ${own[*]}" > "$OUT_DIR/$name.command.txt"
    { time cli train "${base[@]}" --run-dir "$run" "${own[@]}"; } > "$OUT_DIR/$name.train.txt" 2>&1
    tail -1 "$OUT_DIR/$name.train.txt"
  fi
  for checkpoint in "$run"/checkpoint-*.safetensors; do
    ck=$(basename "$checkpoint")
    grep -q "\"event\":\"eval\".*\"checkpoint\":\"$ck\"" "$run/log.jsonl" 2>/dev/null && continue
    cli eval --checkpoint "$checkpoint" --ref "$REF" --featnet "$FEATNET" --count "$COUNT" --sampler heun --steps 18 \
      > "$OUT_DIR/$name.eval-${ck%.safetensors}.txt" 2>&1
    node dist/scripts/race-results.js record --name "$name" --checkpoint "$checkpoint" --out "$OUT_DIR/results.jsonl"
  done
done
