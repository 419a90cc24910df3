"""Anchor: PyTorch DDP training images/s of the official DDPM++ on several GPUs (torchrun), or on one.

The counterpart of `stagediff train --gpus N` on DDPM++ bf16 (scripts/gpu-multi.sh): anchor_edm.py's
timed step (EDM loss at sigma 0.5, backward, Adam; bf16 autocast around the network) with the network
wrapped in DistributedDataParallel as the official training loop wraps it (broadcast_buffers=False,
find_unused_parameters=True, PyTorch's 25 MB buckets), each rank on its share of the global batch.
Started without torchrun, the same step on one GPU without DDP (the one-GPU baseline of the scaling).
Rank 0 prints one JSON line: the global batch's images/s.

Usage (GPU machine, project root, .anchor/ prepared as reference/ANCHORS.md says):
  NCCL_NVLS_ENABLE=0 ANCHOR_EDM=.anchor/edm python3 -m torch.distributed.run --standalone --nproc_per_node=N bench/anchor_ddp.py [global batch, 512]
  ANCHOR_EDM=.anchor/edm python3 bench/anchor_ddp.py [global batch, 512]
"""
import json, os, sys
import torch
import torch.distributed as dist

grouped = 'LOCAL_RANK' in os.environ
local_rank = int(os.environ.get('LOCAL_RANK', 0))
# anchor_edm places its tensors on torch.device('cuda'): the current device, this rank's GPU.
torch.cuda.set_device(local_rank)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '.anchor'))
import anchor_edm as a


def nccl_version():
    v = torch.cuda.nccl.version()  # a tuple in recent PyTorch, an int (2.x.y as 2xxyy) in older ones
    return '.'.join(map(str, v)) if isinstance(v, tuple) else str(v)


def main():
    if grouped:
        dist.init_process_group('nccl')
    world, rank = (dist.get_world_size(), dist.get_rank()) if grouped else (1, 0)
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    if batch % world:
        raise SystemExit(f'the global batch {batch} must divide by the {world} ranks')
    torch.manual_seed(0)
    net = a.make('ddpmpp')
    # EDMPrecond holds no parameters of its own: wrapping its U-Net puts all of them under DDP, and
    # anchor_edm's denoise(), which calls net.model, then goes through DDP's forward and hooks.
    if grouped:
        net.model = torch.nn.parallel.DistributedDataParallel(net.model, device_ids=[local_rank], broadcast_buffers=False, find_unused_parameters=True)
    per_rank = a.time_train(net, batch // world, 0.5, amp=True)
    if rank == 0:
        print(json.dumps({'gpus': world, 'ddp': grouped, 'arch': 'ddpmpp', 'prec': 'bf16', 'batch': batch, 'per_gpu_batch': batch // world,
                          'train_img_s': round(per_rank * world, 1), 'gpu': torch.cuda.get_device_name(), 'torch': torch.__version__,
                          'nccl': nccl_version()}), flush=True)
    if grouped:
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
