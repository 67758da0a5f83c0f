"""The sweep engine: vmap vs loop equivalence, common random numbers, no recompiles,
determinism, k schedules and divergence handling."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toysae import SAEConfig, SweepConfig, TrainConfig, presets
from toysae.generator import build_toy
from toysae.run import run_sweep
from toysae.sweep import TRACE_COUNT, init_sweep_state, train_sweep
from toysae.train import k_at

SMALL = presets.get("paper-small-pos")


def small_cfg(ks=(1.5, 2.0, 3.0), seeds=(0, 1), steps=60, chunk=20, **train):
    return SweepConfig(
        toy=SMALL, sae=SAEConfig(width=5),
        train=TrainConfig(samples=256 * steps, batch_size=256, chunk_steps=chunk, n_eval=4096,
                          **train),
        ks=ks, seeds=seeds,
    )


@pytest.fixture(scope="module")
def grid():
    cfg = small_cfg()
    return cfg, train_sweep(cfg, progress=False)


def test_model_in_sweep_equals_model_trained_alone(grid):
    """A model trained inside a 2-seed × 3-k vmapped sweep equals the same (seed, k)
    trained alone (vmap vs loop): same keys, same data, float tolerance 1e-5."""
    cfg, state = grid
    for seed, k in [(1, 2.0), (0, 1.5)]:
        alone = train_sweep(dataclasses.replace(cfg, ks=(k,), seeds=(seed,)), progress=False)
        i, j = cfg.seeds.index(seed), cfg.ks.index(k)
        for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
            np.testing.assert_allclose(np.asarray(state.params[name][i, j]),
                                       np.asarray(alone.params[name][0, 0]), atol=1e-5)


def test_common_random_numbers_and_seed_independence():
    """Within a seed every k starts from the same init; different seeds differ."""
    cfg = small_cfg()
    st = init_sweep_state(cfg, build_toy(cfg.toy))
    w = np.asarray(st.params["W_dec"])
    np.testing.assert_array_equal(w[0, 0], w[0, 2])
    assert np.abs(w[0, 0] - w[1, 0]).max() > 1e-3


def test_same_config_same_numbers(grid):
    """Determinism: the same config and seeds give bitwise-identical parameters."""
    cfg, state = grid
    again = train_sweep(cfg, progress=False)
    for name in ("W_enc", "W_dec"):
        np.testing.assert_array_equal(np.asarray(state.params[name]),
                                      np.asarray(again.params[name]))


def test_no_recompile_between_chunks_or_sweeps_of_same_shape():
    """One trace serves every chunk (including a final partial chunk) and a second sweep
    of the same shape with other k values, seeds, step count and toy numbers."""
    cfg = small_cfg(steps=50, chunk=20)  # chunks of 20, 20 and a masked partial 10
    train_sweep(cfg, progress=False)
    before = TRACE_COUNT["chunk"]
    other = dataclasses.replace(
        small_cfg(ks=(1.0, 2.5, 4.0), seeds=(7, 8), steps=70, chunk=20),
        toy=presets.get("paper-small-neg"),
    )
    train_sweep(other, progress=False)
    assert TRACE_COUNT["chunk"] == before


def test_training_reduces_mse_and_l0_matches_k():
    """Training works at all: MSE falls well below the untrained value and the achieved
    L0 on the evaluation set equals k (BatchTopK, batch mode)."""
    cfg = small_cfg(ks=(2.0,), seeds=(0,), steps=300, chunk=100)
    res = run_sweep(cfg, progress=False)
    untrained = run_sweep(dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, samples=256)), progress=False)
    assert res.records[0]["mse"] < 0.7 * untrained.records[0]["mse"]
    assert res.records[0]["l0"] == pytest.approx(2.0, abs=0.01)


def test_k_schedule_linear_and_integer():
    """k_at: constant before start, linear between, constant after; integer mode
    truncates (paper A.8 reference)."""
    steps = jnp.array([0, 3000, 7000, 11000, 20000])
    k = k_at(steps, jnp.float32(20.0), jnp.float32(11.0), 3000, 11000, False)
    np.testing.assert_allclose(np.asarray(k), [20, 20, 15.5, 11, 11])
    k = k_at(steps, jnp.float32(20.0), jnp.float32(11.0), 3000, 11000, True)
    np.testing.assert_allclose(np.asarray(k), [20, 20, 15, 11, 11])
    assert float(k_at(5, 1.0, 7.0, 0, None, True)) == 7.0


def test_schedule_drives_training_l0():
    """With a schedule 2 → 1 over steps 0..40 the per-chunk L0 follows k (training logs;
    k stays below the number of positive pre-activations, about 2.5 per input here)."""
    cfg = dataclasses.replace(
        small_cfg(ks=(1.0,), seeds=(0,), steps=60, chunk=20, schedule_start=0,
                  schedule_end=40, schedule_integer=False),
        k_start=(2.0,),
    )
    seen = []
    train_sweep(cfg, progress=False, on_chunk=lambda s, st, logs: seen.append(
        float(np.asarray(logs["l0"]).ravel()[0])))
    # chunk means of k over steps 0-19, 20-39, 40-59: 2 - 9.5/40, 2 - 29.5/40, 1
    np.testing.assert_allclose(seen, [1.7625, 1.2625, 1.0], atol=0.01)


def test_divergence_stops_with_a_clear_message():
    """An absurd learning rate that makes the loss non-finite stops training with an
    error naming the learning rate, instead of returning NaN parameters."""
    cfg = small_cfg(ks=(2.0,), seeds=(0,), steps=40, chunk=20, lr=1e30)
    with pytest.raises(FloatingPointError, match="lr="):
        train_sweep(cfg, progress=False)


def test_ground_truth_init_is_the_ground_truth():
    """init='ground_truth' starts at W_dec = F exactly (zero noise)."""
    cfg = dataclasses.replace(small_cfg(), sae=SAEConfig(width=5, init="ground_truth"))
    toy = build_toy(cfg.toy)
    st = init_sweep_state(cfg, toy)
    np.testing.assert_allclose(np.asarray(st.params["W_dec"][1, 2]),
                               np.asarray(toy.features), atol=1e-7)
    assert jax.tree.leaves(st.params)[0].shape[:2] == (2, 3)


def test_aux_groups_give_the_same_models(monkeypatch):
    """Claim (toysae.sweep.aux_groups): splitting the k axis into groups that pick their
    AuxK branch apart changes no model.  A 2-seed × 5-k sweep of 12-latent SAEs on the
    5-feature toy (dead_steps 2, so dead latents come and go in some models and not in
    others), trained 60 steps in groups of 2, 2 and 1, equals the ungrouped sweep to float
    tolerance 1e-5."""
    import toysae.saes.batchtopk as batchtopk
    import toysae.sweep as sweep

    cfg = small_cfg(ks=(1.0, 1.5, 2.0, 3.0, 4.0), chunk=5)
    cfg = dataclasses.replace(cfg, sae=dataclasses.replace(cfg.sae, width=12, dead_steps=2))
    dead = []  # models with a dead latent, after each chunk

    def count(step, st, logs):
        dead.append(int(jnp.sum(jnp.any(st.since_fired >= 2, axis=-1))))

    monkeypatch.setattr(batchtopk, "AUX_GROUP", 100)
    whole = train_sweep(cfg, progress=False, on_chunk=count)
    assert 0 < max(dead) and min(dead) < 10, dead  # AuxK ran in some models, not all
    monkeypatch.setattr(batchtopk, "AUX_GROUP", 2)
    assert sweep.aux_groups(5, sweep.step_options(cfg)) == ((0, 2), (2, 4), (4, 5))
    grouped = train_sweep(cfg, progress=False)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(grouped), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_seed_blocks_give_the_same_models(monkeypatch):
    """Claim (toysae.sweep.SEED_BLOCK): stepping the seeds one after another instead of in
    one vmap changes no model.  A 2-seed × 5-k sweep of 12-latent SAEs on the 5-feature
    toy (dead_steps 2: AuxK and resampling run in some models; with blocks of one seed each
    seed's AuxK groups pick their branch apart), 60 steps, equals the one-vmap layout to
    float tolerance 1e-5 (ours, as for AuxK groups)."""
    import toysae.sweep as sweep

    cfg = small_cfg(ks=(1.0, 1.5, 2.0, 3.0, 4.0), chunk=5)
    cfg = dataclasses.replace(cfg, sae=dataclasses.replace(cfg.sae, width=12, dead_steps=2))
    monkeypatch.setattr(sweep, "SEED_BLOCK", None)
    together = train_sweep(cfg, progress=False)
    monkeypatch.setattr(sweep, "SEED_BLOCK", 1)
    apart = train_sweep(cfg, progress=False)
    for a, b in zip(jax.tree.leaves(together), jax.tree.leaves(apart), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_threshold_searches_give_identical_models(monkeypatch):
    """Claim (toysae.topk module docstring): the interpolated and the bisecting threshold
    searches return the same exact threshold, so a sweep trained with either is the
    same, bit for bit (not merely to float tolerance): the same 2-seed × 5-k sweep with
    AuxK and resampling active, 60 steps.  The probe rule is read when traced, so the
    caches are cleared between the two."""
    import toysae.sweep as sweep
    import toysae.topk as topk

    cfg = small_cfg(ks=(1.0, 1.5, 2.0, 3.0, 4.0), chunk=5)
    cfg = dataclasses.replace(cfg, sae=dataclasses.replace(cfg.sae, width=12, dead_steps=2))
    states = []
    for search in ("bisect", "illinois"):
        monkeypatch.setattr(topk, "SEARCH", search)
        jax.clear_caches()
        traces = sweep.TRACE_COUNT["chunk"]
        states.append(train_sweep(cfg, progress=False))
        assert sweep.TRACE_COUNT["chunk"] > traces  # traced anew with this rule
    jax.clear_caches()
    for a, b in zip(*(jax.tree.leaves(s) for s in states), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_seed_block_must_divide_the_seeds():
    cfg = small_cfg(seeds=(0, 1, 2))
    toy = build_toy(cfg.toy)
    from toysae.sweep import data_keys, run_chunk, step_options

    ks = jnp.asarray(cfg.ks, jnp.float32)
    for bad, match in ((2, "seed_block=2 must divide the number of seeds"),
                       (0, "seed_block=0; expected None or an integer >= 1")):
        with pytest.raises(ValueError, match=match):
            run_chunk(init_sweep_state(cfg, toy), jnp.int32(0), jnp.int32(10), toy,
                      data_keys(cfg.seeds), ks, ks, opts=step_options(cfg), batch=256,
                      length=5, schedule=(0, None, True), seed_block=bad)
