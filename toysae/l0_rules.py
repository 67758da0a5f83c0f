"""Choosing L0 from trained parameters: scores of a k sweep computed from the decoders and
encoders of its SAEs (issue 19), read with the rules of :mod:`toysae.l0_curves`.

The metrics of :mod:`toysae.metrics` are computed one model at a time during the sweep;
these scores need the trained parameters of every model at once (cross-seed agreement
compares seeds), so they run after training, in NumPy and SciPy, on parameters stacked by
seed and k:

* ``w_dec [S, K, h, d]``: decoder of seed ``s`` at the ``i``-th k in ``w_dec[s, i]``,
  one latent per row (the package's ``W_dec [h, d]``);
* ``w_enc [S, K, d, h]``: encoder, one latent per column (the package's ``W_enc [d, h]``);
* ``live [S, K, h]``: optional boolean mask of the latents that fire (default: all).

Each score returns one curve per seed, ``[S, K]`` (cross-seed agreement: one per pair of
seeds, ``[P, K]``), so it plugs into :func:`~toysae.l0_curves.argmax_rule` and
:func:`~toysae.l0_curves.argmin_rule`; each ``*_rule`` function does that and returns an
:class:`~toysae.l0_curves.L0Estimate`.  Rows are compared by cosine, so scaling a latent's
decoder row or encoder column by a positive factor changes no score, nor does reordering
the latents of a model.  As in :func:`toysae.sae.unit_decoder`, a row of norm at most
:data:`toysae.sae.NORM_FLOOR` counts as a zero vector (cosine 0 with everything).

Where the ideas come from: c_dec is the paper's (§3.4 of Chanin & Garriga-Alonso, *Sparse
but Wrong*, arXiv 2508.16560); restricting it to live latents, encoder–decoder alignment
and cross-seed agreement are ours (issue 19 of this project).  None of them is validated
on trained SAEs yet; ``tests/test_l0_rules.py`` checks them on synthetic parameters only.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .l0_curves import L0Estimate, argmax_rule, argmin_rule
from .sae import NORM_FLOOR


def _weights(w, name: str, layout: str) -> np.ndarray:
    a = np.asarray(w, dtype=np.float64)
    if a.ndim != 4 or 0 in a.shape:
        raise ValueError(f"{name} has shape {a.shape}; expected {layout} with no empty axis")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite entries; expected finite weights {layout}")
    return a


def _live(live, shape: tuple[int, int, int], least: int, why: str) -> np.ndarray:
    if live is None:
        m = np.ones(shape, dtype=bool)
    else:
        m = np.asarray(live)
        if m.dtype != np.bool_:
            raise ValueError(f"live has dtype {m.dtype}; expected a boolean mask [S, K, h]")
        if m.shape != shape:
            raise ValueError(f"live has shape {m.shape}; expected [S, K, h] = {shape}, the "
                             "leading axes of w_dec")
    n = m.sum(axis=-1)
    if np.any(n < least):
        s, i = (int(v) for v in np.argwhere(n < least)[0])
        raise ValueError(f"live marks {int(n[s, i])} latent(s) live for seed index {s}, k "
                         f"index {i}; expected at least {least} ({why})")
    return m


def _unit(w: np.ndarray) -> np.ndarray:
    """Rows (last axis) scaled to unit norm; rows of norm <= NORM_FLOOR stay (near) zero."""
    return w / np.maximum(np.linalg.norm(w, axis=-1, keepdims=True), NORM_FLOOR)


def _grid(ks, w_dec) -> np.ndarray:
    """``ks`` checked, before any score is computed, against axis 1 of ``w_dec`` (whose
    other checks are the score's)."""
    x = np.asarray(ks, dtype=np.float64)
    if x.ndim != 1 or x.size < 3:
        raise ValueError(f"ks has shape {x.shape}; expected [K] with at least 3 grid points")
    if not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
        raise ValueError("ks must be finite and strictly increasing")
    shape = np.shape(w_dec)
    if len(shape) == 4 and shape[1] != x.size:
        raise ValueError(f"w_dec has shape {shape}, {shape[1]} k values on axis 1; expected "
                         f"[S, K, h, d] with K = len(ks) = {x.size}")
    return x


#: The matched decoder ``|cos|`` from which :func:`shared_latents` counts a latent as
#: shared by two seeds (ours, issue 19).
SHARED_COS = 0.9


def cross_seed_agreement(w_dec, top: int | None = None) -> np.ndarray:
    """Matched mean ``|cos|`` between the decoders of every pair of seeds, at each k.

    For a pair of seeds at one k, the ``[h, h]`` matrix of ``|cos|`` between their decoder
    rows is matched one-to-one by the Hungarian algorithm (maximising the total) and the
    matched values are averaged.  At the true L0 every seed should land on the same true
    features, so the score peaks there; too low or too high an L0 gives mixtures that
    differ from seed to seed.  The idea is ours (issue 19 of this project); it is not in
    the paper.

    With ``top = m`` the mean runs over the ``m`` best-matched pairs only (of the ``h``
    matched), so latents an SAE wider than the toy's number of features has to spare
    weigh nothing: an SAE of width 2g that has found the g features agrees at 1 over its
    top g pairs whatever its spare latents do (the lead of docs/l0-study.md, "At width
    2g"; ours).

    Args:
      w_dec: ``[S, K, h, d]`` decoders of ``S >= 2`` seeds at ``K`` values of k.
      top: how many of the best-matched pairs to average, in ``[1, h]``; None: all ``h``.

    Returns:
      ``[P, K]`` scores in [0, 1], ``P = S (S - 1) / 2``: row ``p`` is the ``p``-th pair of
      ``itertools.combinations(range(S), 2)``, i.e. (0, 1), (0, 2), …, (1, 2), ….  1 when
      the two decoders are equal up to the order and sign of their rows; symmetric in the
      two seeds of a pair.

    Raises:
      ValueError: if ``w_dec`` is not 4-D, has an empty axis, fewer than 2 seeds or
        non-finite entries, or ``top`` is not an integer in ``[1, h]``.

    Examples:
      >>> eye = np.eye(3, 4)  # 3 latents in R^4
      >>> mixed = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 0]]) / np.sqrt(2)
      >>> w_dec = np.stack([[eye, eye], [eye[[2, 0, 1]], mixed]])  # [S=2, K=2, h=3, d=4]
      >>> cross_seed_agreement(w_dec).round(4).tolist()
      [[1.0, 0.7071]]
      >>> half = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]) / [[1], [2**.5], [2**.5]]
      >>> cross_seed_agreement(np.stack([[eye], [half]]), top=1).tolist()  # the best pair
      [[1.0]]
    """
    w = _checked(w_dec, "cross-seed agreement needs")  # before ``top`` needs its h
    h = w.shape[2]
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer))
                            or not 1 <= top <= h):
        raise ValueError(f"top={top!r}; expected None or an integer in [1, h] = [1, {h}]")
    return _matched(w)[..., :top].mean(axis=-1)


