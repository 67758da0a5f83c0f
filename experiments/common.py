"""Shared helpers of the experiment scripts: arguments, figures, JSON, sweeps, summaries.

Every script takes ``--quick`` (a reduced budget, outputs named ``*_quick``, so a quick
check never overwrites the full-budget figures) and ``--out-dir`` (where sweeps are
cached by config digest, default ``runs/``): re-running a script reloads finished sweeps
instead of retraining them, so re-plotting is cheap.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from toysae import SweepConfig, run_sweep  # noqa: E402
from toysae.metrics import match  # noqa: E402
from toysae.sharding import local_devices  # noqa: E402
from toysae.store import (  # noqa: E402
    NUMERICS_VERSION,
    atomic_write,
    is_complete,
    is_current,
    load_run,
    numerics_version,
    provenance,
    run_dir_for,
)

DPI = 110
MAX_FIGURE_BYTES = 300_000
REPO = Path(__file__).resolve().parent.parent


def parse_args(description: str, argv: Sequence[str] | None = None,
               extend: Callable[[argparse.ArgumentParser], None] | None = None
               ) -> argparse.Namespace:
    """The common command line: ``--quick``, ``--out-dir``, ``--fig-dir``, ``--no-progress``,
    ``--format``, ``--devices``, plus whatever ``extend(parser)`` adds (one parser, so
    ``--help`` lists every option)."""
    parser = argparse.ArgumentParser(description=description)
    if extend is not None:
        extend(parser)
    parser.add_argument("--quick", action="store_true",
                        help="reduced budget; outputs are named *_quick (full ones are kept)")
    parser.add_argument("--out-dir", default=str(REPO / "runs"),
                        help="cache of finished sweeps, keyed by config digest (default: "
                             "runs/ in the repository, wherever the script is started from)")
    parser.add_argument("--fig-dir", default=str(REPO / "figures"),
                        help="where figures and the results JSON go (default figures/)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--format", default="png", type=_formats, dest="formats",
                        help="comma list of figure formats from png,pdf,svg (default png; "
                             "the PNG is always written)")
    parser.add_argument("--devices", type=int, default=None,
                        help="shard each sweep's models over N devices (on a CPU the cores "
                             "are split into N devices; 2 is fastest on 2 cores for the "
                             "125-SAE sweeps)")
    args = parser.parse_args(argv)
    global _FORMATS, _DEVICES
    _FORMATS = args.formats
    try:
        _DEVICES = local_devices(args.devices)
    except ValueError as err:
        parser.error(f"--{err}")
    return args


FIGURE_FORMATS = ("png", "pdf", "svg")
_FORMATS: tuple[str, ...] = ("png",)  # set by parse_args; save_figure's default
_DEVICES = None  # set by parse_args: the devices every sweep is sharded over


def _formats(text: str) -> tuple[str, ...]:
    """``"png,pdf"`` -> ``("png", "pdf")``; PNG first and always included."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    bad = sorted(set(names) - set(FIGURE_FORMATS))
    if bad:
        raise argparse.ArgumentTypeError(
            f"--format {text!r}: unknown format(s) {bad}; expected a comma list from "
            f"{','.join(FIGURE_FORMATS)}")
    return ("png",) + tuple(f for f in FIGURE_FORMATS[1:] if f in names)


def output_name(stem: str, quick: bool) -> str:
    """``stem`` or ``stem_quick``."""
    return f"{stem}_quick" if quick else stem


