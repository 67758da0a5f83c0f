"""Golden-file check of the training step (moved from ``benchmarks/check_reference.py``,
issue 18): short sweeps on the main toy end in the same state as when the golden file was
written, so a speed change that alters the numbers beyond float rounding is caught.

Two runs of 3 models (k = 1, 1.8, 11; seed 0; width 50; batch 1024; 200 steps in chunks of
128, so the last chunk has an inactive tail): ``dead_steps`` = 250 (no latent goes dead)
and 5 (AuxK and resampling active).  The golden file keeps, per state leaf and per chunk
log, three float64 fingerprints (sum, sum of squares, and the dot product with a fixed
random vector) and the sha256 of the exact bytes; the test asserts the fingerprints to
1e-4 relative (ours: rounding differences from another XLA build stay far below it, a
changed step does not) and reports, without failing, whether the bytes are identical.

Regenerate after an intended change of the numbers (and say so in the commit):
``python tests/test_golden_step.py``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from toysae import presets
from toysae.config import SAEConfig, SweepConfig, TrainConfig
from toysae.sweep import data_keys, init_sweep_state, run_chunk, step_options

GOLDEN = Path(__file__).parent / "data" / "golden_step.json"
N_STEPS, LENGTH = 200, 128


def final_state(dead_steps: int) -> dict[str, np.ndarray]:
    """Every leaf of the sweep state after ``N_STEPS`` steps, and every chunk's logs."""
    cfg = SweepConfig(toy=presets.get("paper-main"),
                      sae=SAEConfig(width=50, dead_steps=dead_steps),
                      train=TrainConfig(samples=1024 * N_STEPS, chunk_steps=LENGTH),
                      ks=(1.0, 1.8, 11.0), seeds=(0,))
    toy = presets.build("paper-main")
    state = init_sweep_state(cfg, toy)
    keys = data_keys(cfg.seeds)
    ks = jnp.asarray(cfg.ks, jnp.float32)
    out = {}
    for i, step in enumerate(range(0, N_STEPS, LENGTH)):
        state, logs = run_chunk(state, jnp.int32(step), jnp.int32(N_STEPS), toy, keys, ks, ks,
                                opts=step_options(cfg), batch=1024, length=LENGTH,
                                schedule=(0, None, True))
        for name, v in logs.items():
            out[f"d{dead_steps}/logs{i}/{name}"] = np.asarray(v)
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        out[f"d{dead_steps}/" + jax.tree_util.keystr(path)] = np.asarray(leaf)
    return out


def fingerprint(a: np.ndarray) -> dict:
    x = np.asarray(a, np.float64).ravel()
    probe = np.random.default_rng(0).standard_normal(x.size)
    return {"shape": list(a.shape), "dtype": str(a.dtype), "sum": float(x.sum()),
            "sumsq": float((x * x).sum()), "probe": float(x @ probe),
            "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()}


def fingerprints() -> dict[str, dict]:
    arrays = {**final_state(250), **final_state(5)}
    return {name: fingerprint(a) for name, a in sorted(arrays.items())}


def test_training_step_matches_the_golden_file():
    golden = json.loads(GOLDEN.read_text())["arrays"]
    now = fingerprints()
    assert set(now) == set(golden), set(now) ^ set(golden)
    bad = []
    for name, ref in golden.items():
        got = now[name]
        assert got["shape"] == ref["shape"] and got["dtype"] == ref["dtype"], name
        for key in ("sum", "sumsq", "probe"):
            scale = max(abs(ref[key]), abs(ref["sumsq"]) ** 0.5, 1e-6)
            if abs(got[key] - ref[key]) > 1e-4 * scale:
                bad.append(f"{name} {key}: {got[key]!r} != {ref[key]!r}")
    assert not bad, "the training step changed its numbers:\n" + "\n".join(bad[:20])
    exact = sum(now[n]["sha256"] == golden[n]["sha256"] for n in golden)
    print(f"{exact} of {len(golden)} arrays bit-identical to the golden file")


def test_fingerprint_detects_a_small_change():
    """The fingerprints are sensitive: one entry moved by 1e-3 of the array's scale."""
    a = np.random.default_rng(1).standard_normal((50, 100)).astype(np.float32)
    b = a.copy()
    b[7, 3] += 1e-3 * np.sqrt((a.astype(np.float64) ** 2).sum())
    fa, fb = fingerprint(a), fingerprint(b)
    scale = fa["sumsq"] ** 0.5
    assert max(abs(fa[k] - fb[k]) for k in ("sum", "probe")) > 1e-4 * scale


if __name__ == "__main__":
    from toysae.store import atomic_write

    rev = sys.argv[1] if len(sys.argv) > 1 else None
    atomic_write(GOLDEN, json.dumps({"written_at": rev, "arrays": fingerprints()},
                                    indent=1) + "\n")
    print(f"wrote {GOLDEN}")
