"""How often does the small toy's k = 2 SAE end in a local minimum, and what removes it?

Issue 21: at the true L0 (k = 2) one of ten random-init runs of the small toy (paper §3.1,
5 orthogonal features in R^20, p = 0.4, feature 0 correlated with 1–4 at c = ±0.4)
ended at MCC 0.934.  This script measures the rate over many seeds at the paper's budget
(15M samples, batch 1024, Adam lr 3e-4), with three variants of training:

* ``default``: constant k = 2, AuxK and deterministic resampling of silent latents (the
  package's BatchTopK);
* ``no_resample``: the same without resampling (AuxK only, as SAELens's trainer);
* ``schedule``: k lowered linearly from 4 to 2 over the first half of training (the
  paper's A.8 advice to approach the L0 from above), then constant.

A run counts as stuck when its MCC is below 0.99 (the small toy's recovery rule).  The
rate is reported with a Wilson 95% interval.

Outputs: ``figures/local_minimum.json`` (``*_quick`` with ``--quick``: 1M samples, 10
seeds).  Usage: ``python experiments/local_minimum.py [--quick] [--seeds 40]``
"""

from __future__ import annotations

import dataclasses
import time

from common import cached_sweep, finish, output_name, parse_args
from scipy.stats import binomtest

from toysae import SAEConfig, SweepConfig, TrainConfig, presets

RECOVERY_MCC = 0.99
CORRS = (0.4, -0.4)
VARIANTS = ("default", "no_resample", "schedule")


def wilson(stuck: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial rate ``stuck / n`` (scipy's)."""
    ci = binomtest(stuck, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def sweep_cfg(corr: float, variant: str, seeds: tuple[int, ...], samples: int) -> SweepConfig:
    toy = presets.paper_small(corr)
    sae = SAEConfig(width=5, resample=variant != "no_resample")
    train = TrainConfig(samples=samples)
    sched = {}
    if variant == "schedule":
        train = dataclasses.replace(train, schedule_start=0, schedule_end=train.n_steps // 2,
                                    schedule_integer=False)
        sched = {"k_start": (4.0,)}
    return SweepConfig(toy=toy, sae=sae, train=train, ks=(2.0,), seeds=seeds, **sched)


def extend(parser):
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per correlation and variant (default 40; quick 10)")


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv, extend=extend)
    t0 = time.perf_counter()
    n_seeds = args.seeds or (10 if args.quick else 40)
    if n_seeds < 1:
        raise SystemExit(f"--seeds={n_seeds} is out of range; expected an integer >= 1")
    seeds = tuple(range(n_seeds))
    samples = 1_000_000 if args.quick else 15_000_000
    out = {"experiment": "small toy, k = 2: rate of the local minimum (issue 21)",
           "quick": args.quick,
           "settings": {"toy": "paper_small(c)", "corrs": CORRS, "k": 2.0, "width": 5,
                        "samples": samples, "batch_size": 1024, "lr": 3e-4, "seeds": seeds,
                        "stuck": f"MCC < {RECOVERY_MCC}",
                        "schedule": "k from 4 to 2, linear over the first half of training"},
           "sweeps": {}, "variants": {}}
    for variant in VARIANTS:
        mccs = {}
        for corr in CORRS:
            cfg = sweep_cfg(corr, variant, seeds, samples)
            res, info = cached_sweep(cfg, args.out_dir, not args.no_progress)
            out["sweeps"][f"{variant} c={corr:+.1f}"] = info
            mccs[f"{corr:+.1f}"] = [res.record(s, 2.0)["mcc"] for s in seeds]
        values = [m for v in mccs.values() for m in v]
        stuck = sum(m < RECOVERY_MCC for m in values)
        lo, hi = wilson(stuck, len(values))
        out["variants"][variant] = {"mcc": mccs, "runs": len(values), "stuck": stuck,
                                    "rate": stuck / len(values), "wilson95": [lo, hi],
                                    "lowest_mcc": min(values)}
        print(f"[local_minimum] {variant}: {stuck}/{len(values)} stuck "
              f"(95% {lo:.3f}–{hi:.3f}), lowest MCC {min(values):.4f}")
    stem = output_name("local_minimum", args.quick)
    return finish(out, args.fig_dir, stem, t0)


if __name__ == "__main__":
    main()