def matched_cosines(w_dec) -> np.ndarray:
    """The matched ``|cos|`` of every pair of seeds at each k, best first: the values
    :func:`cross_seed_agreement` averages and :func:`shared_latents` counts.

    For a pair of seeds at one k, the ``[h, h]`` matrix of ``|cos|`` between their decoder
    rows is matched one-to-one by the Hungarian algorithm (maximising the total); the
    ``h`` matched values are returned sorted in decreasing order.  Ours (issue 19).

    Args:
      w_dec: ``[S, K, h, d]`` decoders of ``S >= 2`` seeds at ``K`` values of k.

    Returns:
      ``[P, K, h]`` values in [0, 1], decreasing along the last axis; pairs ordered as in
      :func:`cross_seed_agreement`.

    Raises:
      ValueError: if ``w_dec`` is malformed as for :func:`cross_seed_agreement`.

    Examples:
      >>> eye = np.eye(3, 4)  # 3 latents in R^4
      >>> half = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]) / [[1], [2**.5], [2**.5]]
      >>> matched_cosines(np.stack([[eye], [half]])).round(4).tolist()
      [[[1.0, 0.7071, 0.7071]]]
    """
    return _matched(_checked(w_dec, "matching needs"))


def _checked(w_dec, needs: str) -> np.ndarray:
    """``w_dec`` checked as ``[S >= 2, K, h, d]``; ``needs`` starts the error's reason
    when there are fewer than 2 seeds."""
    w = _weights(w_dec, "w_dec", "[S, K, h, d]")
    if w.shape[0] < 2:
        raise ValueError(f"w_dec has shape {w.shape}, {w.shape[0]} seed; {needs} at least "
                         "2 seeds: [S >= 2, K, h, d]")
    return w


