"""Per-component timings of one training step (ms per step), for M stacked models.

Usage::

  python benchmarks/profile_components.py --models 1 25
  python benchmarks/profile_components.py --models 1 25 --out benchmarks/profile.json

Each component runs ``--length`` times inside one jitted ``lax.fori_loop`` (the loop
index perturbs the input so nothing is hoisted), so dispatch overhead is amortised.
"five matmuls only" times the step's matrix products alone; the "matmul-only ceiling"
line turns it into the model-samples/s no step could pass on this machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import suite_common as common
from quiet import LoadMonitor

from toysae import presets
from toysae.config import SAEConfig, SweepConfig, TrainConfig
from toysae.sae import pre_activations
from toysae.sweep import init_sweep_state, step_options
from toysae.topk import keep_count, nth_largest, row_topk_mask

BATCH = 1024


def timeit(f, *args, length: int, repeats: int = 5) -> float:
    """ms per iteration of ``f(i, *args)`` looped ``length`` times in one program."""

    @jax.jit
    def loop(*args):
        def body(i, acc):
            out = f(i, *args)
            return acc + sum(jnp.sum(leaf.astype(jnp.float32))
                             for leaf in jax.tree.leaves(out)) * 0.0
        return jax.lax.fori_loop(0, length, body, jnp.float32(0))

    loop(*args).block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loop(*args).block_until_ready()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / length * 1e3


def _matmuls(params, x):
    """The five matrix products of a training step and nothing else, for M models on a
    shared batch: encoder (shared x), decoder, and the three gradient products.  Their
    time bounds the step's from below."""
    w_enc, w_dec = params["W_enc"], params["W_dec"]  # [M, d, h], [M, h, d]
    m, d, h = w_enc.shape
    pre = (x @ w_enc.transpose(1, 0, 2).reshape(d, m * h)).reshape(-1, m, h)
    acts = pre.transpose(1, 0, 2)  # [M, B, h]
    err = jnp.einsum("mbh,mhd->mbd", acts, w_dec)  # decode
    g_dec = jnp.einsum("mbh,mbd->mhd", acts, err)  # dL/dW_dec
    g_acts = jnp.einsum("mbd,mhd->mbh", err, w_dec)  # back through the decoder
    g_enc = x.T @ g_acts.transpose(1, 0, 2).reshape(-1, m * h)  # dL/dW_enc, shared x
    return g_dec, g_enc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, nargs="+", default=[1, 25])
    ap.add_argument("--length", type=int, default=20)
    ap.add_argument("--out", type=Path, help="also write the timings as JSON here, with the "
                    "machine and what other processes took of the CPU meanwhile")
    args = ap.parse_args()
    every = {}
    monitor = LoadMonitor().__enter__()
    toy = presets.build("paper-main")
    key = jax.random.key(0)
    for m in args.models:
        cfg = SweepConfig(toy=presets.get("paper-main"), sae=SAEConfig(width=50),
                          train=TrainConfig(samples=BATCH * 1000),
                          ks=tuple(float(k) for k in range(1, m + 1)), seeds=(0,))
        state = init_sweep_state(cfg, toy)
        state = jax.tree.map(lambda a: a[0], state)  # [K, ...]
        ks = jnp.asarray(cfg.ks, jnp.float32)
        x = toy.sample(key, BATCH)[1]
        pre = jax.vmap(pre_activations, in_axes=(0, None))(state.params, x)  # [K, B, h]
        dead = jnp.arange(50) % 2 == 0
        L = args.length
        res = {}
        res["sample x (shared)"] = timeit(
            lambda i, key: toy.sample(jax.random.fold_in(key, i), BATCH)[1], key, length=L)
        res["normal 2x[B,50]"] = timeit(
            lambda i, key: jax.random.normal(jax.random.fold_in(key, i), (2, BATCH, 50)),
            key, length=L)
        res["pre-activations"] = timeit(
            lambda i, p, x: jax.vmap(pre_activations, in_axes=(0, None))(p, x + i * 1e-7),
            state.params, x, length=L)
        res["nth_largest (batch)"] = timeit(
            lambda i, pre, ks: jax.vmap(nth_largest)(pre + i * 1e-7, keep_count(ks, BATCH)),
            pre, ks, length=L)
        res["row_topk_mask (AuxK)"] = timeit(
            lambda i, pre, dead: jax.vmap(row_topk_mask, in_axes=(0, None))(
                jnp.where(dead, pre + i * 1e-7, 0.0), jnp.int32(25)), pre, dead, length=L)
        opts = step_options(cfg)
        # The three AuxK branches of a step (``BatchTopK.train_step``): "off" (no dead
        # latent; hand-written gradients), "all" (#dead <= d // 2; hand-written) and
        # "topk" (general; autodiff), here with every latent counted dead.
        for aux, dead_steps in (("off", 250), ("all", 0), ("topk", 0)):
            arch = dataclasses.replace(opts.arch, dead_steps=dead_steps)
            step = jax.vmap(partial(arch.train_step, opts=opts._replace(arch=arch),
                                    aux=aux), in_axes=(0, None, 0))
            res[f"train_step aux={aux}"] = timeit(
                lambda i, st, x, ks, step=step: step(st, x + i * 1e-7, ks)[0],
                state, x, ks, length=L)
        res["five matmuls only"] = timeit(
            lambda i, p, x: _matmuls(p, x + i * 1e-7), state.params, x, length=L)
        res["where(active) on state"] = timeit(
            lambda i, st: jax.tree.map(lambda a: jnp.where(i < 5, a, a + 1), st), state,
            length=L)
        print(f"--- M = {m} models (ms per step) ---")
        for name, ms in res.items():
            print(f"{name:>28}: {ms:8.3f}")
        floor = res["five matmuls only"]
        print(f"{'matmul-only ceiling':>28}: {m * BATCH / floor * 1e3:,.0f} model-samples/s")
        every[str(m)] = {"ms_per_step": res,
                         "matmul_only_ceiling_samples_s": m * BATCH / floor * 1e3}
    monitor.__exit__(None, None, None)
    if args.out:
        common.atomic_write_json(args.out, {
            "machine": common.machine_info(), "batch": BATCH, "length": args.length,
            "models": every, "load": monitor.result()})


if __name__ == "__main__":
    main()
