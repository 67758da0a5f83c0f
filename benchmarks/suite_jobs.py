"""The measurements of the benchmark suite, each a function of a JSON-able spec.

Every job can run in this process or in a fresh one (``python benchmarks/suite_jobs.py
SPEC_JSON`` prints ``RESULT <json>`` as its last line), so that the peak memory of one
configuration (``ru_maxrss`` of that process, and the device's ``peak_bytes_in_use``
where JAX reports it) is measured on its own.  :func:`run_job` picks either way.

Jobs (``spec["job"]``):

* ``chunk``: the sweep's compiled chunk program (``toysae.sweep.run_chunk``) for M
  stacked models; model-samples/s = M · batch · steps/s.
* ``single``: one SAE trained end to end with ``toysae.sweep.train_sweep`` (the host
  loop between chunks included, state initialisation excluded).
* ``one_at_a_time``: M models trained as M separate ``train_sweep`` runs, one after
  another.
* ``generator``: ``ToyModel.sample`` alone, ``length`` batches per compiled program.
* ``copula``: build a g-feature Gaussian copula (the paper's recipe: raw matrix,
  eigenvalue repair, Cholesky), each phase timed, then its sampling throughput.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import suite_common as common

from toysae import sharding
from toysae import sweep as sweep_mod
from toysae import topk as topk_mod
from toysae.config import SAEConfig, SweepConfig, ToyConfig, TrainConfig
from toysae.correlation import cholesky_factor, paper_random_correlation_raw, repair_psd
from toysae.saes import batchtopk as batchtopk_mod
from toysae.sweep import (
    aux_groups,
    data_keys,
    init_sweep_state,
    run_chunk,
    step_options,
    train_sweep,
)

RESULT_PREFIX = "RESULT "
#: The engine's choices that are read when a program is traced, with the package's
#: defaults; a job spec (or a chunk_pair variant) may set them.
TRACE_CHOICES = {"topk_search": (topk_mod, "SEARCH", topk_mod.SEARCH),
                 "aux_few": (batchtopk_mod, "AUX_FEW", batchtopk_mod.AUX_FEW)}
SCHEDULE = (0, None, True)  # constant k: what train_sweep passes for a plain sweep


def make_toy(spec: dict):
    """``(toy, config, info)`` from ``{"kind": "main"}`` or ``{"kind": "sized", "g",
    "d", "correlation", "features"}``."""
    if spec.get("kind", "main") == "main":
        return common.main_toy()
    return common.sized_toy(int(spec["g"]), int(spec["d"]), spec.get("correlation", "none"),
                            spec.get("features"))


def _compile_chunk(cfg: SweepConfig, toy, state, devices: int = 1,
                   seed_block: int | None = sweep_mod.SEED_BLOCK):
    """AOT-compiles the chunk program for ``cfg``; the executable is also what a later
    plain ``run_chunk`` call with the same shapes uses (jit's cache).  With ``devices``
    > 1, the sharded program (``run_chunk_sharded``) over the first ``devices`` devices,
    with the state, k columns, keys and toy placed as ``train_sweep`` places them.

    Returns ``(compiled, compile_s, args)``; ``compile_s`` is None when this process had
    already compiled the same program (nothing was traced), so no compile time is known.
    ``args`` is ``(state, n_steps, toy, keys, ks)``, placed.
    """
    t = cfg.train
    keys = data_keys(cfg.seeds)
    ks = jnp.asarray(cfg.columns, jnp.float32)
    n_steps = jnp.int32(t.n_steps)
    traces = sweep_mod.TRACE_COUNT["chunk"]
    t0 = time.perf_counter()
    opts = step_options(cfg)
    kw = dict(opts=opts, batch=t.batch_size, length=min(t.chunk_steps, t.n_steps),
              schedule=SCHEDULE)
    if devices > 1:  # as train_sweep places a sharded sweep
        mesh = sharding.model_mesh(jax.devices()[:devices])
        size = sharding.padded_size(len(cfg.columns), devices)
        state = sharding.place(sharding.pad_k(state, size, 1), mesh, sharding.STATE_SPEC)
        ks = sharding.place(sharding.pad_k(ks, size, 0), mesh, sharding.K_SPEC)
        keys, toy = sharding.place((keys, toy), mesh, sharding.REPLICATED)
        compiled = sweep_mod.run_chunk_sharded.lower(
            state, jnp.int32(0), n_steps, toy, keys, ks, ks, mesh=mesh, seed_block=seed_block,
            **kw).compile()
    else:
        compiled = run_chunk.lower(
            state, jnp.int32(0), n_steps, toy, keys, ks, ks,
            groups=aux_groups(len(cfg.columns), opts), seed_block=seed_block,
            **kw,  # as train_sweep does
        ).compile()
    compile_s = time.perf_counter() - t0
    if sweep_mod.TRACE_COUNT["chunk"] == traces:  # cached: compiled earlier in this process
        compile_s = None
    return compiled, compile_s, (state, n_steps, toy, keys, ks)


# --------------------------------------------------------------------------- jobs


def chunk_job(spec: dict) -> dict:
    """Throughput of ``run_chunk`` for ``spec["models"]`` stacked SAEs.

    Spec: ``toy`` (see :func:`make_toy`), ``models``, ``length`` (steps per chunk),
    ``repeats``, ``warmup``, optional ``width``, ``batch``, ``dead_steps``, ``ks``,
    ``arch`` (an architecture's name; default BatchTopK), ``seed_block`` (seeds stepped
    together, default :data:`toysae.sweep.SEED_BLOCK`; null: every seed in one vmap, the
    layout before issue 20), ``topk_search`` (the threshold search's probe rule,
    :data:`toysae.topk.SEARCH`; default the package's), ``aux_few``
    (:data:`toysae.saes.batchtopk.AUX_FEW`), ``devices`` (shard the models
    over this many devices, the CPU's cores split into them: only in a fresh process,
    before JAX starts).
    """
    toy, toy_cfg, toy_info = make_toy(spec.get("toy", {}))
    batch = int(spec.get("batch", common.BATCH))
    width = int(spec.get("width", common.MAIN_WIDTH))
    length = int(spec["length"])
    m = int(spec["models"])
    ks = tuple(float(k) for k in spec["ks"]) if spec.get("ks") else None
    cfg = common.sweep_config(m, length=length, toy_cfg=toy_cfg, width=width, batch=batch,
                              dead_steps=spec.get("dead_steps"), ks=ks,
                              seeds=(0,) if ks else None, arch=spec.get("arch"))
    devices = int(spec.get("devices", 1))
    _set_trace_choices(spec)
    compiled, compile_s, (state, n_steps, toy, keys, ks_arr) = _compile_chunk(
        cfg, toy, init_sweep_state(cfg, toy), devices,
        spec.get("seed_block", sweep_mod.SEED_BLOCK))
    step = [0]
    logs = {}

    def call():
        nonlocal state, logs
        state, logs = compiled(state, jnp.int32(step[0]), n_steps, toy, keys, ks_arr, ks_arr)
        jax.block_until_ready((state, logs))
        step[0] += length

    t0 = time.perf_counter()
    call()
    first_s = time.perf_counter() - t0
    warmup = int(spec.get("warmup", 1))
    start = step[0] + warmup * length
    res = common.median_seconds(call, int(spec["repeats"]), warmup=warmup)
    steps_s = length / res["median_s"]
    samples_s = m * batch * steps_s
    gflops = common.gflops_of(samples_s, toy_info["dim"], width)
    return dict(
        models=m, devices=devices, seed_block=spec.get("seed_block", sweep_mod.SEED_BLOCK),
        topk_search=topk_mod.SEARCH, aux_few=batchtopk_mod.AUX_FEW, batch=batch,
        width=width, dim=toy_info["dim"],
        length=length,
        ks=list(cfg.columns), seeds=list(cfg.seeds), dead_steps=cfg.sae.dead_steps,
        toy=toy_info, compile_s=compile_s, first_call_s=first_s,
        steps_timed=[start, step[0]], median_chunk_s=res["median_s"], times_s=res["times_s"],
        steps_s=steps_s, samples_s=samples_s, gflops=gflops,
        finite=bool(np.all(np.isfinite(np.asarray(logs["loss"])))),
        program_memory=common.compiled_memory(compiled),
    )


def _single_cfg(toy_cfg, k: float, seed: int, steps: int, length: int, batch: int,
                width: int, dead_steps: int | None) -> SweepConfig:
    sae = SAEConfig(width=width) if dead_steps is None else SAEConfig(width=width,
                                                                       dead_steps=dead_steps)
    return SweepConfig(toy=toy_cfg, sae=sae,
                       train=TrainConfig(samples=batch * steps, batch_size=batch,
                                         chunk_steps=length),
                       ks=(float(k),), seeds=(int(seed),))


def _copy(tree):
    return jax.tree.map(jnp.copy, tree)


def single_job(spec: dict) -> dict:
    """One SAE (``k``, seed 0) on the main toy, trained end to end by ``train_sweep`` for
    ``steps`` steps in chunks of ``length``; state initialisation is outside the timer
    (measured once, ``init_s``); compilation is AOT-timed before the runs."""
    toy, toy_cfg, toy_info = common.main_toy()
    batch = int(spec.get("batch", common.BATCH))
    width = int(spec.get("width", common.MAIN_WIDTH))
    steps, length = int(spec["steps"]), int(spec["length"])
    cfg = _single_cfg(toy_cfg, spec.get("k", 11.0), 0, steps, length, batch, width,
                      spec.get("dead_steps"))
    t0 = time.perf_counter()
    state0 = init_sweep_state(cfg, toy)
    jax.block_until_ready(state0)
    init_s = time.perf_counter() - t0
    _, compile_s, _ = _compile_chunk(cfg, toy, _copy(state0))
    finite = []

    def run():
        st = train_sweep(cfg, state=_copy(state0), progress=False, toy=toy)
        jax.block_until_ready(st)
        finite.append(bool(np.all(np.isfinite(np.asarray(st.params["W_dec"])))))

    # _copy is inside the timer but costs microseconds (a few KB of parameters).
    res = common.median_seconds(run, int(spec["repeats"]), warmup=int(spec.get("warmup", 1)))
    samples_s = batch * steps / res["median_s"]
    return dict(
        models=1, k=cfg.ks[0], batch=batch, width=width, dim=toy_info["dim"], steps=steps,
        length=length, dead_steps=cfg.sae.dead_steps, toy=toy_info, init_s=init_s,
        compile_s=compile_s, median_run_s=res["median_s"], times_s=res["times_s"],
        samples_s=samples_s, gflops=common.gflops_of(samples_s, toy_info["dim"], width),
        finite=all(finite),
    )


def one_at_a_time_job(spec: dict) -> dict:
    """The ``models`` SAEs of an M-model sweep (same k values and seeds) trained as M
    separate single-model ``train_sweep`` runs of ``steps`` steps each, one after
    another.  One repeat is the sum of the M runs; model-samples/s is
    ``M · batch · steps`` over the median repeat."""
    toy, toy_cfg, toy_info = common.main_toy()
    batch = int(spec.get("batch", common.BATCH))
    width = int(spec.get("width", common.MAIN_WIDTH))
    steps, length, m = int(spec["steps"]), int(spec["length"]), int(spec["models"])
    ks, seeds = common.sweep_ks_seeds(m)
    cfgs = [_single_cfg(toy_cfg, k, s, steps, length, batch, width, spec.get("dead_steps"))
            for s in seeds for k in ks]
    states = [init_sweep_state(c, toy) for c in cfgs]
    jax.block_until_ready(states)
    _, compile_s, _ = _compile_chunk(cfgs[0], toy, _copy(states[0]))  # one shape for all

    def train(i):
        st = train_sweep(cfgs[i], state=_copy(states[i]), progress=False, toy=toy)
        jax.block_until_ready(st)

    for _ in range(int(spec.get("warmup", 1))):
        train(0)
    totals = []
    for _ in range(int(spec["repeats"])):
        total = 0.0
        for i in range(m):
            t0 = time.perf_counter()
            train(i)
            total += time.perf_counter() - t0
        totals.append(total)
    med = float(np.median(totals))
    samples_s = m * batch * steps / med
    return dict(models=m, steps_per_model=steps, length=length, batch=batch, width=width,
                dim=toy_info["dim"], compile_s=compile_s, median_total_s=med,
                times_s=[round(t, 6) for t in totals], samples_s=samples_s,
                gflops=common.gflops_of(samples_s, toy_info["dim"], width))


_SAMPLE_TRACES = [0]


@partial(jax.jit, static_argnames=("batch", "length"))
def _sample_loop(toy, key, *, batch: int, length: int):
    _SAMPLE_TRACES[0] += 1
    def body(i, acc):
        return acc + jnp.sum(toy.sample(jax.random.fold_in(key, i), batch)[1])

    return jax.lax.fori_loop(0, length, body, jnp.float32(0))


def sample_throughput(toy, *, batch: int, length: int, repeats: int, warmup: int = 1) -> dict:
    """samples/s of ``toy.sample`` (coefficients and inputs x), ``length`` batches per
    compiled call (the sum of x keeps the work from being dropped)."""
    key = jax.random.key(0)
    traces = _SAMPLE_TRACES[0]
    t0 = time.perf_counter()
    compiled = _sample_loop.lower(toy, key, batch=batch, length=length).compile()
    compile_s = time.perf_counter() - t0 if _SAMPLE_TRACES[0] > traces else None
    res = common.median_seconds(lambda: compiled(toy, key).block_until_ready(), repeats,
                                warmup=warmup)
    return dict(batch=batch, length=length, compile_s=compile_s, median_call_s=res["median_s"],
                times_s=res["times_s"], samples_s=batch * length / res["median_s"])


def generator_job(spec: dict) -> dict:
    toy, _, info = make_toy(spec.get("toy", {}))
    out = sample_throughput(toy, batch=int(spec.get("batch", common.BATCH)),
                            length=int(spec["length"]), repeats=int(spec["repeats"]),
                            warmup=int(spec.get("warmup", 1)))
    return dict(toy=info, correlated=bool(toy.correlated), **out)


def surrogate_cholesky(g: int, seed: int = 0) -> np.ndarray:
    """A dense lower-triangular factor with unit rows and a positive diagonal: the
    Cholesky factor of a valid correlation matrix, built in O(g²).  Sampling with it
    costs exactly what sampling with any other dense g×g factor costs."""
    rng = np.random.default_rng(seed)
    low = np.tril(rng.standard_normal((g, g)))
    np.fill_diagonal(low, np.abs(np.diag(low)) + 1.0)
    return low / np.linalg.norm(low, axis=1, keepdims=True)


def build_copula(g: int, kind: str) -> tuple[np.ndarray, dict]:
    """A dense ``[g, g]`` copula factor and the seconds its phases took: ``kind``
    ``"paper"`` is the paper's recipe (raw matrix, eigenvalue repair, Cholesky, each
    timed), ``"surrogate"`` :func:`surrogate_cholesky`."""
    t0 = time.perf_counter()
    if kind == "paper":
        raw = paper_random_correlation_raw(g, 42)
        t1 = time.perf_counter()
        corr = repair_psd(raw)
        del raw
        t2 = time.perf_counter()
        chol = cholesky_factor(corr)
        del corr
        t3 = time.perf_counter()
        return chol, dict(raw_s=t1 - t0, repair_s=t2 - t1, cholesky_s=t3 - t2, total_s=t3 - t0)
    if kind == "surrogate":
        chol = surrogate_cholesky(g)
        return chol, dict(total_s=time.perf_counter() - t0)
    raise ValueError(f"copula kind={kind!r}; expected 'paper' or 'surrogate'")


def copula_job(spec: dict) -> dict:
    """Builds a ``g``-feature copula (``kind`` ``"paper"``: the paper's recipe, each
    phase timed; ``"surrogate"``: :func:`surrogate_cholesky`) for a toy with ``d``
    dimensions, then measures its sampling throughput."""
    g, d, kind = int(spec["g"]), int(spec["d"]), spec.get("kind", "paper")
    cfg = ToyConfig(n_features=g, dim=d, ramp=common.scaled_ramp(g),
                           features="near_orthogonal" if g > d else "orthogonal")
    chol, build = build_copula(g, kind)
    build.update(kind=kind, n_features=g)
    toy = common.toy_from_arrays(cfg, common.random_unit_features(g, d), chol)
    del chol
    out = sample_throughput(toy, batch=int(spec.get("batch", common.BATCH)),
                            length=int(spec["length"]), repeats=int(spec["repeats"]),
                            warmup=int(spec.get("warmup", 1)))
    info = dict(name=f"g{g}-d{d}", n_features=g, dim=d, correlation=kind, features="random")
    return dict(toy=info, correlated=True, build=build, **out)


def _set_trace_choices(spec: dict) -> None:
    """Sets each of :data:`TRACE_CHOICES` to ``spec``'s value, else the default."""
    for key, (module, name, default) in TRACE_CHOICES.items():
        setattr(module, name, spec.get(key, default))


def chunk_pair_job(spec: dict) -> dict:
    """Two variants of ``run_chunk`` timed in one process, chunk by chunk in turn.

    On a host whose speed drifts (other virtual machines), two programs timed in
    separate processes minutes apart can differ by more than a lever's effect; timed
    in turn, each pair of adjacent chunks sees the same machine.  Spec: as
    :func:`chunk_job` (``toy``, ``models``, ``length``, ``repeats``, ``warmup``,
    ``dead_steps``) plus ``variants``: ``{name: {"topk_search": ..., "seed_block":
    ..., "aux_few": ...}}``, exactly two.  Each variant is compiled after
    ``jax.clear_caches()`` (the probe rule and ``AUX_FEW`` are read when traced) from
    the same initial state, and both advance in step, so they time the same phase of
    training.  Returns per variant the chunk times and rate, and the paired ratios
    (first over second) of each round.
    """
    toy, toy_cfg, toy_info = make_toy(spec.get("toy", {}))
    length, m = int(spec["length"]), int(spec["models"])
    cfg = common.sweep_config(m, length=length, toy_cfg=toy_cfg, width=common.MAIN_WIDTH,
                              batch=common.BATCH, dead_steps=spec.get("dead_steps"))
    names = list(spec["variants"])
    if len(names) != 2:
        raise ValueError(f"variants={names}; expected exactly two")
    runs = {}
    for name in names:
        v = spec["variants"][name]
        _set_trace_choices(v)
        jax.clear_caches()
        compiled, compile_s, args = _compile_chunk(
            cfg, toy, init_sweep_state(cfg, toy), 1, v.get("seed_block", sweep_mod.SEED_BLOCK))
        runs[name] = dict(compiled=compiled, args=list(args), compile_s=compile_s, times=[])

    def call(name, step):
        r = runs[name]
        state, n_steps, toy_, keys, ks = r["args"]
        state, logs = r["compiled"](state, jnp.int32(step), n_steps, toy_, keys, ks, ks)
        jax.block_until_ready((state, logs))
        r["args"][0] = state

    step = 0
    for _ in range(int(spec.get("warmup", 1))):
        for name in names:
            call(name, step)
        step += length
    paired = []
    for i in range(int(spec["repeats"])):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            t0 = time.perf_counter()
            call(name, step)
            runs[name]["times"].append(time.perf_counter() - t0)
        step += length
        paired.append(runs[names[1]]["times"][-1] / runs[names[0]]["times"][-1])
    return dict(
        models=m, length=length, batch=common.BATCH, toy=toy_info, steps_timed=step,
        variants={n: dict(spec["variants"][n], compile_s=runs[n]["compile_s"],
                          times_s=[round(t, 6) for t in runs[n]["times"]],
                          samples_s=m * common.BATCH * length
                          / float(np.median(runs[n]["times"])))
                  for n in names},
        paired_ratios=paired, median_paired_ratio=float(np.median(paired)),
    )


JOBS = dict(chunk=chunk_job, chunk_pair=chunk_pair_job, single=single_job,
            one_at_a_time=one_at_a_time_job,
            generator=generator_job, copula=copula_job)


# --------------------------------------------------------------------------- running


def _jax_ready_rss() -> int:
    jax.devices()  # initialise the backend
    return common.max_rss_bytes()


def run_job(spec: dict, *, isolate: bool, timeout: float | None = None) -> dict:
    """Runs one job here (memory scope ``"process"``: the whole run so far) or in a
    fresh Python process (scope ``"subprocess"``: this configuration alone).

    Raises:
      TimeoutError: the subprocess ran past ``timeout`` seconds.
      RuntimeError: the subprocess failed (its stderr tail is in the message).
    """
    if not isolate:
        out = JOBS[spec["job"]](spec)
        out["memory"] = common.memory_report("process")
        return out
    cmd = [sys.executable, str(Path(__file__).resolve()), json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=common.REPO)
    except subprocess.TimeoutExpired as e:
        raise TimeoutError(f"{spec['job']} job ran past {timeout:.0f} s") from e
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise RuntimeError(f"{spec['job']} job failed (exit {proc.returncode}):\n"
                           + "\n".join(tail))
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    if int(spec.get("devices", 1)) > 1:  # before the backend starts
        jax.config.update("jax_num_cpu_devices", int(spec["devices"]))
    baseline = _jax_ready_rss()
    out = JOBS[spec["job"]](spec)
    out["memory"] = common.memory_report("subprocess", baseline)
    print(RESULT_PREFIX + json.dumps(out, default=common._json_default), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
