"""JumpReLU on the main toy model (paper §3.6, Fig 7): does the achieved L0 stick near
the true L0 of 11 over the sparsity-coefficient grid, and is c_dec lowest there?

Toy: ``paper-main`` (50 orthogonal features in R^100, true L0 10.95).  SAE: JumpReLU
(:mod:`toysae.saes.jumprelu`), width 50, straight-through bandwidth 2.0, initial threshold
0.1, tanh sparsity penalty (scale 4), λ warmed up linearly over 10,000 steps; 15M
samples, batch 1024, Adam lr 3e-4 (``--quick``: 1M samples, warm-up 700 steps, the
same 10,000/14,648 fraction of training); λ ∈ {0.05, …, 1.5}, one seed each (the
paper's grid).  No dead-latent resampling (the recipe has none).

Two recipes are trained (issue 21): ``as_read``, the settings above on raw inputs, as we
first read the paper; and ``reference``, the authors' notebook on SAELens 6.11: the same
plus SAELens's ``normalize_activations="expected_average_only_in"`` (inputs scaled by
√d / E‖x‖ during training, folded back after; ``TrainConfig(normalize=...)``) and its
trainer's gradient clipping at global norm 1.0.  The claim rows judge the reference
recipe; the notebook's own achieved L0 per λ (:data:`REFERENCE_L0`) is drawn beside ours.

Outputs (``figures/``, ``*_quick`` with ``--quick``):
  jumprelu.png   Fig 7: λ against achieved L0 (both recipes and the reference notebook's);
                 c_dec against achieved L0
  jumprelu.json  every number and the claim checks

Usage: ``python experiments/jumprelu.py [--quick] [--out-dir runs/]``
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
from claim_records import claim
from common import cached_sweep, finish, output_name, parse_args, save_figure

from toysae import SAEConfig, SweepConfig, TrainConfig, presets

LAMBDAS = (0.05, 0.07, 0.09, 0.1, 0.3, 0.5, 0.75, 1.0, 1.2, 1.3, 1.4, 1.5)
SEEDS = (0,)
SAMPLES_FULL, WARMUP_FULL = 15_000_000, 10_000
SAMPLES_QUICK = 1_000_000
TRUE_L0 = 10.95
STICK_TOL = 2.0  # issue 3: achieved L0 within ±2 of 11 ...
STICK_FRACTION = 0.5  # ... over at least half of the λ grid
ARGMIN_TOL = 1.0  # c_dec's minimum: achieved L0 within ±1 of the true L0
#: Achieved L0 per λ of the authors' JumpReLU notebook (chanind/sparse-but-wrong-paper,
#: SAELens 6.11, one seed; λ = 1.3 and 1.5 collapsed, MSE 41 and 50): the reference run.
REFERENCE_L0 = (27.7, 22.3, 18.2, 17.6, 12.9, 11.6, 11.0, 10.2, 8.4, 2.8, 10.7, 1.8)
#: The band issue 21 asks of the reference recipe: L0 in [9, 13] for λ in [0.3, 1.0].
BAND, BAND_LAMBDAS = (9.0, 13.0), (0.3, 1.0)
RECIPES = ("as_read", "reference")


def sweep_cfg(quick: bool, recipe: str = "reference") -> SweepConfig:
    ref = {"normalize": "expected_average", "clip_grad_norm": 1.0} if recipe == "reference" \
        else {}
    train = TrainConfig(samples=SAMPLES_QUICK if quick else SAMPLES_FULL, **ref)
    warmup = WARMUP_FULL
    if quick:  # the same fraction of training as at the paper's budget
        warmup = round(WARMUP_FULL * train.n_steps / TrainConfig().n_steps)
    sae = SAEConfig(width=50, arch="jumprelu", bandwidth=2.0, init_threshold=0.1,
                    tanh_scale=4.0, warmup_steps=warmup)
    return SweepConfig(toy=presets.get("paper-main"), sae=sae, train=train,
                       lambdas=LAMBDAS, seeds=SEEDS)


def claims(l0, c_dec) -> list[dict]:
    """The claim rows, judged on the reference recipe's achieved L0 and c_dec."""
    l0, c_dec = np.asarray(l0), np.asarray(c_dec)
    lam = np.asarray(LAMBDAS)
    in_range = (lam >= BAND_LAMBDAS[0]) & (lam <= BAND_LAMBDAS[1])
    band_ok = (l0[in_range] >= BAND[0]) & (l0[in_range] <= BAND[1])
    ref = np.asarray(REFERENCE_L0)
    ref_near = np.abs(ref - 11.0) <= STICK_TOL
    near = np.abs(l0 - 11.0) <= STICK_TOL
    frac = float(near.mean())
    best = int(np.argmin(c_dec))
    return [
        claim("jumprelu.l0_sticks",
              "JumpReLU's achieved L0 sticks near the true L0 (11) over a wide range of λ "
              f"(here: within ±{STICK_TOL:g} of 11 on at least {STICK_FRACTION:.0%} of the grid)",
              "sticks near 11 over a wide range of λ (Fig 7)",
              f"{int(near.sum())}/{len(l0)} λ values give L0 in [9, 13]; achieved L0 "
              f"{l0.min():.1f}–{l0.max():.1f}",
              frac >= STICK_FRACTION, fraction=frac, l0=l0.tolist(),
              reference_fraction=float(ref_near.mean())),
        claim("jumprelu.reference_band",
              f"With the reference recipe (input normalisation, gradient clip 1.0), the "
              f"achieved L0 lies in [{BAND[0]:g}, {BAND[1]:g}] for every λ from "
              f"{BAND_LAMBDAS[0]:g} to {BAND_LAMBDAS[1]:g}, as in the authors' notebook "
              "(rule, ours: issue 21)",
              "reference notebook: " + ", ".join(
                  f"λ={x:g}: {r:g}" for x, r in zip(lam[in_range], ref[in_range], strict=True)),
              "ours: " + ", ".join(f"λ={x:g}: {v:.1f}"
                                   for x, v in zip(lam[in_range], l0[in_range], strict=True)),
              bool(band_ok.all()), l0=l0.tolist(), reference_l0=list(REFERENCE_L0)),
        claim("jumprelu.c_dec_min_at_true_l0",
              f"c_dec against achieved L0 is minimised at the true L0 (within ±{ARGMIN_TOL:g})",
              "minimised at 11 (Fig 7)",
              f"lowest c_dec {c_dec[best]:.4f} at λ={LAMBDAS[best]}, achieved L0 {l0[best]:.2f}",
              abs(l0[best] - TRUE_L0) <= ARGMIN_TOL, argmin_lambda=LAMBDAS[best],
              argmin_l0=float(l0[best])),
    ]


