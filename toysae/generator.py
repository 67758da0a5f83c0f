"""The toy-model generator: correlated sparse features with a known true L0 (paper §3)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import ndtri

from .config import ToyConfig
from .correlation import cholesky_factor, pairs_correlation, paper_random_correlation
from .features import near_orthogonal_features, orthogonal_features, random_features
from .validation import check_correlation_matrix


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ToyModel:
    """Arrays of a toy model; a pytree, so it can be passed into jitted code.

    Attributes:
      features: ``[g, d]`` unit true feature directions F (rows).
      probs: ``[g]`` firing probabilities p_i.
      thresholds: ``[g]`` copula thresholds ``Φ⁻¹(1 − p_i)`` (``-inf`` where p = 1).
      chol: ``[g, g]`` lower Cholesky factor of C (identity when uncorrelated).
      mu: ``[g]`` magnitude means.
      sigma: ``[g]`` magnitude standard deviations.
      correlated: static flag; False skips the copula matmul.

    Example:
      >>> from toysae import presets
      >>> toy = build_toy(presets.get("paper-small-pos"))
      >>> toy.n_features, toy.dim, round(toy.true_l0, 4), toy.correlation.shape
      (5, 20, 2.0, (5, 5))
    """

    features: jax.Array
    probs: jax.Array
    thresholds: jax.Array
    chol: jax.Array
    mu: jax.Array
    sigma: jax.Array
    correlated: bool = dataclasses.field(default=True, metadata=dict(static=True))

    @property
    def n_features(self) -> int:
        return self.features.shape[0]

    @property
    def dim(self) -> int:
        return self.features.shape[1]

    @property
    def true_l0(self) -> float:
        """Exact true L0, ``Σ_i p_i``."""
        return float(np.sum(np.asarray(self.probs, dtype=np.float64)))

    @property
    def correlation(self) -> np.ndarray:
        """``[g, g]`` copula correlation ``C = L Lᵀ``."""
        chol = np.asarray(self.chol, dtype=np.float64)
        return chol @ chol.T

    def sample(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """Draws ``n`` inputs.

        Args:
          key: JAX PRNG key.
          n: number of samples (static).

        Returns:
          ``(coeffs [n, g], x [n, d])`` with ``x = coeffs @ features``.

        Example:
          >>> from toysae import presets
          >>> toy = presets.build("paper-small-pos")
          >>> coeffs, x = toy.sample(jax.random.key(0), 4)
          >>> coeffs.shape, x.shape
          ((4, 5), (4, 20))
        """
        kz, km = jax.random.split(key)
        g = self.n_features
        z = jax.random.normal(kz, (n, g), dtype=self.features.dtype)
        if self.correlated:
            z = z @ self.chol.T
        fires = z > self.thresholds
        mags = jax.nn.relu(self.mu + self.sigma * jax.random.normal(km, (n, g), z.dtype))
        coeffs = jnp.where(fires, mags, 0.0)
        return coeffs, coeffs @ self.features

    def empirical_l0(self, key: jax.Array, n: int = 200_000) -> float:
        """Mean number of firing features per input on ``n`` samples.

        Example:
          >>> from toysae import presets
          >>> round(presets.build("paper-small-pos").empirical_l0(jax.random.key(0)), 1)
          2.0
        """
        kz, _ = jax.random.split(key)
        z = jax.random.normal(kz, (n, self.n_features))
        if self.correlated:
            z = z @ self.chol.T
        return float(jnp.mean(jnp.sum(z > self.thresholds, axis=1)))


def correlation_matrix(cfg: ToyConfig) -> np.ndarray | None:
    """The copula correlation ``C`` a config asks for, or None when uncorrelated.

    Args:
      cfg: the :class:`~toysae.config.ToyConfig`.

    Returns:
      ``[g, g]`` float64 correlation matrix (repaired to positive definite), or None
      for ``correlation.kind == "none"``.

    Example:
      >>> from toysae import presets
      >>> c = correlation_matrix(presets.get("paper-small-neg"))
      >>> c.shape, float(c[0, 1]), float(c[1, 2])
      ((5, 5), -0.4, 0.0)
    """
    spec, g = cfg.correlation, cfg.n_features
    if spec.kind == "none":
        return None
    if spec.kind == "paper":
        return paper_random_correlation(
            g, spec.seed, frac_uncorrelated=spec.frac_uncorrelated,
            frac_positive=spec.frac_positive, strength=tuple(spec.strength),
        )
    if spec.kind == "pairs":
        return pairs_correlation(g, spec.pairs)
    return check_correlation_matrix("correlation.matrix", spec.matrix, g)


def build_toy(cfg: ToyConfig) -> ToyModel:
    """Builds the arrays of a toy model from its config (deterministic in the config).

    Args:
      cfg: the :class:`~toysae.config.ToyConfig`.

    Returns:
      A :class:`ToyModel` with float32 arrays.

    Example:
      >>> from toysae import presets
      >>> toy = build_toy(presets.get("paper-main"))
      >>> toy.features.shape, toy.probs.shape, toy.chol.shape, round(toy.true_l0, 4)
      ((50, 100), (50,), (50, 50), 10.9525)
    """
    g, d = cfg.n_features, cfg.dim
    key = jax.random.key(cfg.feature_seed)
    if cfg.features == "orthogonal":
        feats = orthogonal_features(key, g, d)
    elif cfg.features == "random":
        feats = random_features(key, g, d)
    elif cfg.features == "explicit":  # unit rows as given; others normalised
        feats = np.asarray(cfg.directions, np.float64)
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        feats = np.where(np.abs(norms - 1) <= 1e-6, feats, feats / norms)
    else:
        feats = near_orthogonal_features(key, g, d, cfg.target_cos)
    probs = np.asarray(cfg.firing_probs(), dtype=np.float64)
    thresholds = ndtri(1.0 - probs)  # -inf where p = 1: always fires
    corr = correlation_matrix(cfg)
    chol = np.eye(g) if corr is None else cholesky_factor(corr)
    return ToyModel(
        features=jnp.asarray(feats, jnp.float32),
        probs=jnp.asarray(probs, jnp.float32),
        thresholds=jnp.asarray(thresholds, jnp.float32),
        chol=jnp.asarray(chol, jnp.float32),
        mu=jnp.full((g,), cfg.mu, jnp.float32),
        sigma=jnp.full((g,), cfg.sigma, jnp.float32),
        correlated=corr is not None,
    )
