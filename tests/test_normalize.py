"""Input normalisation and gradient clipping (issue 21: the paper's JumpReLU reference
recipe, SAELens's ``normalize_activations="expected_average_only_in"`` and
``clip_grad_norm``).

Checked: the scale against a NumPy reference; the fold is exact for every architecture
(activations / s, reconstructions / s); training with normalisation is invariant to the
scale of the data (ours: the reason SAELens normalises); clipping equals optax's chain;
the new fields are validated and leave old digests alone.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from toysae import (
    SAEConfig,
    SweepConfig,
    ToyConfig,
    TrainConfig,
    build_toy,
    presets,
    run_sweep,
    saes,
)
from toysae.normalize import input_scale, scaled_toy
from toysae.train import StepOptions, adam_update, init_state

SMALL = presets.get("paper-small-pos")


def test_input_scale_matches_numpy_on_the_same_draws():
    toy = build_toy(presets.get("paper-main"))
    s = input_scale(toy, batch=256, n_batches=8, seed=3)
    key = jax.random.key(3)
    norms = [np.linalg.norm(np.asarray(toy.draw(jax.random.fold_in(key, i), 256)[1]), axis=1)
             for i in range(8)]
    np.testing.assert_allclose(s, np.sqrt(100) / np.concatenate(norms).mean(), rtol=1e-5)


def test_scaled_toy_scales_every_input_exactly():
    cfg = ToyConfig(n_features=8, dim=16, ramp=(0.3, 0.05), bias_norm=0.5, max_active=8)
    toy = build_toy(cfg)
    key = jax.random.key(1)
    np.testing.assert_allclose(np.asarray(scaled_toy(toy, 2.5).sample(key, 512)[1]),
                               2.5 * np.asarray(toy.sample(key, 512)[1]), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", saes.names())
def test_fold_gives_the_same_sae_on_raw_inputs(name):
    """For every architecture: trained on s·x, folded, the SAE's activations on x are
    the trained ones / s and its reconstruction is x̂ / s (float tolerance)."""
    arch = saes.build(SAEConfig(width=16, arch=name))
    params = arch.init(jax.random.key(0), 20, 16)
    # Non-zero biases and thresholds, so the fold has something to do.
    params = {**params, "b_enc": 0.1 * jax.random.normal(jax.random.key(1), (16,)),
              "b_dec": 0.2 * jax.random.normal(jax.random.key(2), (20,))}
    x = jax.random.normal(jax.random.key(3), (64, 20))
    s = 3.0
    column = jnp.float32(3.0 if arch.column == "k" else 0.5)
    folded, thr = arch.fold_input_scale(params, jnp.float32(0.6), s)
    np.testing.assert_allclose(float(thr), 0.2, rtol=1e-6)
    a_trained = arch.encode(params, s * x, column)
    a_folded = arch.encode(folded, x, column)
    np.testing.assert_allclose(np.asarray(a_folded), np.asarray(a_trained) / s,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(arch.decode(folded, a_folded)),
                               np.asarray(arch.decode(params, a_trained)) / s,
                               rtol=1e-5, atol=1e-5)


def _sweep(mu, sigma, arch="batchtopk"):
    toy = ToyConfig(**{**SMALL.to_dict(), "mu": mu, "sigma": sigma,
                       "correlation": SMALL.correlation})
    train = TrainConfig(samples=256 * 60, batch_size=256, lr=1e-3, n_eval=2048,
                        normalize="expected_average", normalize_batches=20)
    column = {"ks": (2.0,)} if arch == "batchtopk" else {"lambdas": (0.3,)}
    return run_sweep(SweepConfig(toy=toy, sae=SAEConfig(width=5, arch=arch), train=train,
                                 seeds=(0,), **column), progress=False)


@pytest.mark.parametrize("arch", ["batchtopk", "jumprelu"])
def test_normalised_training_is_invariant_to_the_scale_of_the_data(arch):
    """The same toy with magnitudes ×10 trains to the same SAE up to the fold: equal
    decoder weights, biases ×10, equal MCC and L0 (ours; float tolerance)."""
    a, b = _sweep(1.0, 0.15, arch), _sweep(10.0, 1.5, arch)
    pa, pb = a.state.params, b.state.params
    np.testing.assert_allclose(np.asarray(pb["W_dec"]), np.asarray(pa["W_dec"]), atol=2e-4)
    np.testing.assert_allclose(np.asarray(pb["b_dec"]), 10 * np.asarray(pa["b_dec"]),
                               atol=2e-3)
    ra, rb = a.records[0], b.records[0]
    assert abs(ra["mcc"] - rb["mcc"]) < 1e-3 and abs(ra["l0"] - rb["l0"]) < 0.05


def test_normalised_run_is_stored_folded(tmp_path):
    """A stored normalised run holds the folded parameters: reloaded, it equals the
    in-memory result."""
    from toysae.store import load_run

    cfg = SweepConfig(toy=SMALL, sae=SAEConfig(width=5),
                      train=TrainConfig(samples=256 * 40, batch_size=256, chunk_steps=20,
                                        n_eval=2048, normalize="expected_average",
                                        normalize_batches=10, clip_grad_norm=1.0),
                      ks=(2.0,), seeds=(0,))
    mem = run_sweep(cfg, progress=False)
    stored = run_sweep(cfg, out_dir=tmp_path, progress=False)
    loaded = load_run(stored.run_dir)
    for p in (stored, loaded):
        np.testing.assert_allclose(np.asarray(p.state.params["b_dec"]),
                                   np.asarray(mem.state.params["b_dec"]), atol=1e-6)
    assert loaded.records[0]["mcc"] == pytest.approx(mem.records[0]["mcc"], abs=1e-6)


def test_clipped_update_equals_optax_chain():
    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
    grads = {"w": 10 * jnp.ones((2, 3)), "b": -5 * jnp.ones(3)}
    opts = StepOptions(1e-2, 0.9, 0.999, None, clip_grad_norm=1.0)
    state = init_state({**params, "W_dec": jnp.zeros((4, 3))}, opts)._replace(params=params)
    state = state._replace(opt_state=optax.adam(1e-2).init(params))
    got, _ = adam_update(state, grads, opts)
    chain = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
    upd, _ = chain.update(grads, chain.init(params), params)
    want = optax.apply_updates(params, upd)
    for k in params:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-6)


def test_new_fields_are_validated_and_leave_old_digests_alone():
    with pytest.raises(ValueError, match="normalize='l2'"):
        TrainConfig(normalize="l2")
    with pytest.raises(ValueError, match="clip_grad_norm"):
        TrainConfig(clip_grad_norm=0.0)
    with pytest.raises(ValueError, match="normalize_batches"):
        TrainConfig(normalize_batches=0)
    assert "normalize" not in TrainConfig().to_dict()
    on = TrainConfig(normalize="expected_average", clip_grad_norm=1.0).to_dict()
    assert on["normalize"] == "expected_average" and on["clip_grad_norm"] == 1.0
    base = SweepConfig(toy=SMALL, sae=SAEConfig(width=5), ks=(2.0,))
    clipped = SweepConfig(toy=SMALL, sae=SAEConfig(width=5), ks=(2.0,),
                          train=TrainConfig(clip_grad_norm=1.0))
    assert base.digest() != clipped.digest()
    assert SweepConfig.from_dict(clipped.to_dict()) == clipped