def save_figure(fig, fig_dir: str | Path, stem: str,
                formats: Sequence[str] | None = None) -> dict:
    """Saves ``fig`` as ``fig_dir/stem.png`` at :data:`DPI` (and as ``stem.pdf`` /
    ``stem.svg`` for each further format asked for); returns the PNG's path and size,
    plus ``"extra"`` paths when other formats were written.

    Args:
      fig: a matplotlib figure (closed afterwards).
      fig_dir: output folder.
      stem: file name without extension.
      formats: formats to write; None takes those of the last :func:`parse_args`
        (``--format``, default PNG only).  The PNG is always written.

    Raises:
      RuntimeError: if the PNG exceeds :data:`MAX_FIGURE_BYTES` (figures are kept small).
    """
    formats = _FORMATS if formats is None else tuple(formats)
    bad = sorted(set(formats) - set(FIGURE_FORMATS))
    if bad:
        raise ValueError(f"formats={formats!r}; unknown {bad}, expected {FIGURE_FORMATS}")
    path = Path(fig_dir) / f"{stem}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = []
    for fmt in [f for f in FIGURE_FORMATS[1:] if f in formats]:
        other = path.with_suffix(f".{fmt}")
        atomic_write(other, _rendered(fig, fmt))
        extra.append(_rel(other))
    atomic_write(path, _rendered(fig, "png"))
    plt.close(fig)
    size = path.stat().st_size
    if size > MAX_FIGURE_BYTES:
        raise RuntimeError(f"{path} is {size} bytes; expected < {MAX_FIGURE_BYTES}")
    print(f"wrote {path} ({size / 1000:.0f} kB)" + "".join(f", {e}" for e in extra))
    out = {"path": _rel(path), "bytes": size}
    if extra:
        out["extra"] = extra
    return out


def _rendered(fig, fmt: str) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _rel(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.ndarray, jax.Array)):
        return _jsonable(np.asarray(obj).tolist())
    return obj


#: Which code this process runs, read once when a script imports this module: a run that
#: lasts hours writes its results with the revision it started from, not whatever the
#: checkout was moved to meanwhile (the protocol's rows were once labelled with a commit
#: made while they trained).
STARTED_FROM = provenance()


def write_json(path: str | Path, data: dict) -> None:
    """Writes ``data`` as indented JSON atomically (numpy and JAX values converted), with
    a ``"provenance"`` entry (package and JAX versions, code revision and dirty tree as
    the process started, :data:`STARTED_FROM`; numerics version) unless ``data`` has one;
    when ``path`` is a committed results file, its report blocks in ``README.md`` and
    ``docs/`` are rewritten from it (``experiments/reports.py``)."""
    import reports

    if "provenance" not in data:  # which code wrote it (issue 21)
        data = {**data, "provenance": {**STARTED_FROM, "numerics": NUMERICS_VERSION}}
    atomic_write(path, json.dumps(_jsonable(data), indent=1) + "\n")
    print(f"wrote {path}")
    reports.write_for(path)


def release_compiled() -> None:
    """Frees every compiled program of this process (``jax.clear_caches``, then a garbage
    collection); scripts that train many toy models in one process call it between them.

    On the CPU, each XLA compilation of a sweep (one per toy, width and number of k
    values) maps about 1,150 memory regions for its kernels, and they stay mapped while
    JAX caches the program. Linux allows a process 65,530 mappings by default
    (``vm.max_map_count``), so after about 55 compilations LLVM fails with "Cannot
    allocate memory" and the process dies (issue 19's protocol, at its 15th member-width
    in one process). Clearing the caches unmaps them: measured, 5,808 mappings after
    four sweeps of different shapes fell to 904.
    """
    import gc

    jax.clear_caches()
    gc.collect()


def summarize(values: Sequence[float]) -> dict:
    """Per-seed values, mean, sample std (ddof 1) and standard error of the mean."""
    v = np.asarray(values, dtype=np.float64)
    std = float(np.std(v, ddof=1)) if v.size > 1 else 0.0
    return {"per_seed": v.tolist(), "mean": float(v.mean()), "std": std,
            "sem": std / math.sqrt(v.size)}


def cached_sweep(cfg: SweepConfig, out_dir: str, progress: bool = True):
    """``run_sweep(cfg, out_dir)`` with timing; returns ``(result, info)``.  ``info``
    says whether the sweep was loaded from the cache, or retrained because the cached run
    came from older numerics (``"stale"``; :data:`toysae.store.NUMERICS_VERSION`)."""
    run_dir = run_dir_for(cfg, out_dir)
    version = numerics_version(run_dir)  # a manifest read; run_sweep verifies the files
    cached = version == NUMERICS_VERSION and is_complete(run_dir)
    stale = version not in (None, NUMERICS_VERSION)
    if stale:
        print(f"retraining {run_dir}: its cached run was trained by older code (numerics "
              f"version != {NUMERICS_VERSION})")
    t0 = time.perf_counter()
    result = run_sweep(cfg, out_dir, progress=progress, devices=_DEVICES)
    info = {"digest": cfg.digest(), "cached": cached, "retrained_stale": stale,
            "wall_s": round(time.perf_counter() - t0, 2),
            # training time recorded with the run (all sessions; None if not recorded)
            "train_s": result.train_s}
    return result, info


