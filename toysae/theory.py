"""The two-feature theory toy of the paper's Theorem 1 (paper A.5).

Two orthonormal features ``f1, f2``.  Only ``f1`` fires with probability ``P1``, only
``f2`` with ``P2``, both with ``P12``; a firing feature has magnitude exactly ``m``.
A tied SAE with two latents, no biases and Top-1 (L0 = 1) keeps latent 2 = ``f2``
and sets latent 1 to the unit vector

    d1(α) = (α f1 + (1 − α) f2) / sqrt(α² + (1 − α)²),

so ``α = 1`` is the true feature and ``α = 1/2`` is the even mix of both.  For
``α`` in [0, 1] its expected reconstruction loss is (paper A.5)

    E[L(α)] = m² / (α² + (1 − α)²) · [P1 (1 − α)² + P12 (1 − 2α)²],

with ``E[L(1)] = P12 m²`` and ``E[L(1/2)] = P1 m² / 2``: the mixed latent beats the
true one whenever ``P12 > P1 / 2`` (Theorem 1).

Beyond the paper's comparison of ``α = 1`` with ``α = 1/2``, the loss has a closed-form
minimiser (:func:`optimal_alpha`): setting ``dE/dα = 0`` gives
``P1 α² + (2 P12 − P1) α − P12 = 0``.  Its root in [1/2, 1] is below ``1/√2`` exactly
when ``P12 > P1 / 2``, and ``dE/dα(1) = 2 P12 m² > 0``, so gradient descent from the
true feature moves towards mixing for *every* ``P12 > 0``; the theorem's threshold
decides how far (past ``α = 1/√2`` or not), not whether it moves.

This module gives the closed form (:func:`expected_loss`), a generator config that
realises the toy (:func:`two_feature_toy_config`), a Monte-Carlo estimate of the same
loss from generator samples (:func:`monte_carlo_loss`) and gradient descent on ``α``
(:func:`descend_alpha`).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import integrate, optimize, special

from .config import CorrelationSpec, ToyConfig
from .correlation import cholesky_factor
from .generator import ToyModel, correlation_matrix
from .validation import check_float, check_int

# Tolerance on the joint firing rate of the copula the generator actually builds.
_JOINT_TOL = 1e-6
# Slack for float rounding in p1 + p2 + p12 <= 1.
_SUM_SLACK = 1e-12


def expected_loss(alpha, p1, p12, m=1.0) -> jax.Array:
    """Closed-form expected Top-1 reconstruction loss ``E[L(α)]`` (paper A.5, Theorem 1).

    ``E[L(α)] = m² / (α² + (1 − α)²) · [P1 (1 − α)² + P12 (1 − 2α)²]``.  It equals the
    toy's loss for ``α`` in [0, 1]; outside that range it is just the formula.

    Args:
      alpha: mixing coefficient α of latent 1, any shape (broadcasts with the others).
      p1: probability P1 that only ``f1`` fires.
      p12: probability P12 that both features fire.
      m: magnitude of a firing feature.

    Returns:
      The loss, shape ``broadcast(alpha, p1, p12, m)``; differentiable in every argument.

    Examples:
      The paper's numbers (P1 = P12 = 0.4, m = 1): 0.4 for the true feature, about 0.154
      at α = 0.6, and ``P1 m² / 2`` at the even mix:

      >>> import jax.numpy as jnp
      >>> loss = expected_loss(jnp.array([1.0, 0.6, 0.5]), 0.4, 0.4)
      >>> [round(float(v), 4) for v in loss]
      [0.4, 0.1538, 0.2]
      >>> round(float(jax.grad(expected_loss)(1.0, 0.4, 0.4)), 4)  # 2 P12 m²
      0.8
    """
    alpha = jnp.asarray(alpha, dtype=jnp.result_type(float))
    norm2 = alpha**2 + (1.0 - alpha) ** 2
    return m**2 / norm2 * (p1 * (1.0 - alpha) ** 2 + p12 * (1.0 - 2.0 * alpha) ** 2)


def optimal_alpha(p1, p12) -> jax.Array:
    """Minimiser of :func:`expected_loss` over α (closed form; not in the paper).

    ``dE/dα = 0`` reduces to ``P1 α² + (2 P12 − P1) α − P12 = 0``; the minimiser is its
    positive root ``α* = (P1 − 2 P12 + sqrt(P1² + 4 P12²)) / (2 P1)``, which lies in
    [1/2, 1], equals 1 only for ``P12 = 0`` and is below ``1/√2`` exactly when
    ``P12 > P1 / 2`` (:func:`mixes`).  For ``P1 = 0 < P12`` it is 1/2; for
    ``P1 = P12 = 0`` (zero loss everywhere) it returns 1.  It does not depend on ``m``.

    Args:
      p1: probability P1 that only ``f1`` fires, any shape.
      p12: probability P12 that both fire, broadcasting with ``p1``.

    Returns:
      ``α*``, shape ``broadcast(p1, p12)``.

    Examples:
      >>> round(float(optimal_alpha(0.4, 0.4)), 4)  # 1/golden ratio when P1 = P12
      0.618
    """
    p1 = jnp.asarray(p1, dtype=jnp.result_type(float))
    p12 = jnp.asarray(p12, dtype=jnp.result_type(float))
    b = 2.0 * p12 - p1
    root = jnp.sqrt(p1**2 + 4.0 * p12**2)
    # Two algebraically equal forms; each avoids cancellation on its side of b = 0.
    den_pos = jnp.where(b + root > 0, b + root, 1.0)
    den_neg = jnp.where(p1 > 0, 2.0 * p1, 1.0)
    star = jnp.where(b >= 0, 2.0 * p12 / den_pos, (root - b) / den_neg)
    return jnp.where((p1 == 0) & (p12 == 0), 1.0, star)


def mixes(p1, p12):
    """Theorem 1's prediction: the mixed latent (α = 1/2) beats the true one (α = 1).

    ``E[L(1/2)] = P1 m² / 2 < E[L(1)] = P12 m²`` exactly when ``P12 > P1 / 2`` (paper
    A.5, Theorem 1).  Equivalently, the loss minimiser :func:`optimal_alpha` is below
    ``1/√2``.

    Args:
      p1: probability P1 that only ``f1`` fires (float or array).
      p12: probability P12 that both fire (float or array).

    Returns:
      ``p12 > p1 / 2`` (a bool for floats, a boolean array for arrays).

    Examples:
      >>> mixes(0.4, 0.4), mixes(0.4, 0.1)
      (True, False)
    """
    return p12 > p1 / 2


def orthant_probability(q1: float, q2: float, rho: float) -> float:
    """``P(Z1 > Φ⁻¹(1 − q1), Z2 > Φ⁻¹(1 − q2))`` for a standard bivariate normal.

    This is the joint firing rate of two copula features with marginal rates ``q1, q2``
    and latent correlation ``rho``.  It is ``Φ2(h1, h2; ρ)`` with ``h_i = Φ⁻¹(q_i)``,
    computed deterministically as ``Φ(h1) Φ(h2) + (1/2π) ∫_0^{arcsin ρ}
    exp(−(h1² − 2 h1 h2 sin θ + h2²) / (2 cos² θ)) dθ`` (Plackett's identity after
    ``r = sin θ``), which is smooth and increasing in ``ρ``.  At ``ρ = ±1`` it is the
    Fréchet bound ``min(q1, q2)`` or ``max(0, q1 + q2 − 1)``.

    Args:
      q1: marginal firing rate of feature 1, in [0, 1].
      q2: marginal firing rate of feature 2, in [0, 1].
      rho: correlation of the latent Gaussians, in [-1, 1].

    Returns:
      The joint rate as a Python float.

    Examples:
      >>> round(orthant_probability(0.5, 0.5, 0.5), 6)  # 1/4 + arcsin(1/2)/(2π) = 1/3
      0.333333
    """
    if q1 <= 0.0 or q2 <= 0.0:
        return 0.0
    if q1 >= 1.0 or q2 >= 1.0:
        return float(min(q1, q2))
    if rho >= 1.0:
        return float(min(q1, q2))
    if rho <= -1.0:
        return float(max(0.0, q1 + q2 - 1.0))
    h1, h2 = float(special.ndtri(q1)), float(special.ndtri(q2))

    def integrand(theta: float) -> float:
        c2 = math.cos(theta) ** 2
        return math.exp(-(h1 * h1 - 2.0 * h1 * h2 * math.sin(theta) + h2 * h2) / (2.0 * c2))

    val, _ = integrate.quad(integrand, 0.0, math.asin(rho), epsabs=1e-14, epsrel=1e-12,
                            limit=200)
    return float(q1 * q2 + val / (2.0 * math.pi))


def _copula_rho(q1: float, q2: float, p12: float) -> float:
    """The latent correlation ρ in [-1, 1] with ``orthant_probability(q1, q2, ρ) = p12``."""
    if q1 >= 1.0 or q2 >= 1.0:
        return 0.0  # a feature that always fires: the joint rate is min(q1, q2) for any ρ
    lo, hi = max(0.0, q1 + q2 - 1.0), min(q1, q2)
    if p12 <= lo:
        return -1.0
    if p12 >= hi:
        return 1.0
    return float(optimize.brentq(lambda r: orthant_probability(q1, q2, r) - p12, -1.0, 1.0,
                                 xtol=1e-15, rtol=4 * np.finfo(float).eps))


def two_feature_toy_config(
    p1: float, p2: float, p12: float, m: float = 1.0, dim: int = 2, feature_seed: int = 0
) -> ToyConfig:
    """A :class:`~toysae.config.ToyConfig` whose generator produces Theorem 1's toy (A.5).

    Two orthonormal features with marginal firing rates ``p1 + p12`` and ``p2 + p12``,
    magnitude exactly ``m`` (``mu = m``, ``sigma = 0``) and a Gaussian-copula correlation
    ``ρ`` (``CorrelationSpec(kind="pairs")``) solved with :func:`scipy.optimize.brentq`
    on :func:`orthant_probability` so that both fire with probability ``p12``.  Then
    only ``f1`` fires with probability ``p1``, only ``f2`` with ``p2``, neither with
    ``1 − p1 − p2 − p12``; true L0 ``= p1 + p2 + 2 p12``.

    Every valid ``(p1, p2, p12)`` lies within the Fréchet bounds of a Gaussian copula.
    At a bound (``p12 = 0``, ``p1 = 0``, ``p2 = 0`` or ``p1 + p2 + p12 = 1``) it needs
    ``ρ = ±1``, which the generator's positive-definite repair turns into
    ``|ρ| = 1 − 1e-6``; that still gives ``p12`` to ~1e-16 unless the two copula
    thresholds coincide (``p1 = p2 = 0 < p12 < 1``, or ``p12 = 0`` with
    ``p1 + p2 = 1``), where the joint rate would be off by ~2e-4: those are rejected.

    Args:
      p1: probability that only ``f1`` fires, in [0, 1].
      p2: probability that only ``f2`` fires, in [0, 1].
      p12: probability that both fire, in [0, 1].
      m: magnitude of a firing feature, > 0.
      dim: input dimension d, >= 2 (the features are random orthonormal rows in R^d).
      feature_seed: seed of the feature directions.

    Returns:
      The config; ``toysae.build_toy`` turns it into a :class:`~toysae.ToyModel` whose
      ``features[0]`` is ``f1`` and ``features[1]`` is ``f2``.

    Raises:
      ValueError: naming the argument and the accepted range, when a probability is
        outside [0, 1], ``p1 + p2 + p12 > 1``, ``p1 + p12 = 0``, ``p2 + p12 = 0``,
        ``m <= 0``, ``dim < 2``, or ``p12`` is not realisable by the generator's copula.

    Examples:
      >>> cfg = two_feature_toy_config(0.3, 0.2, 0.3)
      >>> cfg.probs, cfg.true_l0
      ((0.6, 0.5), 1.1)
      >>> round(orthant_probability(0.6, 0.5, cfg.correlation.pairs[0][2]), 12)
      0.3
    """
    p1 = check_float("p1", p1, 0.0, 1.0)
    p2 = check_float("p2", p2, 0.0, 1.0)
    p12 = check_float("p12", p12, 0.0, 1.0)
    m = check_float("m", m, lo=0.0, lo_open=True)
    dim = check_int("dim", dim, lo=2)
    feature_seed = check_int("feature_seed", feature_seed)
    total = p1 + p2 + p12
    if total > 1.0 + _SUM_SLACK:
        raise ValueError(f"p1 + p2 + p12 = {total} is out of range; expected a total "
                         f"probability in [0, 1] (the rest is 'neither fires')")
    q1, q2 = min(p1 + p12, 1.0), min(p2 + p12, 1.0)
    if q1 <= 0.0:
        raise ValueError(f"p1 + p12 = {q1} is out of range; expected f1's firing rate "
                         f"p1 + p12 in (0, 1]")
    if q2 <= 0.0:
        raise ValueError(f"p2 + p12 = {q2} is out of range; expected f2's firing rate "
                         f"p2 + p12 in (0, 1]")
    lo, hi = max(0.0, q1 + q2 - 1.0), min(q1, q2)
    if not lo - _SUM_SLACK <= p12 <= hi + _SUM_SLACK:  # implied by the checks above
        raise ValueError(f"p12={p12} is out of range; a Gaussian copula with marginals "
                         f"({q1}, {q2}) reaches a joint rate in [{lo}, {hi}]")
    rho = _copula_rho(q1, q2, p12)
    cfg = ToyConfig(
        n_features=2, dim=dim, probs=(q1, q2),
        correlation=CorrelationSpec(kind="pairs", pairs=((0, 1, rho),)),
        features="orthogonal", feature_seed=feature_seed, mu=m, sigma=0.0,
    )
    achieved = _generator_joint_rate(cfg)
    if abs(achieved - p12) > _JOINT_TOL:
        if rho > 0:
            case = "p1 = p2 = 0 < p12 < 1 (the features fire only together)"
            fix = "p1 + p2 > 0"
        else:
            case = "p12 = 0 with p1 + p2 = 1 (exactly one feature always fires)"
            fix = "p1 + p2 < 1 when p12 = 0"
        raise ValueError(
            f"p12={p12} is out of range for p1={p1}, p2={p2}: {case} needs a degenerate "
            f"copula (rho={rho:+.0f}) with coinciding thresholds, which the generator's "
            f"positive-definite repair realises only as a joint rate of {achieved:.6f}; "
            f"expected {fix}")
    return cfg


def _generator_joint_rate(cfg: ToyConfig) -> float:
    """Joint firing rate of the copula exactly as :func:`toysae.build_toy` stores it
    (after positive-definite repair and the float32 cast of its Cholesky factor)."""
    chol = cholesky_factor(correlation_matrix(cfg)).astype(np.float32).astype(np.float64)
    cov = chol @ chol.T
    rho = float(np.clip(cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]), -1.0, 1.0))
    return orthant_probability(*cfg.probs, rho)


def decoder(alpha, features: jax.Array) -> jax.Array:
    """Theorem 1's tied SAE weights for one α: ``[2, d]`` unit rows ``(d1(α), f2)``.

    Args:
      alpha: scalar α.
      features: ``[g >= 2, d]`` true features; rows 0 and 1 are ``f1`` and ``f2``.

    Returns:
      ``[2, d]`` decoder ``D``; the encoder is ``Dᵀ`` and there are no biases.

    Examples:
      >>> d = decoder(0.5, jnp.eye(2))  # latent 1 is the even mix of f1 and f2
      >>> d.shape, [[round(float(v), 4) for v in row] for row in d]
      ((2, 2), [[0.7071, 0.7071], [0.0, 1.0]])
    """
    f1, f2 = features[0], features[1]
    d1 = (alpha * f1 + (1.0 - alpha) * f2) / jnp.sqrt(alpha**2 + (1.0 - alpha) ** 2)
    return jnp.stack([d1, f2])


def top1_loss(alpha, x: jax.Array, features: jax.Array) -> jax.Array:
    """Mean Top-1 reconstruction loss of Theorem 1's SAE on a batch of inputs.

    Pre-activations ``a = ReLU(x Dᵀ)``; per sample only the largest survives
    (Top-1, ties to the lower index), ``x̂ = a_j D_j``; loss ``mean ||x − x̂||²``.

    Args:
      alpha: scalar α.
      x: ``[n, d]`` inputs.
      features: ``[g >= 2, d]`` true features.

    Returns:
      Scalar loss.

    Examples:
      >>> x = jnp.array([[1.0, 0.0], [1.0, 1.0]])  # only f1 fires; both fire
      >>> float(top1_loss(1.0, x, jnp.eye(2)))  # Top-1 drops f2 of the second input
      0.5
    """
    dec = decoder(alpha, features)
    acts = jax.nn.relu(x @ dec.T)  # [n, 2]
    j = jnp.argmax(acts, axis=1)
    recon = jnp.max(acts, axis=1, keepdims=True) * dec[j]
    return jnp.mean(jnp.sum((x - recon) ** 2, axis=1))


@functools.partial(jax.jit, static_argnums=3)
def _mc_losses(alphas: jax.Array, toy_model: ToyModel, key: jax.Array, n: int) -> jax.Array:
    _, x = toy_model.sample(key, n)
    return jax.vmap(top1_loss, in_axes=(0, None, None))(alphas, x, toy_model.features)


def monte_carlo_loss(alpha, toy_model: ToyModel, key: jax.Array, n: int) -> jax.Array:
    """Monte-Carlo estimate of ``E[L(α)]`` from generator samples (paper A.5).

    Draws ``n`` inputs with ``toy_model.sample(key, n)`` (the same inputs for every α)
    and evaluates the tied two-latent Top-1 SAE of Theorem 1 (latent 2 = ``f2``,
    latent 1 = ``d1(α)``, no biases; see :func:`top1_loss`) on them, vectorised over
    α with ``vmap``.  For a toy from :func:`two_feature_toy_config` and α in [0, 1] it
    estimates :func:`expected_loss`.

    Args:
      alpha: α, a scalar or an array of any shape.
      toy_model: a built toy whose ``features[0]``, ``features[1]`` are ``f1``, ``f2``.
      key: JAX PRNG key of the samples.
      n: number of samples (static), >= 1.

    Returns:
      Loss estimates, same shape as ``alpha``.

    Examples:
      >>> from toysae import build_toy
      >>> toy = build_toy(two_feature_toy_config(0.4, 0.1, 0.4))
      >>> est = monte_carlo_loss(jnp.array([1.0, 0.5]), toy, jax.random.key(0), 100_000)
      >>> [round(float(v), 2) for v in est]  # formula: [0.4, 0.2]
      [0.4, 0.2]
    """
    n = check_int("n", n, lo=1)
    alpha = jnp.asarray(alpha, dtype=toy_model.features.dtype)
    out = _mc_losses(alpha.reshape(-1), toy_model, key, n)
    return out.reshape(alpha.shape)


@functools.partial(jax.jit, static_argnames=("steps",))
def descend_alpha(p1, p12, m=1.0, alpha0=1.0, lr=0.1, steps: int = 1000) -> jax.Array:
    """Gradient descent on α of the closed-form loss, from the true feature (Theorem 1).

    Plain SGD (``optax.sgd``) on :func:`expected_loss` inside ``lax.scan``; pure and
    jitted (``steps`` is static), so it can be ``vmap``-ed over ``(p1, p12)``.
    ``|d²E/dα²| <= 16 m²`` on [0, 1], so steps are stable for ``lr < 1/(8 m²)``.
    Since ``dE/dα(1) = 2 P12 m²``, α leaves 1 whenever ``P12 > 0`` and converges to
    :func:`optimal_alpha`, below ``1/√2`` exactly when :func:`mixes` holds.

    Args:
      p1: probability P1 that only ``f1`` fires (scalar).
      p12: probability P12 that both fire (scalar).
      m: magnitude of a firing feature.
      alpha0: starting α (1 is the true feature).
      lr: SGD learning rate.
      steps: number of steps (static).

    Returns:
      ``[steps + 1]`` trajectory of α, starting with ``alpha0``.

    Examples:
      >>> traj = descend_alpha(0.4, 0.4)
      >>> traj.shape, round(float(traj[0]), 4), round(float(traj[-1]), 4)
      ((1001,), 1.0, 0.618)
    """
    alpha0 = jnp.asarray(alpha0, dtype=jnp.result_type(float))
    opt = optax.sgd(lr)
    grad = jax.grad(expected_loss)

    def step(carry, _):
        alpha, state = carry
        updates, state = opt.update(grad(alpha, p1, p12, m), state, alpha)
        alpha = optax.apply_updates(alpha, updates)
        return (alpha, state), alpha

    _, traj = jax.lax.scan(step, (alpha0, opt.init(alpha0)), None, length=steps)
    return jnp.concatenate([alpha0[None], traj])
