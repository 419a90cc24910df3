#!/usr/bin/env bash
# Everything a GPU session checks and measures, in one call (device time is scarce): the CUDA conformance
# suite, this project's training/sampling throughput, and the PyTorch anchor on the same machine.
# Run on the GPU machine from the project root after `bash .device/setup.sh`; logs go under $OUT.
# Sections: conformance, bench, graphs, profile, nhwc, anchor, cluster, fid, cost (default: all but graphs, profile, nhwc and cost), e.g. `bash bench/gpu-run.sh conformance bench`.
# The cluster section needs a CIFAR-10 batch staged: ../shared/device/stage.sh ../shared/data/cifar10/data_batch_1.bin
set -uo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out"
sections=${*:-conformance bench anchor cluster fid}
export STAGEDIFF_KERNEL_CACHE=/tmp/stagediff-kernels
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
date -u +%F | tee -a "$out/gpu.txt"
for s in $sections; do
  case $s in
    conformance)
      node --test --test-reporter=spec dist/test/backend/cuda-conformance.test.js 2>&1 | tee "$out/conformance.log" | grep -E "^(✖|✔|ℹ)|rel L2 [0-9.e+-]*$|loss|device" | grep -vE "rel L2 [0-9].*e-(0[6-9]|[1-9][0-9])$|rel L2 0.00e\+0$" ;;
    bench)
      timeout 100 node dist/src/cli/main.js bench --arch ddpmpp --device cuda --precision fp32 --batch 128 2>&1 | tee "$out/bench.txt"
      timeout 240 node dist/src/cli/main.js bench --arch ddpmpp --device cuda --precision bf16,tf32 --batch 128,512 --sample 2>&1 | tee -a "$out/bench.txt"
      timeout 200 node dist/src/cli/main.js bench --arch multistage --device cuda --precision bf16,tf32 --batch 128,256 2>&1 | tee -a "$out/bench.txt"
      # per-sample routing: batches mixing the three stages (issue 8's multistage goal), then the quickstart's own loop
      timeout 150 node dist/src/cli/main.js bench --arch multistage --device cuda --precision bf16 --batch 256,512 --stages s0 --stage-mix 0.5,0.3,0.2 2>&1 | tee -a "$out/bench.txt"
      rm -rf /tmp/quickstart-gpu
      timeout 120 node dist/src/cli/main.js train --preset quickstart --device cuda --run-dir /tmp/quickstart-gpu --set training.totalImages=20000 2>&1 | tail -3 | tee -a "$out/bench.txt"
      grep -o '"imagesPerSecond":[0-9.]*' /tmp/quickstart-gpu/log.jsonl | tail -3 | tee -a "$out/bench.txt" ;;
    graphs)
      # CUDA graphs: captured work equals eager (backend, then whole training steps), the quickstart step eager
      # against replayed, and the quickstart trainer without and with training.cudaGraphs
      node --test --test-reporter=spec dist/test/backend/cuda-graph.test.js dist/test/train/step-graphs.test.js 2>&1 | tee "$out/graphs.log" | grep -E "^(✖|✔|ℹ)|rel L2|error|Error"
      timeout 120 node dist/bench/graph-step.js --batch 16 --iters 300 2>&1 | tee -a "$out/graphs.log"
      for g in off on; do
        rm -rf /tmp/quickstart-graphs-$g
        timeout 150 node dist/src/cli/main.js train --preset quickstart --device cuda --run-dir /tmp/quickstart-graphs-$g --set training.totalImages=20000 --set training.cudaGraphs=$g 2>&1 | tail -4 | tee -a "$out/graphs.log"
        echo "cudaGraphs=$g: $(grep -o '"imagesPerSecond":[0-9.]*' /tmp/quickstart-graphs-$g/log.jsonl | tail -2 | tr '\n' ' ')" | tee -a "$out/graphs.log"
      done
      # the paper's VP multistage network (issue 11's VP arm) on 32x32 shapes in bf16, balanced batches of 128,
      # in one micro-batch and in two, without and with graphs
      for mb in 128 64; do
        for g in off on; do
          rm -rf /tmp/vp-graphs-$g
          timeout 150 node dist/src/cli/main.js train --preset cifar10-vp-multistage --device cuda --run-dir /tmp/vp-graphs-$g --set data.source=shapes --set data.path=null \
            --set precision=bf16 --set training.stageSampling=balanced --set training.microBatch=$mb --set training.totalImages=12800 --set output.logEveryImages=2560 \
            --set training.cudaGraphs=$g 2>&1 | grep -E "warning|training.cudaGraphs|done" | tee -a "$out/graphs.log"
          echo "VP multistage, micro-batch $mb, cudaGraphs=$g: $(grep -o '"imagesPerSecond":[0-9.]*' /tmp/vp-graphs-$g/log.jsonl | tail -3 | tr '\n' ' ')" | tee -a "$out/graphs.log"
        done
      done ;;
    fid)
      # the FID Inception-v3 against pytorch-fid's float64 features on the GPU (fp32), then its throughput
      node --test --test-reporter=spec dist/test/eval/inception.test.js 2>&1 | tee "$out/fid.log" | grep -E "^(✖|✔|ℹ)|relative L2"
      timeout 120 node dist/bench/inception-features.js --device cuda --math fp32 --batch 250 --batches 8 2>&1 | tee -a "$out/fid.log"
      timeout 120 node dist/bench/inception-features.js --device cuda --math tf32 --batch 250 --batches 8 2>&1 | tee -a "$out/fid.log" ;;
    cost)
      # parameters, GMACs, measured bf16 ms per evaluation of each stage, and the cost of one Heun-35 image
      for arch in multistage ddpmpp; do
        timeout 120 node dist/src/cli/main.js bench --arch $arch --cost --device cuda --precision bf16 --iters 20 2>&1 | tee -a "$out/cost.txt"
      done ;;
    profile)
      timeout 150 node dist/bench/profile-step.js --arch ddpmpp --precision bf16 --batch 512 2>&1 | tee "$out/profile.txt" ;;
    nhwc)
      # channels-last (training.channelsLast) against NCHW: the DDPM++ bf16 step and Heun sampling at batch 512,
      # the multistage steps and a mixed batch, then the per-kernel profile of the channels-last step (under 10 minutes)
      timeout 240 node dist/src/cli/main.js bench --arch ddpmpp --device cuda --precision bf16 --channels-last off,on --batch 512 --sample 2>&1 | tee "$out/nhwc.txt"
      timeout 180 node dist/src/cli/main.js bench --arch multistage --device cuda --precision bf16 --channels-last off,on --batch 256 --stage-mix 0.5,0.3,0.2 2>&1 | tee -a "$out/nhwc.txt"
      timeout 120 node dist/bench/profile-step.js --arch ddpmpp --precision bf16 --batch 512 --channels-last 2>&1 | tee "$out/profile-nhwc.txt" ;;
    cluster)
      for device in cuda cpu; do
        start=$SECONDS
        timeout 240 node dist/src/cli/main.js cluster --source cifar10 --data .device/extra/data_batch_1.bin \
          --method algorithm1 --samples 500 --device $device --out "$out/partition-$device.json" 2>&1 | tail -2 | tee -a "$out/cluster.txt"
        echo "cluster on $device: $((SECONDS - start)) s" | tee -a "$out/cluster.txt"
      done ;;
    anchor)
      ANCHOR_EDM=.anchor/edm PYTHONUNBUFFERED=1 timeout 200 python3 .anchor/anchor_edm.py ddpmpp 2>&1 | tee "$out/anchor.jsonl"
      # PyTorch eager on the same stage mix as the bench section's `--stage-mix` step
      ANCHOR_EDM=.anchor/edm PYTHONUNBUFFERED=1 timeout 150 python3 bench/anchor_mix.py 0.5,0.3,0.2 bf16 256,512 2>&1 | tee -a "$out/anchor.jsonl" ;;
  esac
done
