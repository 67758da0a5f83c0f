"""No behaviour change from the architecture records (issue 16): sweeps and digests
pinned with the code before them (commit a82d8e9).

``tests/data/pinned_a82d8e9.json`` holds, from that commit, the records of a BatchTopK
sweep on the small toy (k = 1.8, 2; 300 steps of 256, lr 1e-3, 4,096 evaluation
inputs) and of a JumpReLU sweep on the main toy (λ = 0.1, 1; warm-up 100 steps; same
budget), the sha256 of their final parameters, and the cache digests of six configs
(those two, a 14-model BatchTopK sweep, ground-truth init, a k schedule, a default
JumpReLU config).  At the redesign, on this machine, the parameters were bit-identical
(equal sha256) for all three sweeps; here every record must match to 1e-6 relative
(float rounding, should XLA change) and every digest exactly, so no cached run is
orphaned.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from toysae import SAEConfig, SweepConfig, TrainConfig, presets, run_sweep

PINNED = json.loads((Path(__file__).parent / "data" / "pinned_a82d8e9.json").read_text())
TRAIN = TrainConfig(samples=256 * 300, batch_size=256, n_eval=4096, chunk_steps=100, lr=1e-3)
MAIN, SMALL = presets.get("paper-main"), presets.get("paper-small-pos")
SWEEPS = {
    "batchtopk": SweepConfig(toy=MAIN, sae=SAEConfig(width=50), train=TRAIN,
                             ks=(1.0, 3.0, 5.0, 8.0, 11.0, 14.0, 18.0), seeds=(0, 1)),
    "batchtopk_small": SweepConfig(toy=SMALL, sae=SAEConfig(width=5), train=TRAIN,
                                   ks=(1.8, 2.0), seeds=(0,)),
    "jumprelu": SweepConfig(toy=MAIN, sae=SAEConfig(width=50, arch="jumprelu",
                                                    warmup_steps=100),
                            train=TRAIN, lambdas=(0.1, 1.0), seeds=(0,)),
    "gt": SweepConfig(toy=SMALL, sae=SAEConfig(width=5, init="ground_truth"), ks=(1.8,)),
    "sched": SweepConfig(toy=MAIN, sae=SAEConfig(width=50), ks=(11.0,), k_start=(20.0,)),
    "jr_default": SweepConfig(toy=MAIN, sae=SAEConfig(width=50, arch="jumprelu"),
                              lambdas=(0.5,)),
}


def test_cache_digests_are_unchanged():
    assert {n: c.digest() for n, c in SWEEPS.items()} == PINNED["digests"]


@pytest.mark.parametrize("name", ["batchtopk_small", "jumprelu"])
def test_pinned_sweep_gives_the_same_records(name):
    from conftest import cpu_key

    res = run_sweep(SWEEPS[name], progress=False)
    # Another CPU model compiles other code: its own records, where recorded.
    pinned = PINNED.get("by_cpu", {}).get(cpu_key(), PINNED["sweeps"])[name]["records"]
    assert len(res.records) == len(pinned)
    for new, old in zip(res.records, pinned, strict=True):
        # the record gained "arch", "cos" and the firing metrics of issue 17 only
        assert set(new) - set(old) == {"arch", "cos", "uniqueness", "precision", "recall",
                                       "f1"}
        for key, value in old.items():
            np.testing.assert_allclose(np.asarray(new[key]), np.asarray(value), rtol=1e-6,
                                       atol=1e-9, err_msg=f"{name} {key}")
