"""A BatchTopK sweep on the SynthSAEBench-16k-sized toy, on this machine, at a short
budget: MCC, precision/recall/F1 and uniqueness, with wall time and peak memory.

Toy: ``synthsaebench-16k`` (16,384 features in d = 768; Zipf firing, a 128-root
hierarchy of depth 3 with exclusive siblings, rank-25 correlation; see
:func:`toysae.presets.synthsaebench_16k` for where it differs from SAELens's model).
SAEs: BatchTopK, width 4,096 (SynthSAEBench's), k ∈ {15, 25, 35}, seed 0; Adam lr 3e-4,
batch 1024, ``--samples`` per SAE (default 524,288; SynthSAEBench trains 200M, so
these are early-training numbers, not a reproduction of its table); 8,192 evaluation
inputs.  The true L0 of this toy has no closed form (a hierarchy over correlated
features) and is estimated from 2^20 samples (:func:`toysae.true_l0_report`).

Outputs (``figures/``, ``*_quick`` with ``--quick``): synthsaebench.json.

Usage: ``python experiments/synthsaebench.py [--quick] [--samples N] [--out-dir runs/]``
"""

from __future__ import annotations

import resource
import time

from common import cached_sweep, code_revision, finish, output_name, parse_args

from toysae import SAEConfig, SweepConfig, TrainConfig, presets, true_l0_report

KS = (15.0, 25.0, 35.0)
WIDTH = 4096
SAMPLES, SAMPLES_QUICK = 1 << 19, 1 << 16
N_EVAL = 8192
KEYS = ("k", "l0", "mcc", "f1", "precision", "recall", "uniqueness", "variance_explained",
        "dead_latents", "c_dec")
# SynthSAEBench's table at L0 = 25 (SAELens docs/synth_sae_bench.md; 200M samples, seeds
# 0-4), for scale only.
PUBLISHED = {"BatchTopK": {"f1": 0.732, "mcc": 0.757, "uniqueness": 0.984,
                           "variance_explained": 0.792}}


def sweep_cfg(samples: int) -> SweepConfig:
    return SweepConfig(toy=presets.get("synthsaebench-16k"), sae=SAEConfig(width=WIDTH),
                       train=TrainConfig(samples=samples, n_eval=N_EVAL, chunk_steps=64),
                       ks=KS, seeds=(0,))


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv, extend=lambda p: p.add_argument(
        "--samples", type=int, default=None, help=f"samples per SAE (default {SAMPLES})"))
    t0 = time.perf_counter()
    samples = args.samples or (SAMPLES_QUICK if args.quick else SAMPLES)
    cfg = sweep_cfg(samples)
    print(f"[synthsaebench] {len(KS)} BatchTopK SAEs of width {WIDTH}, {samples:,} samples")
    res, info = cached_sweep(cfg, args.out_dir, not args.no_progress)
    sweep_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    l0 = true_l0_report(cfg.toy)
    l0_s = time.perf_counter() - t1
    out = {
        "experiment": "BatchTopK on the SynthSAEBench-16k-sized toy (short budget)",
        "quick": args.quick,
        "revision": code_revision(),
        "settings": {"toy": cfg.toy.to_dict(), "sae": cfg.sae.to_dict(),
                     "train": cfg.train.__dict__, "ks": KS, "seeds": [0]},
        "sweep": {**info, "provenance": res.provenance},
        "sweep_wall_s": round(sweep_s, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "true_l0": {**l0, "wall_s": round(l0_s, 1)},
        "records": [{k: r[k] for k in KEYS} for r in res.records],
        "published_at_l0_25": PUBLISHED,
    }
    return finish(out, args.fig_dir, output_name("synthsaebench", args.quick), t0)


if __name__ == "__main__":
    main()
