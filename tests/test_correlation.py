"""Tests of the copula correlation builders (paper §3.2 recipe; paper-facts "Main toy")."""

from __future__ import annotations

import numpy as np
import pytest

from toysae.correlation import (
    cholesky_factor,
    pairs_correlation,
    paper_random_correlation,
    paper_random_correlation_raw,
    repair_psd,
)


def _assert_correlation_matrix(c: np.ndarray, psd_tol: float = 0.0) -> None:
    assert np.all(np.isfinite(c))
    np.testing.assert_array_equal(np.diag(c), 1.0)  # the recipe sets it to exactly 1
    np.testing.assert_allclose(c, c.T, atol=0, rtol=0)
    assert np.abs(c).max() <= 1.0
    assert np.linalg.eigvalsh(c).min() > -psd_tol


@pytest.fixture(scope="module")
def raw():
    return paper_random_correlation_raw(50, 42)


@pytest.fixture(scope="module")
def repaired():
    return paper_random_correlation(50, 42)


def test_paper_raw_recipe(raw):
    """Claim: the raw seed-42 recipe has 1225 pairs of which int(0.3 * 1225) = 367 stay 0,
    429 are positive and 429 negative, all with |C_ij| in [0.3, 0.9], and the matrix is
    not PSD: its minimum eigenvalue is -5.98 to 2 dp (paper-facts, reference settings).

    Counts are exact; the eigenvalue is checked by rounding to 2 dp.
    """
    assert raw.shape == (50, 50)
    np.testing.assert_array_equal(raw, raw.T)
    np.testing.assert_array_equal(np.diag(raw), 1.0)
    upper = raw[np.triu_indices(50, k=1)]
    assert upper.size == 1225
    assert np.sum(upper == 0) == 367
    assert np.sum(upper > 0) == 429 and np.sum(upper < 0) == 429
    nz = np.abs(upper[upper != 0])
    assert nz.min() >= 0.3 and nz.max() <= 0.9
    assert round(float(np.linalg.eigvalsh(raw).min()), 2) == -5.98


def test_paper_raw_recipe_is_deterministic_and_seeded(raw):
    """Claim: the recipe depends only on the seed (Python's own ``random.Random``): the
    same seed gives the identical matrix, another seed a different one.  Exact."""
    np.testing.assert_array_equal(paper_random_correlation_raw(50, 42), raw)
    assert not np.array_equal(paper_random_correlation_raw(50, 43), raw)


def test_paper_repaired_statistics(repaired):
    """Claim: after eigenvalue clipping at 1e-6 and rescaling, the paper's C has mean
    off-diagonal |C| = 0.133 (3 dp) and max ≈ 0.41 (2 dp), unit diagonal, symmetric, PSD.

    Tolerances: rounding to the quoted number of decimals.  PSD: minimum eigenvalue
    >= 0 (clipping at 1e-6 then rescaling keeps it positive, about 4e-7 here).
    """
    _assert_correlation_matrix(repaired)
    off = np.abs(repaired[~np.eye(50, dtype=bool)])
    assert round(float(off.mean()), 3) == 0.133
    assert round(float(off.max()), 2) == 0.41
    assert np.linalg.eigvalsh(repaired).min() > 0
    np.linalg.cholesky(repaired)  # positive definite in practice: Cholesky succeeds


def test_repair_keeps_signs_of_strong_entries(raw, repaired):
    """Claim: the repair shrinks but does not scramble the recipe: the sign of C matches the
    raw sign on the large majority of correlated pairs (> 90%) and uncorrelated raw pairs
    stay small (mean |C| < mean |C| of correlated pairs)."""
    iu = np.triu_indices(50, k=1)
    r, c = raw[iu], repaired[iu]
    corr = r != 0
    assert np.mean(np.sign(c[corr]) == np.sign(r[corr])) > 0.9
    assert np.abs(c[~corr]).mean() < np.abs(c[corr]).mean()


def test_pairs_builder_exact_entries():
    """Claim: pairs_correlation puts C_ij = C_ji = c for each listed pair and 0 elsewhere,
    leaving an already positive-definite matrix unrepaired (exact equality).

    The small toy (feature 0 at ±0.4 with 1-4) has eigenvalues 1 ± 0.8 and 1 (x3), so
    it is positive definite and must come back verbatim."""
    for rho in (0.4, -0.4):
        c = pairs_correlation(5, [(0, j, rho) for j in range(1, 5)])
        expected = np.eye(5)
        expected[0, 1:] = expected[1:, 0] = rho
        np.testing.assert_array_equal(c, expected)
    c = pairs_correlation(4, [(2, 1, 0.25)])  # order of i, j does not matter
    assert c[1, 2] == c[2, 1] == 0.25 and c[0, 3] == 0.0


def test_pairs_builder_repairs_non_psd():
    """Claim: when the listed pairs are not jointly feasible (feature 0 at +0.6 with four
    others: eigenvalue 1 - 0.6 * 2 = -0.2), the builder returns a valid repaired
    correlation matrix; with repair=False it returns the raw matrix.

    Tolerances: unit diagonal and symmetry exact; PSD (min eigenvalue > 0); Cholesky
    must succeed."""
    pairs = [(0, j, 0.6) for j in range(1, 5)]
    raw = pairs_correlation(5, pairs, repair=False)
    assert np.linalg.eigvalsh(raw).min() == pytest.approx(-0.2, abs=1e-12)
    c = pairs_correlation(5, pairs)
    _assert_correlation_matrix(c)
    assert np.linalg.eigvalsh(c).min() > 0
    np.linalg.cholesky(c)
    assert np.all(c[0, 1:] > 0)  # still positively correlated, just less


def test_repair_leaves_valid_matrix_alone():
    """Claim: repair_psd of a valid, well-conditioned correlation matrix returns it
    unchanged (up to float64 round-off of one eigendecomposition: atol 1e-12)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 20))
    cov = a @ a.T
    d = np.sqrt(np.diag(cov))
    c = cov / np.outer(d, d)
    np.fill_diagonal(c, 1.0)
    c = 0.5 * (c + c.T)
    assert np.linalg.eigvalsh(c).min() > 1e-3
    np.testing.assert_allclose(repair_psd(c), c, atol=1e-12, rtol=0)
    np.testing.assert_allclose(repair_psd(np.eye(6)), np.eye(6), atol=1e-15)


def test_cholesky_factor(repaired):
    """Claim: cholesky_factor returns a lower-triangular L with L Lᵀ = C (atol 1e-12), and
    for a non-PSD input factors the repaired matrix instead of failing."""
    l = cholesky_factor(repaired)
    np.testing.assert_array_equal(l, np.tril(l))
    np.testing.assert_allclose(l @ l.T, repaired, atol=1e-12)
    bad = pairs_correlation(5, [(0, j, 0.6) for j in range(1, 5)], repair=False)
    l = cholesky_factor(bad)
    np.testing.assert_allclose(l @ l.T, repair_psd(bad), atol=1e-12)
