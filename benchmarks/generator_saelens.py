"""Input-generation throughput and peak memory: our generator against SAELens's, on
SynthSAEBench-16k, and the 4,096-feature copula before and after the low-rank path.

Usage::

  python benchmarks/generator_saelens.py                # -> benchmarks/generator_saelens.json
  python benchmarks/generator_saelens.py --quick --out /tmp/g.json   # smoke test
  /work/cmpvenv/bin/python benchmarks/generator_saelens.py           # with SAELens installed

Cases (each in a fresh Python process: ``python generator_saelens.py --case NAME``, whose
last stdout line is ``RESULT <json>``), batches of 1,024 inputs:

* ``ours_16k_sparse``: the ``synthsaebench-16k`` preset as it ships (the sparse path:
  at most ``max_active`` active features per input).
* ``ours_16k_dense``: the same config with ``max_active=None`` (every feature draws a
  magnitude; ``x = coeffs @ F``).
* ``saelens_16k``: ``sae_lens.synthetic.SyntheticModel`` built from SAELens's published
  SynthSAEBench-16k configuration (``docs/synth_sae_bench.md``), timed on
  ``model.sample_with_features(1024)``, which returns what ``ToyModel.draw`` does: the
  ``[n, g]`` feature activations and the ``[n, d]`` inputs.  The published config
  orthogonalises the 16,384 feature directions with 100 Adam steps (lr 3e-4); here
  that is **off by default** (``orthogonalization=None``, random unit directions, as
  our preset): on this 2-core machine one step took 43 s, i.e. about an hour for the
  100 steps (``--saelens-orthogonalize`` turns it on).  It changes the directions only,
  so sampling costs the same; the construction memory it would add is not measured.
* ``copula_g4096`` ("before"): 4,096 features in d = 768 with the paper's dense copula,
  built as the suite's ``copula`` job does (the paper's raw matrix, eigenvalue repair,
  Cholesky; each phase timed; ``--copula surrogate`` uses a dense surrogate factor of
  the same size instead, which costs the same to sample with but skips the O(g³)
  build).  Random unit feature directions, the main toy's ramp scaled to true L0 10.95.
* ``independent_g4096``: the same toy without correlation (the suite's case).
* ``low_rank_g4096`` ("after"): the same toy with ``CorrelationSpec(kind="low_rank",
  rank=25, scale=0.1)`` on the dense path; ``low_rank_sparse_g4096`` with it and
  ``max_active=64`` (the sparse path).

What is measured.  Ours: a jitted ``jax.lax.fori_loop`` over ``--length`` batches of
``toy.draw(fold_in(key, i), 1024)`` that sums ``x`` (as the suite's ``_sample_loop``
does; the sum keeps XLA from dropping the work), compiled ahead of time (compile time
reported apart), one untimed warm-up call, then ``--repeats`` timed calls, each with a
new key.  SAELens: ``--length`` calls of ``sample_with_features`` under
``torch.no_grad()`` summing ``x`` per timed repeat, after one untimed warm-up repeat;
model construction is timed apart.  samples/s = 1024 · length / (median seconds per
repeat).  Each case also reports ``mean_active`` (the mean number of nonzero
coefficients per input in one untimed batch) so the two generators' sparsity can be
compared.

Peak memory: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the case's own process
(``peak_rss_bytes``; the libraries it imports included: JAX and toysae, or PyTorch and
SAELens), with ``VmHWM`` of ``/proc/self/status`` (``vm_hwm_bytes``) and the RSS right
after the imports (``rss_after_import_bytes``) alongside.  ``ru_maxrss`` carries over
an ``exec``, so a child started by a large parent would report the parent's peak; the
parent here therefore imports neither JAX nor PyTorch until every case has run.

Threads: both libraries use the machine's cores (``--threads``, default the CPUs this
process may run on): ``torch.set_num_threads``; XLA sizes its intra-op pool from the
same CPU set (``--xla_cpu_multi_thread_eigen=true`` is set explicitly), and
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` are set for both.

Without ``sae_lens`` (or ``torch``) the SAELens case is recorded as skipped, with the
reason, and the rest still runs.  ``--quick`` is a smoke test (1 repeat, 1 batch per
call; the sizes are not shrunk): its numbers are not measurements.  Results are printed
as a table with ratios and written atomically to ``--out``
(``toysae.store.atomic_write``), with the git revision, library versions, the machine's
load average at the start and end, and every repeat's time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = HERE / "generator_saelens.json"
RESULT_PREFIX = "RESULT "
BATCH = 1024
G4096, D4096 = 4096, 768
LOW_RANK = dict(rank=25, scale=0.1)
SPARSE_CAP_4096 = 64  # true L0 10.95: more than 64 active features never happens
SAELENS_INSTALL_HINT = "pip install -e '.[compare]'"

# name -> (side, group, description)
CASES: dict[str, tuple[str, str, str]] = {
    "ours_16k_sparse": ("ours", "16k", "synthsaebench-16k preset, sparse path"),
    "ours_16k_dense": ("ours", "16k", "synthsaebench-16k, max_active=None (dense)"),
    "saelens_16k": ("saelens", "16k", "SAELens SyntheticModel, SynthSAEBench-16k"),
    "copula_g4096": ("ours", "g4096", "g=4096 d=768, dense copula (before)"),
    "independent_g4096": ("ours", "g4096", "g=4096 d=768, no correlation"),
    "low_rank_g4096": ("ours", "g4096", "g=4096 d=768, low rank 25 (after), dense"),
    "low_rank_sparse_g4096": ("ours", "g4096",
                              f"g=4096 d=768, low rank 25, max_active={SPARSE_CAP_4096}"),
}

RESULT_KEYS = ("n_features", "dim", "max_active", "batch", "length", "repeats", "build_s",
               "compile_s", "times_s", "median_call_s", "samples_s", "most_active",
               "mean_active", "finite")
"""Keys of :func:`measure_toy`'s result (and of every case's, SAELens's with
``compile_s`` None)."""


# --------------------------------------------------------------------------- memory


def ru_maxrss_bytes() -> int:
    """``ru_maxrss`` of this process in bytes (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss) if sys.platform == "darwin" else int(rss) * 1024


