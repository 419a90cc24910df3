#!/usr/bin/env python3
"""Writes an FID Inception-v3 fixture in the format of test/fixtures/fid/README.md, with other random
weights and another input size, to check that stagediff's port holds for any such fixture:

    python3 scripts/make-fid-fixture.py OUT_DIR [--size 48] [--count 4] [--seed 1]
    STAGEDIFF_FID_FIXTURE_DIR=OUT_DIR node --test dist/test/eval/inception.test.js

The network is written out here from the structure of pytorch-fid's FID Inception-v3 (torchvision's
Inception3 with FIDInceptionA/C/E_1/E_2, resize to 299 bilinear with align_corners=False, [0, 1] -> [-1, 1],
2048-d pool3 features) with torch.nn.functional, in float64. Every conv weight and batch-norm weight/bias is
NAME.q (int8) times NAME.scale (a power of two), so it is exact in float32; running statistics are
calibrated on the inputs, layer by layer, and rounded to float32. Needs only torch (Debian: python3-torch).
"""
import argparse
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

BN_EPS = 0.001


class Builder:
    """Random quantised parameters under torchvision's names, and the forward pass that uses them."""

    def __init__(self, generator, calibrate):
        self.g = generator
        self.calibrate = calibrate
        self.q = {}  # NAME -> (int8 tensor, scale)
        self.stats = {}  # NAME.bn.running_mean / running_var -> float64 tensor (float32 values)

    def quantised(self, name, shape, lo, hi, scale):
        q = torch.randint(lo, hi + 1, shape, generator=self.g, dtype=torch.int8)
        self.q[name] = (q, scale)
        return q.double() * scale

    def basic(self, name, x, out_ch, kernel, pad=(0, 0), stride=1):
        in_ch = x.shape[1]
        kh, kw = kernel
        fan_in = in_ch * kh * kw
        # q uniform in [-127, 127] has standard deviation ~73: scale so that the weights have ~1/sqrt(fan_in)
        w_scale = 2.0 ** round(math.log2(1.0 / (73.0 * math.sqrt(fan_in))))
        w = self.param(f'{name}.conv.weight', (out_ch, in_ch, kh, kw), -127, 127, w_scale)
        gamma = self.param(f'{name}.bn.weight', (out_ch,), 40, 127, 2.0 ** -7)
        beta = self.param(f'{name}.bn.bias', (out_ch,), -127, 127, 2.0 ** -8)
        y = F.conv2d(x, w, None, stride=stride, padding=pad)
        mean_name, var_name = f'{name}.bn.running_mean', f'{name}.bn.running_var'
        if self.calibrate:
            self.stats[mean_name] = y.mean(dim=(0, 2, 3)).float().double()
            self.stats[var_name] = y.var(dim=(0, 2, 3)).float().double()
        y = F.batch_norm(y, self.stats[mean_name], self.stats[var_name], gamma, beta, False, 0.0, BN_EPS)
        return F.relu(y)

    def param(self, name, shape, lo, hi, scale):
        if name in self.q:
            q, s = self.q[name]
            return q.double() * s
        return self.quantised(name, shape, lo, hi, scale)


def avg_pool(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def chain(b, n, x, *convs):
    """Convolutions one after another: each (name, out_channels, kernel, padding=(0, 0), stride=1)."""
    for name, out_ch, kernel, *rest in convs:
        x = b.basic(f'{n}.{name}', x, out_ch, kernel, *rest)
    return x


def inception_a(b, n, x, pool_features):
    b1 = chain(b, n, x, ('branch1x1', 64, (1, 1)))
    b5 = chain(b, n, x, ('branch5x5_1', 48, (1, 1)), ('branch5x5_2', 64, (5, 5), (2, 2)))
    b3 = chain(b, n, x, ('branch3x3dbl_1', 64, (1, 1)), ('branch3x3dbl_2', 96, (3, 3), (1, 1)), ('branch3x3dbl_3', 96, (3, 3), (1, 1)))
    bp = chain(b, n, avg_pool(x), ('branch_pool', pool_features, (1, 1)))
    return torch.cat([b1, b5, b3, bp], 1)


def inception_b(b, n, x):
    b3 = chain(b, n, x, ('branch3x3', 384, (3, 3), (0, 0), 2))
    bd = chain(b, n, x, ('branch3x3dbl_1', 64, (1, 1)), ('branch3x3dbl_2', 96, (3, 3), (1, 1)), ('branch3x3dbl_3', 96, (3, 3), (0, 0), 2))
    return torch.cat([b3, bd, F.max_pool2d(x, 3, stride=2)], 1)


def inception_c(b, n, x, c7):
    row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))
    b1 = chain(b, n, x, ('branch1x1', 192, (1, 1)))
    b7 = chain(b, n, x, ('branch7x7_1', c7, (1, 1)), ('branch7x7_2', c7, *row), ('branch7x7_3', 192, *col))
    bd = chain(b, n, x, ('branch7x7dbl_1', c7, (1, 1)), ('branch7x7dbl_2', c7, *col), ('branch7x7dbl_3', c7, *row),
               ('branch7x7dbl_4', c7, *col), ('branch7x7dbl_5', 192, *row))
    bp = chain(b, n, avg_pool(x), ('branch_pool', 192, (1, 1)))
    return torch.cat([b1, b7, bd, bp], 1)


