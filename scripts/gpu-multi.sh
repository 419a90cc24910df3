#!/usr/bin/env bash
# Issue 12 on a machine with two or more GPUs, in one call of under 9.5 minutes:
#   1. equality: `train --gpus 2` trains the weights of one GPU with the same batch (nccl-group.test.js);
#   2. stagediff's scaling: DDPM++ bf16, global batch 512, `train` on one GPU (no group: what a user of one
#      GPU runs) then `train --gpus 2`, images/s of the last log window (startup and compilation left out);
#      efficiency = 2 GPUs / (2 x 1 GPU);
#   2b. what the split alone costs: `stagediff bench` of one GPU at the per-GPU batch (256) and at 512 (a
#      smaller batch does less per kernel launch: one H200 trained 1293 images/s at 128, 1937 at 512);
#   3. PyTorch on the official DDPM++ (bench/anchor_ddp.py), one GPU without DDP, then DDP on 2 GPUs
#      through torchrun, same step and global batch.
# NVLink multicast stays off (NCCL_NVLS_ENABLE=0), as the machine's notes require. Everything lands in
# $OUT/gpu-multi.tgz, with summary.json (the numbers) and one log per part.
#
# On the GPU machine, from the repo root, with .device (../shared/device/stage.sh) and .anchor (the official
# edm/ and ../shared/bench/anchor_edm.py, reference/ANCHORS.md) carried:
#   bash .device/setup.sh && bash scripts/gpu-multi.sh
# Without a GPU, DRY_RUN=1 bash scripts/gpu-multi.sh runs what a CPU can: the flags and configs of every
# command (--print-config), a few CPU steps of a small network through the same log parsing and summary,
# the Python's syntax; the GPU test skips.
set -uo pipefail
OUT=${OUT:-/tmp/out}
DRY_RUN=${DRY_RUN:-0}
work=$(mktemp -d /tmp/gpu-multi.XXXX)
# Run folders beside, not inside, what is packed: a DDPM++ checkpoint with its EMA and Adam is about 0.9 GB.
runs=$(mktemp -d /tmp/gpu-multi-runs.XXXX)
export NCCL_NVLS_ENABLE=0 STAGEDIFF_KERNEL_CACHE=/tmp/stagediff-kernels PYTHONUNBUFFERED=1
mkdir -p "$OUT"
start=$SECONDS
stamp() { echo "[gpu-multi $((SECONDS - start)) s] $*" | tee -a "$work/steps.txt"; }

{ date -u +%FT%TZ; nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader; nvidia-smi topo -m; } > "$work/machine.txt" 2>&1
node dist/src/cli/main.js info > "$work/info.txt" 2>&1

stamp "equality test"
timeout 90 node --test --test-reporter=spec dist/test/distributed/nccl-group.test.js > "$work/equality.txt" 2>&1
echo "exit $?" >> "$work/equality.txt"

# DDPM++ as the paper's preset, on the built-in shapes at 32x32 (no data files; the speed is the network's).
images=$((512 * 200))
window=$((512 * 50))
train_flags=(--preset cifar10-edm-ddpmpp --set data.source=shapes --set data.path=null --set data.resolution=32
  --set precision=bf16 --device cuda --images "$images" --set output.logEveryImages=$window
  --set output.checkpointEveryImages=100000000 --set output.snapshotEveryImages=100000000 --set output.grid.count=4)
for gpus in 1 2; do
  stamp "stagediff train on $gpus GPU(s)"
  run="$runs/$gpus"
  group=(); [ "$gpus" -gt 1 ] && group=(--gpus "$gpus")
  node dist/src/cli/main.js train "${train_flags[@]}" --run-dir "$run" --print-config > "$work/config-$gpus.json" 2>&1
  if [ "$DRY_RUN" = 1 ]; then
    # A CPU cannot run --gpus: a small network for a few steps, for the log and the summary below.
    node dist/src/cli/main.js train "${train_flags[@]}" --run-dir "$run" --device cpu --set model.network.model_channels=16 \
      --set model.network.num_blocks=1 --set training.batchSize=8 --images 32 --set output.logEveryImages=8 > "$work/train-$gpus.txt" 2>&1
  else
    timeout $((gpus == 1 ? 120 : 100)) node dist/src/cli/main.js train "${group[@]}" "${train_flags[@]}" --run-dir "$run" > "$work/train-$gpus.txt" 2>&1
  fi
  echo "exit $?" >> "$work/train-$gpus.txt"
  cp "$run/log.jsonl" "$work/log-$gpus.jsonl" 2>/dev/null
