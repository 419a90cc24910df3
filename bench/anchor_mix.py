"""Anchor: PyTorch eager training images/s of the official multistage network on batches that mix the stages.

The counterpart of `stagediff bench --arch multistage --stage-mix A,B,C`. The official MultistageUNet runs
one decoder per call (picked from the batch's first sample), so per-sample routing in PyTorch eager is one
forward and backward per stage on that stage's samples (sigma 0.5, 5, 20 as in anchor_edm.py), the
gradients accumulating, then one Adam step. Stage counts: the shares of the batch, largest remainder first,
as stagediff's balanced stage sampling splits a batch.

Usage (GPU machine, project root, .anchor/ prepared as reference/ANCHORS.md says):
  ANCHOR_EDM=.anchor/edm python3 bench/anchor_mix.py 0.5,0.3,0.2 [bf16,tf32] [128,256]
One JSON line per precision and batch size.
"""
import json, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '.anchor'))
import anchor_edm as a
import torch

SIGMAS = [0.5, 5.0, 20.0]


def stage_counts(shares, batch):
    exact = [s / sum(shares) * batch for s in shares]
    counts = [int(e) for e in exact]
    order = sorted(range(len(shares)), key=lambda k: exact[k] - counts[k], reverse=True)
    for k in order[:batch - sum(counts)]:
        counts[k] += 1
    return counts


def time_train_mix(net, batch, shares, amp, iters=12, warm=4):
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    parts = []
    for count, sv in zip(stage_counts(shares, batch), SIGMAS):
        if count == 0:
            continue
        y = torch.randn(count, 3, 32, 32, device=a.dev) * 0.5
        parts.append((y, torch.full((count, 1, 1, 1), sv, device=a.dev), torch.zeros(count, 9, device=a.dev)))

    def step():
        opt.zero_grad(set_to_none=True)
        for y, sigma, aug in parts:
            n = torch.randn_like(y) * sigma
            D = a.denoise(net, y + n, sigma, amp, aug)
            w = (sigma ** 2 + 0.25) / (sigma * 0.5) ** 2
            ((w * (D.float() - y) ** 2).sum() / batch).backward()
        opt.step()
    for _ in range(warm): step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters): step()
    torch.cuda.synchronize()
    return batch * iters / (time.perf_counter() - t)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    shares = [float(s) for s in sys.argv[1].split(',')]
    if len(shares) != 3 or min(shares) <= 0:
        sys.exit(f'three positive stage shares expected, got {sys.argv[1]}')
    precisions = (sys.argv[2] if len(sys.argv) > 2 else 'bf16,tf32').split(',')
    batches = [int(b) for b in (sys.argv[3] if len(sys.argv) > 3 else '128,256').split(',')]
    print(json.dumps({'gpu': torch.cuda.get_device_name(), 'torch': torch.__version__}), flush=True)
    torch.manual_seed(0)
    net = a.make('multistage')
    for prec in precisions:
        torch.backends.cuda.matmul.allow_tf32 = prec == 'tf32'
        torch.backends.cudnn.allow_tf32 = prec == 'tf32'
        for batch in batches:
            ips = time_train_mix(net, batch, shares, prec == 'bf16')
            print(json.dumps({'arch': 'multistage', 'prec': prec, 'batch': batch, 'stage_mix': shares, 'counts': stage_counts(shares, batch), 'train_img_s': round(ips, 1)}), flush=True)


if __name__ == '__main__':
    main()
