#!/usr/bin/env python3
"""Writes test/fixtures/augment/edm-geometric.json: the geometric branch of EDM's AugmentPipe
(training/augment.py of NVlabs/edm) written out step by step with numpy in float64, following torch's
semantics (reflect padding, zero-interleaved upsampling and strided downsampling with conv2d's
cross-correlation, affine_grid and grid_sample with align_corners=False, zeros outside), applied to one
random image for a few sets of augmentation choices. test/data/augment.test.ts holds src/data/augment.ts
to it. Needs only numpy:

    python3 scripts/make-augment-fixture.py [OUT.json]
"""
import json
import sys

import numpy as np

# Low-pass decomposition filter of the sym6 wavelet, as EDM's `wavelets['sym6']`.
HZ = np.array([
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633, 0.4910559419267466, 0.787641141030194,
    0.3379294217276218, -0.07263752278646252, -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
])
HZ_PAD = len(HZ) // 4


def translate(tx, ty):
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1.0]])


def scale(sx, sy):
    return np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1.0]])


def rotate(t):
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1.0]])


def correlate(x, w, pad, stride, axis):
    """torch conv2d along one axis: cross-correlation with zero padding and a stride."""
    x = np.moveaxis(x, axis, -1)
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)])
    n = (xp.shape[-1] - len(w)) // stride + 1
    out = np.zeros(x.shape[:-1] + (n,))
    for i in range(n):
        out[..., i] = (xp[..., i * stride:i * stride + len(w)] * w).sum(-1)
    return np.moveaxis(out, -1, axis)


def interleave_zeros(x, axis):
    """x[0], 0, x[1], 0, ..., x[n-1] along an axis (2n - 1 values)."""
    shape = list(x.shape)
    shape[axis] = 2 * shape[axis] - 1
    z = np.zeros(shape)
    index = [slice(None)] * x.ndim
    index[axis] = slice(0, None, 2)
    z[tuple(index)] = x
    return z


def pipe(img, s, rot, aniso, r, tx, ty):
    """One image [C, H, W] with EDM's geometric choices: scale, rotation, anisotropy along axis r, translation."""
    c, h, w = img.shape
    g = np.eye(3)
    g = g @ scale(2 ** (-s * 0.2), 2 ** (-s * 0.2))
    g = g @ rotate(rot)
    a = 2 ** (aniso * 0.2)
    g = g @ rotate(-r) @ scale(1 / a, a) @ rotate(r)
    g = g @ translate(-tx * w * 0.125, -ty * h * 0.125)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    corners = g @ np.array([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1.0]]).T
    margin = np.concatenate([-corners[:2], corners[:2]]).max(axis=1) + np.array([HZ_PAD * 2 - cx, HZ_PAD * 2 - cy] * 2)
    margin = np.minimum(np.maximum(margin, 0), [w - 1, h - 1] * 2)
    mx0, my0, mx1, my1 = np.ceil(margin).astype(int)
    img = np.pad(img, [(0, 0), (my0, my1), (mx0, mx1)], mode='reflect')
    g = translate((mx0 - mx1) / 2, (my0 - my1) / 2) @ g
    # upsample 2x: zeros between the samples, then the reversed filter (conv_pad = (len + 1) // 2)
    img = correlate(interleave_zeros(img, 2), HZ[::-1], (len(HZ) + 1) // 2, 1, 2)
    img = correlate(interleave_zeros(img, 1), HZ[::-1], (len(HZ) + 1) // 2, 1, 1)
    g = scale(2, 2) @ g @ scale(0.5, 0.5)
    g = translate(-0.5, -0.5) @ g @ translate(0.5, 0.5)
    oh, ow = (h + HZ_PAD * 2) * 2, (w + HZ_PAD * 2) * 2
    ih, iw = img.shape[1:]
    g = scale(2 / iw, 2 / ih) @ g @ scale(ow / 2, oh / 2)
    # affine_grid + grid_sample, bilinear, zeros outside, align_corners=False
    out = np.zeros((c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            xn, yn = (2 * j + 1) / ow - 1, (2 * i + 1) / oh - 1
            gx, gy = g[0, 0] * xn + g[0, 1] * yn + g[0, 2], g[1, 0] * xn + g[1, 1] * yn + g[1, 2]
            ix, iy = ((gx + 1) * iw - 1) / 2, ((gy + 1) * ih - 1) / 2
            x0, y0 = int(np.floor(ix)), int(np.floor(iy))
            ax, ay = ix - x0, iy - y0
            for yy, xx, weight in [(y0, x0, (1 - ay) * (1 - ax)), (y0, x0 + 1, (1 - ay) * ax), (y0 + 1, x0, ay * (1 - ax)), (y0 + 1, x0 + 1, ay * ax)]:
                if 0 <= yy < ih and 0 <= xx < iw:
                    out[:, i, j] += weight * img[:, yy, xx]
    # downsample 2x (conv_pad = (len - 1) // 2, stride 2) and crop HZ_PAD on each side
    out = correlate(out, HZ, (len(HZ) - 1) // 2, 2, 2)[:, :, HZ_PAD:-HZ_PAD]
    return correlate(out, HZ, (len(HZ) - 1) // 2, 2, 1)[:, HZ_PAD:-HZ_PAD, :]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/augment/edm-geometric.json'
    rng = np.random.default_rng(0)
    img = np.round(rng.uniform(-1, 1, (3, 12, 12)), 6)
    cases = [
        dict(s=1.3, rot=0, aniso=0, r=0, tx=0, ty=0),
        dict(s=0, rot=0.9, aniso=0, r=0, tx=0, ty=0),
        dict(s=0, rot=0, aniso=-1.4, r=2.1, tx=0, ty=0),
        dict(s=0, rot=0, aniso=0, r=0, tx=0.37, ty=-0.52),
        dict(s=-0.8, rot=-2.2, aniso=1.1, r=0.7, tx=0.3, ty=-0.6),
    ]
    res = [np.round(pipe(img, **c), 8).tolist() for c in cases]
    with open(out, 'w') as f:
        json.dump(dict(image=img.tolist(), cases=cases, out=res), f)
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