def _matched(w: np.ndarray) -> np.ndarray:
    """:func:`matched_cosines` of a checked ``w`` (:func:`_checked`)."""
    u = _unit(w)
    pairs = list(combinations(range(w.shape[0]), 2))
    out = np.empty((len(pairs), w.shape[1], w.shape[2]))
    for p, (a, b) in enumerate(pairs):
        for i in range(w.shape[1]):
            c = np.abs(u[a, i] @ u[b, i].T)
            rows, cols = linear_sum_assignment(c, maximize=True)
            out[p, i] = np.sort(c[rows, cols])[::-1]
    return out


def shared_latents(w_dec, threshold: float = SHARED_COS) -> np.ndarray:
    """How many latents two seeds share: matched pairs (as in
    :func:`cross_seed_agreement`) whose decoder rows have ``|cos|`` of at least
    ``threshold``, for every pair of seeds at each k.

    A diagnostic of ours (issue 19 of this project), not in the paper: an SAE wider than
    the toy's number of features that has found them shares about that many latents
    between seeds and leaves the rest unmatched, so the count says whether an SAE has
    latents to spare; a count near the width says it has none (or is too narrow).

    Args:
      w_dec: ``[S, K, h, d]`` decoders of ``S >= 2`` seeds at ``K`` values of k.
      threshold: the smallest matched ``|cos|`` that counts as shared, in (0, 1].

    Returns:
      ``[P, K]`` integer counts in ``[0, h]``, pairs ordered as in
      :func:`cross_seed_agreement`.

    Raises:
      ValueError: if ``threshold`` is outside (0, 1], or ``w_dec`` is malformed as for
        :func:`cross_seed_agreement`.

    Examples:
      >>> eye = np.eye(3, 4)  # 3 latents in R^4
      >>> mixed = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]) / [[1], [2**.5], [2**.5]]
      >>> shared_latents(np.stack([[eye, eye], [eye[[2, 0, 1]], mixed]])).tolist()
      [[3, 1]]
    """
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold={threshold!r}; expected a number in (0, 1]")
    return count_shared(_matched(_checked(w_dec, "shared latents need")), threshold)


def count_shared(matched, threshold: float = SHARED_COS) -> np.ndarray:
    """How many of the matched ``|cos|`` (:func:`matched_cosines`, ``[..., h]``) reach
    ``threshold``, over the last axis: the count :func:`shared_latents` gives, for callers
    that already hold the matched cosines.  A slack of 1e-6 lets a pair equal up to
    rounding count at threshold 1.

    Examples:
      >>> count_shared(np.array([[1.0, 0.95, 0.5]])).tolist()
      [2]
    """
    return (np.asarray(matched) >= float(threshold) - 1e-6).sum(axis=-1)


