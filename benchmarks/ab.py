"""Same-run A/B of one engine lever (issue 20), on the sweep's compiled chunk program.

Comparisons (``--compare``):

* ``layout``: the seeds stepped one after another (``toysae.sweep.SEED_BLOCK = 1``)
  against all seeds in one vmap (the layout before), for the paper's 125-model stack
  (5 seeds × k = 1..25); writes ``benchmarks/layout_ab.json``.
* ``threshold``: the BatchTopK threshold search with interpolated probes
  (``toysae.topk.SEARCH = "illinois"``) against bisection (the search before), for the
  25-model k sweep (k = 1..25, one seed); writes ``benchmarks/threshold_ab.json``.
  Both searches return the same threshold, so the models are the same.
* ``auxk``: the AuxK branch on the dead latents' columns alone when every model of a
  group has at most ``AUX_FEW`` = 4 dead (``toysae.saes.batchtopk.AUX_FEW``) against
  the branch on all columns, for the 25-model k sweep; writes
  ``benchmarks/auxk_ab.json``.  The two differ by float rounding.

Usage::

  python benchmarks/ab.py                           # layout, 4 rounds, about 10 minutes
  python benchmarks/ab.py --compare threshold       # about 4 minutes
  python benchmarks/ab.py --rounds 2 --dead-steps 1000000   # no AuxK branch

Each round is one fresh process that compiles both variants and times them chunk by
chunk in turn (the suite's ``chunk_pair`` job, ``suite_jobs.py``: one warm-up chunk each,
then ``--repeats`` pairs of ``--length``-step chunks from step 50 on, both variants
advancing from the same initial state), the variant going first alternating by round.
On this shared host the speed drifts over minutes by more than a lever's effect (the
same program in separate processes, one round after another, ranged over a quarter of
its rate while the A/B ran), so only adjacent chunks are compared.  It writes the JSON
(atomically): every chunk time and each variant's compile time, the median rate per
variant, the median of all pairs' ratios (first variant's rate over the second's), and
what other processes took of the CPU meanwhile (:class:`quiet.LoadMonitor`).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import suite_common as common
from quiet import LoadMonitor
from suite_jobs import run_job

HERE = Path(__file__).resolve().parent
#: Per comparison: the variants (name → chunk-job spec entries), default models, output.
COMPARISONS = {
    "layout": dict(variants={"seeds one after another": {"seed_block": 1},
                             "seeds in one vmap": {"seed_block": None}},
                   models=125, out=HERE / "layout_ab.json"),
    "threshold": dict(variants={"interpolated probes (illinois)": {"topk_search": "illinois"},
                                "bisection": {"topk_search": "bisect"}},
                      models=25, out=HERE / "threshold_ab.json"),
    "auxk": dict(variants={"AuxK on the dead columns (few)": {"aux_few": 4},
                           "AuxK on every column": {"aux_few": 0}},
                 models=25, out=HERE / "auxk_ab.json"),
}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compare", choices=sorted(COMPARISONS), default="layout")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--length", type=int, default=50)
    ap.add_argument("--models", type=int, default=None,
                    help="models (more than 25: several seeds; default: 125 for layout, "
                         "25 for threshold)")
    ap.add_argument("--dead-steps", type=int, default=None,
                    help="SAEConfig.dead_steps (default the package's; 1000000: no AuxK)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    comp = COMPARISONS[args.compare]
    args.models = comp["models"] if args.models is None else args.models
    args.out = comp["out"] if args.out is None else args.out
    for name in ("rounds", "repeats", "length", "models"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}={getattr(args, name)}; expected an integer >= 1")
    if args.compare == "layout" and args.models <= 25:
        ap.error(f"--models={args.models}; expected more than 25 (several seeds) for "
                 "--compare layout")
    variants = comp["variants"]
    runs = []
    with LoadMonitor() as mon:
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            spec = dict(job="chunk_pair", toy=dict(kind="main"), models=args.models,
                        length=args.length, repeats=args.repeats,
                        variants={name: variants[name] for name in order})
            if args.dead_steps is not None:
                spec["dead_steps"] = args.dead_steps
            res = run_job(spec, isolate=True)
            for name, v in res["variants"].items():
                runs.append({"round": r, "variant": name, "samples_s": v["samples_s"],
                             "times_s": v["times_s"], "compile_s": v["compile_s"]})
            print(f"round {r}: " + "; ".join(f"{n} {v['samples_s']:,.0f}"
                                             for n, v in res["variants"].items()),
                  flush=True)
    a, b = variants
    rate = {name: statistics.median(
        args.models * common.BATCH * args.length / t
        for x in runs if x["variant"] == name for t in x["times_s"]) for name in variants}
    paired = []  # rate of a over rate of b, per adjacent pair of chunks
    for r in range(args.rounds):
        ta = next(x["times_s"] for x in runs if x["round"] == r and x["variant"] == a)
        tb = next(x["times_s"] for x in runs if x["round"] == r and x["variant"] == b)
        paired += [y / x for x, y in zip(ta, tb, strict=True)]
    out = {"machine": common.machine_info(),
           "settings": vars(args) | {"out": str(args.out)}, "method": "chunk_pair",
           "runs": runs, "median_samples_s": rate,
           "ratio_of_medians": rate[a] / rate[b], "median_paired_ratio":
           statistics.median(paired), "paired_ratios": paired, "load": mon.result()}
    common.atomic_write_json(args.out, out)
    print(f"median: {rate[a]:,.0f} vs {rate[b]:,.0f} model-samples/s; paired ratio "
          f"{statistics.median(paired):.3f}; load {out['load']}")
    return out


if __name__ == "__main__":
    main()