def _status_bytes(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmHWM``, ``VmRSS``) in bytes; None
    where there is no procfs."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_report(after_import: int | None) -> dict:
    """Peak memory of this (case) process: ``peak_rss_bytes`` (``ru_maxrss``),
    ``vm_hwm_bytes`` (``VmHWM``) and ``rss_after_import_bytes``."""
    return dict(peak_rss_bytes=ru_maxrss_bytes(), vm_hwm_bytes=_status_bytes("VmHWM"),
                rss_after_import_bytes=after_import)


# --------------------------------------------------------------------------- machine


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    """CPU model name (as ``suite_common.cpu_model``, which this parent process cannot
    import: that module imports JAX, and a child's peak RSS would inherit it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def git_revision() -> dict:
    """``{"revision": short HEAD, "dirty": tracked files modified}`` (None where git
    cannot say)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, text=True, capture_output=True,
                              timeout=10, check=True).stdout.strip()

    try:
        rev = git("rev-parse", "--short", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return dict(revision=None, dirty=None)
    return dict(revision=rev, dirty=dirty)


def versions() -> dict:
    """Installed versions (package metadata; nothing is imported)."""
    out = {}
    for name in ("jax", "jaxlib", "toysae", "sae-lens", "torch"):
        try:
            out[name.replace("-", "_")] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name.replace("-", "_")] = None
    return out


def saelens_findable() -> tuple[bool, str | None]:
    """Whether ``sae_lens`` and ``torch`` can be found, without importing them (an
    import here would raise the parent's ``ru_maxrss``, which the children inherit)."""
    missing = [m for m in ("sae_lens", "torch") if importlib.util.find_spec(m) is None]
    if missing:
        return False, (f"SAELens comparison skipped: {', '.join(missing)} not installed "
                       f"(install the optional extra: {SAELENS_INSTALL_HINT})")
    return True, None