def matched_rows(cos) -> np.ndarray:
    """Signed ``[h, g]`` cosines with rows reordered so latent ``i`` is the one matched
    (Hungarian, on ``|cos|``) to feature ``i``; unmatched latents follow."""
    cos = np.asarray(cos, dtype=np.float64)
    rows, _ = match(jnp.asarray(np.abs(cos)))
    rows = [int(r) for r in np.asarray(rows)]
    rest = [r for r in range(cos.shape[0]) if r not in rows]
    return cos[rows + rest]


def cos_heatmap(ax, cos, title: str, annotate: bool = True):
    """Signed-cosine heatmap (latents × features), diverging colormap centred at 0.

    ``annotate=False`` drops the per-cell numbers (for large matrices, e.g. 50 × 50) and
    ticks every 10th latent / feature instead of every one.
    """
    cos = np.asarray(cos)
    im = ax.imshow(cos, cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect="equal",
                   interpolation="nearest")
    h, g = cos.shape
    step = 10 if not annotate and max(h, g) >= 20 else 1
    ax.set_xticks(range(0, g, step))
    ax.set_yticks(range(0, h, step))
    ax.set_xlabel("true feature")
    ax.set_ylabel("SAE latent (matched)")
    ax.set_title(title, fontsize=9)
    if annotate:
        for i in range(h):
            for j in range(g):
                v = cos[i, j]
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(v) > 0.6 else "black")
    return im


def complete_sweep(cfg: SweepConfig, out_dir: str):
    """The finished sweep of ``cfg`` under ``out_dir`` if there is one, else None
    (never trains: for optional references taken from another script's sweep)."""
    run_dir = run_dir_for(cfg, out_dir)
    return load_run(run_dir) if is_current(run_dir) else None


def metric_by_k(result, key: str) -> dict[float, dict]:
    """``{k: summarize([record[key] for each seed])}`` over the sweep's ks."""
    cfg = result.config
    return {k: summarize([result.record(s, k)[key] for s in cfg.seeds]) for k in cfg.ks}


def band_plot(ax, xs, summaries: Sequence[dict], label: str, color=None, marker: str = "o"):
    """Mean line with a ± std band (``summaries`` from :func:`summarize`)."""
    mean = np.array([s["mean"] for s in summaries])
    std = np.array([s["std"] for s in summaries])
    (line,) = ax.plot(xs, mean, marker=marker, ms=3.5, lw=1.4, color=color,
                      label=f"{label} (mean ± std)")
    ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.25, lw=0)
    return line


def mark_true_l0(ax, true_l0: float) -> None:
    """Dashed vertical line at the true L0, labelled."""
    ax.axvline(true_l0, color="k", ls="--", lw=0.9, label=f"true L0 = {true_l0:.2f}")


def finish(out: dict, fig_dir: str | Path, stem: str, t_start: float) -> dict:
    """Ends a script: records its wall time, writes ``fig_dir/stem.json`` and prints each
    claim record's verdict (``claim_records.claim``)."""
    out["wall_s"] = round(time.perf_counter() - t_start, 1)
    write_json(Path(fig_dir) / f"{stem}.json", out)
    for c in out.get("claims", []):
        print(f"claim {c['id']}: {'holds' if c['holds'] else 'DOES NOT HOLD'} — {c['ours']}")
    return out


def code_revision() -> str | None:
    """The git commit of the code that ran (``+dirty`` with uncommitted changes to
    tracked files), or None outside a checkout: results files record it."""
    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=REPO, text=True, capture_output=True,
                              timeout=10, check=True).stdout.strip()
    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