def inception_d(b, n, x):
    b3 = chain(b, n, x, ('branch3x3_1', 192, (1, 1)), ('branch3x3_2', 320, (3, 3), (0, 0), 2))
    b7 = chain(b, n, x, ('branch7x7x3_1', 192, (1, 1)), ('branch7x7x3_2', 192, (1, 7), (0, 3)), ('branch7x7x3_3', 192, (7, 1), (3, 0)),
               ('branch7x7x3_4', 192, (3, 3), (0, 0), 2))
    return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


def inception_e(b, n, x, pool):
    row, col = ((1, 3), (0, 1)), ((3, 1), (1, 0))
    b1 = b.basic(f'{n}.branch1x1', x, 320, (1, 1))
    b3 = b.basic(f'{n}.branch3x3_1', x, 384, (1, 1))
    b3 = torch.cat([b.basic(f'{n}.branch3x3_2a', b3, 384, *row), b.basic(f'{n}.branch3x3_2b', b3, 384, *col)], 1)
    bd = b.basic(f'{n}.branch3x3dbl_1', x, 448, (1, 1))
    bd = b.basic(f'{n}.branch3x3dbl_2', bd, 384, (3, 3), (1, 1))
    bd = torch.cat([b.basic(f'{n}.branch3x3dbl_3a', bd, 384, *row), b.basic(f'{n}.branch3x3dbl_3b', bd, 384, *col)], 1)
    pooled = avg_pool(x) if pool == 'avg' else F.max_pool2d(x, 3, stride=1, padding=1)
    bp = b.basic(f'{n}.branch_pool', pooled, 192, (1, 1))
    return torch.cat([b1, b3, bd, bp], 1)


def features(b, images):
    x = F.interpolate(images, size=(299, 299), mode='bilinear', align_corners=False)
    x = 2 * x - 1
    x = b.basic('Conv2d_1a_3x3', x, 32, (3, 3), stride=2)
    x = b.basic('Conv2d_2a_3x3', x, 32, (3, 3))
    x = b.basic('Conv2d_2b_3x3', x, 64, (3, 3), (1, 1))
    x = F.max_pool2d(x, 3, stride=2)
    x = b.basic('Conv2d_3b_1x1', x, 80, (1, 1))
    x = b.basic('Conv2d_4a_3x3', x, 192, (3, 3))
    x = F.max_pool2d(x, 3, stride=2)
    x = inception_a(b, 'Mixed_5b', x, 32)
    x = inception_a(b, 'Mixed_5c', x, 64)
    x = inception_a(b, 'Mixed_5d', x, 64)
    x = inception_b(b, 'Mixed_6a', x)
    x = inception_c(b, 'Mixed_6b', x, 128)
    x = inception_c(b, 'Mixed_6c', x, 160)
    x = inception_c(b, 'Mixed_6d', x, 160)
    x = inception_c(b, 'Mixed_6e', x, 192)
    x = inception_d(b, 'Mixed_7a', x)
    x = inception_e(b, 'Mixed_7b', x, 'avg')
    x = inception_e(b, 'Mixed_7c', x, 'max')
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


def write_safetensors(path, tensors, metadata):
    """The safetensors format: u64 header length, JSON header, little-endian data (written to a temporary name, then renamed)."""
    tags = {torch.float32: 'F32', torch.float64: 'F64', torch.int8: 'I8'}
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name, t in sorted(tensors.items()):
        data = t.contiguous().numpy().tobytes()
        header[name] = {'dtype': tags[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode('utf-8')
    head += b' ' * (-len(head) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out_dir')
    parser.add_argument('--size', type=int, default=48, help='input height and width (default 48)')
    parser.add_argument('--count', type=int, default=4, help='number of input images (default 4)')
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    x = torch.rand((args.count, 3, args.size, args.size), generator=g, dtype=torch.float64).float()
    with torch.no_grad():
        builder = Builder(g, calibrate=True)
        features(builder, x.double())  # draws the weights and calibrates the statistics in order
        builder.calibrate = False
        feats = features(builder, x.double())
    tensors = {'fixture.x': x, 'fixture.features': feats}
    for name, (q, scale) in builder.q.items():
        tensors[f'{name}.q'] = q
        tensors[f'{name}.scale'] = torch.tensor([scale], dtype=torch.float32)
    for name, value in builder.stats.items():
        tensors[name] = value.float()
    os.makedirs(args.out_dir, exist_ok=True)
    meta = {'what': 'FID Inception-v3 fixture from scripts/make-fid-fixture.py', 'seed': str(args.seed), 'input': f'{args.count}x3x{args.size}x{args.size}'}
    write_safetensors(os.path.join(args.out_dir, 'inception-fid.safetensors'), tensors, meta)
    print(f'{args.out_dir}/inception-fid.safetensors: {len(builder.q)} quantised tensors, x {list(x.shape)}, features {list(feats.shape)}')


if __name__ == '__main__':
    main()
