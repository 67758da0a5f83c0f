"""Named toy models of the paper (paper-facts: §3.1, §3.2, A.4.1)."""

from __future__ import annotations

from collections.abc import Callable

from .config import CorrelationSpec, ToyConfig
from .firing import FiringSpec, MagnitudeSpec
from .generator import ToyModel, build_toy
from .hierarchy import HierarchySpec


def paper_main(dim: int = 100, features: str = "orthogonal") -> ToyConfig:
    """Main toy model (§3.2): 50 orthogonal features in R^100, linear firing ramp
    ``p_i = 0.345 (49 − i)/50 + 0.05`` (true L0 Σp = 10.9525, "11"), the paper's random
    correlation with seed 42, magnitudes ReLU(1 + 0.15 ε).

    Examples:
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

    Examples:
      >>> cfg = paper_superposition()
      >>> cfg.n_features, cfg.dim, cfg.features
      (50, 40, 'near_orthogonal')
    """
    return paper_main(dim=40, features="near_orthogonal")


def paper_small(corr: float = 0.4) -> ToyConfig:
    """Small toy model (§3.1): 5 orthogonal features in R^20, p = 0.4 each (true L0 2),
    feature 0 correlated with features 1–4 at ``corr``.

    Examples:
      >>> cfg = paper_small(-0.4)
      >>> cfg.true_l0, cfg.correlation.pairs
      (2.0, ((0, 1, -0.4), (0, 2, -0.4), (0, 3, -0.4), (0, 4, -0.4)))
    """
    return ToyConfig(
        n_features=5, dim=20, probs=(0.4,) * 5,
        correlation=CorrelationSpec(kind="pairs", pairs=tuple((0, j, corr) for j in range(1, 5))),
    )


def synthsaebench_16k(max_active: int | None = 128) -> ToyConfig:
    """A SynthSAEBench-16k-sized toy, following SAELens's published configuration
    (``docs/synth_sae_bench.md``; ``create_synth_bench_16k_model.py``) as closely as our
    schema allows: 16,384 features in d = 768; Zipf firing (exponent 0.5, p_max 0.4,
    p_min 5e-4); a hierarchy of 128 roots, branching 4, depth 3, every sibling set
    mutually exclusive, probabilities compensated, children scaled by their parent;
    low-rank correlation (rank 25, scale 0.1); mean magnitudes linear 5.0 → 4.0,
    standard deviations folded-normal(0.5, 0.5); a bias of norm 0.5; seed 42.

    Where we differ (and why): every random draw is ours (JAX keys from seed 42 and
    offsets, not torch's generator), so the arrays are not SAELens's; the feature
    directions are random unit vectors *without* SAELens's 100 Adam steps of
    orthogonalisation at lr 3e-4 (at 16,384 × 768 the full Gram matrix is 1 GiB and the
    100 steps cost minutes here; they move pairwise cosines, about ±0.036 for random
    directions in d = 768, only slightly); and the hierarchy gates a child on its
    parent's firing event rather than its value (:mod:`toysae.hierarchy`).  Inputs are
    built on the sparse path with at most ``max_active`` active features each.

    Examples:
      >>> cfg = synthsaebench_16k()
      >>> cfg.n_features, cfg.dim, cfg.correlation.rank, cfg.hierarchy.n_used()
      (16384, 768, 25, 10880)
    """
    return ToyConfig(
        n_features=16_384, dim=768,
        firing=FiringSpec(kind="zipf", exponent=0.5, p_max=0.4, p_min=5e-4),
        hierarchy=HierarchySpec(roots=128, branching=4, depth=3, exclusive=1.0, seed=45,
                                compensate=True, scale_children=True),
        correlation=CorrelationSpec(kind="low_rank", rank=25, scale=0.1, seed=46),
        magnitude=MagnitudeSpec.parse({
            "mean": {"kind": "linear", "start": 5.0, "end": 4.0},
            "std": {"kind": "folded_normal", "mean": 0.5, "std": 0.5, "seed": 43}}),
        features="random", feature_seed=42, bias_norm=0.5, max_active=max_active,
    )


def hierarchy_small() -> ToyConfig:
    """A small hierarchy for teaching and the absorption claim: 16 orthogonal features
    in R^32; roots 0–3 (p = 0.25 each) with three mutually exclusive children each
    (features 4–15, base p = 0.06, compensated so each fires 6.1% of inputs);
    magnitudes ReLU(1 + 0.15 ε); independent firing, so the true L0 is exact.

    Examples:
      >>> cfg = hierarchy_small()
      >>> cfg.n_features, round(cfg.true_l0, 4)
      (16, 1.7319)
    """
    return ToyConfig(
        n_features=16, dim=32, probs=(0.25,) * 4 + (0.06,) * 12,
        hierarchy=HierarchySpec(roots=4, branching=3, depth=1, exclusive=1.0),
    )


PRESETS: dict[str, Callable[[], ToyConfig]] = {
    "paper-main": paper_main,
    "paper-small-pos": lambda: paper_small(0.4),
    "paper-small-neg": lambda: paper_small(-0.4),
    "paper-superposition": paper_superposition,
    "hierarchy-small": hierarchy_small,
    "synthsaebench-16k": synthsaebench_16k,
}


def get(name: str) -> ToyConfig:
    """The :class:`ToyConfig` of a named preset.

    Raises:
      ValueError: for an unknown name, listing the accepted ones.

    Examples:
      >>> sorted(PRESETS)  # doctest: +NORMALIZE_WHITESPACE
      ['hierarchy-small', 'paper-main', 'paper-small-neg', 'paper-small-pos',
       'paper-superposition', 'synthsaebench-16k']
      >>> get("paper-small-pos").n_features
      5
    """
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is unknown; expected one of {sorted(PRESETS)}")
    return PRESETS[name]()


def build(name: str) -> ToyModel:
    """The built :class:`ToyModel` of a named preset.

    Examples:
      >>> build("paper-small-pos").features.shape  # [g, d]
      (5, 20)
    """
    return build_toy(get(name))
