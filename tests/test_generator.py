"""Tests of the toy-model generator (paper §3; paper-facts "Common generator").

Statistical tests use one fixed-key draw of 200,000 inputs per preset (see conftest) and
a tolerance of 4 standard errors of the estimated proportion or mean, computed from the
*claimed* value (e.g. ``sqrt(p (1 - p) / n)``).  For a single check that is a two-sided
false-alarm rate of about 6e-5; with fixed keys every test is deterministic anyway.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import ndtri
from scipy.stats import multivariate_normal, norm

from toysae.config import ToyConfig
from toysae.features import near_orthogonal_features, orthogonal_features
from toysae.generator import build_toy, correlation_matrix

N_SIGMA = 4.0


def _se_prop(p, n):
    return np.sqrt(np.asarray(p) * (1.0 - np.asarray(p)) / n)


def _orthant(t_i: float, t_j: float, rho: float) -> float:
    """P(z_i > t_i, z_j > t_j) for a standard bivariate normal with correlation rho.

    By symmetry of the centred normal, this equals Phi2(-t_i, -t_j; rho).
    """
    return float(
        multivariate_normal.cdf([-t_i, -t_j], mean=[0.0, 0.0], cov=[[1.0, rho], [rho, 1.0]],
                                abseps=1e-10, releps=1e-10)
    )


def _relu_normal_moments(mu: float, sigma: float) -> tuple[float, float]:
    """Exact mean and variance of ReLU(mu + sigma * eps), eps ~ N(0, 1)."""
    a = mu / sigma
    m1 = mu * norm.cdf(a) + sigma * norm.pdf(a)
    m2 = (mu**2 + sigma**2) * norm.cdf(a) + mu * sigma * norm.pdf(a)
    return m1, m2 - m1**2


# ----------------------------------------------------------------------------- marginals


def test_main_firing_rates_match_probs(main_cfg, main_draw):
    """Claim: each of the 50 paper-main features fires at rate p_i = 0.345 (49 - i)/50 + 0.05.

    "Fires" is observed as coeff > 0; a firing feature has magnitude 0 only when
    1 + 0.15 eps <= 0 (probability ~1e-11), which is negligible.  Tolerance: 4 standard
    errors sqrt(p (1 - p) / n) per feature, n = 200,000.
    """
    p = np.asarray(main_cfg.firing_probs())
    np.testing.assert_allclose(p[0], 0.3881, atol=1e-12)
    np.testing.assert_allclose(p[-1], 0.05, atol=1e-12)
    coeffs = main_draw["coeffs"]
    n = coeffs.shape[0]
    rates = (coeffs > 0).mean(axis=0)
    err = np.abs(rates - p) / _se_prop(p, n)
    assert err.max() < N_SIGMA, f"worst feature {err.argmax()}: {err.max():.2f} SE"


def test_small_firing_rates_match_probs(small):
    """Claim: in the small toys (paper §3.1) all 5 features fire at rate 0.4.

    Tolerance: 4 standard errors sqrt(0.4 * 0.6 / n), n = 200,000.
    """
    name, cfg, _, draw = small
    coeffs = draw["coeffs"]
    rates = (coeffs > 0).mean(axis=0)
    err = np.abs(rates - 0.4) / _se_prop(0.4, coeffs.shape[0])
    assert err.max() < N_SIGMA, f"{name}: {rates}"


# ----------------------------------------------------------------------------- pairs


def _main_pairs(c: np.ndarray) -> list[tuple[int, int]]:
    off = c - np.eye(len(c))
    i_max, j_max = np.unravel_index(np.argmax(off), off.shape)
    i_min, j_min = np.unravel_index(np.argmin(off), off.shape)
    fixed = [(0, 1), (0, 49), (3, 17), (25, 26), (48, 49), (10, 40)]
    return fixed + [(int(i_max), int(j_max)), (int(i_min), int(j_min))]


def test_main_joint_firing_matches_copula(main_cfg, main_draw):
    """Claim: pairs of paper-main fire jointly at the bivariate-normal orthant
    probability P(z_i > t_i, z_j > t_j) = Phi2(-t_i, -t_j; C_ij), t = Phi^-1(1 - p).

    Checked for 6 fixed pairs plus the most positively and most negatively correlated
    pair of the repaired C.  Tolerance: 4 standard errors sqrt(q (1 - q) / n) of the
    joint proportion q, n = 200,000.
    """
    c = correlation_matrix(main_cfg)
    p = np.asarray(main_cfg.firing_probs())
    t = ndtri(1.0 - p)
    fires = main_draw["coeffs"] > 0
    n = fires.shape[0]
    pairs = _main_pairs(c)
    assert c[pairs[-2]] > 0.3 and c[pairs[-1]] < -0.3  # strong pairs really included
    for i, j in pairs:
        q = _orthant(t[i], t[j], c[i, j])
        emp = np.mean(fires[:, i] & fires[:, j])
        se = _se_prop(q, n)
        assert abs(emp - q) < N_SIGMA * se, f"pair {(i, j)} C={c[i, j]:.3f}: {emp} vs {q}"


def test_small_joint_firing_matches_copula(small):
    """Claim: in the small toys, feature 0 and feature j (1..4) fire jointly at
    Phi2(-t, -t; ±0.4), t = Phi^-1(0.6), and features i, j >= 1 (C_ij = 0) at 0.4².

    Tolerance: 4 standard errors of the joint proportion, n = 200,000.
    """
    name, cfg, _, draw = small
    rho = 0.4 if name.endswith("pos") else -0.4
    t = ndtri(0.6)
    fires = draw["coeffs"] > 0
    n = fires.shape[0]
    q = _orthant(t, t, rho)
    # Sanity: the sign of the latent correlation moves the joint rate the right way.
    assert (q > 0.16) == (rho > 0)
    for j in range(1, 5):
        emp = np.mean(fires[:, 0] & fires[:, j])
        assert abs(emp - q) < N_SIGMA * _se_prop(q, n), f"{name} (0, {j}): {emp} vs {q}"
    for i, j in [(1, 2), (3, 4)]:
        emp = np.mean(fires[:, i] & fires[:, j])
        assert abs(emp - 0.16) < N_SIGMA * _se_prop(0.16, n), f"{name} ({i}, {j})"


# ----------------------------------------------------------------------------- L0


def test_main_true_l0_exact(main_cfg, main_toy):
    """Claim: paper-main's true L0 is exactly Σp = 10.9525 ("10.95" to 2 dp).

    Tolerance: 1e-12 (float64 summation of 50 terms) for ToyConfig.true_l0; 1e-5 for the
    built model, whose probabilities are stored as float32.
    """
    expected = math.fsum(0.345 * (49 - i) / 50 + 0.05 for i in range(50))
    assert expected == pytest.approx(10.9525, abs=1e-12)
    assert main_cfg.true_l0 == pytest.approx(10.9525, abs=1e-12)
    assert round(main_cfg.true_l0, 2) == 10.95
    assert main_toy.true_l0 == pytest.approx(10.9525, abs=1e-5)


def test_main_empirical_l0(main_toy, main_draw):
    """Claim: the mean number of firing features per input is ≈ 10.95.

    Checked with ToyModel.empirical_l0 (200,000 inputs) and on the shared draw.
    Tolerance 0.05: the per-input count has standard deviation below 3.5 here, so
    the standard error on 200,000 inputs is < 0.008 and 0.05 is > 6 standard errors.
    """
    emp = main_toy.empirical_l0(jax.random.key(7), 200_000)
    assert emp == pytest.approx(10.9525, abs=0.05)
    counts = (main_draw["coeffs"] > 0).sum(axis=1)
    assert counts.std() < 3.5
    assert counts.mean() == pytest.approx(10.9525, abs=0.05)


# ----------------------------------------------------------------------------- x, magnitudes


def test_x_equals_coeffs_times_features(main_toy, main_draw):
    """Claim: x = coeffs @ F (no bias).  Reference: float64 NumPy product on 5,000
    inputs; tolerance 1e-5 absolute (float32 rounding of a 50-term sum of O(1) terms)."""
    coeffs = main_draw["coeffs"][:5000].astype(np.float64)
    x = main_draw["x"][:5000]
    f = np.asarray(main_toy.features, np.float64)
    assert x.shape == (5000, 100)
    np.testing.assert_allclose(x, coeffs @ f, atol=1e-5, rtol=0)


def test_magnitudes_main(main_draw):
    """Claim: magnitudes of firing features are ReLU(1 + 0.15 eps): mean equals the
    exact E[ReLU(1 + 0.15 eps)] (≈ 1), and no coefficient is ever negative.

    Tolerance: 4 standard errors sqrt(Var[ReLU(1 + 0.15 eps)] / m), m = number of
    firing entries (~2.2 million).
    """
    coeffs = main_draw["coeffs"]
    assert coeffs.min() >= 0.0
    mags = coeffs[coeffs > 0].astype(np.float64)
    mean, var = _relu_normal_moments(1.0, 0.15)
    assert abs(mags.mean() - mean) < N_SIGMA * np.sqrt(var / mags.size)
    assert mags.std() == pytest.approx(np.sqrt(var), rel=0.01)  # 1%: >> sampling error


@pytest.fixture(scope="module")
def edge_draw(sampler):
    """An uncorrelated toy with p = (1, 0.5, 0.5, 0.001, 1); feature 4 gets mu = 0,
    sigma = 1 (per-feature magnitudes of ToyModel) so it shows the ReLU.  One draw of
    200,000 inputs serves the two tests below."""
    cfg = ToyConfig(n_features=5, dim=20, probs=(1.0, 0.5, 0.5, 0.001, 1.0))
    toy = build_toy(cfg)
    assert not toy.correlated
    assert np.isneginf(np.asarray(toy.thresholds)[[0, 4]]).all()
    toy = dataclasses.replace(
        toy,
        mu=jnp.asarray([1.0, 1.0, 1.0, 1.0, 0.0], jnp.float32),
        sigma=jnp.asarray([0.15, 0.15, 0.15, 0.15, 1.0], jnp.float32),
    )
    return np.asarray(sampler(toy, jax.random.key(11), 200_000)[0], np.float64)


def test_magnitudes_relu_clips(edge_draw):
    """Claim: the magnitude is ReLU'd: a feature with p = 1, mu = 0, sigma = 1 has
    coefficients ReLU(eps): never negative, zero half of the time, mean 1/sqrt(2 pi).

    Tolerance: 4 standard errors (proportion 0.5; Var[ReLU(eps)] = 1/2 - 1/(2 pi)),
    n = 200,000 inputs.
    """
    coeffs = edge_draw[:, 4]
    n = coeffs.size
    assert edge_draw.min() >= 0.0
    assert abs(np.mean(coeffs == 0) - 0.5) < N_SIGMA * _se_prop(0.5, n)
    mean, var = _relu_normal_moments(0.0, 1.0)
    assert mean == pytest.approx(1 / np.sqrt(2 * np.pi), rel=1e-12)
    assert abs(coeffs.mean() - mean) < N_SIGMA * np.sqrt(var / n)


# ----------------------------------------------------------------------------- edge probs


def test_edge_probabilities_and_independence(edge_draw):
    """Claims: p = 1 fires on every input; p = 0.001 fires at rate 0.001; without a
    correlation (kind 'none') two p = 0.5 features fire jointly at 0.25.

    Tolerance: p = 1 is exact (threshold -inf; magnitude 0 has probability ~1e-11);
    others 4 standard errors of a proportion, n = 200,000 (for p = 0.001 the SE is 7e-5,
    i.e. the rate is checked to within ~28%).
    """
    fires = edge_draw > 0
    n = fires.shape[0]
    assert fires[:, 0].all()
    rate = fires[:, 3].mean()
    assert abs(rate - 0.001) < N_SIGMA * _se_prop(0.001, n), rate
    joint = np.mean(fires[:, 1] & fires[:, 2])
    assert abs(joint - 0.25) < N_SIGMA * _se_prop(0.25, n), joint


# ----------------------------------------------------------------------------- determinism


def test_same_key_same_samples_different_key_differs(main_toy, sampler):
    """Claim: sampling is a pure function of the key.  Exact equality for the same key;
    a different key gives different inputs (a float collision has probability ~0)."""
    a = sampler(main_toy, jax.random.key(5), 2000)
    b = sampler(main_toy, jax.random.key(5), 2000)
    c = sampler(main_toy, jax.random.key(6), 2000)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert not np.array_equal(np.asarray(a[1]), np.asarray(c[1]))
    assert not np.array_equal(np.asarray(a[0]) > 0, np.asarray(c[0]) > 0)


def test_sample_under_jit_matches_eager(main_toy, sampler):
    """Claim: ToyModel is a pytree and sample works under jax.jit with the same output.

    Firing patterns must be identical; values agree to 1e-6 (float32 ulps; XLA may fuse
    differently under jit)."""
    key = jax.random.key(9)
    eager = main_toy.sample(key, 2000)
    jitted = sampler(main_toy, key, 2000)  # jax.jit(toy.sample) with static n
    np.testing.assert_array_equal(np.asarray(eager[0]) > 0, np.asarray(jitted[0]) > 0)
    for u, v in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-6, rtol=0)


def test_sample_vmap_over_keys_matches_loop(main_toy, sampler):
    """Claim: jax.vmap of sample over a batch of keys equals a Python loop over them.

    Firing patterns must be identical; values agree to 1e-6 (float32 ulps of the
    batched matmul)."""
    keys = jax.random.split(jax.random.key(4), 5)
    coeffs_v, x_v = jax.jit(jax.vmap(lambda k: main_toy.sample(k, 2000)))(keys)
    for b in range(5):
        coeffs, x = sampler(main_toy, keys[b], 2000)
        np.testing.assert_array_equal(np.asarray(coeffs_v[b]) > 0, np.asarray(coeffs) > 0)
        np.testing.assert_allclose(np.asarray(coeffs_v[b]), np.asarray(coeffs), atol=1e-6)
        np.testing.assert_allclose(np.asarray(x_v[b]), np.asarray(x), atol=1e-6)


# ----------------------------------------------------------------------------- features


def test_orthogonal_features_orthonormal(main_toy):
    """Claim: orthogonal features have orthonormal rows (F Fᵀ = I), for the main toy
    (50 in R^100) and the small toy's shape (5 in R^20).  Tolerance 1e-5: float32 QR
    accuracy."""
    for f in (main_toy.features, orthogonal_features(jax.random.key(1), 5, 20)):
        f = np.asarray(f, np.float64)
        np.testing.assert_allclose(f @ f.T, np.eye(len(f)), atol=1e-5)
    assert main_toy.features.shape == (50, 100)


def test_orthogonal_features_reject_g_above_d():
    """Claim: more orthogonal features than dimensions is refused with a ValueError."""
    with pytest.raises(ValueError, match="n_features"):
        orthogonal_features(jax.random.key(0), 5, 4)


def test_near_orthogonal_superposition():
    """Claim: near-orthogonal features with g = 30 > d = 20 (paper A.4.1) have unit norm and
    small pairwise cosines.

    References: unit norm to 1e-5 (float32 renormalisation); mean |cos| below 0.75x that
    of the random Gaussian start (≈ 0.19; the optimiser reaches ≈ 0.11); and the RMS cosine
    within 2% of the Welch bound sqrt((g/d - 1)/(g - 1)) ≈ 0.131, the minimum any g unit
    vectors in R^d can reach, which the target-0 loss attains at a tight frame.
    """
    g, d = 30, 20
    key = jax.random.key(0)
    f = np.asarray(near_orthogonal_features(key, g, d), np.float64)
    assert f.shape == (g, d)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    f0 = np.asarray(jax.random.normal(key, (g, d), jnp.float32), np.float64)
    f0 /= np.linalg.norm(f0, axis=1, keepdims=True)
    off = ~np.eye(g, dtype=bool)
    cos, cos0 = (f @ f.T)[off], (f0 @ f0.T)[off]
    assert np.abs(cos).mean() < 0.75 * np.abs(cos0).mean()
    welch = np.sqrt((g / d - 1) / (g - 1))
    assert np.sqrt(np.mean(cos**2)) == pytest.approx(welch, rel=0.02)


def test_random_features_are_unit_seeded_and_overlap():
    """features="random": unit rows, the same for the same feature_seed, and pairwise
    cosines of Gaussian directions (mean 0, std 1/sqrt(d) within 10% at g = 200, d = 50:
    19,900 pairs)."""
    from toysae import ToyConfig, build_toy

    cfg = ToyConfig(n_features=200, dim=50, probs=(0.05,) * 200, features="random",
                    feature_seed=3)
    f = np.asarray(build_toy(cfg).features, np.float64)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(f, np.asarray(build_toy(cfg).features))
    cos = (f @ f.T)[np.triu_indices(200, 1)]
    assert abs(cos.mean()) < 0.01 and abs(cos.std() * np.sqrt(50) - 1) < 0.1
