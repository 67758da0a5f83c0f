"""Tests of config validation and serialisation (toysae.config, toysae.validation).

Every invalid input must raise ValueError *before* any compute, with a message naming
the offending argument (checked with ``pytest.raises(..., match=<name>)``).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from toysae import presets
from toysae.config import CorrelationSpec, SAEConfig, SweepConfig, ToyConfig, TrainConfig


def _toy(**kw) -> ToyConfig:
    base = dict(n_features=3, dim=4, probs=(0.5, 0.5, 0.5))
    base.update(kw)
    return ToyConfig(**base)


def _matrix_spec(m) -> CorrelationSpec:
    return CorrelationSpec(kind="matrix", matrix=m)


def _sweep(**kw) -> SweepConfig:
    base = dict(toy=_toy(), sae=SAEConfig(width=3), train=TrainConfig(samples=2048), ks=(1.0,))
    base.update(kw)
    return SweepConfig(**base)


def test_valid_configs_build():
    """Claim: the presets and a small hand-written config pass validation (control for the
    rejection tests below)."""
    for name in presets.PRESETS:
        presets.get(name)
    _toy()
    _sweep(ks=(1.8, 3), seeds=(0, 1))
    _toy(correlation=_matrix_spec([[1, 0.2, 0], [0.2, 1, 0], [0, 0, 1]]))


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.1, math.nan, math.inf, -math.inf])
def test_probs_outside_unit_interval(bad):
    """Claim: each probability must lie in (0, 1]; 0, 1.5, -0.1, nan and ±inf are refused
    with a message naming probs[i]."""
    with pytest.raises(ValueError, match=re.escape("probs[1]")):
        _toy(probs=(0.5, bad, 0.5))


def test_probs_boundary_one_allowed_and_wrong_length():
    """Claims: p = 1 is accepted (always fires); a probs list whose length differs from
    n_features is refused naming probs."""
    _toy(probs=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="probs"):
        _toy(probs=(0.5, 0.5))
    with pytest.raises(ValueError, match="probs"):
        _toy(probs=(0.5,) * 4)


def test_probs_and_ramp_exclusive():
    """Claim: exactly one of probs and ramp must be given; a ramp giving p <= 0 is refused
    naming the ramp."""
    with pytest.raises(ValueError, match="probs"):
        ToyConfig(n_features=3, dim=4)
    with pytest.raises(ValueError, match="ramp"):
        ToyConfig(n_features=3, dim=4, probs=(0.5,) * 3, ramp=(0.1, 0.1))
    with pytest.raises(ValueError, match="ramp"):
        ToyConfig(n_features=3, dim=4, ramp=(0.5, -0.4))


@pytest.mark.parametrize(
    ("matrix", "what"),
    [
        ([[1, 0.2, 0], [0.3, 1, 0], [0, 0, 1]], "not symmetric"),
        ([[1, 0.2, 0], [0.2, 0.9, 0], [0, 0, 1]], "unit diagonal"),
        ([[1, 1.5, 0], [1.5, 1, 0], [0, 0, 1]], "out of range"),
        ([[1, -1.2, 0], [-1.2, 1, 0], [0, 0, 1]], "out of range"),
        ([[1, 0], [0, 1]], "shape"),
        ([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], "shape"),
        ([[1, math.nan, 0], [math.nan, 1, 0], [0, 0, 1]], "non-finite"),
    ],
)
def test_correlation_matrix_invalid(matrix, what):
    """Claim: an explicit correlation matrix must be [g, g], finite, symmetric, unit
    diagonal with entries in [-1, 1]; otherwise ValueError naming correlation.matrix and
    saying what is wrong."""
    with pytest.raises(ValueError, match=re.escape("correlation.matrix")) as info:
        _toy(correlation=_matrix_spec(matrix))
    assert what in str(info.value)


def test_correlation_kind_needs_its_data():
    """Claim: kind='matrix' without a matrix, kind='pairs' without pairs and an unknown
    kind are refused naming the field."""
    with pytest.raises(ValueError, match=re.escape("correlation.matrix")):
        CorrelationSpec(kind="matrix")
    with pytest.raises(ValueError, match=re.escape("correlation.pairs")):
        CorrelationSpec(kind="pairs")
    with pytest.raises(ValueError, match=re.escape("correlation.kind")):
        CorrelationSpec(kind="wishart")


@pytest.mark.parametrize(
    ("pairs", "name"),
    [
        ([(0, 3, 0.4)], "correlation.pairs[0][1]"),
        ([(0, 1, 0.4), (-1, 2, 0.4)], "correlation.pairs[1][0]"),
        ([(1, 1, 0.4)], "correlation.pairs[0]"),
        ([(0, 1, 1.5)], "correlation.pairs[0][2]"),
        ([(0, 1)], "correlation.pairs[0]"),
    ],
)
def test_pairs_invalid(pairs, name):
    """Claim: each pair (i, j, c) needs 0 <= i, j < g, i != j and c in [-1, 1]; errors name
    the offending pair entry."""
    with pytest.raises(ValueError, match=re.escape(name)):
        _toy(correlation=CorrelationSpec(kind="pairs", pairs=pairs))


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        (dict(n_features=0, probs=()), "n_features"),
        (dict(n_features=-2, probs=()), "n_features"),
        (dict(dim=0), "dim"),
        (dict(n_features=2.5), "n_features"),
        (dict(dim=2), "n_features"),  # orthogonal with g = 3 > d = 2
        (dict(features="spiral"), "features"),
        (dict(sigma=-0.1), "sigma"),
        (dict(mu=math.nan), "mu"),
        (dict(target_cos=1.5, features="near_orthogonal"), "target_cos"),
    ],
)
def test_toy_invalid_sizes_and_fields(kw, name):
    """Claim: n_features and dim must be integers >= 1, orthogonal features need g <= d
    (message names n_features and dim), and other fields are range-checked by name."""
    with pytest.raises(ValueError, match=name) as info:
        _toy(**kw)
    if kw.get("dim") == 2:
        assert "dim" in str(info.value) and "orthogonal" in str(info.value)


def test_near_orthogonal_allows_g_above_d():
    """Claim: near-orthogonal features accept g > d (superposition)."""
    _toy(dim=2, features="near_orthogonal")


@pytest.mark.parametrize("width", [0, -1, 2.0])
def test_sae_width(width):
    """Claim: SAEConfig.width must be an integer >= 1; errors name width."""
    with pytest.raises(ValueError, match="width"):
        SAEConfig(width=width)


@pytest.mark.parametrize(("kw", "name"), [
    (dict(ks=(0.0,)), re.escape("k[0]")),
    (dict(ks=(2.0, -1.0)), re.escape("k[1]")),
    (dict(ks=(3.5,)), re.escape("k[0]")),  # width is 3
    (dict(ks=(math.nan,)), re.escape("k[0]")),
    (dict(ks=()), "ks"),
    (dict(seeds=(0, 1, 0)), "seeds"),
    (dict(seeds=()), "seeds"),
    (dict(seeds=(0.5,)), re.escape("seeds[0]")),
    (dict(k_start=(1.0, 2.0)), "k_start"),  # length differs from ks
    (dict(sae=SAEConfig(width=4, init="ground_truth")), "width"),
])
def test_sweep_invalid(kw, name):
    """Claim: each k must lie in (0, width]; ks non-empty; seeds non-empty, integer and
    distinct; k_start as long as ks; ground-truth init needs width == n_features.  Errors
    name the argument."""
    with pytest.raises(ValueError, match=name):
        _sweep(**kw)


def test_sweep_k_equal_width_allowed():
    """Claim: k = width (every latent active) is the inclusive upper bound."""
    _sweep(ks=(3.0,))


@pytest.mark.parametrize(("kw", "name"), [
    (dict(lr=0.0), "lr"),
    (dict(lr=-1e-3), "lr"),
    (dict(samples=100, batch_size=1024), "samples"),
    (dict(batch_size=0), "batch_size"),
    (dict(beta1=1.0), "beta1"),
    (dict(beta2=-0.1), "beta2"),
    (dict(schedule_start=10, schedule_end=5), "schedule_end"),
])
def test_train_invalid(kw, name):
    """Claim: lr > 0, samples >= batch_size >= 1, betas in [0, 1), schedule_end >=
    schedule_start; errors name the argument."""
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kw)


def test_from_dict_unknown_fields_named():
    """Claim: ToyConfig.from_dict refuses unknown fields, naming them (top level and in
    the correlation object)."""
    data = presets.get("paper-small-pos").to_dict()
    data["n_featurez"] = 5
    with pytest.raises(ValueError, match="n_featurez"):
        ToyConfig.from_dict(data)
    data = presets.get("paper-small-pos").to_dict()
    data["correlation"]["sede"] = 1
    with pytest.raises(ValueError, match="sede"):
        ToyConfig.from_dict(data)
    with pytest.raises(ValueError, match="object"):
        ToyConfig.from_dict([1, 2])


@pytest.mark.parametrize("field", ["sae", "train"])
def test_sweep_from_dict_refuses_a_non_object_sae_or_train(field):
    """A sweep JSON whose sae or train is not an object is refused with a ValueError
    naming the field (it was a TypeError from deep inside)."""
    cfg = SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5), ks=(2.0,))
    data = cfg.to_dict()
    data[field] = 5
    with pytest.raises(ValueError, match=f"'{field}' must be an object"):
        SweepConfig.from_dict(data)


@pytest.mark.parametrize("preset", ["paper-main", "paper-small-neg", "paper-superposition"])
def test_sweep_round_trip_and_digest(preset):
    """Claims: SweepConfig.from_dict(to_dict()) reproduces the config, also through a JSON
    text round trip (tuples become lists); the digest is a stable 16-hex-digit function of
    the content: equal for equal configs, different when any field changes.  Exact."""
    toy = presets.get(preset)
    cfg = SweepConfig(
        toy=toy, sae=SAEConfig(width=50 if toy.n_features == 50 else 5),
        train=TrainConfig(samples=4096, batch_size=1024), ks=(1.8, 2.0, 5.0), seeds=(0, 3),
        k_start=(4.0, 4.0, 4.0),
    )
    back = SweepConfig.from_dict(cfg.to_dict())
    assert back == cfg
    via_json = SweepConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert via_json == cfg
    assert via_json.digest() == back.digest() == cfg.digest()
    assert re.fullmatch("[0-9a-f]{16}", cfg.digest())
    other = SweepConfig.from_dict({**cfg.to_dict(), "seeds": [0, 4]})
    assert other.digest() != cfg.digest()
    other = SweepConfig.from_dict({**cfg.to_dict(), "train": {**cfg.to_dict()["train"],
                                                              "lr": 1e-3}})
    assert other.digest() != cfg.digest()


def test_digest_is_stable_across_processes():
    """Claim: the digest is content-based (sha256 of sorted-key JSON), not Python's salted
    hash: it equals a value recomputed from the JSON text."""
    import hashlib

    cfg = _sweep()
    text = json.dumps(cfg.to_dict(), sort_keys=True)
    assert cfg.digest() == hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("strength", [(0.3,), (0.1, 0.2, 0.3), (0.9, 0.3), (0.3, 1.2)])
def test_correlation_strength_invalid(strength):
    """Claim: correlation.strength must be a [lo, hi] pair in [0, 1] with lo <= hi; a wrong
    length is refused naming correlation.strength (not a bare unpacking error)."""
    with pytest.raises(ValueError, match=re.escape("correlation.strength")):
        CorrelationSpec(kind="paper", strength=strength)


def test_sweep_from_dict_unknown_and_missing_fields_named():
    """Claim: SweepConfig.from_dict refuses unknown fields at the top level and in the
    sae / train / correlation objects, and missing required ones, with a ValueError naming
    the field (an unknown top-level field is not silently dropped)."""
    good = _sweep().to_dict()
    for where, key in [(None, "extra"), ("sae", "wdth"), ("train", "lrate")]:
        data = json.loads(json.dumps(good))
        (data if where is None else data[where])[key] = 1
        with pytest.raises(ValueError, match=key):
            SweepConfig.from_dict(data)
    data = json.loads(json.dumps(good))
    del data["seeds"]
    with pytest.raises(ValueError, match="seeds"):
        SweepConfig.from_dict(data)
    with pytest.raises(ValueError, match="foo"):
        _toy(correlation=dict(kind="none", foo=1))


def test_repeated_k_values_are_refused():
    """Each model of a sweep is addressed by (seed, k), so repeated k values are refused."""
    import pytest

    from toysae import SAEConfig, SweepConfig, presets

    with pytest.raises(ValueError, match="ks=.*repeats"):
        SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5), ks=(2.0, 2.0))


def test_explicit_directions():
    """features="explicit" takes a [g][d] list of directions: checked for shape, finite
    entries and zero rows; unit rows are used as given, others normalised; the field is
    left out of the JSON form when absent (digests of other configs unchanged)."""
    from toysae import build_toy

    base = dict(n_features=2, dim=3, probs=(0.5, 0.5), features="explicit")
    toy = ToyConfig(**base, directions=[[1.0, 0.0, 0.0], [0.0, 3.0, 4.0]])
    f = np.asarray(build_toy(toy).features)
    np.testing.assert_allclose(f, [[1, 0, 0], [0, 0.6, 0.8]], atol=1e-7)
    assert ToyConfig.from_dict(toy.to_dict()) == toy
    assert "directions" not in ToyConfig(n_features=2, dim=3, probs=(0.5, 0.5)).to_dict()
    for bad, needle in (([[1.0, 0.0, 0.0]], r"shape \(1, 3\)"),
                        ([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], r"directions\[1\] is a zero row"),
                        ([[1.0, 0.0, 0.0], [0.0, float("nan"), 1.0]], "non-finite")):
        with pytest.raises(ValueError, match=needle):
            ToyConfig(**base, directions=bad)
    with pytest.raises(ValueError, match="exactly when features='explicit'"):
        ToyConfig(**base)
    with pytest.raises(ValueError, match="exactly when features='explicit'"):
        ToyConfig(n_features=1, dim=2, probs=(0.5,), directions=[[1.0, 0.0]])
