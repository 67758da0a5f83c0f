"""Shared helpers of the benchmark scripts: machine description, timing, memory, the
toy models and sweep configs that the benchmarks train, and an atomic JSON write.

Conventions used by every benchmark here:

* A *model-sample* is one input seen by one SAE; a sweep of M models on batches of B
  inputs processes ``M · B`` model-samples per step.
* FLOP are counted as ``6 · B · d · h`` per model-step (encoder and decoder matmuls,
  forward and backward; see :func:`train_flop_per_sample`).  Sampling the inputs,
  the BatchTopK threshold and Adam are not counted, so the fraction of the matmul peak
  is a lower bound on how busy the machine is.
* Timings are medians over repeats after a warm-up; compilation is timed separately
  (ahead-of-time ``jit(...).lower(...).compile()``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import ndtri

from toysae import presets
from toysae.config import CorrelationSpec, SAEConfig, SweepConfig, ToyConfig, TrainConfig
from toysae.correlation import cholesky_factor
from toysae.generator import ToyModel, build_toy, correlation_matrix
from toysae.store import atomic_write

# On a GPU, JAX grabs 75% of its memory at start-up by default; the benchmark process
# and the fresh processes it starts for peak-memory measurements would then starve each
# other.  Read when the backend starts (first device use), so setting it here is enough.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

BATCH = 1024
MAIN_PRESET = "paper-main"
MAIN_WIDTH = 50
MAIN_DIM = 100
# Near-orthogonal features run 1000 Adam steps on a [g, g] Gram matrix (about
# 6·g²·d FLOP a step); above this g²·d the benchmarks use random unit directions.
NEAR_ORTHOGONAL_MAX_G2D = 512 * 512 * 256
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo, else :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def memory_total_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                             capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, text=True, capture_output=True, timeout=10).stdout
        return out + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_label() -> str:
    """Automatic description of the default JAX device, e.g. ``"CPU: AMD EPYC (2
    cores)"`` or ``"GPU: NVIDIA H100 80GB HBM3 (x1)"``."""
    devs = jax.devices()
    dev = devs[0]
    if dev.platform == "cpu":
        return f"CPU: {cpu_model()} ({usable_cores()} cores)"
    kind = getattr(dev, "device_kind", dev.platform)
    return f"{dev.platform.upper()}: {kind} (x{len(devs)})"


def machine_info() -> dict:
    """What ran the benchmarks: CPU, cores, memory, JAX and its devices, date."""
    import jaxlib

    devs = jax.devices()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return dict(
        cpu_model=cpu_model(),
        cores=os.cpu_count(),
        usable_cores=usable_cores(),
        memory_bytes=memory_total_bytes(),
        platform=platform.platform(),
        python=platform.python_version(),
        jax=jax.__version__,
        jaxlib=getattr(jaxlib, "__version__", None),
        backend=jax.default_backend(),
        devices=[str(d) for d in devs],
        device_kinds=sorted({getattr(d, "device_kind", d.platform) for d in devs}),
        load_average_at_start=list(load) if load else None,
        date=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        git_commit=git_commit(),
    )


# --------------------------------------------------------------------------- memory


def max_rss_bytes() -> int:
    """Peak resident set size of this process so far.

    On Linux, ``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` survives ``exec``, so
    an isolated job started by a large parent (the suite after the SAELens baseline has
    loaded PyTorch: 1.5 GiB) would report the parent's peak instead of its own
    (measured: 1,499 MiB for all three scaling sizes).  Elsewhere ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss) if sys.platform == "darwin" else int(rss) * 1024  # Linux: KiB


def device_peak_bytes() -> int | None:
    """``peak_bytes_in_use`` of the default device where JAX reports it (GPU, TPU);
    None on CPU."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - backends without memory stats raise various errors
        return None
    if not stats:
        return None
    peak = stats.get("peak_bytes_in_use")
    return int(peak) if peak is not None else None


def memory_report(scope: str, baseline_rss: int | None = None) -> dict:
    """Peak host RSS (and device peak where available) of this process.

    ``scope`` says what the figure covers: ``"subprocess"`` (a fresh process that ran
    one configuration) or ``"process"`` (the whole benchmark run so far).
    """
    return dict(scope=scope, peak_rss_bytes=max_rss_bytes(),
                rss_after_jax_init_bytes=baseline_rss,
                device_peak_bytes=device_peak_bytes())


