"""experiments/l0_generalisation.py without training: hit rates, failure diagnoses, the
resume check and the argument checks of the work split."""

import json
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

import l0_generalisation as study  # noqa: E402


def _row(estimates: dict, ks=(1.0, 2.0, 4.0, 8.0), dead=(0.0, 0.0, 0.0, 0.0), width=20):
    return {"width": width, "ks": list(ks), "dead_latents": list(dead), "trainings": 8,
            "wall_s": 1.0, "estimates": estimates}


def _est(l0, true, curve=(3.0, 2.0, 1.0, 2.0)):
    err = l0 - true
    return {"l0": l0, "error": err, "within_1": abs(err) <= 1,
            "within_10pct": abs(err) <= 0.1 * true, "curve": list(curve)}


def test_hit_rates_count_each_width_and_rule():
    """Two members at width g: one hit and one miss give a rate of 1/2 and the mean of
    the signed errors; within 10% is stricter than ±1 at a true L0 of 4."""
    models = [{"widths": {"g": _row({"argmin_c_dec": _est(4.0, 4.0)})}},
              {"widths": {"g": _row({"argmin_c_dec": _est(7.0, 4.0)}),
                          "2g": _row({"argmin_c_dec": _est(4.5, 4.0)})}}]
    rates = study.hit_rates(models)
    assert rates["g"]["argmin_c_dec"] == {"n": 2, "within_1": 0.5, "within_10pct": 0.5,
                                          "mean_signed_error": 1.5}
    assert rates["2g"]["argmin_c_dec"]["within_1"] == 1.0
    assert rates["2g"]["argmin_c_dec"]["within_10pct"] == 0.0
    assert rates["g/2"] == {}


def test_failure_reasons_name_superposition_dead_latents_edges_and_flat_curves():
    model = {"index": 3, "g": 30, "d": 20, "true_l0": 2.1}
    row = _row({"argmin_c_dec": _est(8.0, 2.1, curve=(1.0, 1.01, 1.02, 0.99))},
               dead=(0.0, 4.0, 0.0, 0.0))
    reason = study.failure_reason(model, row, "argmin_c_dec")
    assert "superposition (g=30 > d=20)" in reason
    assert "dead latents near the true L0 (4 of 20 at k=2)" in reason
    assert "edge of the searched range (k=8)" in reason
    assert "flat curve" in reason
    clean = _row({"argmin_c_dec": _est(4.0, 3.2)})
    assert study.failure_reason({**model, "d": 40, "true_l0": 3.2}, clean, "argmin_c_dec") == (
        "no simple cause found")
    [failure] = study.failures_of([{**model, "widths": {"g": row}}])
    assert (failure["index"], failure["width"], failure["estimate"]) == (3, "g", 8.0)


def test_failure_reasons_describe_the_bottom_of_the_curve():
    """A minimum spread over many k is named a flat bottom with its k range; a curve well
    above its minimum at the k nearest the true L0 is named with how far above; a sharp
    minimum at the true L0's neighbour is neither."""
    model = {"index": 0, "g": 10, "d": 20, "true_l0": 2.2}
    ks = (1.0, 2.0, 4.0, 8.0, 16.0)
    flat = _row({"argmin_c_dec": _est(16.0, 2.2, curve=(3.0, 2.0, 1.02, 1.01, 1.0))}, ks=ks,
                dead=(0.0,) * 5)
    reason = study.failure_reason(model, flat, "argmin_c_dec")
    assert "flat bottom (within 5% of the minimum for k = 4..16)" in reason
    assert "at k=2, the searched k nearest the true L0, the curve is 100% above" in reason
    sharp = _row({"argmin_c_dec": _est(4.0, 2.2, curve=(3.0, 1.04, 1.0, 2.0, 3.0))}, ks=ks,
                 dead=(0.0,) * 5)
    assert study.failure_reason(model, sharp, "argmin_c_dec") == "no simple cause found"


def test_failure_reason_names_a_curve_below_the_true_features_c_dec():
    """In superposition a wrong SAE can have more orthogonal decoder rows than the true
    features: when the c_dec curve's minimum is below the true features' c_dec, the
    diagnosis says so (for c_dec rules only)."""
    model = {"index": 1, "g": 30, "d": 10, "true_l0": 2.0, "c_dec_true": 0.2}
    row = _row({"argmin_c_dec": _est(8.0, 2.0, curve=(0.3, 0.25, 0.2, 0.15)),
                "argmin_s3_dec": _est(8.0, 2.0, curve=(0.3, 0.25, 0.2, 0.15))})
    assert ("trained SAEs reach a lower c_dec (0.1500) than the true features have "
            "(0.2000)") in study.failure_reason(model, row, "argmin_c_dec")
    assert "true features" not in study.failure_reason(model, row, "argmin_s3_dec")
    assert "true features" not in study.failure_reason({**model, "c_dec_true": 0.1}, row,
                                                       "argmin_c_dec")


def test_true_c_dec_is_zero_for_orthogonal_features_and_positive_in_superposition():
    """The member's true-feature c_dec: orthogonal features (d >= g) give 0; a member
    with g > d must overlap, so its c_dec is positive."""
    spec = study.QUICK["spec"]
    for i in range(3):
        m = study.describe(spec, i)
        c = study.true_c_dec(spec, i)
        assert (c > 0.01) if m["g"] > m["d"] else (c < 1e-6), (m["g"], m["d"], c)


def test_resume_only_with_the_same_settings(tmp_path):
    """Finished member-widths are reused only when the settings match exactly."""
    settings = study.settings_of(dict(study.QUICK))
    path = tmp_path / "l0.json"
    assert study.load_previous(path, settings) == (None, {})
    path.write_text(json.dumps({"settings": settings, "main_toy": {"x": 1},
                                "models": [{"index": 2, "widths": {"g": {}}}]}))
    main, done = study.load_previous(path, settings)
    assert main == {"x": 1} and list(done) == [2]
    other = {**settings, "samples": settings["samples"] * 2}
    assert study.load_previous(path, other) == (None, {})


@pytest.mark.parametrize("text", ["", "g,4g", "G"])
def test_bad_widths_are_refused(text, tmp_path, capsys):
    """A bad --widths stops the study with a message naming the option and the choices,
    before any compute."""
    with pytest.raises(SystemExit):
        study.main(["--quick", "--fig-dir", str(tmp_path), "--widths", text])
    assert "--widths" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("text", ["5-2", "0-30", "a-b", "3", "-1-2"])
def test_bad_member_ranges_are_refused(text, tmp_path, capsys):
    """A bad --members range (reversed, past the last of 30 members, not A-B) stops the
    study with a message naming the option, before any compute."""
    with pytest.raises(SystemExit) as err:
        study.main(["--quick", "--n-models", "30", "--fig-dir", str(tmp_path),
                    f"--members={text}"])
    assert "--members" in capsys.readouterr().err + str(err.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("text", ["0", "-3", "x"])
def test_bad_n_models_is_refused(text, tmp_path, capsys):
    with pytest.raises(SystemExit):
        study.main(["--quick", "--fig-dir", str(tmp_path), f"--n-models={text}"])
    assert "--n-models" in capsys.readouterr().err


def test_member_ranges_and_help(capsys):
    """--members parses A-B inclusively; --help lists the study's own options."""
    assert study.parse_range("15-17") == (15, 17)
    assert study.parse_widths("g/2, 2g") == ("g/2", "2g")
    with pytest.raises(SystemExit):
        study.main(["--help"])
    out = capsys.readouterr().out
    assert all(opt in out for opt in ("--widths", "--members", "--n-models", "--quick"))
