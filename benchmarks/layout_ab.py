"""Same-run A/B of the sweep's seed layout (issue 20): the unsharded chunk program with
the seeds stepped one after another (``toysae.sweep.SEED_BLOCK = 1``) against all seeds
in one vmap (the layout before), for the paper's 125-model stack (5 seeds × k = 1..25).

Usage::

  python benchmarks/layout_ab.py                 # 4 rounds, about 10 minutes
  python benchmarks/layout_ab.py --rounds 2 --dead-steps 1000000   # no AuxK branch

Each round runs both layouts as the suite's ``chunk`` job (``suite_jobs.py``: a fresh
process each, the chunk program compiled ahead, one warm-up chunk, then the median of
``--repeats`` chunks of ``--length`` steps from steps 50 on), alternating which goes
first.  It writes ``benchmarks/layout_ab.json`` (atomically): every run, the median rate
per layout, the median of the rounds' paired ratios, and what other processes took of
the CPU meanwhile (:class:`quiet.LoadMonitor`).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import suite_common as common
from quiet import LoadMonitor
from suite_jobs import run_job

DEFAULT_OUT = Path(__file__).resolve().parent / "layout_ab.json"
LAYOUTS = {"seeds one after another": 1, "seeds in one vmap": None}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--length", type=int, default=50)
    ap.add_argument("--models", type=int, default=125,
                    help="models (more than 25: several seeds; default 125)")
    ap.add_argument("--dead-steps", type=int, default=None,
                    help="SAEConfig.dead_steps (default the package's; 1000000: no AuxK)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    for name in ("rounds", "repeats", "length"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}={getattr(args, name)}; expected an integer >= 1")
    if args.models <= 25:
        ap.error(f"--models={args.models}; expected more than 25 (several seeds)")
    runs = []
    with LoadMonitor() as mon:
        for r in range(args.rounds):
            order = list(LAYOUTS) if r % 2 == 0 else list(reversed(LAYOUTS))
            for name in order:
                spec = dict(job="chunk", toy=dict(kind="main"), models=args.models,
                            length=args.length, repeats=args.repeats,
                            seed_block=LAYOUTS[name])
                if args.dead_steps is not None:
                    spec["dead_steps"] = args.dead_steps
                res = run_job(spec, isolate=True)
                runs.append({"round": r, "layout": name, "samples_s": res["samples_s"],
                             "times_s": res["times_s"]})
                print(f"round {r} {name:>24}: {res['samples_s']:,.0f} model-samples/s",
                      flush=True)
    rate = {name: statistics.median(x["samples_s"] for x in runs if x["layout"] == name)
            for name in LAYOUTS}
    a, b = LAYOUTS
    paired = [next(x["samples_s"] for x in runs if x["round"] == r and x["layout"] == a)
              / next(x["samples_s"] for x in runs if x["round"] == r and x["layout"] == b)
              for r in range(args.rounds)]
    out = {"machine": common.machine_info(), "settings": vars(args) | {"out": str(args.out)},
           "runs": runs, "median_samples_s": rate,
           "ratio_of_medians": rate[a] / rate[b], "median_paired_ratio":
           statistics.median(paired), "paired_ratios": paired, "load": mon.result()}
    common.atomic_write_json(args.out, out)
    print(f"median: {rate[a]:,.0f} vs {rate[b]:,.0f} model-samples/s; paired ratio "
          f"{statistics.median(paired):.3f}; load {out['load']}")
    return out


if __name__ == "__main__":
    main()
