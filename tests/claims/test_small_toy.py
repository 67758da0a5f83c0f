"""Reduced-scale claims of the paper's small toy model (paper §3.1, A.3).

Toy: ``presets.paper_small(c)`` (5 orthogonal features in R^20, p = 0.4, true L0 2, f0
correlated with f1–f4 at c).  SAE: BatchTopK, width 5, ground-truth init, batch 1024,
Adam lr 3e-4, 400 steps (409,600 samples; the paper trains 15M), seeds 0–2, evaluated on
20,000 samples.  Every run uses fixed seeds and keys, so the numbers are deterministic on
a given platform; the margins below come from these measured values (this machine, CPU)
and leave several times the seed-to-seed spread:

===========  ===========================  ===========================
c            mixing at k = 1.8            mixing at k = 2.0
===========  ===========================  ===========================
+0.4         0.2198 – 0.2210              0.0061 – 0.0079
−0.4         −0.0727 – −0.0684            −0.0028 – −0.0023
 0.0         −0.0005 – 0.0032             −0.0006 – 0.0008
===========  ===========================  ===========================

At 400 steps the negative case is still growing (it reaches about −0.23 by 1M samples and
−0.25 at 3M); the positive one is near 0.22 (0.27 by 1M).  The full-budget numbers are in
``figures/small_toy.json`` (``experiments/small_toy.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from toysae import SAEConfig, SweepConfig, TrainConfig, presets, run_sweep

STEPS = 400
SEEDS = (0, 1, 2)
KS = (1.8, 2.0)


def _sweep(corr: float):
    cfg = SweepConfig(
        toy=presets.paper_small(corr),
        sae=SAEConfig(width=5, init="ground_truth"),
        train=TrainConfig(samples=1024 * STEPS, n_eval=20_000, chunk_steps=STEPS),
        ks=KS, seeds=SEEDS,
    )
    return run_sweep(cfg, progress=False)


@pytest.fixture(scope="module")
def mixing():
    """``{c: {k: [mixing per seed]}}`` for c = +0.4, −0.4 and 0 (one compiled program)."""
    out = {}
    for corr in (0.4, -0.4, 0.0):
        res = _sweep(corr)
        out[corr] = {k: np.array([res.record(s, k)["mixing"] for s in SEEDS]) for k in KS}
    return out


def test_positive_correlation_mixes_in_plus_f0(mixing):
    """Claim (§3.1, Fig 2): at k = 1.8 < true L0, from the ground truth, latents 1–4 pick
    up +f0 when f0 is positively correlated with f1–f4.  Margin: mixing > 0.1 in every
    seed (measured 0.220–0.221)."""
    assert np.all(mixing[0.4][1.8] > 0.1), mixing[0.4][1.8]


def test_negative_correlation_mixes_in_minus_f0(mixing):
    """Claim (§3.1, Fig 3): with negative correlation the latents pick up −f0.  Margin:
    mixing < −0.03 in every seed (measured −0.073 to −0.068)."""
    assert np.all(mixing[-0.4][1.8] < -0.03), mixing[-0.4][1.8]


def test_mixing_grows_below_true_l0(mixing):
    """Claim (A.3.2): mixing grows as k falls below 2.  Checked per seed as
    |mixing(1.8)| − |mixing(2.0)| > 0.03 (measured 0.213–0.215 for c = +0.4 and
    0.066–0.070 for c = −0.4), and at k = 2.0 the SAE stays near the ground truth,
    |mixing| < 0.02 (measured at most 0.008)."""
    for corr in (0.4, -0.4):
        gap = np.abs(mixing[corr][1.8]) - np.abs(mixing[corr][2.0])
        assert np.all(gap > 0.03), (corr, gap)
        assert np.all(np.abs(mixing[corr][2.0]) < 0.02), (corr, mixing[corr][2.0])


def test_no_mixing_without_correlation(mixing):
    """Claim (A.3.1): at zero correlation there is no mixing.  Margin: |mixing| < 0.02 at
    k = 1.8 and 2.0 in every seed (measured at most 0.0032), an order of magnitude below
    the correlated cases; and the ordering mixing(−0.4) < mixing(0) < mixing(+0.4) holds
    per seed at k = 1.8."""
    for k in KS:
        assert np.all(np.abs(mixing[0.0][k]) < 0.02), (k, mixing[0.0][k])
    assert np.all(mixing[-0.4][1.8] < mixing[0.0][1.8])
    assert np.all(mixing[0.0][1.8] < mixing[0.4][1.8])
