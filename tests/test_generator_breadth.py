"""Tests of the generator's breadth features: firing rules, per-feature magnitude
profiles, the low-rank copula, hierarchies, the true-L0 report, the sparse path, the
new presets, and the refusal of bad input (toysae.firing, toysae.hierarchy,
toysae.generator, toysae.presets, toysae.cli).

Conventions (as in test_generator.py): every random draw uses a fixed JAX key, so every
test is deterministic; statistical tolerances are stated in standard errors (SE)
computed from the *claimed* value where one exists.  Here the bound is 5 SE per check:
a two-sided false-alarm rate of 5.7e-7 for one Gaussian check, so that even the
largest family below (about 90 checks in one test) has a family-wise false-alarm rate
under 1e-4 by the Bonferroni bound.  Sampled toys are small (g <= 16, plus one draw of
256 inputs of synthsaebench-16k) and draws at most 200,000 inputs.  Compiling the
hierarchy samplers dominates the runtime, so every draw of the 10-feature hierarchy H1
uses the same n and H1 toys keep one structure (each distinct structure, path and n
compiles once): about a minute on 2 cores.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import ndtri
from scipy.stats import foldnorm, multivariate_normal, norm, truncnorm

from toysae import presets
from toysae.cli import main
from toysae.config import CorrelationSpec, ToyConfig
from toysae.correlation import low_rank_factor
from toysae.firing import FiringSpec, MagnitudeSpec, Profile
from toysae.generator import build_toy, memory_estimate, true_l0_report
from toysae.hierarchy import HierarchySpec, build_tree, exact_marginals

N_SIGMA = 5.0
N_DRAW = 200_000


@functools.partial(jax.jit, static_argnums=(2, 3))
def _jdraw(toy, key, n: int, dense: bool = False):
    """``toy.draw(key, n, dense)`` compiled as one program."""
    return toy.draw(key, n, dense)


def _fires(toy, seed: int, n: int = N_DRAW) -> np.ndarray:
    """``[n, g]`` bool: coefficient > 0 on one fixed-key draw.  With magnitudes
    ReLU(mu + sigma eps), mu >= 1, sigma <= 0.2, a firing feature has a zero coefficient
    with probability Phi(-5) ≈ 3e-7 or less, which no check below can see."""
    return np.asarray(_jdraw(toy, jax.random.key(seed), n)[0]) > 0


def _se_prop(p, n):
    p = np.asarray(p, np.float64)
    return np.sqrt(p * (1.0 - p) / n)


def _assert_rates(fires: np.ndarray, p, what: str) -> None:
    """Per-feature firing rates within 5 binomial SE sqrt(p (1 - p) / n) of p (exact
    where p is 1: the threshold is -inf)."""
    p = np.asarray(p, np.float64)
    n = fires.shape[0]
    rates = fires.mean(axis=0)
    always = p >= 1.0
    assert fires[:, always].all(), f"{what}: a p = 1 feature missed an input"
    z = np.abs(rates - p)[~always] / _se_prop(p[~always], n)
    assert z.max() < N_SIGMA, f"{what}: feature {np.flatnonzero(~always)[z.argmax()]} " \
        f"is {z.max():.2f} SE off (rates {rates.round(4)}, p {p.round(4)})"


# ============================================================================ 1. firing


def test_zipf_plain_matches_power_law():
    """Claim: zipf without p_min is p_i = p_max (i + 1)^(-a) (firing.py docstring).
    Reference: NumPy, float64; tolerance rtol 1e-12 (a few float64 ulps)."""
    for a, p_max, g in ((1.0, 0.5, 7), (0.5, 0.4, 100), (2.3, 1.0, 33)):
        got = np.asarray(FiringSpec(kind="zipf", exponent=a, p_max=p_max).probs(g))
        ref = p_max * np.arange(1, g + 1, dtype=np.float64) ** -a
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)


def test_zipf_with_p_min_matches_saelens_rule():
    """Claim: zipf with p_min is SAELens's rescaled law
    p_i = p_min + (p_max - p_min) (r_i - r_min) / (r_max - r_min), r_i = (i + 1)^(-a),
    so p_0 = p_max, p_(g-1) = p_min, strictly decreasing; g = 1 gives [p_max].
    Reference: NumPy with r.min()/r.max() (not the code's r[0]/r[-1]); tolerance rtol
    1e-12, endpoints 1e-15 absolute."""
    for a, p_max, p_min, g in ((0.5, 0.4, 5e-4, 16_384), (1.3, 0.9, 0.01, 10),
                               (3.0, 0.2, 0.2, 5)):
        got = np.asarray(FiringSpec(kind="zipf", exponent=a, p_max=p_max,
                                    p_min=p_min).probs(g))
        r = np.arange(1, g + 1, dtype=np.float64) ** -a
        ref = p_min + (p_max - p_min) * (r - r.min()) / (r.max() - r.min())
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)
        assert abs(got[0] - p_max) < 1e-15 and abs(got[-1] - p_min) < 1e-15
        if p_min < p_max:
            assert np.all(np.diff(got) < 0)
    assert FiringSpec(kind="zipf", exponent=1.0, p_max=0.3, p_min=0.1).probs(1) == (0.3,)


def test_linear_and_constant_rules():
    """Claims: linear runs evenly from p_max (feature 0) to p_min (feature g - 1), g = 1
    giving [p_max]; constant gives p everywhere.  Reference np.linspace; tolerance 1e-15
    absolute (equal steps to float64 rounding)."""
    got = np.asarray(FiringSpec(kind="linear", p_max=0.4, p_min=0.1).probs(13))
    np.testing.assert_allclose(got, np.linspace(0.4, 0.1, 13), atol=1e-15, rtol=0)
    np.testing.assert_allclose(np.diff(got), -0.3 / 12, atol=1e-15, rtol=0)
    assert FiringSpec(kind="linear", p_max=0.4, p_min=0.1).probs(1) == (0.4,)
    assert FiringSpec(kind="constant", p=0.07).probs(5) == (0.07,) * 5


def test_uniform_rule_is_seeded_and_inside_bounds():
    """Claims: uniform draws each p_i from U(p_min, p_max) with key(seed): the same seed
    gives the same list, another seed a different one, every value lies in
    [p_min, p_max], and the 4096 values have mean (p_min + p_max)/2 and std
    (p_max - p_min)/sqrt(12).  Tolerances: mean 5 SE (SE = std/sqrt(4096)); std 5%
    relative (its SE is ~1.1% for a uniform: sqrt(0.8/4) / sqrt(4096))."""
    spec = FiringSpec(kind="uniform", p_max=0.3, p_min=0.05, seed=7)
    a = np.asarray(spec.probs(4096))
    np.testing.assert_array_equal(a, np.asarray(spec.probs(4096)))
    other = np.asarray(dataclasses.replace(spec, seed=8).probs(4096))
    assert not np.array_equal(a, other)
    assert a.min() >= 0.05 and a.max() <= 0.3
    sd = 0.25 / np.sqrt(12)
    assert abs(a.mean() - 0.175) < N_SIGMA * sd / np.sqrt(a.size)
    assert a.std() == pytest.approx(sd, rel=0.05)
    assert spec.to_dict()["seed"] == 7
    assert "seed" not in FiringSpec(kind="constant", p=0.1).to_dict()


FIRING_RULES = {
    "zipf": {"kind": "zipf", "exponent": 1.0, "p_max": 0.6},
    "zipf_p_min": {"kind": "zipf", "exponent": 0.7, "p_max": 0.5, "p_min": 0.02},
    "linear": {"kind": "linear", "p_max": 0.45, "p_min": 0.01},
    "constant": {"kind": "constant", "p": 0.23},
    "uniform": {"kind": "uniform", "p_max": 0.7, "p_min": 0.1, "seed": 3},
}


@pytest.mark.parametrize("rule", sorted(FIRING_RULES))
def test_empirical_firing_rates_follow_each_rule(rule):
    """Claim: a 12-feature toy (independent firing) with each rule fires feature i at
    rate p_i = cfg.firing_probs()[i], and those are the rule's probs.

    Tolerance: 5 binomial SE per feature, n = 200,000 inputs.  Family: 12 features x 5
    rules = 60 checks, family-wise false alarm < 60 x 5.7e-7 = 3.4e-5 (Bonferroni)."""
    cfg = ToyConfig(n_features=12, dim=12, firing=FIRING_RULES[rule])
    p = np.asarray(cfg.firing_probs())
    assert p.tolist() == list(FiringSpec(**FIRING_RULES[rule]).probs(12))
    toy = build_toy(cfg)
    _assert_rates(_fires(toy, seed=31), p, rule)
    assert toy.true_l0 == pytest.approx(p.sum(), abs=1e-5)  # float32 probs


# ============================================================================ 2. magnitudes


def test_profile_values_match_numpy():
    """Claims: Profile kinds give constant = value; linear = start + (end - start) i/(g-1);
    exponential = start (end/start)^(i/(g-1)); each with g = 1 giving its first value.
    Reference: NumPy float64; tolerance rtol 1e-12."""
    g = 9
    t = np.arange(g) / (g - 1)
    cases = [
        (Profile(kind="constant", value=0.3), np.full(g, 0.3)),
        (Profile(kind="linear", start=5.0, end=4.0), 5.0 - t),
        (Profile(kind="linear", start=-1.0, end=2.0), -1.0 + 3.0 * t),
        (Profile(kind="exponential", start=0.1, end=2.5), 0.1 * 25.0 ** t),
    ]
    for prof, ref in cases:
        np.testing.assert_allclose(prof.values(g), ref, rtol=1e-12, atol=1e-15)
        assert prof.values(1)[0] == pytest.approx(ref[0], rel=1e-12)


def test_folded_normal_profile_is_seeded_and_has_folded_normal_moments():
    """Claims: folded_normal draws |mean + std eps| once per feature with key(seed): the
    same seed repeats, another seed differs, all values are >= 0, and 4096 values have
    the folded normal's mean and std (scipy.stats.foldnorm(c = mean/std, scale = std)).
    Tolerances: mean 5 SE (SE = exact std / sqrt(4096)); std 5% relative (SE ~1.5%)."""
    prof = Profile.parse({"kind": "folded_normal", "mean": 0.5, "std": 0.5, "seed": 43},
                         "magnitude.std", lo=0.0)
    v = np.asarray(prof.values(4096))
    np.testing.assert_array_equal(v, np.asarray(prof.values(4096)))
    assert not np.array_equal(v, np.asarray(dataclasses.replace(prof, seed=44).values(4096)))
    assert v.min() >= 0.0
    dist = foldnorm(c=1.0, scale=0.5)
    assert abs(v.mean() - dist.mean()) < N_SIGMA * dist.std() / np.sqrt(v.size)
    assert v.std() == pytest.approx(dist.std(), rel=0.05)


@pytest.mark.parametrize("max_active", [None, 6], ids=["dense", "sparse"])
def test_nonzero_magnitudes_have_truncated_normal_moments(max_active):
    """Claim: with per-feature profiles, feature i's coefficient is ReLU(mu_i + sigma_i eps)
    on both paths: a p = 1 feature is nonzero with probability Phi(mu_i/sigma_i), and its
    nonzero values have the mean and std of N(mu_i, sigma_i^2) truncated to (0, inf)
    (scipy.stats.truncnorm, exact).

    Toy: 6 features, p = 1, mean linear 1.0 -> -0.5 (the clipping grows to ~69%), std
    exponential 0.3 -> 1.0; 100,000 inputs.  Tolerances: rate 5 binomial SE; mean 5 SE
    (exact std / sqrt(m), m = nonzero count, >= 30,000); std 5 SE of a sample std,
    sd sqrt((kurtosis_excess + 2) / m) / 2 from the exact truncated-normal kurtosis.
    Family: 18 checks per path."""
    g, n = 6, 100_000
    cfg = ToyConfig(n_features=g, dim=8, probs=(1.0,) * g, max_active=max_active,
                    magnitude={"mean": {"kind": "linear", "start": 1.0, "end": -0.5},
                               "std": {"kind": "exponential", "start": 0.3, "end": 1.0}})
    mu, sd = np.asarray(cfg.magnitude.mean.values(g)), np.asarray(cfg.magnitude.std.values(g))
    toy = build_toy(cfg)
    np.testing.assert_allclose(np.asarray(toy.mu), mu, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(toy.sigma), sd, rtol=1e-6)
    coeffs = np.asarray(_jdraw(toy, jax.random.key(41), n)[0], np.float64)
    assert coeffs.min() >= 0.0
    for i in range(g):
        c = coeffs[:, i]
        q = norm.cdf(mu[i] / sd[i])
        assert abs(np.mean(c > 0) - q) < N_SIGMA * _se_prop(q, n), (i, np.mean(c > 0), q)
        nz = c[c > 0]
        m = nz.size
        dist = truncnorm(a=-mu[i] / sd[i], b=np.inf, loc=mu[i], scale=sd[i])
        mean, var, _, kurt = (float(v) for v in dist.stats(moments="mvsk"))
        assert abs(nz.mean() - mean) < N_SIGMA * np.sqrt(var / m), (i, nz.mean(), mean)
        se_std = np.sqrt(var) * np.sqrt((kurt + 2.0) / m) / 2.0
        assert abs(nz.std() - np.sqrt(var)) < N_SIGMA * se_std, (i, nz.std(), np.sqrt(var))


def test_zero_std_profile_gives_exact_means():
    """Claim: std 0 makes every firing coefficient exactly float32(mean_i) (linear
    5.0 -> 4.0 as in synthsaebench-16k), and no coefficient fires where p says not
    (p = 0.5): exact equality, both paths.  (Same shapes as the test above, so the same
    compiled programs.)"""
    g = 6
    want = np.float32(np.linspace(5.0, 4.0, g))
    for cap in (None, g):
        cfg = ToyConfig(n_features=g, dim=8, probs=(0.5,) * g, max_active=cap,
                        magnitude={"mean": {"kind": "linear", "start": 5.0, "end": 4.0},
                                   "std": 0.0})
        toy = build_toy(cfg)
        coeffs = np.asarray(_jdraw(toy, jax.random.key(2), 100_000)[0])
        for i in range(g):
            nz = coeffs[:, i][coeffs[:, i] != 0]
            assert abs(nz.size - 50_000) < N_SIGMA * 158 and np.all(nz == want[i]), (cap, i)


# ============================================================================ 3. low rank


LR_CFG = dict(n_features=8, dim=8, probs=(0.5, 0.4, 0.3, 0.3, 0.2, 0.1, 0.05, 0.6),
              correlation={"kind": "low_rank", "rank": 3, "scale": 0.35, "seed": 5})


@pytest.fixture(scope="module")
def low_rank():
    cfg = ToyConfig(**LR_CFG)
    return cfg, build_toy(cfg)


def test_low_rank_latent_covariance(low_rank):
    """Claim: the latent Gaussians z = toy._latent(key, n) of a low-rank toy have
    covariance V Vᵀ + diag(1 - ‖v_i‖²) (unit diagonal), V = low_rank_factor(seed, g,
    rank, scale).

    Statistic: S = zᵀz / n (the mean is 0 by construction).  Each entry has
    Var(z_i z_j) = 1 + C_ij² <= 2, so SE <= sqrt(2/n); tolerance 5 sqrt(2/n) = 0.0158 on
    the max abs error over the 36 distinct entries (family-wise < 36 x 5.7e-7)."""
    cfg, toy = low_rank
    n = N_DRAW
    v = low_rank_factor(5, 8, 3, 0.35)
    np.testing.assert_allclose(np.asarray(toy.factor), v, rtol=1e-6, atol=1e-7)
    c = v @ v.T + np.diag(1.0 - np.sum(v * v, axis=1))
    np.testing.assert_allclose(np.diag(c), 1.0, atol=1e-12)
    assert np.abs(c - np.eye(8)).max() > 0.1  # the correlation is not negligible
    z = np.asarray(toy._latent(jax.random.key(3), n), np.float64)
    s = z.T @ z / n
    assert np.abs(s - c).max() < N_SIGMA * np.sqrt(2.0 / n), np.abs(s - c).max()


def test_low_rank_correlation_property_and_explicit_factor(low_rank):
    """Claims: toy.correlation equals V Vᵀ with its diagonal set to 1 (tolerance 1e-6:
    V is stored as float32), is symmetric and positive definite; a config giving that V
    explicitly as ``factor`` builds the same factor and diagonal and hence bit-identical
    latents for the same key (exact)."""
    cfg, toy = low_rank
    v = low_rank_factor(5, 8, 3, 0.35)
    ref = v @ v.T
    np.fill_diagonal(ref, 1.0)
    corr = toy.correlation
    np.testing.assert_allclose(corr, ref, atol=1e-6, rtol=0)
    assert np.array_equal(np.diag(corr), np.ones(8)) and np.array_equal(corr, corr.T)
    assert np.linalg.eigvalsh(corr).min() > 0
    spec = {"kind": "low_rank", "factor": [list(r) for r in v]}
    explicit = build_toy(ToyConfig(**{**LR_CFG, "correlation": spec}))
    np.testing.assert_array_equal(np.asarray(explicit.factor), np.asarray(toy.factor))
    np.testing.assert_array_equal(np.asarray(explicit.diag_sqrt), np.asarray(toy.diag_sqrt))
    key = jax.random.key(12)
    np.testing.assert_array_equal(np.asarray(explicit._latent(key, 1000)),
                                  np.asarray(toy._latent(key, 1000)))


def test_low_rank_factor_rescales_rows_reaching_one():
    """Claim: a random factor whose largest squared row norm reaches 1 is rescaled as a
    whole so the largest is 0.99 (SAELens's rule); one below 1 is left as drawn.
    Tolerance 1e-12 (float64)."""
    raw = np.asarray(jax.random.normal(jax.random.key(9), (20, 4)), np.float64)
    v = low_rank_factor(9, 20, 4, 1.0)  # squared row norms ~4
    assert np.sum(v * v, axis=1).max() == pytest.approx(0.99, abs=1e-12)
    np.testing.assert_allclose(v / raw, v[0, 0] / raw[0, 0], rtol=1e-12)  # one factor
    small = low_rank_factor(9, 20, 4, 0.1)
    np.testing.assert_allclose(small, 0.1 * raw, rtol=1e-12)


def test_low_rank_firing_keeps_marginals_and_follows_copula(low_rank):
    """Claims: the low-rank copula keeps each feature's firing rate p_i (unit diagonal),
    and the most correlated pair fires jointly at the bivariate-normal orthant
    probability Phi2(-t_i, -t_j; C_ij), t = Phi^-1(1 - p).  Tolerance 5 binomial SE,
    n = 200,000 (8 + 1 checks); the joint rate is also checked to differ from
    independence p_i p_j by more than 5 SE, so the check has power."""
    cfg, toy = low_rank
    p = np.asarray(cfg.firing_probs())
    fires = _fires(toy, seed=17)
    _assert_rates(fires, p, "low_rank")
    c = toy.correlation
    off = np.abs(c - np.eye(8))
    i, j = np.unravel_index(np.argmax(off), off.shape)
    t = ndtri(1.0 - p)
    q = multivariate_normal.cdf([-t[i], -t[j]], mean=[0, 0],
                                cov=[[1, c[i, j]], [c[i, j], 1]], abseps=1e-10, releps=1e-10)
    n = fires.shape[0]
    emp = np.mean(fires[:, i] & fires[:, j])
    assert abs(emp - q) < N_SIGMA * _se_prop(q, n), (i, j, emp, q)
    assert abs(q - p[i] * p[j]) > N_SIGMA * _se_prop(q, n)


# ============================================================================ 4. hierarchy


H1_PROBS = (0.6, 0.3, 0.4, 0.1, 0.2, 0.1, 0.2, 0.3, 0.1, 0.2)
H1_GROUPS = [
    {"parent": 0, "children": [1, 2, 3], "exclusive": True},
    {"parent": 1, "children": [4, 5], "exclusive": False},
    {"parent": 2, "children": [6, 7, 8], "exclusive": [6, 8]},
]  # feature 9 outside the forest; depth 2; 2 exclusive sets (one partial)
H1_LOW_RANK = CorrelationSpec(kind="low_rank", rank=2, scale=0.5, seed=4)
N_H = 100_000  # every draw of an H1 toy, so toys of one structure share one program


def _h1(compensate=True, correlation=None, max_active=None, magnitude=None) -> ToyConfig:
    """The explicit forest H1 over 10 features.  Every H1 toy scales children and has a
    bias of norm 0.5, so H1 toys that differ only in values (probabilities,
    compensation, magnitudes) share a compiled program: compiling the hierarchy's
    sampler is the dominant cost of this file."""
    kw = {} if magnitude is None else {"magnitude": magnitude}
    return ToyConfig(n_features=10, dim=10, probs=H1_PROBS, max_active=max_active,
                     correlation=correlation or CorrelationSpec(), bias_norm=0.5,
                     hierarchy={"groups": H1_GROUPS, "compensate": compensate,
                                "scale_children": True}, **kw)


def _h2(exclusive=0.5, seed=3) -> ToyConfig:
    """Generated: 2 roots, branching 3, depth 2 (26 of 28 features), compensated."""
    return ToyConfig(n_features=28, dim=28,
                     firing={"kind": "linear", "p_max": 0.6, "p_min": 0.2},
                     hierarchy={"roots": 2, "branching": 3, "depth": 2,
                                "exclusive": exclusive, "seed": seed})


def _ref_compensated(p, parent, eset):
    """SAELens's correction as documented: p'_c = min(1, p_c/p_P (1 + (S_c - p_c)/p_P)),
    S_c the base-probability sum of c's exclusive set (p_c outside one)."""
    out = np.array(p, np.float64)
    for c in range(len(p)):
        if parent[c] < 0:
            continue
        s = p[eset == eset[c]].sum() if eset[c] >= 0 else p[c]
        pp = p[parent[c]]
        out[c] = min(1.0, p[c] / pp * (1 + (s - p[c]) / pp))
    return out


def _ref_states(p, parent, eset) -> dict[tuple[bool, ...], float]:
    return _ref_states_cached(tuple(p), tuple(parent), tuple(eset))


@functools.cache
def _ref_states_cached(p, parent, eset) -> dict[tuple[bool, ...], float]:
    """Exact distribution of the final firing pattern under the documented semantics,
    by brute force: every raw firing pattern (independent, probabilities p), then level
    by level: gate on the parent's final state, and in each exclusive set with K > 1
    firing members keep each with probability 1/K (enumerated)."""
    p, parent, eset = np.asarray(p), np.asarray(parent), np.asarray(eset)
    g = len(p)
    depth = np.zeros(g, int)
    for i in range(g):
        node = i
        while parent[node] >= 0:
            node, depth[i] = parent[node], depth[i] + 1
    out: dict[tuple[bool, ...], float] = {}
    for bits in itertools.product((False, True), repeat=g):
        f0 = np.array(bits)
        w = float(np.prod(np.where(f0, p, 1.0 - p)))
        if w == 0.0:
            continue
        states = [(w, f0)]
        for level in range(1, depth.max() + 1):
            at = depth == level
            nxt = []
            for wt, f in states:
                f = f.copy()
                f[at] &= f[parent[at]]
                options = [(wt, f)]
                for s in np.unique(eset[at & (eset >= 0)]):
                    new = []
                    for w2, f2 in options:
                        on = np.flatnonzero((eset == s) & f2)
                        if len(on) <= 1:
                            new.append((w2, f2))
                            continue
                        for keep in on:
                            f3 = f2.copy()
                            f3[on] = False
                            f3[keep] = True
                            new.append((w2 / len(on), f3))
                    options = new
                nxt.extend(options)
            states = nxt
        for wt, f in states:
            out[tuple(f)] = out.get(tuple(f), 0.0) + wt
    return out


def _ref_marginals(states) -> np.ndarray:
    return sum(w * np.array(f, np.float64) for f, w in states.items())


def _ref_count_dist(p, parent, eset) -> np.ndarray:
    """``[g + 1]`` exact P(number of firing features = k): the trees of a forest fire
    independently, so the brute-force count distributions of the trees convolve."""
    p, parent, eset = (np.asarray(a) for a in (p, parent, eset))
    root = np.arange(len(p))
    for i in range(len(p)):
        while parent[root[i]] >= 0:
            root[i] = parent[root[i]]
    dist = np.ones(1)
    for r in np.unique(root):
        idx = np.flatnonzero(root == r)
        local = {int(j): k for k, j in enumerate(idx)}
        sub_parent = [local[int(parent[j])] if parent[j] >= 0 else -1 for j in idx]
        d = np.zeros(len(idx) + 1)
        for f, w in _ref_states(p[idx], sub_parent, eset[idx]).items():
            d[sum(f)] += w
        dist = np.convolve(dist, d)
    return dist


@pytest.mark.parametrize("compensate", [True, False])
def test_hierarchy_probabilities_match_brute_force(compensate):
    """Claims: cfg.sampling_probs() is SAELens's compensation (clamped at 1: feature 2's
    raw value here is 1.11) or the base probs without it, and cfg.marginals() (the
    Gauss-Legendre closed form) equals a brute-force enumeration of the documented
    semantics over all 2^10 raw patterns and every exclusive choice; cfg.true_l0 is
    their sum.  Tolerance 1e-12 (float64)."""
    cfg = _h1(compensate=compensate)
    tree = build_tree(cfg.hierarchy, 10)
    assert tree.parent.tolist() == [-1, 0, 0, 0, 1, 1, 2, 2, 2, -1]
    assert tree.n_sets == 2
    base = np.asarray(H1_PROBS)
    samp = cfg.sampling_probs()
    want = _ref_compensated(base, tree.parent, tree.eset) if compensate else base
    np.testing.assert_allclose(samp, want, rtol=1e-12, atol=0)
    if compensate:
        assert samp[2] == 1.0 and samp[1] < 1.0 and samp[0] == base[0] and samp[9] == base[9]
    ref = _ref_marginals(_ref_states(samp, tree.parent, tree.eset))
    np.testing.assert_allclose(cfg.marginals(), ref, rtol=1e-12, atol=1e-15)
    assert cfg.true_l0 == pytest.approx(ref.sum(), rel=1e-12)


def test_exact_marginals_large_exclusive_set():
    """Claim: for one exclusive set of 12 siblings under an always-firing parent, with
    unequal sampling probabilities, exact_marginals equals q_i E[1/(1 + K_i)] computed
    by enumerating all 2^11 patterns of the other members (the quadrature is exact for
    this polynomial degree).  Tolerance 1e-12."""
    q = np.linspace(0.05, 0.95, 12)
    p = np.concatenate([[1.0], q])
    spec = HierarchySpec(groups=[{"parent": 0, "children": list(range(1, 13)),
                                  "exclusive": True}])
    got = exact_marginals(p, build_tree(spec, 13))
    for i in range(12):
        others = np.delete(q, i)
        w = 0.0
        for bits in itertools.product((0, 1), repeat=11):
            b = np.array(bits)
            w += np.prod(np.where(b, others, 1 - others)) / (1 + b.sum())
        assert got[i + 1] == pytest.approx(q[i] * w, rel=1e-12, abs=1e-15)
    assert got[0] == 1.0


def _assert_structure(fires: np.ndarray, tree, what: str) -> None:
    """No child fires without its parent; at most one member of each exclusive set
    fires per input (both exact, on every input)."""
    kids = np.flatnonzero(tree.parent >= 0)
    orphans = fires[:, kids] & ~fires[:, tree.parent[kids]]
    assert not orphans.any(), f"{what}: {orphans.sum()} child firings without the parent"
    for s in range(tree.n_sets):
        members = np.flatnonzero(tree.eset == s)
        assert fires[:, members].sum(axis=1).max() <= 1, f"{what}: exclusive set {members}"


def test_generated_forest_layout():
    """Claims: a generated forest numbers features breadth first (roots 0-1, their
    children 2-7, grandchildren 8-25; 26-27 outside), n_used = R (1 + b + b²) = 26; the
    exclusive fraction picks int(8 x fraction) of the 8 parents with >= 2 children
    (0, 4, 8 sets for 0, 0.5, 1), the same ones for the same seed; every exclusive set
    is a whole sibling group.  Marginals with compensation: roots and features outside
    keep p; a child of a root outside any exclusive set gets exactly its base p_c back
    (p'_c = p_c / p_P, then times p_P); a child in an exclusive set fires less than p_c.
    Tolerance 1e-12."""
    cfg = _h2()
    tree = build_tree(cfg.hierarchy, 28)
    want = [-1, -1] + [0] * 3 + [1] * 3 + [p for p in range(2, 8) for _ in range(3)] + [-1] * 2
    assert tree.parent.tolist() == want and cfg.hierarchy.n_used() == 26
    assert tree.depth.tolist() == [0] * 2 + [1] * 6 + [2] * 18 + [0] * 2
    for frac, n_sets in ((0.0, 0), (0.5, 4), (1.0, 8)):
        assert build_tree(_h2(exclusive=frac).hierarchy, 28).n_sets == n_sets
    np.testing.assert_array_equal(build_tree(_h2().hierarchy, 28).eset, tree.eset)
    for s_ in range(tree.n_sets):
        members = np.flatnonzero(tree.eset == s_)
        assert len(members) == 3 and len(set(tree.parent[members])) == 1
    m, p = cfg.marginals(), np.asarray(cfg.firing_probs())
    roots = tree.parent < 0
    assert np.array_equal(m[roots], p[roots])
    free = (tree.depth == 1) & (tree.eset < 0)
    in_set = tree.eset >= 0
    assert free.sum() == 3 and in_set.sum() == 12
    np.testing.assert_allclose(m[free], p[free], rtol=1e-12)
    assert np.all(m[in_set] < p[in_set])


HIER_CASES = {
    "explicit-compensated-dense": lambda: _h1(),
    "explicit-plain-sparse": lambda: _h1(compensate=False, max_active=10),
    "hierarchy-small-preset": lambda: presets.get("hierarchy-small"),
}


@pytest.mark.parametrize("case", sorted(HIER_CASES))
def test_hierarchy_samples_structure_rates_and_l0(case):
    """Claims, on 100,000 inputs of an independent-firing hierarchy (explicit H1, dense
    and sparse; the generated hierarchy-small preset): no child fires without its parent
    and no two members of an exclusive set fire together (exact); each feature's rate
    matches cfg.marginals() (5 binomial SE per feature); toy.true_l0 equals the sum of
    the marginals (1e-5: float32) and cfg.true_l0, and the mean count of firing
    features matches it within 5 SE (SE = sample std of the count / sqrt(n)); the whole
    distribution of the count matches the brute-force one (5 binomial SE per value k).
    For hierarchy-small (children not scaled) each child's nonzero coefficients have
    the mean of its own ReLU(1 + 0.15 eps) (5 SE).
    Family: 36 rates, 39 count bins, 12 means: family-wise false alarm < 5e-5."""
    cfg = HIER_CASES[case]()
    g = cfg.n_features
    tree = build_tree(cfg.hierarchy, g)
    toy = build_toy(cfg)
    coeffs = np.asarray(_jdraw(toy, jax.random.key(53), N_H)[0], np.float64)
    fires = coeffs > 0
    _assert_structure(fires, tree, case)
    m = cfg.marginals()
    _assert_rates(fires, m, case)
    assert toy.true_l0 == pytest.approx(m.sum(), abs=1e-5)
    assert cfg.true_l0 == pytest.approx(m.sum(), rel=1e-12)
    counts = fires.sum(axis=1)
    se = counts.std(ddof=1) / np.sqrt(counts.size)
    assert abs(counts.mean() - m.sum()) < N_SIGMA * se, (counts.mean(), m.sum())
    dist = _ref_count_dist(cfg.sampling_probs(), tree.parent, tree.eset)
    emp = np.bincount(counts, minlength=g + 1) / counts.size
    z = np.abs(emp - dist) / np.maximum(_se_prop(dist, counts.size), 1e-12)
    assert z.max() < N_SIGMA, (emp.round(4), dist.round(4))
    if case.startswith("hierarchy-small"):
        mean, var = (float(v) for v in truncnorm(a=-1 / 0.15, b=np.inf, loc=1.0,
                                                 scale=0.15).stats())
        for c in np.flatnonzero(tree.parent >= 0):
            nz = coeffs[fires[:, c], c]
            assert abs(nz.mean() - mean) < N_SIGMA * np.sqrt(var / nz.size), c


def test_dense_gate_and_tree_walk_agree_with_exact_marginals():
    """Claim: the two implementations of the hierarchy's semantics, the dense gate
    (toysae.hierarchy.HierarchyArrays, no cap) and the sparse tree walk
    (toysae.treewalk.TreeWalk, cap 10 = g, so no input overflows), draw the same
    distribution: on one toy (H1, compensated: exclusive sets, a partial one, depth 2, a
    feature outside the forest), 100,000 inputs each from the same key, the structure
    holds on every input (exact) and each feature's rate is within 5 binomial SE of
    cfg.marginals() on both paths.  (The two are different samplers, so the same key
    gives different inputs; only their distribution is compared.)
    Family: 2 x 10 rates: family-wise false alarm < 2e-5."""
    for cap in (None, 10):
        cfg = _h1(max_active=cap)
        toy = build_toy(cfg)
        assert (toy.walk is None) == (cap is None) and toy.hierarchy is not None
        f = np.asarray(_jdraw(toy, jax.random.key(67), N_H)[0]) > 0
        _assert_structure(f, build_tree(cfg.hierarchy, 10), f"cap {cap}")
        _assert_rates(f, cfg.marginals(), f"cap {cap}")


def test_low_rank_hierarchy_sparse_walk_matches_dense_path():
    """Claims, for H1 over a low-rank copula, where no exact marginals exist
    (toy.marginals is None; toy.true_l0 and cfg.true_l0 refuse, naming true_l0_report):
    - the structure (no orphan child, exclusive siblings one at a time) holds on every
      input of both paths (exact);
    - the sparse path (max_active = 10, the tree walk that draws children's copula
      events only under firing parents) fires each feature at the same rate as the
      dense path, and the mean counts agree: two-sample test, 5 SE
      sqrt(r1 (1 - r1)/n + r2 (1 - r2)/n) per feature, n = 100,000 each, different keys;
    - the copula keeps each feature's sampling rate, so roots and feature 9 (outside the
      forest) fire at their p on both paths (5 binomial SE);
    - true_l0_report's estimate (2^20 dense draws, another key) agrees with both mean
      counts (5 combined SE).
    Family: 10 + 1 + 4 + 2 checks."""
    fires, counts = {}, {}
    for cap, seed in ((None, 59), (10, 60)):
        cfg = _h1(correlation=H1_LOW_RANK, max_active=cap)
        toy = build_toy(cfg)
        assert toy.marginals is None
        f = np.asarray(_jdraw(toy, jax.random.key(seed), N_H)[0]) > 0
        _assert_structure(f, build_tree(cfg.hierarchy, 10), f"cap {cap}")
        _assert_rates(f[:, [0, 9]], np.asarray(H1_PROBS)[[0, 9]], f"roots, cap {cap}")
        fires[cap], counts[cap] = f, f.sum(axis=1)
    r1, r2 = fires[None].mean(axis=0), fires[10].mean(axis=0)
    z = np.abs(r1 - r2) / np.sqrt((r1 * (1 - r1) + r2 * (1 - r2)) / N_H + 1e-300)
    assert z.max() < N_SIGMA, (r1.round(4), r2.round(4))
    se = np.hypot(counts[None].std(ddof=1), counts[10].std(ddof=1)) / np.sqrt(N_H)
    assert abs(counts[None].mean() - counts[10].mean()) < N_SIGMA * se
    rep = true_l0_report(_h1(correlation=H1_LOW_RANK))  # 2^20 dense draws, key(0)
    for cap in (None, 10):
        se = np.hypot(rep["se"], counts[cap].std(ddof=1) / np.sqrt(N_H))
        assert abs(rep["value"] - counts[cap].mean()) < N_SIGMA * se, (cap, rep)
    with pytest.raises(ValueError, match="true_l0_report"):
        toy.true_l0  # noqa: B018
    with pytest.raises(ValueError, match="true_l0_report"):
        cfg.true_l0  # noqa: B018


@pytest.mark.parametrize("max_active", [None, 10], ids=["dense", "sparse"])
def test_scale_children_exact_with_constant_child_magnitudes(max_active):
    """Claim: with scale_children a firing child's coefficient is its raw magnitude times
    parent coefficient / parent mean, compounding down the tree.  Made exact by giving
    children sigma = 0 (raw = mu_c) and the roots sigma = 0.3: then
    coeff_c == mu_c coeff_P / mu_P on every input where c fires, at depth 1 and 2
    (means differ per feature: linear 2.0 -> 1.0).  Tolerance rtol 1e-6 (float32
    products).  (Without scale_children, children keep their own magnitudes: checked in
    test_hierarchy_samples_structure_rates_and_l0[generated-dense].)"""
    cfg = _h1(max_active=max_active,
              magnitude={"mean": {"kind": "linear", "start": 2.0, "end": 1.0}, "std": 0.0})
    toy = build_toy(cfg)
    tree = build_tree(cfg.hierarchy, 10)
    roots = tree.parent < 0
    toy = dataclasses.replace(toy, sigma=jnp.asarray(np.where(roots, 0.3, 0.0), jnp.float32))
    coeffs = np.asarray(_jdraw(toy, jax.random.key(61), N_H)[0], np.float64)
    mu = np.asarray(toy.mu, np.float64)
    assert coeffs[coeffs[:, 0] > 0, 0].std() > 0.2  # roots really vary
    for c in np.flatnonzero(~roots):
        par = tree.parent[c]
        on = coeffs[:, c] > 0
        assert on.sum() > 1000, c
        np.testing.assert_allclose(coeffs[on, c], mu[c] * coeffs[on, par] / mu[par],
                                   rtol=1e-6, err_msg=str(c))


@pytest.mark.parametrize("max_active", [None, 10], ids=["dense", "sparse"])
def test_scale_children_ratio_statistics(max_active):
    """Claim: with scale_children and random magnitudes everywhere, coeff_c / coeff_P over
    inputs where both fire is raw_c / mu_P with raw_c independent of the parent, so its
    mean is E[ReLU(mu_c + sigma eps) | > 0] / mu_P (truncated normal, exact).
    Magnitudes: mean linear 2.0 -> 1.0, std 0.2 (clipping < 3e-7).  Tolerance 5 SE,
    SE = truncated-normal std / mu_P / sqrt(m), m co-firing inputs (8 children)."""
    cfg = _h1(max_active=max_active,
              magnitude={"mean": {"kind": "linear", "start": 2.0, "end": 1.0}, "std": 0.2})
    toy = build_toy(cfg)
    tree = build_tree(cfg.hierarchy, 10)
    coeffs = np.asarray(_jdraw(toy, jax.random.key(67), N_H)[0], np.float64)
    mu = np.asarray(cfg.magnitude.mean.values(10))
    for c in np.flatnonzero(tree.parent >= 0):
        par = tree.parent[c]
        on = (coeffs[:, c] > 0) & (coeffs[:, par] > 0)
        ratio = coeffs[on, c] / coeffs[on, par]
        dist = truncnorm(a=-mu[c] / 0.2, b=np.inf, loc=mu[c], scale=0.2)
        want, sd = dist.mean() / mu[par], dist.std() / mu[par]
        assert abs(ratio.mean() - want) < N_SIGMA * sd / np.sqrt(on.sum()), (c, ratio.mean(),
                                                                             want)


# ============================================================================ 5. true L0


def test_true_l0_report_exact_cases():
    """Claims: true_l0_report is "exact" (se and n None) for a flat toy (paper-main:
    10.9525; a flat low-rank toy: Σp) and for a hierarchy over independent features
    (the sum of cfg.marginals()).  Tolerance 1e-12 (float64)."""
    rep = true_l0_report(presets.get("paper-main"))
    assert rep == {"value": pytest.approx(10.9525, abs=1e-12), "method": "exact", "se": None,
                   "n": None}
    lr = ToyConfig(**LR_CFG)
    assert true_l0_report(lr)["method"] == "exact"
    assert true_l0_report(lr)["value"] == pytest.approx(sum(LR_CFG["probs"]), abs=1e-12)
    h = _h1()
    rep = true_l0_report(h)
    assert rep["method"] == "exact" and rep["se"] is None and rep["n"] is None
    assert rep["value"] == pytest.approx(h.marginals().sum(), rel=1e-12)


def test_true_l0_report_estimate_over_correlated_hierarchy():
    """Claims, for a hierarchy over a low-rank copula (H1, 10 features):
    - the report is an "estimate" with n >= 2^20 samples and se > 0 (it agrees with
      independent draws of both sampling paths: see
      test_low_rank_hierarchy_sparse_walk_matches_dense_path);
    - with correlation scale 0 (V = 0, so independent firing) the estimate is within
      5 se of the exact true L0 of the same hierarchy with correlation "none" (an
      independent check of the estimator against the closed form);
    - a request with n < 2^20 is refused, naming n."""
    cfg = _h1(correlation=H1_LOW_RANK)
    a = true_l0_report(cfg)
    assert a["method"] == "estimate" and a["n"] >= 2**20 and a["se"] > 0
    assert 0 < a["value"] < 10
    zero = true_l0_report(_h1(correlation=dataclasses.replace(H1_LOW_RANK, scale=0.0)))
    exact = _h1().true_l0
    assert zero["method"] == "estimate"
    assert abs(zero["value"] - exact) < N_SIGMA * zero["se"], (zero, exact)
    with pytest.raises(ValueError, match="n="):
        true_l0_report(cfg, n=2**20 - 1)


# ============================================================================ 6. sparse path


def test_sparse_and_dense_builds_of_x_agree_without_overflow():
    """Claims, for a capped hierarchy toy (H1: child scaling, bias) whose cap (10 = g) no
    input can exceed: draw(key, n) and draw(key, n, dense=True) give identical coeffs and
    ``most``, and x equal within 1e-5 (float32 sums of <= 10 terms of size <= ~5, plus the
    bias); x is finite; ``most`` equals the largest per-row count of nonzero
    coefficients; x equals coeffs @ F + bias (float64 reference, 1e-5); the bias has
    norm 0.5 (1e-6)."""
    toy = build_toy(_h1(max_active=10))
    key = jax.random.key(71)
    c_s, x_s, most_s = _jdraw(toy, key, N_H)
    c_d, x_d, most_d = _jdraw(toy, key, N_H, True)
    np.testing.assert_array_equal(np.asarray(c_s), np.asarray(c_d))
    assert int(most_s) == int(most_d)
    x_s, x_d = np.asarray(x_s, np.float64), np.asarray(x_d, np.float64)
    assert np.isfinite(x_s).all()
    np.testing.assert_allclose(x_s, x_d, atol=1e-5, rtol=0)
    coeffs = np.asarray(c_s, np.float64)
    assert int(most_s) == (coeffs > 0).sum(axis=1).max()
    f = np.asarray(toy.features, np.float64)
    bias = np.asarray(toy.bias, np.float64)
    assert np.linalg.norm(bias) == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_allclose(x_s, coeffs @ f + bias, atol=1e-5, rtol=0)


def test_overflowing_rows_are_nan_and_others_exact():
    """Claims, for H1 with max_active = 3, below the largest count:
    - exactly the inputs with more than 3 firing features get x = NaN (every entry): the
      NaN fraction matches the exact P(count > 3) of the brute-force distribution, and
      each count k <= 3 appears among the finite rows at the exact P(count = k)
      (5 binomial SE each, n = 100,000);
    - every finite row is exact: x = coeffs @ F + bias (float64 reference, 1e-5), with at
      most 3 nonzero coefficients;
    - ``most`` is the true largest count: 3 < most <= 10."""
    cfg = _h1(max_active=3)
    toy = build_toy(cfg)
    tree = build_tree(cfg.hierarchy, 10)
    dist = _ref_count_dist(cfg.sampling_probs(), tree.parent, tree.eset)
    coeffs, x, most = (np.asarray(a) for a in _jdraw(toy, jax.random.key(73), N_H))
    nan_rows = np.isnan(x).any(axis=1)
    assert np.isnan(x[nan_rows]).all() and np.isfinite(x[~nan_rows]).all()
    p_over = dist[4:].sum()
    assert p_over > 0.05  # the cap really binds
    assert abs(nan_rows.mean() - p_over) < N_SIGMA * _se_prop(p_over, N_H), (nan_rows.mean(),
                                                                           p_over)
    nz = (coeffs[~nan_rows] > 0).sum(axis=1)
    assert nz.max() <= 3
    emp = np.bincount(nz, minlength=4) / N_H
    assert (np.abs(emp - dist[:4]) < N_SIGMA * _se_prop(dist[:4], N_H)).all(), (emp, dist[:4])
    ref = coeffs[~nan_rows].astype(np.float64) @ np.asarray(toy.features, np.float64)
    ref += np.asarray(toy.bias, np.float64)
    np.testing.assert_allclose(x[~nan_rows], ref, atol=1e-5, rtol=0)
    assert 3 < int(most) <= 10


def test_new_toys_jit_eager_and_vmap_agree():
    """Claims: for H1 on the dense path (hierarchy, child scaling, bias) the eager draw
    equals the jitted one; for H1 on the sparse path (cap 10: the tree walk, which the
    sweep runs under jax.vmap over batch keys) jax.vmap over 2 keys equals a Python loop
    over them.  Firing patterns and ``most`` identical; values within 1e-5 (float32; XLA
    may fuse differently; magnitudes up to ~3 and a bias).  (Eager sampling of the tree
    walk is not checked: its op-by-op compilation alone takes ~12 s here.)"""
    toy = build_toy(_h1())
    key = jax.random.key(79)
    eager = toy.draw(key, N_H)
    jitted = _jdraw(toy, key, N_H)
    np.testing.assert_array_equal(np.asarray(eager[0]) > 0, np.asarray(jitted[0]) > 0)
    assert int(eager[2]) == int(jitted[2])
    for u, v in zip(eager[:2], jitted[:2], strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-5, rtol=0)
    toy = build_toy(_h1(max_active=10))
    keys = jax.random.split(jax.random.key(83), 2)
    cv, xv, mv = jax.jit(jax.vmap(lambda k: toy.draw(k, N_H)))(keys)
    for b in range(2):
        c, x, m = _jdraw(toy, keys[b], N_H)
        np.testing.assert_array_equal(np.asarray(cv[b]) > 0, np.asarray(c) > 0)
        assert int(mv[b]) == int(m)
        np.testing.assert_allclose(np.asarray(cv[b]), np.asarray(c), atol=1e-5, rtol=0)
        np.testing.assert_allclose(np.asarray(xv[b]), np.asarray(x), atol=1e-5, rtol=0)


# ============================================================================ 7. old toys


NEW_TOY_KEYS = ("firing", "magnitude", "hierarchy", "bias_norm", "max_active")
NEW_CORR_KEYS = ("rank", "scale", "factor")


@pytest.mark.parametrize("name", ["paper-main", "paper-small-pos", "paper-small-neg",
                                  "paper-superposition"])
def test_old_presets_serialise_without_new_keys(name):
    """Claim: the JSON form of the paper's presets has none of the fields added with the
    generator's breadth (so their digests, which hash that form, are unchanged)."""
    data = presets.get(name).to_dict()
    assert not set(NEW_TOY_KEYS) & set(data), sorted(data)
    assert not set(NEW_CORR_KEYS) & set(data["correlation"]), sorted(data["correlation"])
    assert ToyConfig.from_dict(data) == presets.get(name)


def test_new_configs_round_trip_through_json():
    """Claim: configs using every new field survive to_dict -> json -> from_dict equal,
    and their JSON form carries those fields."""
    cfgs = [
        _h1(max_active=7,
            correlation=CorrelationSpec(kind="low_rank", factor=[[0.1, 0.2]] * 10),
            magnitude={"mean": {"kind": "exponential", "start": 1.0, "end": 3.0},
                       "std": {"kind": "folded_normal", "mean": 0.1, "std": 0.2, "seed": 5}}),
        _h2(),
        presets.get("synthsaebench-16k"),
        presets.get("hierarchy-small"),
        ToyConfig(**LR_CFG),
        ToyConfig(n_features=4, dim=4, firing=FIRING_RULES["uniform"]),
    ]
    for cfg in cfgs:
        data = json.loads(json.dumps(cfg.to_dict()))
        assert ToyConfig.from_dict(data) == cfg
    data = cfgs[0].to_dict()
    assert {"magnitude", "hierarchy", "bias_norm", "max_active"} <= set(data)
    assert data["hierarchy"]["groups"][2]["exclusive"] == [6, 8]
    assert "factor" in data["correlation"]


# ============================================================================ 8. bad input


CYCLE = {"groups": [{"parent": 0, "children": [1]}, {"parent": 1, "children": [0]}]}
TWO_PARENTS = {"groups": [{"parent": 0, "children": [2]}, {"parent": 1, "children": [2]}]}
BASE = dict(n_features=4, dim=4, probs=(0.5,) * 4)

BAD_CONFIGS = [
    ("exclusive-outside", dict(BASE, hierarchy={"groups": [
        {"parent": 0, "children": [1, 2], "exclusive": [1, 3]}]}),
     "hierarchy.groups[0].exclusive"),
    ("self-parent", dict(BASE, hierarchy={"groups": [{"parent": 0, "children": [0, 1]}]}),
     "hierarchy.groups[0].children"),
    ("groups-and-generated", dict(BASE, hierarchy={"groups": CYCLE["groups"], "roots": 1}),
     "hierarchy"),
    ("generated-too-big", dict(BASE, hierarchy={"roots": 2, "branching": 2, "depth": 1}),
     "hierarchy"),
    ("explicit-index-too-big", dict(BASE, hierarchy={"groups": [{"parent": 0,
                                                                 "children": [4]}]}),
     "hierarchy"),
    ("exclusive-fraction", dict(BASE, hierarchy={"roots": 1, "branching": 2, "depth": 1,
                                                 "exclusive": 1.5}), "hierarchy.exclusive"),
    ("zipf-exponent-0", dict(n_features=4, dim=4, firing={"kind": "zipf", "exponent": 0.0,
                                                          "p_max": 0.5}), "firing.exponent"),
    ("zipf-exponent-negative", dict(n_features=4, dim=4, firing={
        "kind": "zipf", "exponent": -1.0, "p_max": 0.5}), "firing.exponent"),
    ("p_min-above-p_max", dict(n_features=4, dim=4, firing={
        "kind": "linear", "p_max": 0.2, "p_min": 0.3}), "firing.p_min"),
    ("firing-field-of-other-kind", dict(n_features=4, dim=4, firing={
        "kind": "constant", "p": 0.2, "exponent": 1.0}), "firing.exponent"),
    ("firing-and-probs", dict(BASE, firing={"kind": "constant", "p": 0.5}), "firing"),
    ("factor-rows", dict(BASE, correlation={"kind": "low_rank",
                                            "factor": [[0.1], [0.1], [0.1]]}),
     "correlation.factor"),
    ("factor-ragged", dict(BASE, correlation={"kind": "low_rank",
                                              "factor": [[0.1], [0.1, 0.2], [0.1], [0.1]]}),
     "correlation.factor"),
    ("factor-norm", dict(BASE, correlation={"kind": "low_rank", "factor": [
        [0.1, 0.2], [0.8, 0.6], [0.1, 0.1], [0.0, 0.0]]}), "correlation.factor row 1"),
    ("factor-and-rank", dict(BASE, correlation={"kind": "low_rank", "factor": [[0.1]] * 4,
                                                "rank": 1, "scale": 0.1}), "low_rank"),
    ("rank-on-paper", dict(BASE, correlation={"kind": "paper", "rank": 2}),
     "correlation.rank"),
    ("magnitude-and-mu", dict(BASE, mu=2.0, magnitude={"mean": 1.0, "std": 0.1}),
     "magnitude"),
    ("magnitude-and-sigma", dict(BASE, sigma=0.0, magnitude={"mean": 1.0, "std": 0.1}),
     "magnitude"),
    ("negative-std", dict(BASE, magnitude={"mean": 1.0, "std": -0.1}), "magnitude.std"),
    ("exponential-start-0", dict(BASE, magnitude={
        "mean": {"kind": "exponential", "start": 0.0, "end": 1.0}, "std": 0.1}),
     "magnitude.mean.start"),
    ("bias-negative", dict(BASE, bias_norm=-1.0), "bias_norm"),
    ("max-active-above-g", dict(BASE, max_active=5), "max_active"),
]


@pytest.mark.parametrize("kw, needle", [c[1:] for c in BAD_CONFIGS],
                         ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_refused_naming_the_field(kw, needle):
    """Claim: each bad input is refused when the config is made (ToyConfig or from_dict),
    with a ValueError whose message names the field."""
    with pytest.raises(ValueError) as err:
        ToyConfig(**kw)
    assert needle in str(err.value)
    with pytest.raises(ValueError) as err:
        ToyConfig.from_dict(json.loads(json.dumps(kw)))
    assert needle in str(err.value)


def test_hierarchy_cycle_refused_at_config_time():
    """Claim: explicit groups 0 -> 1, 1 -> 0 are refused when the config is made."""
    with pytest.raises(ValueError, match="cycle"):
        ToyConfig(**BASE, hierarchy=CYCLE)


def test_child_under_two_parents_refused_at_config_time():
    """Claim: a feature listed as the child of two parents is refused when the config is
    made."""
    with pytest.raises(ValueError, match="parent"):
        ToyConfig(**BASE, hierarchy=TWO_PARENTS)


@pytest.mark.parametrize("hier, needle", [(CYCLE, "cycle"), (TWO_PARENTS, "one parent")],
                         ids=["cycle", "two-parents"])
def test_bad_forest_refused_by_build_tree(hier, needle):
    """Claim: the forest checks live in build_tree (which ToyConfig, build_toy and the
    true L0 all go through), naming the problem."""
    with pytest.raises(ValueError, match=needle):
        build_tree(HierarchySpec.from_dict(hier), BASE["n_features"])


HUGE = dict(n_features=200_000, dim=10, firing={"kind": "constant", "p": 0.01},
            features="random", correlation={"kind": "paper"})


def test_huge_dense_toy_refused_before_allocation():
    """Claim: a 200,000-feature toy with a dense ("paper") correlation is refused by
    build_toy's memory check with a message naming the estimate (GiB) and its largest
    part, before any allocation or O(g²) loop: config and refusal together take well
    under 5 s (measured: milliseconds; the dense work would need ~1.6 TB).  The
    estimate's correlation part is 40 g² + 4 g² bytes (float64 work, float32 factor)."""
    t0 = time.perf_counter()
    cfg = ToyConfig(**HUGE)
    with pytest.raises(ValueError, match="GiB") as err:
        build_toy(cfg)
    assert time.perf_counter() - t0 < 5.0
    assert "mostly correlation" in str(err.value) and "n_features=200000" in str(err.value)
    assert memory_estimate(cfg)["correlation"] == 44 * 200_000**2


CLI_BAD = [
    ("cycle", dict(BASE, hierarchy=CYCLE), "hierarchy has a cycle"),
    ("zipf-exponent", dict(n_features=4, dim=4, firing={"kind": "zipf", "exponent": 0,
                                                        "p_max": 0.5}), "firing.exponent"),
    ("factor-shape", dict(BASE, correlation={"kind": "low_rank", "factor": [[0.1]] * 3}),
     "correlation.factor"),
    ("factor-norm", dict(BASE, correlation={"kind": "low_rank", "factor": [[1.0]] * 4}),
     "correlation.factor row 0"),
    ("huge-dense", HUGE, "GiB"),
]


@pytest.mark.parametrize("toy, needle", [c[1:] for c in CLI_BAD], ids=[c[0] for c in CLI_BAD])
def test_cli_refuses_bad_breadth_toys(toy, needle, tmp_path, capsys):
    """Claim: `toysae sweep --toy FILE` with each bad toy exits with code 2 and a one-line
    message naming the field (no traceback).  (The memory refusal comes from build_toy in
    run_sweep, after the CLI's one-line "toy: ..." banner; nothing is trained.)"""
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(toy))
    assert main(["sweep", "--toy", str(path), "--k", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("toysae sweep: error:") and needle in lines[-1]
    assert all(line.startswith("toy: ") for line in lines[:-1])  # at most the banner


def test_cli_sweep_accepts_a_hierarchy_over_correlated_features(tmp_path, monkeypatch):
    """Claim: a valid toy with a hierarchy over a low-rank copula (no closed-form true L0)
    passes every CLI check and reaches training (run_sweep stubbed out: exit 0, the
    stub receives the toy unchanged)."""
    import toysae.run

    seen = []

    def fake_run_sweep(cfg, out_dir=None, **kw):
        seen.append(cfg)
        return types.SimpleNamespace(records=[], run_dir=None)

    monkeypatch.setattr(toysae.run, "run_sweep", fake_run_sweep)
    cfg = _h1(correlation=H1_LOW_RANK)
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert main(["sweep", "--toy", str(path), "--k", "2", "--no-progress"]) == 0
    assert len(seen) == 1 and seen[0].toy == cfg


# ============================================================================ 9. presets


def test_hierarchy_small_true_l0_exact():
    """Claims: hierarchy-small's true L0 is exact (report method "exact") and equals the
    closed form of its documented structure: 4 roots at 0.25 plus 12 children with
    compensated q = 0.06/0.25 (1 + 0.12/0.25) = 0.3552, each kept among its 3 exclusive
    siblings with probability a² + a q + q²/3 (a = 1 - q), i.e.
    1 + 12 · 0.25 · q (a² + a q + q²/3) = 1.7319 (tolerance 1e-12); toy.true_l0 agrees
    (1e-5, float32).  (Its samples -- structure, rates, count distribution, mean count
    vs this value -- are checked in test_hierarchy_samples_structure_rates_and_l0.)"""
    cfg = presets.get("hierarchy-small")
    q = 0.06 / 0.25 * (1 + 0.12 / 0.25)
    a = 1 - q
    want = 1 + 12 * 0.25 * q * (a * a + a * q + q * q / 3)
    assert cfg.true_l0 == pytest.approx(want, abs=1e-12)
    assert round(want, 4) == 1.7319
    rep = true_l0_report(cfg)
    assert rep["method"] == "exact" and rep["value"] == pytest.approx(want, abs=1e-12)
    assert presets.build("hierarchy-small").true_l0 == pytest.approx(want, abs=1e-5)


@pytest.fixture(scope="module")
def bench16k():
    cfg = presets.get("synthsaebench-16k")
    toy = build_toy(cfg)
    coeffs, x, most = _jdraw(toy, jax.random.key(97), 256)
    return cfg, toy, np.asarray(coeffs), np.asarray(x), int(most)


def test_synthsaebench_16k_config_as_documented(bench16k):
    """Claim: the preset's fields are those its docstring lists (16,384 features in
    d = 768; Zipf 0.5 from 0.4 to 5e-4; 128 roots, branching 4, depth 3, all exclusive,
    compensated, children scaled; low rank 25 at scale 0.1; means linear 5 -> 4, stds
    folded-normal(0.5, 0.5); random features, seed 42; bias 0.5; max_active 128), and the
    built toy has the matching arrays (bias norm 0.5 to 1e-6)."""
    cfg, toy, *_ = bench16k
    assert (cfg.n_features, cfg.dim, cfg.features, cfg.feature_seed) == (16_384, 768,
                                                                         "random", 42)
    assert cfg.firing == FiringSpec(kind="zipf", exponent=0.5, p_max=0.4, p_min=5e-4)
    h = cfg.hierarchy
    assert (h.roots, h.branching, h.depth, h.exclusive, h.compensate, h.scale_children) == (
        128, 4, 3, 1.0, True, True)
    assert h.n_used() == 10_880
    assert (cfg.correlation.kind, cfg.correlation.rank, cfg.correlation.scale) == (
        "low_rank", 25, 0.1)
    assert cfg.magnitude == MagnitudeSpec.parse({
        "mean": {"kind": "linear", "start": 5.0, "end": 4.0},
        "std": {"kind": "folded_normal", "mean": 0.5, "std": 0.5, "seed": 43}})
    assert (cfg.bias_norm, cfg.max_active) == (0.5, 128)
    assert toy.features.shape == (16_384, 768) and toy.factor.shape == (16_384, 25)
    assert toy.max_active == 128 and toy.marginals is None
    assert float(jnp.linalg.norm(toy.bias)) == pytest.approx(0.5, abs=1e-6)
    p = cfg.firing_probs()
    assert p[0] == pytest.approx(0.4, abs=1e-15) and p[-1] == pytest.approx(5e-4, abs=1e-15)


def test_synthsaebench_16k_one_draw(bench16k):
    """Claims, on one draw of 256 inputs: x is finite (no input over the cap);
    ``most`` <= 128 and at least the largest per-input count of nonzero coefficients (a
    firing feature's magnitude ReLU(mu + sigma eps), sigma up to 2.4 here, is clipped to
    0 with probability up to ~5%); the hierarchy's structure holds on the nonzero
    coefficients (a child of a clipped parent is scaled to 0 with it); and the mean
    active count is plausible: within 25% of the exact true L0 of the same toy with
    independent firing (34.50; the low-rank copula keeps the marginals and only shifts
    joint rates; the 256-input mean has SE ~0.7).  Measured at this key (tree-walk
    sampler): mean 34.8, sd 11.4, min 6, max = most = 67."""
    cfg, toy, coeffs, x, most = bench16k
    assert np.isfinite(x).all() and x.shape == (256, 768)
    counts = (coeffs > 0).sum(axis=1)
    assert counts.max() <= most <= 128
    _assert_structure(coeffs > 0, build_tree(cfg.hierarchy, cfg.n_features), "16k")
    independent = dataclasses.replace(cfg, correlation=CorrelationSpec()).true_l0
    assert independent == pytest.approx(34.50, abs=0.01)
    assert abs(counts.mean() - independent) < 0.25 * independent, counts.mean()
