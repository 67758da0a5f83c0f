"""Throughput of the sweep's chunk program (``toysae.sweep.run_chunk``) on this machine.

Usage::

  python benchmarks/bench_sweep.py                     # M = 1, 5, 25, 125
  python benchmarks/bench_sweep.py --models 1 25 --length 100 --repeats 5

For M models (``k = 1..M`` on one seed; M = 125 is 5 seeds × k = 1..25) on the
"paper-main" toy (50 features, d = 100, SAE width 50, batch 1024) it reports the
compile time (ahead of time) separately, then the median over ``--repeats`` timed calls
(after a warm-up call) of steps/s and model-samples/s (models × batch × steps/s).  It
also measures this machine's float32 matmul rate (median of a jitted 1024×1024 @
1024×1024 matmul) and the achieved fraction of it, counting ~6·B·d·h FLOP per
model-step for the encoder and decoder forward and backward matmuls.  With
``--isolate`` each M runs in a fresh process and its peak RSS is printed too.

This is section 2 of the full suite, ``benchmarks/run_all.py`` (same measurement code,
``suite_jobs.chunk_job``).
"""

from __future__ import annotations

import argparse

import jax
import suite_common as common
from suite_jobs import run_job


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, nargs="+", default=[1, 5, 25, 125])
    ap.add_argument("--length", type=int, default=50, help="steps per timed chunk")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dead-steps", type=int, default=250,
                    help="SAE dead_steps (small values keep AuxK busy)")
    ap.add_argument("--isolate", action="store_true",
                    help="run each M in a fresh process and report its peak RSS")
    args = ap.parse_args()
    print(f"jax {jax.__version__}, devices {jax.devices()}")
    peak = common.matmul_gflops()["gflops"]
    print(f"f32 matmul 1024^3: {peak:.1f} GFLOP/s (median)")
    print(f"{'M':>4} {'compile s':>9} {'steps/s':>9} {'model-samples/s':>16} "
          f"{'GFLOP/s':>8} {'of matmul':>9} {'peak RSS':>9}")
    for m in args.models:
        r = run_job(dict(job="chunk", toy=dict(kind="main"), models=m, length=args.length,
                         repeats=args.repeats, warmup=1, dead_steps=args.dead_steps),
                    isolate=args.isolate)
        comp = "cached" if r["compile_s"] is None else f"{r['compile_s']:.2f}"
        rss = (f"{r['memory']['peak_rss_bytes'] / 2**20:,.0f}M" if args.isolate else "-")
        print(f"{m:>4} {comp:>9} {r['steps_s']:>9.1f} {r['samples_s']:>16,.0f} "
              f"{r['gflops']:>8.1f} {r['gflops'] / peak:>9.1%} {rss:>9}", flush=True)
    print(f"f32 matmul 1024^3: {common.matmul_gflops()['gflops']:.1f} GFLOP/s (median, after)")


if __name__ == "__main__":
    main()
