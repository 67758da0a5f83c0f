"""A seeded family of random toy models nobody tuned for (issue: does L0 selection
generalise beyond the paper's one toy model?).

Each member is a :class:`~toysae.config.ToyConfig` drawn from ``(family seed, index)``
alone, so member ``i`` is the same whatever else is drawn::

  g          uniform integer in ``g_range`` (default 20..200)
  d          g · 2^u, u ~ U(log2 of ``d_ratio``) (default g/2 .. 2g, so some superposed:
             orthogonal features when g <= d, near-orthogonal (target cos 0) otherwise)
  true L0    log-uniform in ``l0_range`` (default 2..40), capped at ``max_mean_p · g``
  firing     ``"linear"`` (the paper's ramp shape, p_max / p_min ratio ~ U(ratio_range))
             or ``"zipf"`` (p_i ∝ i^-α, α ~ U(alpha_range)); scaled so that Σ p_i equals
             the drawn true L0 exactly, no p_i above ``p_cap``
  correlation none with probability ``p_uncorrelated``, else the paper's recipe (§3.2)
             with strengths scaled by s ~ U(0.1, 1): |C_ij| in (0.3 s, 0.9 s)
  magnitude  mu = 1, sigma ~ U(sigma_range) (default 0..0.3: a firing feature then has a
             non-positive magnitude with probability below 0.05%, so Σ p_i stays the L0)

Examples:
  >>> spec = FamilySpec(seed=0)
  >>> toy = draw_toy(spec, 3)
  >>> toy == draw_toy(spec, 3), round(toy.true_l0, 6) == round(describe(spec, 3)["true_l0"], 6)
  (True, True)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import jax
import numpy as np

from .config import CorrelationSpec, ToyConfig
from .validation import check_float, check_int

SHAPES = ("linear", "zipf")


@dataclass(frozen=True)
class FamilySpec:
    """Parameters of the random toy-model family (module docstring).

    Attributes:
      seed: family seed; member ``i`` uses ``fold_in(key(seed), i)``.
      g_range: inclusive range of the number of features (>= 2).
      d_ratio: range of d / g (> 0).
      l0_range: range of the true L0 (> 0), drawn log-uniformly.
      max_mean_p: the true L0 is capped at ``max_mean_p · g``, in (0, 1).
      p_cap: largest firing probability, in (0, 1].
      ratio_range: range of p_max / p_min of the linear shape (>= 1).
      alpha_range: range of the Zipf exponent (>= 0).
      p_zipf: probability of the Zipf shape, in [0, 1].
      p_uncorrelated: probability of no correlation at all, in [0, 1].
      sigma_range: range of the magnitude std (>= 0).
    """

    seed: int = 0
    g_range: tuple[int, int] = (20, 200)
    d_ratio: tuple[float, float] = (0.5, 2.0)
    l0_range: tuple[float, float] = (2.0, 40.0)
    max_mean_p: float = 0.4
    p_cap: float = 0.95
    ratio_range: tuple[float, float] = (1.0, 8.0)
    alpha_range: tuple[float, float] = (0.3, 1.2)
    p_zipf: float = 0.5
    p_uncorrelated: float = 0.25
    sigma_range: tuple[float, float] = (0.0, 0.3)

    def __post_init__(self):
        check_int("seed", self.seed)
        _range("g_range", self.g_range, lo=2, integer=True)
        _range("d_ratio", self.d_ratio, lo=0.0, lo_open=True)
        _range("l0_range", self.l0_range, lo=0.0, lo_open=True)
        check_float("max_mean_p", self.max_mean_p, 0.0, 1.0, lo_open=True, hi_open=True)
        check_float("p_cap", self.p_cap, 0.0, 1.0, lo_open=True)
        _range("ratio_range", self.ratio_range, lo=1.0)
        _range("alpha_range", self.alpha_range, lo=0.0)
        check_float("p_zipf", self.p_zipf, 0.0, 1.0)
        check_float("p_uncorrelated", self.p_uncorrelated, 0.0, 1.0)
        _range("sigma_range", self.sigma_range, lo=0.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _range(name, pair, lo, lo_open=False, integer=False):
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"{name}={pair!r} is not a (low, high) pair")
    check = check_int if integer else check_float
    a = check(f"{name}[0]", pair[0], lo=lo) if integer else check(
        f"{name}[0]", pair[0], lo=lo, lo_open=lo_open)
    b = check(f"{name}[1]", pair[1], lo=a) if integer else check(f"{name}[1]", pair[1], lo=a)
    return a, b


def scale_to_sum(weights: np.ndarray, total: float, cap: float) -> np.ndarray:
    """Scales positive ``weights`` so they sum to ``total`` with none above ``cap``
    (water-filling: capped entries stay at ``cap``, the rest share the remainder).

    Examples:
      >>> scale_to_sum(np.array([4.0, 1.0, 1.0]), 1.5, 0.9).round(6).tolist()
      [0.9, 0.3, 0.3]
    """
    w = np.asarray(weights, np.float64)
    if total > cap * w.size:
        raise ValueError(f"total={total} exceeds cap·n={cap * w.size}")
    capped = np.zeros(w.size, bool)
    for _ in range(w.size + 1):
        free = total - cap * capped.sum()
        p = np.where(capped, cap, w * free / w[~capped].sum())
        over = (p > cap) & ~capped
        if not over.any():
            return p
        capped |= over
    return p


def describe(spec: FamilySpec, index: int) -> dict:
    """The drawn parameters of member ``index`` (what :func:`draw_toy` builds from)."""
    check_int("index", index, lo=0)
    u = np.asarray(jax.random.uniform(jax.random.fold_in(jax.random.key(spec.seed), index),
                                      (10,)), np.float64)
    g = spec.g_range[0] + min(int(u[0] * (spec.g_range[1] - spec.g_range[0] + 1)),
                              spec.g_range[1] - spec.g_range[0])
    lr0, lr1 = (math.log2(r) for r in spec.d_ratio)
    d = max(1, round(g * 2 ** (lr0 + (lr1 - lr0) * u[1])))
    lo, hi = spec.l0_range
    hi = min(hi, spec.max_mean_p * g)
    lo = min(lo, hi)
    true_l0 = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u[2])
    shape = "zipf" if u[3] < spec.p_zipf else "linear"
    rank = np.arange(1, g + 1, dtype=np.float64)
    if shape == "zipf":
        param = spec.alpha_range[0] + (spec.alpha_range[1] - spec.alpha_range[0]) * u[4]
        weights = rank ** -param
    else:
        param = spec.ratio_range[0] + (spec.ratio_range[1] - spec.ratio_range[0]) * u[4]
        weights = 1.0 + (param - 1.0) * (g - rank) / max(g - 1, 1)
    probs = scale_to_sum(weights, true_l0, spec.p_cap)
    corr_scale = 0.0 if u[5] < spec.p_uncorrelated else 0.1 + 0.9 * u[6]
    sigma = spec.sigma_range[0] + (spec.sigma_range[1] - spec.sigma_range[0]) * u[7]
    return {"index": index, "g": g, "d": d, "true_l0": float(probs.sum()), "shape": shape,
            "shape_param": float(param), "corr_scale": float(corr_scale),
            "sigma": float(sigma), "corr_seed": int(u[8] * 2**31),
            "feature_seed": int(u[9] * 2**31), "probs": probs.tolist()}


def draw_toy(spec: FamilySpec, index: int) -> ToyConfig:
    """Member ``index`` of the family as a :class:`~toysae.config.ToyConfig`."""
    p = describe(spec, index)
    s = p["corr_scale"]
    corr = CorrelationSpec() if s == 0.0 else CorrelationSpec(
        kind="paper", seed=p["corr_seed"], strength=(0.3 * s, 0.9 * s))
    return ToyConfig(
        n_features=p["g"], dim=p["d"], probs=tuple(p["probs"]), correlation=corr,
        features="orthogonal" if p["g"] <= p["d"] else "near_orthogonal", target_cos=0.0,
        feature_seed=p["feature_seed"], mu=1.0, sigma=p["sigma"])


def draw_family(spec: FamilySpec, n: int) -> list[ToyConfig]:
    """Members ``0 .. n-1``."""
    check_int("n", n, lo=1)
    return [draw_toy(spec, i) for i in range(n)]