def child_env(threads: int) -> dict:
    """The environment of a case process: ``threads`` threads for OpenMP/MKL (PyTorch)
    and XLA's multi-threaded Eigen on (its pool is sized from the usable CPUs)."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    flags = env.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        env["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=true").strip()
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("TQDM_DISABLE", "1")
    return env


# --------------------------------------------------------------------------- ours


_LOOPS: dict = {}


def _draw_loop():
    """The jitted program: ``length`` batches of ``toy.draw`` in a ``fori_loop``;
    returns ``(Σ x, most active features in one input)``."""
    if "draw" not in _LOOPS:
        from functools import partial

        import jax
        import jax.numpy as jnp

        @partial(jax.jit, static_argnames=("batch", "length"))
        def loop(toy, key, *, batch: int, length: int):
            def body(i, acc):
                total, most = acc
                _, x, m = toy.draw(jax.random.fold_in(key, i), batch)
                return total + jnp.sum(x), jnp.maximum(most, m)

            return jax.lax.fori_loop(0, length, body, (jnp.float32(0), jnp.int32(0)))

        @partial(jax.jit, static_argnames=("batch",))
        def active(toy, key, *, batch: int):
            return jnp.mean(jnp.sum(toy.draw(key, batch)[0] != 0, axis=1))

        _LOOPS["draw"], _LOOPS["active"] = loop, active
    return _LOOPS["draw"], _LOOPS["active"]


def time_draws(toy, *, batch: int = BATCH, length: int, repeats: int, warmup: int = 1,
               seed: int = 0) -> dict:
    """Throughput of ``toy.draw`` (a :class:`toysae.generator.ToyModel`).

    Args:
      toy: the toy model (a pytree; passed to the program, not baked in).
      batch: inputs per batch.
      length: batches per timed call.
      repeats: timed calls (each with its own key); the median is reported.
      warmup: untimed calls first.
      seed: seed of the base key.

    Returns:
      ``batch``, ``length``, ``repeats``, ``compile_s``, ``times_s`` (each call),
      ``median_call_s``, ``samples_s`` (``batch · length / median_call_s``),
      ``most_active`` (most active features in one input, over every call), ``finite``
      (the sums were finite: no input overflowed a ``max_active`` cap) and
      ``mean_active`` (mean nonzero coefficients per input in one more, untimed batch).
    """
    import jax
    import numpy as np

    loop, active = _draw_loop()
    base = jax.random.key(seed)
    t0 = time.perf_counter()
    compiled = loop.lower(toy, base, batch=batch, length=length).compile()
    compile_s = time.perf_counter() - t0
    calls = 0

    def call():
        nonlocal calls
        out = jax.block_until_ready(compiled(toy, jax.random.fold_in(base, calls)))
        calls += 1
        return out

    outs = [call() for _ in range(warmup)]
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        outs.append(call())
        times.append(time.perf_counter() - t0)
    median = float(np.median(times))
    mean_active = float(active(toy, jax.random.fold_in(base, 10**6), batch=batch))
    return dict(batch=batch, length=length, repeats=len(times), compile_s=compile_s,
                times_s=[round(t, 6) for t in times], median_call_s=median,
                samples_s=batch * length / median,
                most_active=max(int(m) for _, m in outs),
                finite=all(bool(np.isfinite(float(s))) for s, _ in outs),
                mean_active=round(mean_active, 3))


def measure_toy(cfg, *, batch: int = BATCH, length: int, repeats: int, warmup: int = 1,
                toy=None, build_s: float | None = None) -> dict:
    """Builds ``cfg`` (a :class:`toysae.config.ToyConfig`, unless ``toy`` is given) and
    measures its generation throughput with :func:`time_draws`.

    Returns:
      A dict with the keys :data:`RESULT_KEYS`: ``n_features``, ``dim``, ``max_active``
      and ``build_s`` (seconds to build the toy) besides :func:`time_draws`'s.
    """
    import jax

    from toysae.generator import build_toy

    if toy is None:
        t0 = time.perf_counter()
        toy = jax.block_until_ready(build_toy(cfg))
        build_s = time.perf_counter() - t0
    out = dict(n_features=int(toy.n_features), dim=int(toy.dim), max_active=toy.max_active,
               build_s=build_s)
    out.update(time_draws(toy, batch=batch, length=length, repeats=repeats, warmup=warmup))
    return out


def _g4096_config(correlation: str, max_active: int | None = None):
    import suite_common as common

    from toysae.config import CorrelationSpec, ToyConfig

    spec = (CorrelationSpec(kind="low_rank", **LOW_RANK) if correlation == "low_rank"
            else CorrelationSpec(kind=correlation))
    return ToyConfig(n_features=G4096, dim=D4096, ramp=common.scaled_ramp(G4096),
                     correlation=spec, features="random", max_active=max_active)


def _copula_toy(kind: str):
    """The suite's ``copula`` job's toy at g = 4096 (``kind`` ``"paper"`` or
    ``"surrogate"``), with its build phases timed."""
    import jax
    import suite_common as common
    from suite_jobs import build_copula

    from toysae.config import ToyConfig

    g, d = G4096, D4096
    cfg = ToyConfig(n_features=g, dim=d, ramp=common.scaled_ramp(g), features="random")
    t0 = time.perf_counter()
    chol, build = build_copula(g, kind)
    build["kind"] = kind
    toy = jax.block_until_ready(
        common.toy_from_arrays(cfg, common.random_unit_features(g, d), chol))
    del chol
    build["total_s"] = time.perf_counter() - t0
    return toy, build


def run_ours(name: str, args) -> dict:
    """One of our cases, measured in this process."""
    import jax

    from toysae import presets

    jax.devices()  # start the backend before the baseline RSS
    after_import = _status_bytes("VmRSS")
    kw = dict(batch=args.batch, length=args.length, repeats=args.repeats, warmup=args.warmup)
    extra: dict = {}
    if name == "ours_16k_sparse":
        out = measure_toy(presets.get("synthsaebench-16k"), **kw)
    elif name == "ours_16k_dense":
        out = measure_toy(dataclasses.replace(presets.get("synthsaebench-16k"),
                                              max_active=None), **kw)
    elif name == "copula_g4096":
        toy, build = _copula_toy(args.copula)
        out = measure_toy(None, toy=toy, build_s=build["total_s"], **kw)
        extra = dict(copula_build=build)
    elif name == "independent_g4096":
        out = measure_toy(_g4096_config("none"), **kw)
    elif name == "low_rank_g4096":
        out = measure_toy(_g4096_config("low_rank"), **kw)
    elif name == "low_rank_sparse_g4096":
        out = measure_toy(_g4096_config("low_rank", SPARSE_CAP_4096), **kw)
    else:
        raise ValueError(f"unknown case {name!r}")
    return dict(out, **extra, memory=memory_report(after_import),
                backend=jax.default_backend(), threads=usable_cores())


# --------------------------------------------------------------------------- SAELens


def saelens_config(orthogonalize: bool = False):
    """SAELens's SynthSAEBench-16k ``SyntheticModelConfig`` (``docs/synth_sae_bench.md``),
    with ``orthogonalization=None`` unless ``orthogonalize``."""
    from sae_lens.synthetic import (
        FoldedNormalMagnitudeConfig,
        HierarchyConfig,
        LinearMagnitudeConfig,
        LowRankCorrelationConfig,
        OrthogonalizationConfig,
        SyntheticModelConfig,
        ZipfianFiringProbabilityConfig,
    )

    return SyntheticModelConfig(
        num_features=16_384,
        hidden_dim=768,
        firing_probability=ZipfianFiringProbabilityConfig(exponent=0.5, max_prob=0.4,
                                                          min_prob=5e-4),
        hierarchy=HierarchyConfig(total_root_nodes=128, branching_factor=4, max_depth=3,
                                  mutually_exclusive_portion=1.0,
                                  mutually_exclusive_min_depth=0,
                                  compensate_probabilities=True,
                                  scale_children_by_parent=True),
        orthogonalization=(OrthogonalizationConfig(num_steps=100, lr=3e-4)
                           if orthogonalize else None),
        correlation=LowRankCorrelationConfig(rank=25, correlation_scale=0.1),
        mean_firing_magnitudes=LinearMagnitudeConfig(start=5.0, end=4.0),
        std_firing_magnitudes=FoldedNormalMagnitudeConfig(mean=0.5, std=0.5),
        bias=0.5,
        seed=42,
    )


def run_saelens(args) -> dict:
    """SAELens's generator on SynthSAEBench-16k, measured in this process; a skip
    record (``skipped``, ``reason``) where ``sae_lens`` or ``torch`` does not import."""
    try:
        import sae_lens
        import torch
        from sae_lens.synthetic import SyntheticModel
    except Exception as e:  # noqa: BLE001 - ImportError, or a broken install
        return dict(skipped=True, reason=f"SAELens comparison skipped: {type(e).__name__}: "
                    f"{e} (install the optional extra: {SAELENS_INSTALL_HINT})")
    import numpy as np

    torch.set_num_threads(args.threads)
    after_import = _status_bytes("VmRSS")
    cfg = saelens_config(args.saelens_orthogonalize)
    t0 = time.perf_counter()
    model = SyntheticModel(cfg, device="cpu")
    build_s = time.perf_counter() - t0
    batch, length = args.batch, args.length

    @torch.no_grad()
    def call() -> float:
        total = 0.0
        for _ in range(length):
            x, _coeffs = model.sample_with_features(batch)
            total += float(x.sum())
        return total

    sums = [call() for _ in range(args.warmup)]
    times = []
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        sums.append(call())
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        counts = (model.sample_with_features(batch)[1] != 0).sum(dim=1)
    median = float(np.median(times))
    return dict(n_features=cfg.num_features, dim=cfg.hidden_dim, max_active=None,
                batch=batch, length=length, repeats=len(times), build_s=build_s,
                compile_s=None, times_s=[round(t, 6) for t in times], median_call_s=median,
                samples_s=batch * length / median, most_active=int(counts.max()),
                mean_active=round(float(counts.float().mean()), 3),
                finite=all(np.isfinite(s) for s in sums),
                orthogonalization=(dict(num_steps=100, lr=3e-4)
                                   if args.saelens_orthogonalize else None),
                config=cfg.to_dict(), sae_lens=sae_lens.__version__,
                torch_threads=torch.get_num_threads(),
                memory=memory_report(after_import))


def case_main(args) -> None:
    """Runs ``args.case`` here and prints ``RESULT <json>``."""
    if args.case == "saelens_16k":
        out = run_saelens(args)
    else:
        if str(HERE) not in sys.path:
            sys.path.insert(0, str(HERE))
        out = run_ours(args.case, args)
    print(RESULT_PREFIX + json.dumps(out), flush=True)


# --------------------------------------------------------------------------- parent


def run_case(name: str, args) -> dict:
    """Runs one case in a fresh Python process; an ``error`` record if it fails."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", name,
           "--repeats", str(args.repeats), "--length", str(args.length),
           "--batch", str(args.batch), "--warmup", str(args.warmup),
           "--threads", str(args.threads), "--copula", args.copula]
    if args.saelens_orthogonalize:
        cmd.append("--saelens-orthogonalize")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                              cwd=REPO, env=child_env(args.threads))
    except subprocess.TimeoutExpired:
        return dict(error=f"ran past {args.timeout:.0f} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
        return dict(error=f"exit {proc.returncode}: " + "\n".join(tail))
    out = json.loads(lines[-1][len(RESULT_PREFIX):])
    out["process_wall_s"] = round(time.perf_counter() - t0, 3)
    return out


def _ratio(a, b) -> float | None:
    return round(a / b, 4) if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
        and b else None


def ratios(cases: dict) -> dict:
    """Speed (samples/s) and memory (peak RSS) ratios between the cases that ran."""
    def get(name, key):
        c = cases.get(name) or {}
        return c.get("samples_s") if key == "speed" else (c.get("memory") or {}).get(
            "peak_rss_bytes")

    out = {}
    for ours in ("ours_16k_sparse", "ours_16k_dense"):
        out[f"{ours}_over_saelens_samples_s"] = _ratio(get(ours, "speed"),
                                                      get("saelens_16k", "speed"))
        out[f"saelens_over_{ours}_peak_rss"] = _ratio(get("saelens_16k", "mem"),
                                                     get(ours, "mem"))
    out["ours_16k_sparse_over_dense_samples_s"] = _ratio(get("ours_16k_sparse", "speed"),
                                                         get("ours_16k_dense", "speed"))
    for after in ("low_rank_g4096", "low_rank_sparse_g4096"):
        out[f"{after}_over_copula_g4096_samples_s"] = _ratio(get(after, "speed"),
                                                             get("copula_g4096", "speed"))
        out[f"copula_g4096_over_{after}_peak_rss"] = _ratio(get("copula_g4096", "mem"),
                                                            get(after, "mem"))
    out["low_rank_g4096_over_independent_g4096_samples_s"] = _ratio(
        get("low_rank_g4096", "speed"), get("independent_g4096", "speed"))
    return out


def table(cases: dict) -> str:
    """The results as a plain-text table."""
    rows = [("case", "samples/s", "peak RSS MiB", "build s", "compile s", "L0", "what")]
    for name, c in cases.items():
        what = CASES[name][2]
        if "error" in c or c.get("skipped"):
            rows.append((name, "-", "-", "-", "-", "-",
                         f"{what}: " + (c.get("reason") or c.get("error", "")).splitlines()[0]))
            continue
        comp = c.get("compile_s")
        rows.append((name, f"{c['samples_s']:,.0f}",
                     f"{c['memory']['peak_rss_bytes'] / 2**20:,.0f}", f"{c['build_s']:.2f}",
                     "-" if comp is None else f"{comp:.2f}", f"{c['mean_active']:.1f}", what))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in range(1, 6)]
        lines.append("  ".join(cells) + "  " + r[6])
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring for what is measured.")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per case (5)")
    ap.add_argument("--length", type=int, default=4, help="batches per timed call (4)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 repeat of 1 batch (numbers are not measurements)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="results JSON (default benchmarks/generator_saelens.json)")
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES),
                    help="cases to run (default all)")
    ap.add_argument("--batch", type=int, default=BATCH, help=f"inputs per batch ({BATCH})")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls first (1)")
    ap.add_argument("--threads", type=int, default=usable_cores(),
                    help="threads for PyTorch / OpenMP (default: the usable cores)")
    ap.add_argument("--copula", choices=("paper", "surrogate"), default="paper",
                    help="how copula_g4096 builds its dense factor (default paper)")
    ap.add_argument("--saelens-orthogonalize", action="store_true",
                    help="build SAELens's model with its 100 orthogonalisation steps "
                    "(about an hour on 2 cores)")
    ap.add_argument("--timeout", type=float, default=3600.0,
                    help="seconds one case may run (3600)")
    ap.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)
    return ap


