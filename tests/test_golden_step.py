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

The golden file also records the numerics version (:data:`toysae.store.NUMERICS_VERSION`)
it was written at.  After an intended change of the numbers, bump that version (so cached
runs of the old code are retrained, issue 21), then regenerate the file with
``python tests/test_golden_step.py``; the script refuses to write different numbers
under an unchanged version.
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
from toysae.store import NUMERICS_VERSION
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


def differences(golden: dict, now: dict) -> list[str]:
    """Fingerprints of ``now`` that differ from ``golden`` beyond 1e-4 relative."""
    if set(now) != set(golden):
        return [f"arrays added or removed: {sorted(set(now) ^ set(golden))}"]
    bad = []
    for name, ref in golden.items():
        got = now[name]
        if got["shape"] != ref["shape"] or got["dtype"] != ref["dtype"]:
            bad.append(f"{name}: {got['shape']} {got['dtype']} != {ref['shape']} {ref['dtype']}")
            continue
        for key in ("sum", "sumsq", "probe"):
            scale = max(abs(ref[key]), abs(ref["sumsq"]) ** 0.5, 1e-6)
            if abs(got[key] - ref[key]) > 1e-4 * scale:
                bad.append(f"{name} {key}: {got[key]!r} != {ref[key]!r}")
    return bad


def test_training_step_matches_the_golden_file():
    data = json.loads(GOLDEN.read_text())
    assert data["numerics"] == NUMERICS_VERSION, (
        f"NUMERICS_VERSION is {NUMERICS_VERSION} but the golden file was written at "
        f"{data['numerics']}: regenerate it (python tests/test_golden_step.py)")
    from conftest import cpu_key

    # Another CPU model compiles other code: its own numbers, where recorded (issue 19's
    # stop 30 found an AMD EPYC with AVX-512 off the golden file written elsewhere).
    golden = data.get("by_cpu", {}).get(cpu_key(), data["arrays"])
    now = fingerprints()
    bad = differences(golden, now)
    assert not bad, ("the training step changed its numbers; if that is intended, bump "
                     "toysae.store.NUMERICS_VERSION and regenerate the golden file:\n"
                     + "\n".join(bad[:20]))
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
    now = fingerprints()
    if GOLDEN.exists():
        old = json.loads(GOLDEN.read_text())
        if old.get("numerics") == NUMERICS_VERSION and differences(old["arrays"], now):
            sys.exit(f"the numbers differ from {GOLDEN} but NUMERICS_VERSION is still "
                     f"{NUMERICS_VERSION}: bump toysae.store.NUMERICS_VERSION first")
    # A new numerics version starts again from this machine's numbers alone: the other
    # CPU models' entries ("by_cpu") are rewritten on those machines.
    atomic_write(GOLDEN, json.dumps({"written_at": rev, "numerics": NUMERICS_VERSION,
                                     "arrays": now}, indent=1) + "\n")
    print(f"wrote {GOLDEN}")
