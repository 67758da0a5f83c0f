"""Tests of the traced-k top-k selection used by BatchTopK (paper §3; toysae.topk).

All comparisons are exact: the data are float32 draws of a continuous distribution
(no positive ties), the search on float32 bit patterns is exact by construction, and
NumPy references work on the very same float32 values.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toysae.topk import batch_topk_mask, keep_count, nth_largest, row_topk_mask


def _relu_data(b: int, h: int, seed: int = 0) -> np.ndarray:
    """float32 ReLU(N(0, 1)) data: about half exact zeros, positives without ties."""
    x = np.random.default_rng(seed).normal(size=(b, h)).astype(np.float32)
    return np.maximum(x, np.float32(0.0))


def _ref_nth(values: np.ndarray, n: int) -> np.float32:
    """NumPy reference: sort descending, take the n-th (1-based)."""
    return np.sort(values.ravel())[::-1][n - 1]


def _ref_batch_mask(pre: np.ndarray, k: float) -> np.ndarray:
    """NumPy reference: keep the round(k * B) largest entries (NumPy round, half to even),
    never a zero."""
    m = int(np.round(k * pre.shape[0]))
    flat = pre.ravel()
    keep = np.zeros(flat.size, bool)
    keep[np.argsort(-flat, kind="stable")[:m]] = True
    return (keep & (flat > 0)).reshape(pre.shape)


def _ref_row_mask(values: np.ndarray, n: int) -> np.ndarray:
    """Per row: the n largest entries (any sign), by a NumPy sort."""
    if n == 0:
        return np.zeros(values.shape, bool)
    nth = -np.sort(-values, axis=1)[:, min(n, values.shape[1]) - 1]
    return values >= nth[:, None]


_nth_jit = jax.jit(nth_largest)
_batch_jit = jax.jit(batch_topk_mask)
_row_jit = jax.jit(row_topk_mask)

PRE = _relu_data(64, 16)
KS = [1.8, 2.5, 11.0, 1.0, 1.7, 1.9, 0.5, 3.3, 0.01, 7.77, 16.0]


# ----------------------------------------------------------------------------- nth_largest


def test_nth_largest_matches_numpy_all_n():
    """Claim: nth_largest(values, n) equals the NumPy sort-descending n-th element for every
    n = 1..size (vmapped over a vector of n, one call).  Exact equality."""
    values = PRE
    ns = jnp.arange(1, values.size + 1)
    got = np.asarray(jax.jit(jax.vmap(nth_largest, in_axes=(None, 0)))(values, ns))
    ref = np.sort(values.ravel())[::-1]
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nth_largest_matches_numpy_traced(seed):
    """Claim: the same holds under jax.jit with n a traced scalar, on other random ReLU
    data (including n beyond the positives, where the answer is 0).  Exact.  (The eager
    path is exercised through batch_topk_mask in test_batch_topk_mask_eager.)"""
    values = _relu_data(33, 7, seed=seed)
    n_pos = int((values > 0).sum())
    ns = [1, 2, 5, n_pos - 1, n_pos, n_pos + 1, values.size]
    for n in ns:
        ref = _ref_nth(values, n)
        assert float(_nth_jit(values, jnp.int32(n))) == ref, n
    assert float(_nth_jit(values, jnp.int32(n_pos + 1))) == 0.0


def test_nth_largest_out_of_range_and_ties():
    """Claims (module docstring): n < 1 gives +inf, n > size gives 0, duplicated values
    are counted with multiplicity (the 2nd and 3rd largest of [3, 3, 1] are 3 and 1),
    large and tiny (subnormal) positives are ordered correctly.  Exact."""
    v = jnp.asarray([3.0, 3.0, 1.0, 0.0, 0.0], jnp.float32)  # same shape as w: one compile
    assert float(_nth_jit(v, 0)) == np.inf
    assert float(_nth_jit(v, -3)) == np.inf
    assert float(_nth_jit(v, 6)) == 0.0
    assert [float(_nth_jit(v, n)) for n in (1, 2, 3, 4, 5)] == [3.0, 3.0, 1.0, 0.0, 0.0]
    w = np.asarray([1e-40, 3e38, 1e-3, 2.5e-45, 0.0], np.float32)
    for n in range(1, 6):
        assert float(_nth_jit(w, n)) == _ref_nth(w, n)


def _hard_arrays() -> dict[str, np.ndarray]:
    """Inputs on which interpolated probes do badly (heavy tails, one huge outlier,
    ties, negatives, a mass of zeros), all of one size (one compile per search)."""
    rng = np.random.default_rng(7)
    size = 4096
    arrays = {
        "exponential": rng.exponential(size=size),
        "cauchy": np.abs(rng.standard_cauchy(size)),
        "lognormal": rng.lognormal(0.0, 5.0, size),
        "normal": rng.normal(size=size),
        "outlier": np.r_[np.zeros(size - 200), rng.random(199), 3e38],
        "ties": rng.integers(0, 5, size).astype(float),
        "relu": np.maximum(rng.normal(size=size), 0.0),
    }
    return {k: v.astype(np.float32) for k, v in arrays.items()}


_HARD = _hard_arrays()
_HARD_NS = jnp.asarray([1, 2, 17, 1024, 2048, 4000, 4095, 4096], jnp.int32)


@pytest.mark.parametrize("search", ["illinois", "bisect"])
@pytest.mark.parametrize("name", sorted(_HARD))
def test_nth_largest_searches_exact_on_hard_inputs(search, name):
    """Claim (module docstring): both probe rules return the exact n-th largest entry
    (with multiplicity) on heavy-tailed, outlier, tied and signed inputs, vmapped over
    n.  Reference: NumPy sort.  Exact."""
    values = _HARD[name]
    ref = np.sort(values)[::-1][np.asarray(_HARD_NS) - 1]
    got = jax.jit(jax.vmap(lambda n: nth_largest(values, n, search=search)))(_HARD_NS)
    np.testing.assert_array_equal(np.asarray(got), ref)


def test_nth_largest_rejects_unknown_search():
    """Claim: an unknown probe rule is refused with a message naming the argument and
    the accepted values, before anything is traced."""
    with pytest.raises(ValueError, match=r"search='newton'; expected one of"):
        nth_largest(jnp.ones(3), 1, search="newton")


# ----------------------------------------------------------------------------- keep_count


@pytest.mark.parametrize(
    ("k", "b", "expected"),
    [
        (1.8, 1024, 1843),  # 1843.2
        (1.8, 5, 9),
        (2.5, 3, 8),  # 7.5 -> 8 (half to even)
        (1.25, 2, 2),  # 2.5 -> 2 (half to even)
        (2.25, 2, 4),  # 4.5 -> 4
        (2.75, 2, 6),  # 5.5 -> 6
        (0.5, 1, 0),  # 0.5 -> 0
        (11.0, 1024, 11264),
        (0.0, 64, 0),
    ],
)
def test_keep_count_numpy_round(k, b, expected):
    """Claim: BatchTopK keeps round(k * B) activations with NumPy's rounding (half to
    even).  Expected values are np.round(k * B) (asserted too).  Exact."""
    assert int(np.round(k * b)) == expected
    assert int(keep_count(k, b)) == expected


def test_keep_count_matches_numpy_on_grid():
    """Claim: keep_count(k, B) == np.round(k * B) over a grid of k in steps of 0.05 up to 30
    and batches 1..4096 (float32 product inside JAX against float64 in NumPy).  Exact."""
    ks = np.round(np.arange(0.05, 30.0, 0.05), 2)
    for b in (1, 2, 3, 5, 7, 10, 64, 100, 500, 1000, 1024, 4096):
        got = np.asarray(jax.vmap(lambda k, b=b: keep_count(k, b))(jnp.asarray(ks)))
        np.testing.assert_array_equal(got, np.round(ks * b).astype(int), err_msg=f"B={b}")


# ----------------------------------------------------------------------------- batch mask


@pytest.mark.parametrize("k", KS)
def test_batch_topk_mask_matches_reference(k):
    """Claim: under jax.jit with k traced, batch_topk_mask keeps exactly round(k * B)
    entries (all positives when there are fewer: k >= 7.77 here, ~8 positives per row) and
    equals the NumPy reference mask of the round(k * B) largest; the threshold is the
    round(k * B)-th largest value.  Exact."""
    ref = _ref_batch_mask(PRE, k)
    m = int(np.round(k * PRE.shape[0]))
    n_pos = int((PRE > 0).sum())
    assert ref.sum() == min(m, n_pos)
    mask_j, t_j = _batch_jit(PRE, jnp.float32(k))
    np.testing.assert_array_equal(np.asarray(mask_j), ref)
    assert int(np.asarray(mask_j).sum()) == min(m, n_pos)
    if 0 < m <= n_pos:
        assert float(t_j) == _ref_nth(PRE, m)


def test_batch_topk_mask_eager():
    """Claim: without jax.jit (eager, k a Python float) the mask equals the reference
    (fractional k = 1.8, 115 of 1,024 entries kept). Exact.  One k only: each eager call
    re-traces and re-compiles the bisection loop."""
    mask, _ = batch_topk_mask(jnp.asarray(PRE), 1.8)
    np.testing.assert_array_equal(np.asarray(mask), _ref_batch_mask(PRE, 1.8))
    assert int(np.asarray(mask).sum()) == 115


def test_batch_topk_mask_paper_shapes():
    """Claim: at the paper's shapes (B = 1024, h = 50) k = 11 keeps exactly 11,264 entries
    and k = 1.8 (the small toy's fractional k) keeps round(1843.2) = 1843.  Exact."""
    pre = _relu_data(1024, 50, seed=5)
    for k, m in ((11.0, 11264), (1.8, 1843)):
        mask, _ = _batch_jit(pre, jnp.float32(k))
        assert int(np.asarray(mask).sum()) == m
        np.testing.assert_array_equal(np.asarray(mask), _ref_batch_mask(pre, k))


def test_batch_topk_mask_half_to_even():
    """Claim: the kept count rounds half to even: on B = 2 rows, k = 1.25 keeps 2 (2.5),
    k = 2.25 keeps 4 (4.5), k = 2.75 keeps 6 (5.5).  Exact."""
    pre = _relu_data(2, 8, seed=7) + np.float32(0.5)  # all positive
    for k, m in ((1.25, 2), (2.25, 4), (2.75, 6)):
        mask, _ = _batch_jit(pre, jnp.float32(k))
        assert int(np.asarray(mask).sum()) == m, k
        np.testing.assert_array_equal(np.asarray(mask), _ref_batch_mask(pre, k))


def test_batch_topk_mask_vmap_over_k_matches_loop():
    """Claim: one jax.vmap call with a vector of k values gives the same masks and
    thresholds as a Python loop over k (one model column per k in a sweep).  Exact."""
    ks = jnp.asarray(KS, jnp.float32)
    masks, ts = jax.jit(jax.vmap(batch_topk_mask, in_axes=(None, 0)))(PRE, ks)
    for i, k in enumerate(KS):
        mask, t = _batch_jit(PRE, jnp.float32(k))
        np.testing.assert_array_equal(np.asarray(masks[i]), np.asarray(mask))
        assert float(ts[i]) == float(t)
        np.testing.assert_array_equal(np.asarray(masks[i]), _ref_batch_mask(PRE, k))


def test_batch_topk_mask_edge_cases():
    """Claims: asking for more entries than there are positives keeps every positive and
    never a zero; k = 0 (n = 0) and k with round(k * B) = 0 keep nothing.  Exact."""
    pos = PRE > 0
    for k in (10.0, 16.0):  # 640 and 1024 > ~512 positives
        assert np.round(k * 64) > pos.sum()
        mask, _ = _batch_jit(PRE, jnp.float32(k))
        np.testing.assert_array_equal(np.asarray(mask), pos)
    for k in (0.0, 0.007):  # round(0.448) = 0
        mask, t = _batch_jit(PRE, jnp.float32(k))
        assert not np.asarray(mask).any()
        assert float(t) == np.inf
    zeros = np.zeros((2, 8), np.float32)  # shape of the half-to-even test: no new compile
    mask, _ = _batch_jit(zeros, jnp.float32(2.0))
    assert not np.asarray(mask).any()


# ----------------------------------------------------------------------------- row mask


SIGNED = np.asarray(jax.random.normal(jax.random.key(5), (64, 16)), np.float32)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 16])
def test_row_topk_mask_matches_reference(n):
    """Claim: row_topk_mask keeps, in each row, the n largest entries of a signed array
    (used by the AuxK loss on raw pre-activations; nothing for n = 0), under jax.jit with
    n traced.  Reference: per-row NumPy sort.  Exact."""
    got = np.asarray(_row_jit(SIGNED, jnp.int32(n)))
    np.testing.assert_array_equal(got, _ref_row_mask(SIGNED, n))
    np.testing.assert_array_equal(got.sum(axis=1), np.full(64, n))


