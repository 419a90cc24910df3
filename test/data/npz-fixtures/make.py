"""Makes the .npy/.npz fixtures of test/data/npz.test.ts with numpy (python3 make.py in this folder)."""
import numpy as np

rng = np.random.default_rng(7)
arrays = {
    'arr_0': rng.integers(0, 256, size=(2, 3, 4, 3), dtype=np.uint8),
    'mu': rng.standard_normal(5),
    'sigma': np.cov(rng.standard_normal((3, 8))),
    'f32': rng.standard_normal((2, 2)).astype(np.float32),
    'scalar': np.float64(2.5),
}
np.savez('stored.npz', **arrays)
np.savez_compressed('deflated.npz', **arrays)
for name, a in arrays.items():
    np.save(f'{name}.npy', a)
# The values as JSON, to check the reader without numpy.
import json
with open('values.json', 'w') as f:
    json.dump({k: {'shape': list(np.shape(a)), 'values': np.ravel(a).tolist()} for k, a in arrays.items()}, f)
