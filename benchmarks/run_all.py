"""The benchmark suite: training, sweep, scaling and generator throughput, with baselines.

Usage::

  python benchmarks/run_all.py                      # full suite -> benchmarks/results.json
  python benchmarks/run_all.py --quick --out /tmp/r.json --markdown -   # smoke test
  python benchmarks/run_all.py --sections sweep baselines --models 25
  python benchmarks/run_all.py --from-json benchmarks/results.json --markdown table.md

Sections (each timing is a median of ``--repeats`` runs after a warm-up; compilation is
timed on its own, ahead of time, and never enters a throughput):

1. ``single``: one SAE (k = 11) on the main toy ("paper-main": 50 features, d = 100,
   width 50, batch 1024) trained end to end by ``toysae.sweep.train_sweep`` for
   ``--single-steps`` steps (the package's default 500-step chunks; the host loop
   between chunks is included, state initialisation is not).  samples/s.
2. ``sweep``: the chunk program ``run_chunk`` for M = ``--models`` stacked SAEs
   (k = 1..M on one seed; M = 125 is k = 1..25 × 5 seeds); model-samples/s
   = M · 1024 · steps/s over chunks of ``--length`` steps; the sizes of
   ``--sharded-models`` also sharded over 2 devices (the cores split in two,
   ``run_chunk_sharded``), each in a fresh process.
3. ``scaling``: one SAE (k = 11) for each (g, d, width) of ``--sizes``: samples/s and
   peak memory.  (50, 100, 50) is the main toy; larger ones keep its firing ramp scaled
   to true L0 10.95, fire independently, and use near-orthogonal features where that
   optimisation is cheap (g = 512) and random unit directions above (g = 4096: the
   near-orthogonal Adam optimisation would take ~1000 steps of 6·g²·d FLOP).
4. ``generator``: ``ToyModel.sample`` alone under jit: the main toy, and a
   ``--copula-features``-feature toy with the paper's copula (its build time, split into
   the raw recipe, the eigenvalue repair and the Cholesky factor, reported apart) and
   without one.  A paper copula that is not built within ``--copula-timeout`` (its
   eigendecomposition is O(g³)) is replaced, for the sampling figure only, by a dense
   surrogate Cholesky factor of the same size (same sampling cost); the JSON and the
   table say so.
5. ``baselines``: the f32 matmul rate (1024³, before and after the run; every GFLOP/s
   is also given as a fraction of it, counting 6·B·d·h FLOP per model-step); "one at a
   time": the same ``--one-at-a-time-models`` SAEs trained as that many separate
   single-model runs; SAELens's BatchTopK trainer on the same toy and budget when the
   ``compare`` extra is installed (else ``"saelens": null`` and the reason).

Every SAE uses the package defaults (``SAEConfig``: dead_steps 50, AuxK 1/32, dead
latents resampled; ``TrainConfig``: Adam lr 3e-4) unless ``--dead-steps`` is given.
Timed steps start from a fresh initialisation plus the warm-up, so whether the
AuxK branch runs in them depends on the window; the chunk entries record their
``steps_timed``.

Peak memory: with ``--isolate`` (the default outside ``--quick``) every sweep and
scaling configuration runs in a fresh Python process, whose ``ru_maxrss`` (and, on a
GPU, the device's ``peak_bytes_in_use``) is its peak memory.  Without it, memory is the
``ru_maxrss`` of the whole run so far and is marked ``"scope": "process"``.

``--quick`` shrinks everything (a few steps, M in {1, 5}, the small size only unless
``--sizes`` is given, a 128-feature copula) for a smoke test; its numbers are not
measurements.  Results are written atomically to ``--out`` after every section.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import jax
import suite_common as common
import suite_report
import suite_saelens
from quiet import LoadMonitor, describe
from suite_jobs import run_job

SECTIONS = ("single", "sweep", "scaling", "generator", "baselines")
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"

FULL = dict(models=[1, 5, 25, 125], sharded_models=[25, 125],
            sizes=["50x100x50", "512x256x512", "4096x768x4096"],
            length=50, repeats=5, single_steps=1000, single_length=500,
            one_at_a_time_models=25, one_at_a_time_steps=200, saelens_steps=1000,
            saelens_repeats=3, gen_length=100, copula_features=4096, copula_dim=768,
            matmul_n=1024, matmul_repeats=20)
QUICK = dict(models=[1, 5], sharded_models=[], sizes=["50x100x50"], length=5, repeats=2,
             single_steps=10,
             single_length=5, one_at_a_time_models=5, one_at_a_time_steps=5,
             saelens_steps=10, saelens_repeats=1, gen_length=5, copula_features=128,
             copula_dim=64, matmul_n=256, matmul_repeats=5)


def parse_size(text: str) -> tuple[int, int, int]:
    try:
        g, d, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected GxDxWIDTH, e.g. 512x256x512"
                                         ) from None
    if min(g, d, h) < 1:
        raise argparse.ArgumentTypeError(f"size {text!r}: every entry must be >= 1")
    return g, d, h


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring for what each section does.")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes and a few steps: a smoke test in well under a minute")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"results JSON (default {DEFAULT_OUT.relative_to(common.REPO)})")
    ap.add_argument("--markdown", metavar="PATH",
                    help="also write the summary table as markdown to PATH ('-': stdout only)")
    ap.add_argument("--device-label", help="label for the device in the results "
                    "(default: automatic, e.g. 'CPU: AMD EPYC (2 cores)' or 'GPU: NVIDIA H100')")
    ap.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    ap.add_argument("--models", type=int, nargs="+", help="sweep sizes M (default 1 5 25 125)")
    ap.add_argument("--sharded-models", type=int, nargs="*",
                    help="sweep sizes also measured sharded over 2 devices, the cores split "
                         "in two (run_chunk_sharded; default 25 125, none with --quick)")
    ap.add_argument("--sizes", type=parse_size, nargs="+", metavar="GxDxH",
                    help="scaling sizes (default 50x100x50 512x256x512 4096x768x4096)")
    ap.add_argument("--length", type=int, help="steps per timed chunk (default 50)")
    ap.add_argument("--repeats", type=int, help="timed repeats per measurement (default 5)")
    ap.add_argument("--single-steps", type=int, help="steps of each single-SAE run (1000)")
    ap.add_argument("--one-at-a-time-models", type=int, help="models trained one at a time "
                    "for the baseline (default 25)")
    ap.add_argument("--one-at-a-time-steps", type=int, help="steps of each of them (200)")
    ap.add_argument("--saelens-steps", type=int, help="steps of each SAELens run (1000)")
    ap.add_argument("--copula-features", type=int, help="features of the copula generator "
                    "benchmark (default 4096)")
    ap.add_argument("--copula-dim", type=int, help="its input dimension d (default 768)")
    ap.add_argument("--copula-timeout", type=float, default=1800.0,
                    help="seconds allowed for building the paper's copula at that size "
                         "before falling back to a surrogate factor (default 1800)")
    ap.add_argument("--job-timeout", type=float, default=3600.0,
                    help="seconds allowed for one isolated measurement (default 3600)")
    ap.add_argument("--dead-steps", type=int,
                    help="SAEConfig.dead_steps for every SAE (default: the package default)")
    ap.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                    help="run each sweep/scaling configuration in a fresh process for its "
                         "peak memory (default: on, off with --quick)")
    ap.add_argument("--from-json", type=Path, metavar="PATH",
                    help="run nothing: render the markdown summary of an existing results file")
    return ap


def settings(args) -> dict:
    base = dict(QUICK if args.quick else FULL)
    for key in ("models", "sharded_models", "length", "repeats", "single_steps",
                "one_at_a_time_models", "one_at_a_time_steps", "saelens_steps",
                "copula_features", "copula_dim"):
        if getattr(args, key) is not None:
            base[key] = getattr(args, key)
    base["sizes"] = ([list(s) for s in args.sizes] if args.sizes
                     else [list(parse_size(s)) for s in base["sizes"]])
    if args.quick and args.length is None:
        base["single_length"] = base["length"]
    base.update(warmup=1, dead_steps=args.dead_steps, quick=args.quick,
                isolate=(not args.quick) if args.isolate is None else args.isolate,
                sections=list(args.sections), copula_timeout=args.copula_timeout,
                job_timeout=args.job_timeout, batch=common.BATCH)
    return base


def log(msg: str) -> None:
    print(msg, flush=True)


def _fmt(e: dict, peak: float | None) -> str:
    text = f"{e['samples_s']:>14,.0f} samples/s"
    if "gflops" in e:
        text += f"  {e['gflops']:7.2f} GFLOP/s"
        if peak:
            text += f" ({e['gflops'] / peak:6.1%} of matmul)"
    if "compile_s" in e:
        text += ("  compile cached" if e["compile_s"] is None
                 else f"  compile {e['compile_s']:.2f} s")
    mem = e.get("memory") or {}
    if mem.get("scope") == "subprocess":
        text += f"  peak RSS {mem['peak_rss_bytes'] / 2**20:,.0f} MiB"
        if mem.get("device_peak_bytes") is not None:
            text += f", device {mem['device_peak_bytes'] / 2**20:,.0f} MiB"
    return text


class Suite:
    def __init__(self, args, cfg: dict):
        self.args, self.cfg = args, cfg
        self.errors: list[str] = []
        self.t0 = time.perf_counter()
        self.res = dict(schema=1, quick=cfg["quick"],
                        device_label=args.device_label or common.device_label(),
                        machine=common.machine_info(), settings=cfg)
        self.res.update({name: None for name in SECTIONS})  # key order; None: not run
        self.peak: float | None = None

    def save(self) -> None:
        self.res["wall_s"] = time.perf_counter() - self.t0
        self.res["errors"] = self.errors
        common.atomic_write_json(self.args.out, self.res)

    def job(self, spec: dict, *, isolate: bool | None = None, timeout: float | None = None):
        iso = self.cfg["isolate"] if isolate is None else isolate
        spec = dict(spec, repeats=spec.get("repeats", self.cfg["repeats"]),
                    warmup=self.cfg["warmup"])
        if self.cfg["dead_steps"] is not None:
            spec.setdefault("dead_steps", self.cfg["dead_steps"])
        return run_job(spec, isolate=iso, timeout=timeout or self.cfg["job_timeout"])

    def guarded(self, what: str, fn, **extra):
        """``fn()``, or ``{"error": ...}`` (logged and counted) if it raises."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - one failed configuration must not end the run
            msg = f"{type(e).__name__}: {e}"
            self.errors.append(f"{what}: {msg}")
            log(f"  {what} FAILED: {msg}")
            traceback.print_exc(file=sys.stderr)
            return dict(error=msg, **extra)

    # ------------------------------------------------------------------ sections

    def matmul(self, key: str) -> None:
        c = self.cfg
        m = common.matmul_gflops(c["matmul_n"], c["matmul_repeats"])
        if self.res.get("baselines") is None:
            self.res["baselines"] = {}
        self.res["baselines"][key] = m
        if key == "matmul":
            self.peak = m["gflops"]
        log(f"f32 matmul {m['n']}^3 ({key}): {m['gflops']:.1f} GFLOP/s")

    def single(self) -> None:
        c = self.cfg
        log(f"[1] single SAE, train_sweep end to end, {c['single_steps']} steps")
        e = self.guarded("single", lambda: self.job(dict(
            job="single", steps=c["single_steps"], length=c["single_length"], k=11.0),
            isolate=False))
        self.res["single"] = e
        if "error" not in e:
            log(f"    {_fmt(e, self.peak)}")

    def sweep(self) -> None:
        c = self.cfg
        log(f"[2] sweep chunk program, M = {c['models']}, {c['length']}-step chunks")
        out = []
        for m in c["models"]:
            e = self.guarded(f"sweep M={m}", lambda m=m: self.job(dict(
                job="chunk", toy=dict(kind="main"), models=m, length=c["length"])), models=m)
            out.append(e)
            if "error" not in e:
                log(f"    M={m:>4}: {_fmt(e, self.peak)}")
        for m in c.get("sharded_models") or []:  # a fresh process: devices are set at start
            e = self.guarded(f"sweep M={m} on 2 devices", lambda m=m: self.job(dict(
                job="chunk", toy=dict(kind="main"), models=m, length=c["length"], devices=2),
                isolate=True), models=m, devices=2)
            out.append(e)
            if "error" not in e:
                log(f"    M={m:>4}, 2 devices: {_fmt(e, self.peak)}")
        self.res["sweep"] = out

    def scaling(self) -> None:
        c = self.cfg
        log(f"[3] scaling, single SAE, sizes {c['sizes']}")
        out = []
        for g, d, h in c["sizes"]:
            toy = (dict(kind="main") if (g, d) == (50, 100) else
                   dict(kind="sized", g=g, d=d, correlation="none"))
            # Fewer steps per chunk for big models: about as much work as the main toy's.
            length = max(min(5, c["length"]),
                         min(c["length"], round(c["length"] * 100 * 50 / (d * h))))
            e = self.guarded(f"scaling {g}x{d}x{h}", lambda toy=toy, h=h, length=length: (
                self.job(dict(job="chunk", toy=toy, models=1, ks=[11.0], width=h,
                              length=length))), g=g, d=d, width=h)
            out.append(e)
            if "error" not in e:
                log(f"    ({g}, {d}, {h}) {e['toy']['features']}: {_fmt(e, self.peak)}")
        self.res["scaling"] = out

    def _gen_length(self, g: int, d: int, correlated: bool) -> int:
        main_flop = 50 * 100 + 50 * 50
        flop = g * d + (g * g if correlated else 0)
        n = self.cfg["gen_length"]
        return max(2, min(n, round(n * main_flop / flop)))

    def generator(self) -> None:
        c = self.cfg
        g, d = c["copula_features"], c["copula_dim"]
        log(f"[4] generator alone: main toy, and g={g}, d={d} with and without a copula")
        gen = {}
        gen["main"] = self.guarded("generator main", lambda: self.job(dict(
            job="generator", toy=dict(kind="main"), length=c["gen_length"]), isolate=False))
        spec = dict(job="copula", g=g, d=d, kind="paper", length=self._gen_length(g, d, True))
        try:  # a big paper copula always in its own process: only there can it time out
            cop = self.job(spec, timeout=c["copula_timeout"], isolate=True if g > 1024 else None)
            note = None
        except Exception as e:  # noqa: BLE001 - too slow or too big here: say so, fall back
            reason = f"{type(e).__name__}: {e}"
            log(f"    paper copula at g={g} not built ({reason}); sampling is measured with "
                "a surrogate dense Cholesky factor of the same size instead")
            cop = self.guarded("generator copula (surrogate)", lambda: self.job(
                dict(spec, kind="surrogate")))
            cop["paper_build"] = dict(feasible=False, reason=reason)
            note = (f"The paper's copula recipe at g = {g} did not finish here ({reason}); "
                    "the copula row samples with a surrogate dense Cholesky factor of the same "
                    "size, which costs the same to sample with.")
        gen[f"copula_g{g}"] = cop
        gen[f"independent_g{g}"] = self.guarded("generator independent", lambda: self.job(
            dict(job="generator", toy=dict(kind="sized", g=g, d=d, correlation="none",
                                           features="random"),
                 length=self._gen_length(g, d, False)), isolate=False))
        if note:
            gen["copula_note"] = note
        for name, e in gen.items():
            if isinstance(e, dict) and "samples_s" in e:
                extra = ""
                b = e.get("build")
                if b:
                    extra = "  build " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in b.items()
                                                  if k.endswith("_s"))
                log(f"    {name:>18}: {e['samples_s']:>14,.0f} samples/s{extra}")
        self.res["generator"] = gen

    def baselines(self) -> None:
        c = self.cfg
        base = self.res["baselines"]
        m = c["one_at_a_time_models"]
        log(f"[5] baselines: {m} models one at a time ({c['one_at_a_time_steps']} steps each)")
        one = self.guarded("one at a time", lambda: self.job(dict(
            job="one_at_a_time", models=m, steps=c["one_at_a_time_steps"],
            length=min(c["single_length"], c["one_at_a_time_steps"]),
            repeats=max(1, min(3, c["repeats"]))), isolate=False))
        base["one_at_a_time"] = one
        if "error" not in one:
            log(f"    one at a time: {_fmt(one, self.peak)}")
        toy, _, _ = common.main_toy()
        lens, why = suite_saelens.saelens_baseline(
            toy, k=11.0, steps=c["saelens_steps"], repeats=c["saelens_repeats"],
            dead_window=c["dead_steps"] or common.SAEConfig(width=50).dead_steps)
        base["saelens"] = lens
        if lens is None:
            base["saelens_reason"] = why
            log(f"    {why}")
        else:
            log(f"    SAELens {lens['version']} ({lens['device']}): "
                f"{lens['samples_s']:,.0f} samples/s")
        base["ratios"] = self.ratios()

    def ratios(self) -> dict:
        base = self.res.get("baselines") or {}
        every = [e for e in self.res.get("sweep") or [] if "samples_s" in e]
        sweeps = {e["models"]: e for e in every if e.get("devices", 1) == 1}
        sharded = {e["models"]: e for e in every if e.get("devices", 1) > 1}
        one = base.get("one_at_a_time") or {}
        lens = base.get("saelens")
        single = self.res.get("single") or {}
        out = {}
        if one.get("samples_s") and one["models"] in sweeps:
            out[f"sweep_{one['models']}_over_one_at_a_time"] = (
                sweeps[one["models"]]["samples_s"] / one["samples_s"])
        for m, e in sharded.items():
            if m in sweeps:
                out[f"sweep_{m}_on_{e['devices']}_devices_over_1"] = (
                    e["samples_s"] / sweeps[m]["samples_s"])
        if lens:
            for m, e in sweeps.items():
                if m > 1:
                    out[f"sweep_{m}_over_saelens"] = e["samples_s"] / lens["samples_s"]
            if single.get("samples_s"):
                out["single_over_saelens"] = single["samples_s"] / lens["samples_s"]
        return out

    def run(self) -> int:
        c = self.cfg
        log(f"{self.res['device_label']}; jax {jax.__version__}; "
            f"{'quick mode; ' if c['quick'] else ''}isolate={c['isolate']}; -> {self.args.out}")
        walls = self.res["section_wall_s"] = {}
        # What other processes took while each section ran (benchmarks/quiet.py).
        loads = self.res["load"] = {}
        with LoadMonitor() as whole:
            self.matmul("matmul")
            for name in ("single", "sweep", "baselines", "scaling", "generator"):
                if name in c["sections"]:
                    t0 = time.perf_counter()
                    with LoadMonitor() as mon:
                        getattr(self, name)()
                    walls[name] = round(time.perf_counter() - t0, 3)
                    loads[name] = mon.result()
                    log(f"    {name}: {describe(loads[name])}")
                    self.save()
            if "baselines" in c["sections"]:
                self.res["baselines"]["ratios"] = self.ratios()
            self.matmul("matmul_after")
        loads["total"] = whole.result()
        self.save()
        log(f"done in {self.res['wall_s']:.1f} s -> {self.args.out}")
        return 1 if self.errors else 0


def write_markdown(res: dict, target: str | None) -> None:
    text = suite_report.markdown(res)
    print()
    print(text, end="")
    if target and target != "-":
        common.atomic_write_text(target, text)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.from_json:
        write_markdown(json.loads(args.from_json.read_text()), args.markdown)
        return 0
    suite = Suite(args, settings(args))
    rc = suite.run()
    write_markdown(suite.res, args.markdown)
    return rc


if __name__ == "__main__":
    sys.exit(main())