def compiled_memory(compiled) -> dict | None:
    """XLA's own accounting of a compiled program's buffers, in bytes."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend implements it
        return None
    if m is None:
        return None
    keys = ("argument_size_in_bytes", "output_size_in_bytes", "alias_size_in_bytes",
            "temp_size_in_bytes", "generated_code_size_in_bytes")
    return {k.replace("_size_in_bytes", "_bytes"): int(getattr(m, k, 0) or 0) for k in keys}


# --------------------------------------------------------------------------- timing


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict:
    """Runs ``fn`` ``warmup`` times untimed, then ``repeats`` times timed.

    ``fn`` must block until its work is done.  Returns ``median_s`` and ``times_s``.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return dict(median_s=float(np.median(times)), times_s=[round(t, 6) for t in times])


def matmul_gflops(n: int = 1024, repeats: int = 20) -> dict:
    """Median float32 GFLOP/s of a jitted ``n×n @ n×n`` matmul on the default device."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    res = median_seconds(lambda: f(a, b).block_until_ready(), repeats, warmup=2)
    return dict(n=n, repeats=repeats, gflops=2 * n**3 / res["median_s"] / 1e9,
                median_s=res["median_s"])


def train_flop_per_sample(dim: int, width: int) -> int:
    """FLOP per model-sample of one training step: ``6 · d · h`` (x W_enc and acts
    W_dec forward, and both of their weight- and input-gradient matmuls backward)."""
    return 6 * dim * width


def gflops_of(samples_s: float, dim: int, width: int) -> float:
    return samples_s * train_flop_per_sample(dim, width) / 1e9


# --------------------------------------------------------------------------- toys


def main_toy() -> tuple[ToyModel, ToyConfig, dict]:
    """The ``paper-main`` preset: its arrays, config, and a description."""
    t0 = time.perf_counter()
    cfg = presets.get(MAIN_PRESET)
    toy = build_toy(cfg)
    jax.block_until_ready(toy)
    return toy, cfg, dict(name=MAIN_PRESET, n_features=cfg.n_features, dim=cfg.dim,
                          correlation="paper", features="orthogonal",
                          true_l0=round(cfg.true_l0, 4), build_s=time.perf_counter() - t0)


def scaled_ramp(g: int) -> tuple[float, float]:
    """The main toy's firing ramp scaled by ``50 / g``: true L0 stays 10.95 at any g."""
    return (0.345 * 50 / g, 0.05 * 50 / g)


def feature_kind(g: int, d: int) -> str:
    """``orthogonal`` where g <= d, ``near_orthogonal`` where its optimisation is cheap,
    else ``random`` (Gaussian rows normalised: near-orthogonal in high dimension,
    |cos| ~ 1/sqrt(d), without the O(g²·d)-per-step Adam optimisation)."""
    if g <= d:
        return "orthogonal"
    return "near_orthogonal" if g * g * d <= NEAR_ORTHOGONAL_MAX_G2D else "random"


def random_unit_features(g: int, d: int, seed: int = 0) -> jax.Array:
    f = jax.random.normal(jax.random.key(seed), (g, d), jnp.float32)
    return f / jnp.linalg.norm(f, axis=1, keepdims=True)


def toy_from_arrays(cfg: ToyConfig, features, chol: np.ndarray | None) -> ToyModel:
    """A :class:`ToyModel` with the firing law and magnitudes of ``cfg`` but the given
    feature directions and copula factor (None: uncorrelated), as ``build_toy`` does."""
    g = cfg.n_features
    probs = np.asarray(cfg.firing_probs(), np.float64)
    return ToyModel(
        features=jnp.asarray(features, jnp.float32),
        probs=jnp.asarray(probs, jnp.float32),
        thresholds=jnp.asarray(ndtri(1.0 - probs), jnp.float32),
        chol=jnp.asarray(np.eye(g) if chol is None else chol, jnp.float32),
        mu=jnp.full((g,), cfg.mu, jnp.float32),
        sigma=jnp.full((g,), cfg.sigma, jnp.float32),
        correlated=chol is not None,
    )


