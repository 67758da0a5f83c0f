"""The online L0 tuner (paper A.11): the update's direction and bounds, validation
before any compute, determinism, and its place among find_l0's rules."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from toysae import SAEConfig, SweepConfig, TrainConfig, presets
from toysae.tuner import TunerConfig, tune_l0, update_level

SMALL = presets.get("paper-small-pos")


def small_cfg(steps=60, **sae):
    return SweepConfig(toy=SMALL, sae=SAEConfig(width=5, **sae),
                       train=TrainConfig(samples=256 * steps, batch_size=256, n_eval=1024),
                       ks=(2.0,), seeds=(0, 1))


def test_update_direction_bias_and_bounds():
    """Descent on the metric: a rising metric moves L0 down, a falling one up; with a
    zero-mean noisy slope the bias (+0.1·|s|) drifts L0 down (module docstring); L0 is
    clipped to [k_min, width − δ]."""
    t = TunerConfig(k_start=10.0, lr=0.5)
    state = optax.adam(t.lr, b2=t.beta2).init(jnp.float32(10.0))
    level = jnp.float32(10.0)
    rng = np.random.default_rng(0)
    for s in rng.choice([-1.0, 1.0], size=200) * 1e-3:
        level, state = update_level(level, state, float(s), t, 50)
    assert float(level) < 10.0
    low, _ = update_level(jnp.float32(1.0), optax.adam(0.5).init(jnp.float32(1.0)), 5.0, t, 50)
    high, _ = update_level(jnp.float32(49.0), optax.adam(0.5).init(jnp.float32(49.0)), -5.0,
                           t, 50)
    assert float(low) == t.k_min and float(high) == 50 - t.delta


def test_bad_settings_are_refused_before_compute():
    with pytest.raises(ValueError, match="period"):
        TunerConfig(k_start=5.0, period=0)
    with pytest.raises(ValueError, match="metric"):
        TunerConfig(k_start=5.0, metric="mse")
    with pytest.raises(ValueError, match="k_start"):
        tune_l0(small_cfg(), TunerConfig(k_start=9.0))
    with pytest.raises(ValueError, match="the tuner needs at least"):
        tune_l0(small_cfg(steps=10), TunerConfig(k_start=4.0, period=10))
    jr = SweepConfig(toy=SMALL, sae=SAEConfig(width=5, arch="jumprelu"), lambdas=(0.1,))
    with pytest.raises(ValueError, match="lambda column; the online tuner adjusts k"):
        tune_l0(jr, TunerConfig(k_start=4.0))


def test_deterministic_and_one_trajectory_per_seed():
    tuner = TunerConfig(k_start=4.0, period=10, window=2, n=1, warmup=0.0)
    a = tune_l0(small_cfg(), tuner)
    b = tune_l0(small_cfg(), tuner)
    assert a == b
    assert len(a["per_seed"]) == 2 and a["trainings"] == 2
    # 60 steps, no warm-up: 3 cycles of (base, probe) per seed.
    assert [len(tr["k"]) for tr in a["trajectories"]] == [3, 3]
    assert a["trajectories"][0]["k"][0] == 4.0
