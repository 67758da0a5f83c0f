"""Named toy models of the paper (paper-facts: §3.1, §3.2, A.4.1)."""

from __future__ import annotations

from collections.abc import Callable

from .config import CorrelationSpec, ToyConfig
from .generator import ToyModel, build_toy


def paper_main(dim: int = 100, features: str = "orthogonal") -> ToyConfig:
    """Main toy model (§3.2): 50 orthogonal features in R^100, linear firing ramp
    ``p_i = 0.345 (49 − i)/50 + 0.05`` (true L0 Σp = 10.9525, "11"), the paper's random
    correlation with seed 42, magnitudes ReLU(1 + 0.15 ε).

    Example:
      >>> cfg = paper_main()
      >>> cfg.n_features, cfg.dim, round(cfg.true_l0, 4), cfg.correlation.kind
      (50, 100, 10.9525, 'paper')
    """
    return ToyConfig(
        n_features=50, dim=dim, ramp=(0.345, 0.05),
        correlation=CorrelationSpec(kind="paper", seed=42), features=features,
    )


def paper_superposition() -> ToyConfig:
    """Superposition variant (A.4.1): the main toy's 50 features in d = 40, near-orthogonal.

    Example:
      >>> cfg = paper_superposition()
      >>> cfg.n_features, cfg.dim, cfg.features
      (50, 40, 'near_orthogonal')
    """
    return paper_main(dim=40, features="near_orthogonal")


def paper_small(corr: float = 0.4) -> ToyConfig:
    """Small toy model (§3.1): 5 orthogonal features in R^20, p = 0.4 each (true L0 2),
    feature 0 correlated with features 1–4 at ``corr``.

    Example:
      >>> cfg = paper_small(-0.4)
      >>> cfg.true_l0, cfg.correlation.pairs
      (2.0, ((0, 1, -0.4), (0, 2, -0.4), (0, 3, -0.4), (0, 4, -0.4)))
    """
    return ToyConfig(
        n_features=5, dim=20, probs=(0.4,) * 5,
        correlation=CorrelationSpec(kind="pairs", pairs=tuple((0, j, corr) for j in range(1, 5))),
    )


PRESETS: dict[str, Callable[[], ToyConfig]] = {
    "paper-main": paper_main,
    "paper-small-pos": lambda: paper_small(0.4),
    "paper-small-neg": lambda: paper_small(-0.4),
    "paper-superposition": paper_superposition,
}


def get(name: str) -> ToyConfig:
    """The :class:`ToyConfig` of a named preset.

    Raises:
      ValueError: for an unknown name, listing the accepted ones.

    Example:
      >>> sorted(PRESETS)
      ['paper-main', 'paper-small-neg', 'paper-small-pos', 'paper-superposition']
      >>> get("paper-small-pos").n_features
      5
    """
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is unknown; expected one of {sorted(PRESETS)}")
    return PRESETS[name]()


def build(name: str) -> ToyModel:
    """The built :class:`ToyModel` of a named preset.

    Example:
      >>> build("paper-small-pos").features.shape  # [g, d]
      (5, 20)
    """
    return build_toy(get(name))