def test_nth_largest_signed_matches_sort():
    """Claim: nth_largest is exact on arrays with negative entries (order-preserving
    uint32 keys), for every n.  Reference: NumPy sort."""
    flat = SIGNED.ravel()
    ref = -np.sort(-flat)
    for n in (1, 7, 100, 512, 1000, flat.size):
        assert float(_nth_jit(SIGNED, jnp.int32(n))) == ref[n - 1]



@pytest.mark.parametrize("values", [
    [-1e-40, 1e-40, 0.0, -0.0, 2.5e-45, -3.0, 7.0, -2.5e-45],  # signed subnormals
    [1e-40, 3e-41, 2.5e-45, 0.0, 0.0, 1e-39, 5e-42, 1e-44],  # subnormals and zeros only
    [-1e-40, -3e-41, -2.5e-45, -5.0, -1e-38, -1e-39, -7e-42, -1e-44],  # negatives only
])
def test_nth_largest_subnormals(values):
    """Claim: nth_largest orders subnormals exactly for every n, and n > size gives the
    true minimum, although XLA on CPU treats subnormals as zero in float min/max (the
    bisection's bracket starts from those, widened; module docstring).  Reference: NumPy
    sort.  Exact (-0.0 == 0.0)."""
    flat = np.asarray(values, np.float32)
    ref = -np.sort(-flat)
    v = jnp.asarray(flat)
    for n in range(1, flat.size + 1):
        assert float(_nth_jit(v, jnp.int32(n))) == ref[n - 1], n
    assert float(_nth_jit(v, jnp.int32(flat.size + 3))) == ref[-1]
