"""Exactness check of the training step: saves / compares the final state of short sweeps.

Usage::

  python benchmarks/check_reference.py save  PATH.npz   # before a change
  python benchmarks/check_reference.py check PATH.npz   # after it

Runs 3 models (k = 1, 1.8, 11 on seed 0 of "paper-main", width 50, batch 1024) for 200
steps in chunks of 128 (so the last chunk has an inactive tail), once with the default
``dead_steps`` (no dead latents) and once with ``dead_steps=5`` (AuxK active).
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from toysae import presets
from toysae.config import SAEConfig, SweepConfig, TrainConfig
from toysae.sweep import data_keys, init_sweep_state, run_chunk, step_options


def run(dead_steps: int, n_steps: int = 200, length: int = 128) -> dict[str, np.ndarray]:
    cfg = SweepConfig(toy=presets.get("paper-main"), sae=SAEConfig(width=50, dead_steps=dead_steps),
                      train=TrainConfig(samples=1024 * n_steps, chunk_steps=length),
                      ks=(1.0, 1.8, 11.0), seeds=(0,))
    toy = presets.build("paper-main")
    state = init_sweep_state(cfg, toy)
    keys = data_keys(cfg.seeds)
    ks = jnp.asarray(cfg.ks, jnp.float32)
    logs_all = []
    for step in range(0, n_steps, length):
        state, logs = run_chunk(state, jnp.int32(step), jnp.int32(n_steps), toy, keys, ks, ks,
                                opts=step_options(cfg), batch=1024, length=length,
                                schedule=(0, None, True))
        logs_all.append(logs)
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        out[f"d{dead_steps}/" + jax.tree_util.keystr(path)] = np.asarray(leaf)
    for i, logs in enumerate(logs_all):
        for name, v in logs.items():
            out[f"d{dead_steps}/logs{i}/{name}"] = np.asarray(v)
    return out


def main():
    mode, path = sys.argv[1], sys.argv[2]
    res = {**run(250), **run(5)}
    if mode == "save":
        np.savez(path, **res)
        print(f"saved {len(res)} arrays to {path}")
        return
    ref = dict(np.load(path))
    assert set(ref) == set(res), set(ref) ^ set(res)
    worst = 0.0
    for name in sorted(ref):
        a, b = ref[name], res[name]
        if a.dtype.kind in "iub":
            ok = np.array_equal(a, b)
            err = 0.0 if ok else float(np.max(np.abs(a.astype(np.int64) - b.astype(np.int64))))
        else:
            err = float(np.max(np.abs(a - b) / (np.abs(a) + 1e-3))) if a.size else 0.0
            ok = err < 1e-3
        worst = max(worst, err)
        exact = np.array_equal(a, b)
        if not ok or not exact:
            print(f"{'FAIL' if not ok else 'diff'} {name}: max rel err {err:.3g}")
    print(f"{len(ref)} arrays compared, worst rel err {worst:.3g}")


if __name__ == "__main__":
    main()