def main(argv: list[str] | None = None) -> dict | None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.repeats, args.length = 1, 1
    if min(args.repeats, args.length, args.batch, args.threads) < 1 or args.warmup < 0:
        raise SystemExit("--repeats, --length, --batch and --threads must be >= 1")
    if args.case:
        case_main(args)
        return None

    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    load_start = load_average()
    t_start = time.perf_counter()
    ok, reason = saelens_findable()
    print(f"generator benchmark: batch {args.batch}, {args.length} batch(es) per call, "
          f"{args.repeats} repeat(s), {args.threads} thread(s); load {load_start}", flush=True)
    cases: dict = {}
    for name in args.cases:
        if CASES[name][0] == "saelens" and not ok:
            cases[name] = dict(skipped=True, reason=reason)
        else:
            print(f"  {name} ...", end=" ", flush=True)
            cases[name] = run_case(name, args)
            c = cases[name]
            print(c["error"].splitlines()[0] if "error" in c else
                  c["reason"] if c.get("skipped") else
                  f"{c['samples_s']:,.0f} samples/s, peak RSS "
                  f"{c['memory']['peak_rss_bytes'] / 2**20:,.0f} MiB", flush=True)
        cases[name] = dict(side=CASES[name][0], group=CASES[name][1],
                           description=CASES[name][2], **cases[name])
    notes = []
    if "saelens_16k" in args.cases:
        notes.append("SAELens model built without its orthogonalisation (100 Adam steps, "
                     "lr 3e-4: about an hour on 2 cores); sampling cost is unaffected"
                     if not args.saelens_orthogonalize else
                     "SAELens model built with its 100 orthogonalisation steps")
    if args.quick:
        notes.append("--quick: a smoke test; the numbers are not measurements")
    res = dict(
        benchmark="generator_saelens", quick=args.quick, batch=args.batch,
        length=args.length, repeats=args.repeats, warmup=args.warmup, threads=args.threads,
        copula=args.copula, saelens_orthogonalize=args.saelens_orthogonalize,
        started=started, wall_s=round(time.perf_counter() - t_start, 3),
        git=git_revision(), versions=versions(),
        machine=dict(cpu_model=cpu_model(), cores=os.cpu_count(), usable_cores=usable_cores(),
                     platform=platform.platform(), python=platform.python_version()),
        child_env={k: child_env(args.threads).get(k) for k in
                   ("XLA_FLAGS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        load_average_start=load_start, load_average_end=load_average(),
        cases=cases, ratios=ratios(cases), notes=notes,
    )
    print()
    print(table(cases))
    print()
    for k, v in res["ratios"].items():
        if v is not None:
            print(f"  {k}: {v:.3g}")
    for n in notes:
        print(f"  note: {n}")
    # Imported only now: the parent must stay small while the cases run (ru_maxrss).
    from toysae.store import atomic_write

    atomic_write(args.out, json.dumps(res, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    import reports  # the docs' generator-speed table, from the file just written

    reports.write_for(args.out)
    return res


if __name__ == "__main__":
    main()