def enc_dec_alignment(w_enc, w_dec, live=None) -> np.ndarray:
    """Mean over live latents of the signed cosine between each latent's encoder column
    ``w_enc[:, j]`` and decoder row ``w_dec[j]``, at each seed and k.

    A latent that reads exactly the direction it writes has cosine 1.  Hedging and
    absorption pull the encoder away from the decoder (the encoder must subtract the
    directions the latent should not fire on), so alignment should peak near the true L0.
    The cosine is signed: an encoder reading the opposite of what its decoder writes
    counts as -1.  The idea is ours (issue 19 of this project); it is not in the paper.

    Args:
      w_enc: ``[S, K, d, h]`` encoders (latent ``j`` in column ``j``).
      w_dec: ``[S, K, h, d]`` decoders (latent ``j`` in row ``j``).
      live: ``[S, K, h]`` boolean mask of the latents to average over, at least one per
        model; default all.

    Returns:
      ``[S, K]`` scores in [-1, 1].

    Raises:
      ValueError: if either array is not 4-D or has an empty axis or non-finite entries,
        if ``w_enc`` is not ``[S, K, d, h]`` for the ``w_dec`` given, or if ``live`` is not
        a boolean ``[S, K, h]`` mask with a live latent in every model.

    Examples:
      >>> w_dec = np.eye(2)[None, None]  # [S=1, K=1, h=2, d=2]: latents write e0, e1
      >>> w_enc = np.array([[1.0, 1.0], [0.0, 1.0]])[None, None]  # latent 1 reads e0 + e1
      >>> enc_dec_alignment(w_enc, w_dec).round(4).tolist()
      [[0.8536]]
      >>> enc_dec_alignment(w_enc, w_dec, live=np.array([[[True, False]]])).tolist()
      [[1.0]]
    """
    dec = _weights(w_dec, "w_dec", "[S, K, h, d]")
    enc = _weights(w_enc, "w_enc", "[S, K, d, h]")
    n_seeds, n_k, h, d = dec.shape
    if enc.shape != (n_seeds, n_k, d, h):
        raise ValueError(f"w_enc has shape {enc.shape}; expected [S, K, d, h] = "
                         f"{(n_seeds, n_k, d, h)} for w_dec of shape {dec.shape}")
    m = _live(live, (n_seeds, n_k, h), 1, "the mean is over live latents")
    cos = np.sum(_unit(np.swapaxes(enc, -1, -2)) * _unit(dec), axis=-1)  # [S, K, h]
    return np.sum(np.where(m, cos, 0.0), axis=-1) / m.sum(axis=-1)


def live_c_dec(w_dec, live=None) -> np.ndarray:
    """c_dec over live latents only: mean ``|cos|`` over all pairs ``i < j`` of live
    latents' decoder rows, at each seed and k.

    c_dec is the paper's (§3.4 of Chanin & Garriga-Alonso, *Sparse but Wrong*, arXiv
    2508.16560; :func:`toysae.metrics.c_dec`), and with every latent live this equals it.
    Restricting it to live latents is ours (issue 19 of this project): the decoder rows
    of dead latents are whatever initialisation and early training left, so at wide SAEs
    they move the curve for reasons unrelated to the L0.  Unlike
    :func:`toysae.metrics.c_dec`, which defines c_dec as 0 for fewer than two latents,
    this refuses a model with fewer than two live latents (0 would win an argmin).

    Args:
      w_dec: ``[S, K, h, d]`` decoders.
      live: ``[S, K, h]`` boolean mask of the latents that fire, at least two per model;
        default all.

    Returns:
      ``[S, K]`` scores in [0, 1]; 0 for mutually orthogonal live rows.

    Raises:
      ValueError: if ``w_dec`` is not 4-D or has an empty axis or non-finite entries, or
        if ``live`` is not a boolean ``[S, K, h]`` mask with two live latents in every
        model.

    Examples:
      >>> w_dec = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])[None, None]  # [1, 1, 3, 2]
      >>> live_c_dec(w_dec).round(4).tolist()  # pairs: cos 45°, 0, cos 45°
      [[0.4714]]
      >>> live_c_dec(w_dec, live=np.array([[[True, False, True]]])).tolist()
      [[0.0]]
    """
    w = _weights(w_dec, "w_dec", "[S, K, h, d]")
    m = _live(live, w.shape[:3], 2, "c_dec needs a pair of live latents")
    u = _unit(w)
    out = np.empty(w.shape[:2])
    for s, i in np.ndindex(*out.shape):
        v = u[s, i][m[s, i]]
        c = np.abs(v @ v.T)
        n = v.shape[0]
        out[s, i] = (c.sum() - np.trace(c)) / (n * (n - 1))
    return out