def sized_toy(g: int, d: int, correlation: str = "none", features: str | None = None,
              ) -> tuple[ToyModel, ToyConfig, dict]:
    """A toy with g features in R^d for the scaling benchmarks.

    ``(50, 100)`` with the paper's correlation is the ``paper-main`` preset.  Otherwise:
    the main toy's ramp scaled to keep true L0 at 10.95, magnitudes ReLU(1 + 0.15 ε),
    the given correlation kind, and feature directions by :func:`feature_kind` (or
    ``features``).  ``build_s`` is the time it took to build.
    """
    if (g, d) == (50, MAIN_DIM) and correlation == "paper" and features in (None, "orthogonal"):
        return main_toy()
    kind = features or feature_kind(g, d)
    t0 = time.perf_counter()
    cfg = ToyConfig(n_features=g, dim=d, ramp=scaled_ramp(g),
                    correlation=CorrelationSpec(kind=correlation),
                    features="near_orthogonal" if kind == "random" else kind)
    if kind == "random":
        corr = correlation_matrix(cfg)
        toy = toy_from_arrays(cfg, random_unit_features(g, d, cfg.feature_seed),
                              None if corr is None else cholesky_factor(corr))
    else:
        toy = build_toy(cfg)
    jax.block_until_ready(toy)
    return toy, cfg, dict(name=f"g{g}-d{d}", n_features=g, dim=d, correlation=correlation,
                     features=kind, true_l0=round(cfg.true_l0, 4),
                     build_s=time.perf_counter() - t0)


# --------------------------------------------------------------------------- configs


def sweep_ks_seeds(n_models: int) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """k = 1..M on seed 0 for M <= 25; else k = 1..25 on M / 25 seeds (M = 125 is the
    paper's main sweep: k = 1..25 × 5 seeds)."""
    if n_models <= 25:
        return tuple(float(k) for k in range(1, n_models + 1)), (0,)
    if n_models % 25:
        raise ValueError(f"models={n_models}: above 25 the model count must be a multiple "
                         "of 25 (k = 1..25 on M/25 seeds)")
    return tuple(float(k) for k in range(1, 26)), tuple(range(n_models // 25))


def sweep_config(n_models: int, *, length: int, toy_cfg: ToyConfig | None = None,
                 width: int = MAIN_WIDTH, batch: int = BATCH, dead_steps: int | None = None,
                 ks: tuple[float, ...] | None = None, seeds: tuple[int, ...] | None = None,
                 total_steps: int = 10**6, arch: str | None = None) -> SweepConfig:
    """A sweep of ``n_models`` SAEs (see :func:`sweep_ks_seeds`) with chunks of
    ``length`` steps.  ``dead_steps=None`` keeps the package default.  ``arch`` (None:
    the default, BatchTopK) names another architecture; one whose column is λ gets as
    many λ values, geometric from 0.03 to 1.5, as the k grid has k values."""
    if ks is None:
        ks, seeds = sweep_ks_seeds(n_models)
    kw = {} if dead_steps is None else {"dead_steps": dead_steps}
    columns = {"ks": ks}
    if arch is not None:  # (an import of toysae.saes here: baselines predate it)
        from toysae import saes

        kw["arch"] = arch
        if saes.get(arch).column == "lambda":
            columns = {"lambdas": tuple(float(v) for v in np.geomspace(0.03, 1.5, len(ks)))}
    return SweepConfig(
        toy=toy_cfg or presets.get(MAIN_PRESET), sae=SAEConfig(width=width, **kw),
        train=TrainConfig(samples=batch * total_steps, batch_size=batch, chunk_steps=length),
        seeds=seeds or (0,), **columns,
    )


# --------------------------------------------------------------------------- output


def atomic_write_json(path: str | os.PathLike, data: dict) -> None:
    """Writes ``data`` as indented JSON to ``path`` atomically
    (:func:`toysae.store.atomic_write`: a reader never sees a half-written file); when
    ``path`` is a committed results file, its report blocks in ``docs/`` are rewritten
    from it (``experiments/reports.py``)."""
    atomic_write(path, json.dumps(data, indent=2, default=_json_default) + "\n")
    write_reports_for(path)


def write_reports_for(path: str | os.PathLike) -> list[str]:
    """Rewrites the docs' report blocks rendered from ``path``
    (``experiments/reports.py``; nothing for a scratch file)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    import reports

    return reports.write_for(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` to ``path`` atomically (:func:`toysae.store.atomic_write`)."""
    atomic_write(path, text)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
