"""Paper-budget recovery on the main toy model (slow: run with `pytest -m slow`).

Claim (paper §3.2, Fig 1): a BatchTopK SAE trained at the true L0 (k = 11) with 15M
samples, batch 1024, Adam lr 3e-4 recovers every one of the 50 true features; at k = 5
(too low) it does clearly worse.  Thresholds: every feature's best |cos| > 0.9 and
Hungarian MCC >= 0.99 in each of seeds 0-4 at k = 11; at k = 5 the seed-mean MCC is at
least 0.1 below the k = 11 mean and fewer features are recovered in every seed.
"""

import numpy as np
import pytest

from toysae import SAEConfig, SweepConfig, TrainConfig, presets, run_sweep


@pytest.mark.slow
def test_k11_recovers_all_features_and_k5_does_not():
    cfg = SweepConfig(toy=presets.get("paper-main"), sae=SAEConfig(width=50),
                      train=TrainConfig(), ks=(5.0, 11.0), seeds=(0, 1, 2, 3, 4))
    res = run_sweep(cfg, progress=False)
    at11 = [res.record(s, 11.0) for s in cfg.seeds]
    at5 = [res.record(s, 5.0) for s in cfg.seeds]
    for rec in at11:
        assert rec["n_recovered"] == 50, rec["seed"]
        assert rec["mcc"] >= 0.99, rec["seed"]
    assert np.mean([r["mcc"] for r in at5]) <= np.mean([r["mcc"] for r in at11]) - 0.1
    assert all(r5["n_recovered"] < 50 for r5 in at5)


# A true feature counts as recovered without hedging when some latent's decoder row has
# |cos| above this with it (figures/hedging_k11.json: hedged seeds sit at 0.96-0.98,
# recovered ones above 0.999).
UNHEDGED_COS = 0.99


@pytest.mark.slow
def test_paper_sweep_recovers_every_seed_at_k11():
    """Issue 21: in the paper's full main sweep (k = 1..25 × seeds 0-4, 15M samples, the
    config of experiments/main_toy.py) trained by the default, unsharded path, every
    seed recovers every feature at k = 11 without a hedged latent (the older code's seed 4
    ended hedged at MCC 0.9939).  The sweep is loaded from runs/ when `toysae reproduce`
    has trained it there (about an hour on 2 cores otherwise).  Which seed hedges at
    k = 11 depends on float rounding, i.e. on the sweep's composition
    (figures/hedging_k11.json): this checks the composition the paper's sweep uses, on
    this machine."""
    from pathlib import Path

    cfg = SweepConfig(toy=presets.get("paper-main"), sae=SAEConfig(width=50),
                      train=TrainConfig(), ks=tuple(float(k) for k in range(1, 26)),
                      seeds=(0, 1, 2, 3, 4))
    res = run_sweep(cfg, str(Path(__file__).resolve().parent.parent / "runs"),
                    progress=False)
    for seed in cfg.seeds:
        best = np.asarray(res.record(seed, 11.0)["best_cos"])
        assert best.min() > UNHEDGED_COS, (seed, best.min(), int(best.argmin()))