done

# the per-GPU batch at 2 GPUs, and the full batch (a CPU dry run: one image, for the flags and the output)
small=256 full=512
[ "$DRY_RUN" = 1 ] && small=1 full=1
stamp "stagediff bench, one GPU, batch $small and $full"
if [ "$DRY_RUN" = 1 ]; then
  node dist/src/cli/main.js bench --arch ddpmpp --device cpu --batch 1 --iters 1 > "$work/bench.txt" 2>&1
else
  timeout 60 node dist/src/cli/main.js bench --arch ddpmpp --device cuda --precision bf16 --batch $small,$full > "$work/bench.txt" 2>&1
fi
echo "exit $?" >> "$work/bench.txt"

for gpus in 1 2; do
  stamp "PyTorch, $gpus GPU(s)"
  if [ "$DRY_RUN" = 1 ]; then
    python3 -c "import ast, sys; ast.parse(open(sys.argv[1]).read())" bench/anchor_ddp.py > "$work/torch-$gpus.txt" 2>&1 && echo "(dry run: syntax only)" >> "$work/torch-$gpus.txt"
  elif [ ! -f .anchor/anchor_edm.py ] || [ ! -d .anchor/edm ]; then
    echo ".anchor/anchor_edm.py or .anchor/edm is missing: carry .anchor (reference/ANCHORS.md)" > "$work/torch-$gpus.txt"
  else
    launch=(python3); [ "$gpus" -gt 1 ] && launch=(python3 -m torch.distributed.run --standalone --nproc_per_node="$gpus")
    ANCHOR_EDM=.anchor/edm timeout 75 "${launch[@]}" bench/anchor_ddp.py 512 > "$work/torch-$gpus.txt" 2>&1
    echo "exit $?" >> "$work/torch-$gpus.txt"
  fi
done

stamp "summary"
node --input-type=module - "$work" "$small" "$full" > "$work/summary.json" 2> "$work/summary-errors.txt" <<'EOF'
import { existsSync, readFileSync } from 'node:fs';
const work = process.argv[2];
const lines = (f) => (existsSync(`${work}/${f}`) ? readFileSync(`${work}/${f}`, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) : []);
// stagediff: the last log window (the earlier ones hold startup and kernel compilation)
const ours = (g) => lines(`log-${g}.jsonl`).at(-1)?.imagesPerSecond ?? null;
const torch = (g) => lines(`torch-${g}.txt`).find((r) => 'train_img_s' in r)?.train_img_s ?? null;
const efficiency = (one, two) => (one && two ? Math.round((two / (2 * one)) * 1000) / 1000 : null);
const s = { stagediff: { gpus1: ours(1), gpus2: ours(2) }, pytorch: { gpus1: torch(1), gpus2: torch(2) } };
s.stagediff.efficiency = efficiency(s.stagediff.gpus1, s.stagediff.gpus2);
s.pytorch.efficiency = efficiency(s.pytorch.gpus1, s.pytorch.gpus2);
// One GPU's bench step at the per-GPU batch over the full batch: the part of the efficiency the split costs.
const bench = (b) => lines('bench.txt').find((r) => r.batch === b && r.what?.startsWith('train'))?.imagesPerSecond ?? null;
const [small, full] = [Number(process.argv[3]), Number(process.argv[4])];
s.stagediff.bench = { perGpuBatch: small, perGpu: bench(small), fullBatch: full, full: bench(full) };
s.stagediff.bench.ratio = s.stagediff.bench.perGpu && s.stagediff.bench.full ? Math.round((s.stagediff.bench.perGpu / s.stagediff.bench.full) * 1000) / 1000 : null;
const eq = existsSync(`${work}/equality.txt`) ? readFileSync(`${work}/equality.txt`, 'utf8') : '';
s.equality = { passed: /^ℹ pass 1$/m.test(eq), skipped: /^ℹ skipped 1$/m.test(eq), line: eq.match(/2 GPUs vs 1: .*/)?.[0] ?? null };
console.log(JSON.stringify(s, null, 2));
EOF
cat "$work/summary.json"
stamp "done"
tar czf "$OUT/gpu-multi.tgz" -C "$work" .
echo "results: $OUT/gpu-multi.tgz ($((SECONDS - start)) s)"
