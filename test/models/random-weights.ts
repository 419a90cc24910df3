import * as T from '../../src/tensor/index.js';
import type { Module } from '../../src/nn/index.js';

/**
 * Overwrites every parameter with N(0, 1/fan_in) weights and N(1, 0.2^2) norm scales: unlike EDM's init
 * (whose near-zero output convs make every decoder's output nearly zero), every path then matters, so a
 * sample sent to the wrong decoder or a missing gradient shows.
 */
export function randomizeParameters(module: Module, seed: number): void {
  const g = new T.Generator(seed);
  T.noGrad(() =>
    T.tidy(() => {
      for (const [name, p] of module.namedParameters()) {
        const fanIn = p.ndim > 1 ? p.size / p.shape[0] : 1;
        const isScale = p.ndim === 1 && name.endsWith('weight');
        const v = T.affine(g.normal(p.shape), isScale ? 0.2 : p.ndim > 1 ? 1 / Math.sqrt(fanIn) : 0.2, isScale ? 1 : 0);
        p.backend.copyRows(v.buffer, 0, 0, p.buffer, 0, 0, 1, p.size);
      }
    }),
  );
}
