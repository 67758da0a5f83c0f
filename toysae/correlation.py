"""Correlation matrices for the Gaussian copula of the generator (paper §3, §3.2).

Every builder returns a ``[g, g]`` NumPy float64 correlation matrix with a unit
diagonal.  ``C`` is the correlation of the *latent Gaussians* ``z ~ N(0, C)``,
not of the binary firings (which are much weaker).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import jax
import numpy as np


def repair_psd(matrix: np.ndarray, min_eig: float = 1e-6) -> np.ndarray:
    """Nearest-ish valid correlation matrix by eigenvalue clipping (paper §3.2 recipe).

    Takes the eigendecomposition, clips eigenvalues below at ``min_eig``, rebuilds,
    rescales to unit diagonal (``C_ij / sqrt(C_ii C_jj)``) and sets the diagonal to
    exactly 1.

    Args:
      matrix: ``[g, g]`` symmetric matrix.
      min_eig: lower clip for the eigenvalues.

    Returns:
      ``[g, g]`` positive-definite correlation matrix.

    Examples:
      >>> bad = np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]])
      >>> bool(np.linalg.eigvalsh(bad).min() < 0)  # not a valid correlation matrix
      True
      >>> c = repair_psd(bad)
      >>> c.shape, np.diag(c).tolist(), np.linalg.cholesky(c).shape
      ((3, 3), [1.0, 1.0, 1.0], (3, 3))
    """
    m = np.asarray(matrix, dtype=np.float64)
    m = 0.5 * (m + m.T)
    vals, vecs = np.linalg.eigh(m)
    rebuilt = (vecs * np.clip(vals, min_eig, None)) @ vecs.T
    d = np.sqrt(np.diag(rebuilt))
    out = rebuilt / np.outer(d, d)
    np.fill_diagonal(out, 1.0)
    return 0.5 * (out + out.T)


def paper_random_correlation_raw(
    n_features: int,
    seed: int = 42,
    frac_uncorrelated: float = 0.3,
    frac_positive: float = 0.5,
    strength: tuple[float, float] = (0.3, 0.9),
) -> np.ndarray:
    """The paper's random correlation matrix *before* PSD repair (paper §3.2).

    Reproduces the reference implementation exactly with Python's ``random``:
    list the pairs ``i < j`` in row-major order, keep ``int(frac_uncorrelated *
    n_pairs)`` of them uncorrelated, ``random.sample`` the rest; the first
    ``int(frac_positive * n_corr)`` picked pairs are positive, the others negative;
    in the picked order each gets ``random.uniform(*strength)`` times its sign.

    Args:
      n_features: g.
      seed: seed of Python's ``random`` (the paper uses 42).
      frac_uncorrelated: fraction of pairs left at 0.
      frac_positive: fraction of correlated pairs with a positive sign.
      strength: range of ``|C_ij|``.

    Returns:
      ``[g, g]`` symmetric unit-diagonal matrix, generally not PSD.

    Examples:
      >>> raw = paper_random_correlation_raw(50, seed=42)
      >>> upper = raw[np.triu_indices(50, 1)]  # the 1225 pairs i < j
      >>> raw.shape, int((upper > 0).sum()), int((upper < 0).sum())
      ((50, 50), 429, 429)
    """
    rng = random.Random(seed)
    pairs = [(i, j) for i in range(n_features) for j in range(i + 1, n_features)]
    n_uncorr = int(frac_uncorrelated * len(pairs))
    n_corr = len(pairs) - n_uncorr
    picked = rng.sample(pairs, n_corr)
    n_pos = int(frac_positive * n_corr)
    c = np.eye(n_features)
    for idx, (i, j) in enumerate(picked):
        sign = 1.0 if idx < n_pos else -1.0
        value = rng.uniform(*strength) * sign
        c[i, j] = c[j, i] = value
    return c


def paper_random_correlation(n_features: int, seed: int = 42, **kwargs) -> np.ndarray:
    """The paper's random correlation recipe followed by :func:`repair_psd`.

    For ``n_features=50, seed=42`` the raw matrix has minimum eigenvalue -5.98 and
    the repaired one has mean off-diagonal ``|C|`` of 0.133 (max about 0.41).

    Args:
      n_features: g.
      seed: seed of Python's ``random``.
      **kwargs: forwarded to :func:`paper_random_correlation_raw`.

    Returns:
      ``[g, g]`` correlation matrix.

    Examples:
      >>> c = paper_random_correlation(50, seed=42)
      >>> c.shape, round(float(np.abs(c[np.triu_indices(50, 1)]).mean()), 3)
      ((50, 50), 0.133)
    """
    return repair_psd(paper_random_correlation_raw(n_features, seed, **kwargs))


def pairs_correlation(
    n_features: int, pairs: Sequence[tuple[int, int, float]], repair: bool = True
) -> np.ndarray:
    """Correlation matrix from an explicit list of ``(i, j, c)`` pairs.

    Args:
      n_features: g.
      pairs: entries ``C_ij = C_ji = c``; all other off-diagonal entries are 0.
      repair: run :func:`repair_psd` if the result is not positive definite.

    Returns:
      ``[g, g]`` correlation matrix.

    Examples:
      >>> c = pairs_correlation(5, [(0, j, 0.4) for j in range(1, 5)])
      >>> float(c[0, 3])
      0.4
    """
    c = np.eye(n_features)
    for i, j, v in pairs:
        c[int(i), int(j)] = c[int(j), int(i)] = float(v)
    if repair and np.linalg.eigvalsh(c).min() <= 0:
        c = repair_psd(c)
    return c


def cholesky_factor(corr: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor ``L`` with ``L Lᵀ = C``, repairing ``C`` if needed.

    Args:
      corr: ``[g, g]`` correlation matrix.

    Returns:
      ``[g, g]`` lower-triangular float64 matrix.

    Examples:
      >>> c = np.array([[1.0, 0.5], [0.5, 1.0]])
      >>> low = cholesky_factor(c)
      >>> low.shape, bool(np.allclose(low @ low.T, c)), float(low[0, 1])
      ((2, 2), True, 0.0)
    """
    try:
        return np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        return np.linalg.cholesky(repair_psd(corr))


def low_rank_factor(seed: int, n_features: int, rank: int, scale: float) -> np.ndarray:
    """Random factor V of a low-rank correlation ``C = V Vᵀ + diag(1 − ‖v_i‖²)``.

    Follows SAELens's ``generate_random_low_rank_correlation_matrix``: entries
    ``scale · N(0, 1)`` (drawn here from ``jax.random.key(seed)``); if a row reaches
    ``‖v_i‖² >= 1`` the whole factor is rescaled so the largest is 0.99, keeping the
    diagonal positive.  C itself is never formed.

    Args:
      seed: seed of the JAX key.
      n_features: g.
      rank: r.
      scale: standard deviation of the entries, >= 0.

    Returns:
      ``[g, r]`` float64 factor.

    Examples:
      >>> v = low_rank_factor(0, 1000, 25, 0.1)
      >>> v.shape, bool((v ** 2).sum(1).max() < 1)
      ((1000, 25), True)
    """
    v = np.asarray(jax.random.normal(jax.random.key(seed), (n_features, rank)), np.float64)
    v = v * scale
    worst = float((v * v).sum(1).max())
    if worst >= 1.0:
        v = v * np.sqrt(0.99 / worst)
    return v
