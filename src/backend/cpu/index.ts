/**
 * The reference backend: every kernel in plain TypeScript over typed arrays. CI, the quickstart and the
 * CUDA conformance suite all run on it. The heavy kernels spread over worker threads (pool.ts) with
 * results that do not depend on the thread count.
 */
import type { Backend, Conv2dParams } from '../backend.js';
import type { HostArray } from '../../base/dtype.js';
import { philoxFill } from '../../base/philox.js';
import { allocCpu, f32, freeCpu, raw } from './buffer.js';
import * as ew from './elementwise.js';
import * as layout from './layout.js';
import { matmul } from './matmul.js';
import * as conv from './conv.js';
import { oneDnn } from './onednn.js';
import { oneDnnAccepts, oneDnnConv2d, oneDnnConv2dBackwardData, oneDnnConv2dBackwardFilter } from './onednn-conv.js';
import * as gn from './groupnorm.js';
import * as attn from './attention.js';
import * as rs from './resample.js';
import { adamMany, emaMany, nanToNumMany, scaleMany, sumSquaresMany } from './multi-tensor.js';
import { dropout } from './dropout.js';
import { pool2d } from './pool2d.js';
import { batchNormEval } from './batchnorm.js';
import { resizeBilinear } from './bilinear.js';
import { withChannelsLast } from './channels-last.js';

export { cpuPoolStats, cpuThreadCount, setCpuThreadCount } from './pool.js';
export { oneDnnStatus } from './onednn.js';

/** The convolutions: oneDNN's where libdnnl.so.2 loads (onednn.ts) and takes the shape, else the WebAssembly kernels. */
function convolutions(): Pick<Backend, 'conv2d' | 'conv2dBackwardData' | 'conv2dBackwardFilter'> {
  const lib = oneDnn();
  const viaOneDnn = (p: Conv2dParams): boolean => lib !== null && oneDnnAccepts(lib, p);
  return {
    conv2d: (x, w, bias, y, p) => (viaOneDnn(p) ? oneDnnConv2d : conv.conv2d)(f32(x), f32(w), bias ? f32(bias) : null, f32(y), p),
    conv2dBackwardData: (dy, w, dx, p) => (viaOneDnn(p) ? oneDnnConv2dBackwardData : conv.conv2dBackwardData)(f32(dy), f32(w), f32(dx), p),
    conv2dBackwardFilter: (x, dy, dw, p) => (viaOneDnn(p) ? oneDnnConv2dBackwardFilter : conv.conv2dBackwardFilter)(f32(x), f32(dy), f32(dw), p),
  };
}

function create(): Backend {
  const backend: Backend = {
    name: 'cpu',
    alloc: allocCpu,
    free: freeCpu,
    upload: (buf, data) => {
      const d = raw(buf);
      if (d.length < data.length) throw new Error(`upload of ${data.length} elements into a buffer of ${d.length}`);
      d.set(data as never);
    },
    download: (buf, _dtype, length): HostArray => raw(buf).slice(0, length) as HostArray,
    fill: (out, length, value) => void raw(out).fill(value, 0, length),
    cast: (x, xd, out, od, n) => layout.cast(raw(x), xd, raw(out), od, n),
    copyRows: (src, so, ss, dst, d0, ds, rows, len) => layout.copyRows(raw(src), so, ss, raw(dst), d0, ds, rows, len),

    unary: (op, x, out, n) => ew.unary(op, f32(x), f32(out), n),
    unaryBackward: (op, x, dy, dx, n) => ew.unaryBackward(op, f32(x), f32(dy), f32(dx), n),
    affine: (x, out, n, scale, shift) => ew.affine(f32(x), f32(out), n, scale, shift),
    powScalar: (x, out, n, e) => ew.powScalar(f32(x), f32(out), n, e),
    binary: (op, a, b, out, shape) => ew.binary(op, f32(a.buf), a.strides, f32(b.buf), b.strides, f32(out), shape),
    reduceSum: (x, inShape, out, outShape) => layout.reduce('sum', f32(x), inShape, f32(out), outShape),
    reduceMax: (x, inShape, out, outShape) => layout.reduce('max', f32(x), inShape, f32(out), outShape),
    permute: (x, inShape, perm, out) => layout.permute(raw(x), inShape, perm, raw(out)),
    gatherRows: (src, index, out, len) => layout.gatherRows(raw(src), index, raw(out), len),
    scatterAddRows: (src, index, out, len) => layout.scatterAddRows(f32(src), index, f32(out), len),

    matmul: (a, b, c, p) => matmul(f32(a), f32(b), f32(c), p),
    ...convolutions(),
    groupNorm: (x, g, b, y, mean, rstd, p) => gn.groupNormSilu(f32(x), f32(g), f32(b), f32(y), f32(mean), f32(rstd), p),
    groupNormBackward: (x, g, b, mean, rstd, dy, dx, dg, db, p) => gn.groupNormSiluBackward(f32(x), f32(g), f32(b), f32(mean), f32(rstd), f32(dy), f32(dx), f32(dg), f32(db), p),
    attention: (qkv, out, w, p) => attn.attention(f32(qkv), f32(out), f32(w), p),
    attentionBackward: (qkv, w, dout, dqkv, p) => attn.attentionBackward(f32(qkv), f32(w), f32(dout), f32(dqkv), p),
    resample: (x, y, p) => rs.resample(f32(x), f32(y), p),
    resampleBackward: (dy, dx, p) => rs.resampleBackward(f32(dy), f32(dx), p),
    pool2d: (x, y, p) => pool2d(f32(x), f32(y), p),
    batchNormEval: (x, mean, variance, gamma, beta, y, p) => batchNormEval(f32(x), f32(mean), f32(variance), f32(gamma), f32(beta), f32(y), p),
    resizeBilinear: (x, y, p) => resizeBilinear(f32(x), f32(y), p),

    randomUniform: (out, n, key, counter) => philoxFill(f32(out), n, key, counter, false),
    randomNormal: (out, n, key, counter) => philoxFill(f32(out), n, key, counter, true),
    dropout: (x, out, n, p, key, counter) => dropout(f32(x), f32(out), n, p, key, counter),
    adamMany,
    emaMany,
    nanToNumMany,
    sumSquaresMany,
    scaleMany,
    synchronize: () => {},
  };
  return { ...backend, ...withChannelsLast(backend) };
}

let instance: Backend | null = null;

/** The CPU backend (one shared instance). */
export function cpuBackend(): Backend {
  instance ??= create();
  return instance;
}