def figure(l0, c_dec, mcc, l0_as_read, fig_dir, stem):
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    a.plot(LAMBDAS, l0, "o-", color="C0", label="ours, reference recipe")
    a.plot(LAMBDAS, REFERENCE_L0, "s--", color="C3", ms=4, label="authors' notebook")
    a.plot(LAMBDAS, l0_as_read, "^:", color="0.5", ms=4, label="ours, raw inputs")
    a.axhline(TRUE_L0, color="k", ls="--", lw=1, label="true L0")
    a.axhspan(11 - STICK_TOL, 11 + STICK_TOL, color="0.85", zorder=0, label="11 ± 2")
    a.set_xscale("log")
    a.set_xlabel("sparsity coefficient λ")
    a.set_ylabel("achieved L0 (100k samples)")
    a.set_title("JumpReLU: λ against achieved L0", fontsize=10)
    a.legend(fontsize=8)
    order = np.argsort(l0)
    b.plot(np.asarray(l0)[order], np.asarray(c_dec)[order], "o-", color="C1")
    b.axvline(TRUE_L0, color="k", ls="--", lw=1, label="true L0")
    for x, y, m in zip(l0, c_dec, mcc, strict=True):
        b.annotate(f"{m:.2f}", (x, y), fontsize=6, xytext=(2, 3), textcoords="offset points")
    b.set_xlabel("achieved L0")
    b.set_ylabel("c_dec (mean |cos| of decoder pairs)")
    b.set_title("c_dec against achieved L0 (reference recipe; labels: MCC)", fontsize=10)
    b.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, fig_dir, stem)


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    t0 = time.perf_counter()
    keys = ("lambda", "l0", "c_dec", "mcc", "n_recovered", "mse", "variance_explained",
            "dead_latents", "threshold")
    recipes, infos = {}, {}
    for recipe in RECIPES:
        cfg = sweep_cfg(args.quick, recipe)
        print(f"[jumprelu] {recipe}: {len(cfg.columns)} SAEs, {cfg.train.samples:,} samples")
        res, infos[recipe] = cached_sweep(cfg, args.out_dir, not args.no_progress)
        recipes[recipe] = {"train": cfg.train.to_dict(), "per_lambda": [
            {k: res.record(SEEDS[0], lam)[k] for k in keys} for lam in LAMBDAS]}
    rows = recipes["reference"]["per_lambda"]
    l0 = [r["l0"] for r in rows]
    c_dec = [r["c_dec"] for r in rows]
    mcc = [r["mcc"] for r in rows]
    stem = output_name("jumprelu", args.quick)
    out = {
        "experiment": "JumpReLU on the main toy model (paper §3.6, Fig 7)",
        "quick": args.quick,
        "settings": {"toy": "paper-main", "sae": cfg.sae.to_dict(), "lambdas": LAMBDAS,
                     "seeds": SEEDS, "reference_l0": REFERENCE_L0},
        "sweeps": infos,
        "recipes": recipes,
        "per_lambda": rows,
        "claims": claims(l0, c_dec),
    }
    as_read = [r["l0"] for r in recipes["as_read"]["per_lambda"]]
    out["figures"] = [figure(l0, c_dec, mcc, as_read, args.fig_dir, stem)]
    return finish(out, args.fig_dir, stem, t0)


if __name__ == "__main__":
    main()
