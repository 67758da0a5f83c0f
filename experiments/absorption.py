"""Feature absorption on a parent/child toy: BatchTopK absorbs parents into their
children's latents; Matryoshka BatchTopK absorbs less.

The claims, in the sources' own words:

- Chanin et al. 2024, "A is for Absorption" (arXiv 2409.14507, abstract): "we show that
  seemingly monosemantic features fail to fire where they should, and instead get
  “absorbed” into their children features. We coin this phenomenon feature absorption,
  and show that it is caused by optimizing for sparsity in SAEs whenever the underlying
  features form a hierarchy."
- Bussmann et al. 2025, "Learning Multi-Level Features with Matryoshka Sparse
  Autoencoders" (arXiv 2503.17547, abstract): "This organizes features hierarchically -
  the smaller dictionaries learn general concepts, while the larger dictionaries learn
  more specific concepts, without incentive to absorb the high-level features."

Toy: ``hierarchy-small`` (16 orthogonal features in R^32: 4 parents, p = 0.25, each with
3 mutually exclusive children; true L0 1.73, exact).  SAEs: width 16, BatchTopK and
Matryoshka BatchTopK (prefixes 4, 8, 16), k ∈ {1, true L0, 3}, seeds 0–4, 4M samples
(``--quick``: 500k), batch 1024, Adam lr 3e-4.  Metrics (:mod:`toysae.detection`):
``absorption`` (how often a parent's latent is silent while the parent fires and its
child's latent fires) and ``absorption_cos`` (the child latent's decoder cosine with the
parent), each averaged over the 12 parent → child edges.

Verdicts (thresholds ours, fixed before the run): BatchTopK "absorbs" at the true L0
when its seed-mean absorption is at least 0.1; Matryoshka "absorbs less" when its
seed-mean absorption at the true L0 is below BatchTopK's by more than twice the standard
error of the paired (same seed) difference.  A third row, added after the first full run
found little absorption at the true L0 (0.07), applies the first rule at k = 1, below
the true L0.

Outputs (``figures/``, ``*_quick`` with ``--quick``): absorption.png, absorption.json.

Usage: ``python experiments/absorption.py [--quick] [--out-dir runs/]``
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
from claim_records import claim
from common import (
    cached_sweep,
    code_revision,
    finish,
    output_name,
    parse_args,
    save_figure,
    summarize,
)

from toysae import SAEConfig, SweepConfig, TrainConfig, presets

TOY = presets.get("hierarchy-small")
TRUE_L0 = round(TOY.true_l0, 4)
KS = (1.0, TRUE_L0, 3.0)
SEEDS = (0, 1, 2, 3, 4)
ARCHS = ("batchtopk", "matryoshka")
SAMPLES_FULL, SAMPLES_QUICK = 4_000_000, 500_000
ABSORBS = 0.1  # BatchTopK "absorbs": seed-mean absorption >= this at the true L0
METRICS = ("absorption", "absorption_cos", "mcc", "f1", "precision", "recall",
           "uniqueness", "variance_explained", "l0", "dead_latents")


def sweep_cfg(arch: str, quick: bool) -> SweepConfig:
    sae = SAEConfig(width=16, arch=arch, prefixes=(4, 8, 16) if arch == "matryoshka" else None)
    train = TrainConfig(samples=SAMPLES_QUICK if quick else SAMPLES_FULL, n_eval=50_000)
    return SweepConfig(toy=TOY, sae=sae, train=train, ks=KS, seeds=SEEDS)


def claims(by_arch: dict) -> list[dict]:
    low = np.asarray(by_arch["batchtopk"][KS[0]]["absorption"]["per_seed"])
    low_mat = np.asarray(by_arch["matryoshka"][KS[0]]["absorption"]["per_seed"])
    btk = np.asarray(by_arch["batchtopk"][TRUE_L0]["absorption"]["per_seed"])
    mat = np.asarray(by_arch["matryoshka"][TRUE_L0]["absorption"]["per_seed"])
    btk_cos = by_arch["batchtopk"][TRUE_L0]["absorption_cos"]
    diff = btk - mat
    se = float(np.std(diff, ddof=1) / np.sqrt(diff.size))
    return [
        claim("absorption.batchtopk_absorbs",
              "A BatchTopK SAE at the true L0 absorbs parents into their children's latents "
              f"(rule, ours: seed-mean absorption >= {ABSORBS})",
              "\"seemingly monosemantic features fail to fire where they should, and "
              "instead get “absorbed” into their children features\" (Chanin et al. 2024, "
              "abstract; their toy: an L1 SAE)",
              f"absorption {btk.mean():.3f} ± {btk.std(ddof=1):.3f} over {btk.size} seeds; "
              f"child latents' cosine with the parent {btk_cos['mean']:.3f}",
              btk.mean() >= ABSORBS, absorption=btk.tolist(),
              absorption_cos=btk_cos["per_seed"]),
        claim("absorption.matryoshka_less",
              "A Matryoshka BatchTopK SAE absorbs less than a BatchTopK SAE at the same k "
              "(rule, ours: paired seed-mean difference > 2 standard errors)",
              "\"without incentive to absorb the high-level features\" (Bussmann et al. "
              "2025, abstract)",
              f"absorption {mat.mean():.3f} (Matryoshka) vs {btk.mean():.3f} (BatchTopK); "
              f"paired difference {diff.mean():.3f} ± {se:.3f} (s.e.)",
              diff.mean() > 2 * se, matryoshka=mat.tolist(), batchtopk=btk.tolist(),
              difference_se=se),
        # Added after the first full run showed little absorption at the true L0: the
        # same sentence's cause ("optimizing for sparsity") tested where sparsity is
        # forced harder than the data's, at k = 1 below the true L0.
        claim("absorption.below_true_l0",
              f"Below the true L0 (k = {KS[0]:g}) a BatchTopK SAE absorbs parents into their "
              f"children's latents (rule, ours: seed-mean absorption >= {ABSORBS}; row added "
              "after the first full run)",
              "absorption \"is caused by optimizing for sparsity in SAEs whenever the "
              "underlying features form a hierarchy\" (Chanin et al. 2024, abstract)",
              f"absorption {low.mean():.3f} ± {low.std(ddof=1):.3f} (BatchTopK), "
              f"{low_mat.mean():.3f} ± {low_mat.std(ddof=1):.3f} (Matryoshka) at k = "
              f"{KS[0]:g}",
              low.mean() >= ABSORBS, batchtopk=low.tolist(), matryoshka=low_mat.tolist()),
    ]


def figure(by_arch: dict, fig_dir, stem) -> str:
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, key, label in zip(axes, ("absorption", "absorption_cos", "mcc"),
                              ("absorption rate", "child latent cos with parent", "MCC"),
                              strict=True):
        for i, arch in enumerate(ARCHS):
            means = [by_arch[arch][k][key]["mean"] for k in KS]
            stds = [by_arch[arch][k][key]["std"] for k in KS]
            ax.errorbar(np.arange(len(KS)) + (i - 0.5) * 0.15, means, yerr=stds, fmt="o-",
                        ms=4, capsize=3, label=arch, color=f"C{i}")
        ax.set_xticks(range(len(KS)), [f"{k:g}" + (" (true)" if k == TRUE_L0 else "")
                                       for k in KS])
        ax.set_xlabel("k")
        ax.set_ylabel(label)
        ax.set_title(f"{label} (mean ± std, {len(SEEDS)} seeds)", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.suptitle("Absorption on hierarchy-small: 4 parents × 3 exclusive children",
                 fontsize=10)
    fig.tight_layout()
    return save_figure(fig, fig_dir, stem)


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    t0 = time.perf_counter()
    by_arch, sweeps = {}, {}
    for arch in ARCHS:
        cfg = sweep_cfg(arch, args.quick)
        print(f"[absorption] {arch}: {len(KS) * len(SEEDS)} SAEs, {cfg.train.samples:,} "
              "samples each")
        res, info = cached_sweep(cfg, args.out_dir, not args.no_progress)
        sweeps[arch] = {**info, "provenance": res.provenance}
        by_arch[arch] = {k: {m: summarize([res.record(s, k)[m] for s in SEEDS])
                             for m in METRICS} for k in KS}
    stem = output_name("absorption", args.quick)
    out = {
        "experiment": "Feature absorption: BatchTopK vs Matryoshka on hierarchy-small",
        "quick": args.quick,
        "revision": code_revision(),
        "settings": {"toy": "hierarchy-small", "true_l0": TOY.true_l0, "ks": KS,
                     "seeds": SEEDS, "train": sweep_cfg(ARCHS[0], args.quick).train.__dict__,
                     "sae": {a: sweep_cfg(a, args.quick).sae.to_dict() for a in ARCHS}},
        "sweeps": sweeps,
        "by_arch": {a: {f"{k:g}": v for k, v in by_arch[a].items()} for a in ARCHS},
        "claims": claims(by_arch),
    }
    out["figures"] = [figure(by_arch, args.fig_dir, stem)]
    return finish(out, args.fig_dir, stem, t0)


if __name__ == "__main__":
    main()
