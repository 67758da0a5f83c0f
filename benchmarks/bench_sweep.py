"""Throughput of the sweep's chunk program (``toysae.sweep.run_chunk``) on this machine.

Usage::

  python benchmarks/bench_sweep.py                     # M = 1, 5, 25, 125
  python benchmarks/bench_sweep.py --models 1 25 --length 100 --repeats 5

For M models (``k = 1..M`` on one seed; M = 125 is 5 seeds × k = 1..25) on the
"paper-main" toy (50 features, d = 100, SAE width 50, batch 1024) it reports the
compile time (first call) separately, then the median over ``--repeats`` timed calls
of steps/s and model-samples/s (models × batch × steps/s).  It also measures this
machine's float32 matmul rate (median of a jitted 1024×1024 @ 1024×1024 matmul) and
the achieved fraction of it, counting ~6·B·d·h FLOP per model-step for the encoder and
decoder forward and backward matmuls.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from toysae import presets
from toysae.config import SAEConfig, SweepConfig, TrainConfig
from toysae.sweep import data_keys, init_sweep_state, run_chunk, step_options

BATCH, DIM, WIDTH = 1024, 100, 50


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
    """Median float32 GFLOP/s of a jitted ``n×n @ n×n`` matmul."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    f(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(a, b).block_until_ready()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / float(np.median(times)) / 1e9


def sweep_config(n_models: int, length: int, dead_steps: int) -> SweepConfig:
    if n_models <= 25:
        ks, seeds = tuple(float(k) for k in range(1, n_models + 1)), (0,)
    else:
        assert n_models % 25 == 0, n_models
        ks, seeds = tuple(float(k) for k in range(1, 26)), tuple(range(n_models // 25))
    return SweepConfig(
        toy=presets.get("paper-main"),
        sae=SAEConfig(width=WIDTH, dead_steps=dead_steps),
        train=TrainConfig(samples=BATCH * 10**6, batch_size=BATCH, chunk_steps=length),
        ks=ks, seeds=seeds,
    )


def bench(n_models: int, length: int, repeats: int, dead_steps: int) -> dict:
    cfg = sweep_config(n_models, length, dead_steps)
    toy = presets.build("paper-main")
    state = init_sweep_state(cfg, toy)
    keys = data_keys(cfg.seeds)
    ks = jnp.asarray(cfg.ks, jnp.float32)
    kw = dict(opts=step_options(cfg), batch=BATCH, length=length, schedule=(0, None, True))
    n_steps = jnp.int32(cfg.train.n_steps)

    def call(state, step):
        state, logs = run_chunk(state, jnp.int32(step), n_steps, toy, keys, ks, ks, **kw)
        jax.block_until_ready((state, logs))
        return state

    t0 = time.perf_counter()
    state = call(state, 0)
    compile_s = time.perf_counter() - t0
    state = call(state, length)  # warm-up
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        state = call(state, (r + 2) * length)
        times.append(time.perf_counter() - t0)
    sps = length / float(np.median(times))
    return dict(models=n_models, compile_s=compile_s, steps_s=sps,
                samples_s=n_models * BATCH * sps,
                gflops=n_models * sps * 6 * BATCH * DIM * WIDTH / 1e9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, nargs="+", default=[1, 5, 25, 125])
    ap.add_argument("--length", type=int, default=50, help="steps per timed chunk")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dead-steps", type=int, default=250,
                    help="SAE dead_steps (small values keep AuxK busy)")
    args = ap.parse_args()
    print(f"jax {jax.__version__}, devices {jax.devices()}")
    peak = matmul_gflops()
    print(f"f32 matmul 1024^3: {peak:.1f} GFLOP/s (median)")
    print(f"{'M':>4} {'compile s':>9} {'steps/s':>9} {'model-samples/s':>16} "
          f"{'GFLOP/s':>8} {'of matmul':>9}")
    for m in args.models:
        r = bench(m, args.length, args.repeats, args.dead_steps)
        print(f"{m:>4} {r['compile_s']:>9.2f} {r['steps_s']:>9.1f} {r['samples_s']:>16,.0f} "
              f"{r['gflops']:>8.1f} {r['gflops'] / peak:>9.1%}", flush=True)
    print(f"f32 matmul 1024^3: {matmul_gflops():.1f} GFLOP/s (median, after)")


if __name__ == "__main__":
    main()
