"""Selection rules on metric-vs-L0 curves (paper §3.4, A.10): the estimate they return.

Every rule takes the sweep grid ``l0s [n]`` (ascending) and per-seed curves
``values [S, n]`` (e.g. c_dec or s_n^dec of each seed at each L0) and returns an
:class:`L0Estimate`: the estimate from the seed-mean curve, its spread (standard
deviation over seeds of the per-seed estimates) and the mean curve it used.
:mod:`toysae.l0` searches k and applies these rules; :mod:`toysae.l0_rules` reads them
off scores of trained weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class L0Estimate:
    """An L0 chosen by one rule.

    Attributes:
      rule: the rule's name.
      l0: the estimate (a value of the grid).
      spread: standard deviation over seeds of the per-seed estimates (0 for one seed).
      per_seed: the per-seed estimates, ``[S]``.
      curve: the seed-mean curve the estimate was read from, ``[n]``.
    """

    rule: str
    l0: float
    spread: float
    per_seed: tuple[float, ...]
    curve: tuple[float, ...]


def _check(l0s, values) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(l0s, dtype=np.float64)
    y = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if x.ndim != 1 or x.size < 3:
        raise ValueError(f"l0s has shape {x.shape}; expected at least 3 grid points")
    if np.any(np.diff(x) <= 0):
        raise ValueError("l0s must be strictly increasing")
    if y.shape[1] != x.size:
        raise ValueError(f"values has shape {y.shape}; expected [seeds, {x.size}]")
    if not np.all(np.isfinite(y)):
        raise ValueError("values has non-finite entries; expected finite metric values")
    return x, y


def _estimate(rule: str, x: np.ndarray, y: np.ndarray, pick) -> L0Estimate:
    mean = y.mean(axis=0)
    per_seed = np.array([x[pick(x, row)] for row in y])
    return L0Estimate(rule, float(x[pick(x, mean)]), float(per_seed.std()),
                      tuple(per_seed.tolist()), tuple(mean.tolist()))


def argmin_rule(l0s, values, rule: str = "argmin") -> L0Estimate:
    """The grid L0 minimising the curve (the paper's rule for toy models, §3.4).

    Examples:
      >>> argmin_rule([1, 2, 3, 4], [[3.0, 1.0, 2.0, 2.5]]).l0
      2.0
    """
    x, y = _check(l0s, values)
    return _estimate(rule, x, y, lambda x, v: int(np.argmin(v)))


def argmax_rule(l0s, values, rule: str = "argmax") -> L0Estimate:
    """The grid L0 maximising the curve: :func:`argmin_rule` for scores that peak at the
    true L0 (e.g. those of :mod:`toysae.l0_rules`).  Ties go to the smallest L0, and
    ``curve`` holds the seed-mean of ``values`` itself, not negated.

    Examples:
      >>> argmax_rule([1, 2, 3, 4], [[0.2, 0.9, 0.5, 0.4]]).l0
      2.0
    """
    x, y = _check(l0s, values)
    return _estimate(rule, x, y, lambda x, v: int(np.argmax(v)))


def elbow_rule(l0s, values, rule: str = "elbow") -> L0Estimate:
    """The elbow of a curve that falls steeply as L0 grows and then flattens (or rises
    slowly): the point of the curve farthest below the chord from its first point to
    its last point, after scaling both axes to [0, 1] (the "Kneedle" construction).

    This reads the L0 "just before c_dec rises steeply as L0 falls" (paper §3.4, for
    curves without a clean minimum).

    Examples:
      >>> elbow_rule([1, 2, 3, 4, 5, 6], [[10.0, 5.0, 1.0, 0.9, 0.8, 0.7]]).l0
      3.0
    """
    x, y = _check(l0s, values)

    def pick(x, v):
        xs = (x - x[0]) / (x[-1] - x[0])
        span = v.max() - v.min()
        vs = (v - v.min()) / span if span > 0 else np.zeros_like(v)
        chord = vs[0] + (vs[-1] - vs[0]) * xs
        return int(np.argmax(chord - vs))

    return _estimate(rule, x, y, pick)