def cross_seed_rule(ks, w_dec, rule: str = "argmax_cross_seed") -> L0Estimate:
    """The k of highest :func:`cross_seed_agreement` (ours, issue 19 of this project).

    Args:
      ks: ``[K]`` strictly increasing grid of k (at least 3), the k of axis 1 of ``w_dec``.
      w_dec: ``[S, K, h, d]`` decoders of ``S >= 2`` seeds.
      rule: the name recorded in the estimate.

    Returns:
      An :class:`~toysae.l0_curves.L0Estimate` whose ``curve`` is the agreement itself (not
      negated) averaged over the ``P`` pairs of seeds, ``[K]``, and whose ``per_seed``
      and ``spread`` are over the pairs (``P`` entries, in the order of
      :func:`cross_seed_agreement`), not over seeds.

    Examples:
      >>> eye = np.eye(3, 4)
      >>> mixed = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 0]]) / np.sqrt(2)
      >>> w_dec = np.stack([[eye, eye, eye], [mixed, eye[[2, 0, 1]], mixed]])
      >>> est = cross_seed_rule([1, 2, 3], w_dec)
      >>> est.l0, [round(c, 4) for c in est.curve]
      (2.0, [0.7071, 1.0, 0.7071])
    """
    x = _grid(ks, w_dec)
    return argmax_rule(x, cross_seed_agreement(w_dec), rule)


def alignment_rule(ks, w_enc, w_dec, live=None,
                   rule: str = "argmax_enc_dec_alignment") -> L0Estimate:
    """The k of highest :func:`enc_dec_alignment` (ours, issue 19 of this project).

    Args:
      ks: ``[K]`` strictly increasing grid of k (at least 3), the k of axis 1.
      w_enc: ``[S, K, d, h]`` encoders.
      w_dec: ``[S, K, h, d]`` decoders.
      live: ``[S, K, h]`` boolean mask of live latents; default all.
      rule: the name recorded in the estimate.

    Returns:
      An :class:`~toysae.l0_curves.L0Estimate` whose ``curve`` is the seed-mean alignment
      itself (not negated), ``[K]``, with per-seed estimates and their spread.

    Examples:
      >>> tilted = np.array([[1.0, 1.0], [0.0, 1.0]])  # latent 1 reads e0 + e1
      >>> w_dec = np.stack([np.eye(2)] * 3)[None]  # [S=1, K=3, h=2, d=2]
      >>> w_enc = np.stack([tilted, np.eye(2), tilted.T])[None]
      >>> alignment_rule([1, 2, 3], w_enc, w_dec).l0
      2.0
    """
    x = _grid(ks, w_dec)
    return argmax_rule(x, enc_dec_alignment(w_enc, w_dec, live), rule)


def live_c_dec_rule(ks, w_dec, live=None, rule: str = "argmin_live_c_dec") -> L0Estimate:
    """The k of lowest :func:`live_c_dec` (the paper's argmin of c_dec, §3.4, over live
    latents only, which is ours: issue 19 of this project).

    Args:
      ks: ``[K]`` strictly increasing grid of k (at least 3), the k of axis 1.
      w_dec: ``[S, K, h, d]`` decoders.
      live: ``[S, K, h]`` boolean mask of live latents; default all (then this is the
        paper's rule on :func:`toysae.metrics.c_dec`).
      rule: the name recorded in the estimate.

    Returns:
      An :class:`~toysae.l0_curves.L0Estimate` whose ``curve`` is the seed-mean live c_dec,
      ``[K]``, with per-seed estimates and their spread.

    Examples:
      At k = 2 latent 2 is dead and nearly repeats latent 0; plain c_dec counts it:

      >>> near_dup = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.1, 0.0]])
      >>> mixed = np.eye(3) + 0.3 * np.eye(3, k=1)
      >>> w_dec = np.stack([mixed, near_dup, mixed])[None]  # [S=1, K=3, h=3, d=3]
      >>> live = np.array([[[True] * 3, [True, True, False], [True] * 3]])
      >>> live_c_dec_rule([1, 2, 3], w_dec, live).l0, live_c_dec_rule([1, 2, 3], w_dec).l0
      (2.0, 1.0)
    """
    x = _grid(ks, w_dec)
    return argmin_rule(x, live_c_dec(w_dec, live), rule)
