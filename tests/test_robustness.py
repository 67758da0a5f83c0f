"""What a user relies on: killing a sweep loses no finished work, and no invalid input
gets past validation (property-based)."""

import json
import math
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toysae import SAEConfig, SweepConfig, ToyConfig, TrainConfig, presets
from toysae.cli import main
from toysae.store import is_complete, run_dir_for, run_stored

KILL_CFG = """
from toysae import SAEConfig, SweepConfig, TrainConfig, presets
CFG = SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
                  train=TrainConfig(samples=256 * 2000, batch_size=256, chunk_steps=20,
                                    n_eval=1024),
                  ks=(1.8, 2.0), seeds=(0,))
"""


def test_sigterm_mid_sweep_keeps_checkpoint_and_rerun_resumes(tmp_path):
    """A sweep killed with SIGTERM mid-way leaves a valid checkpoint and no complete
    (half-written) run; running the same config again resumes from that checkpoint
    rather than from step 0 and finishes with the parameters of an uninterrupted run
    (float tolerance 1e-6: resuming is exact up to reloading float32 arrays)."""
    # The child says "checkpointed" from inside the sweep once a checkpoint exists and
    # then blocks, so the parent kills it mid-sweep on that event, not after a sleep.
    script = KILL_CFG + textwrap.dedent(f"""
        import sys
        from toysae.store import run_stored

        def announce(step, *_):
            if step >= 40:  # the checkpoint of step 20 is on disk by now
                print("checkpointed", flush=True)
                sys.stdin.readline()  # blocks until the parent kills this process

        run_stored(CFG, {str(tmp_path / "killed")!r}, progress=False, checkpoint_seconds=0.0,
                   on_chunk=announce)
    """)
    namespace = {}
    exec(KILL_CFG, namespace)
    cfg = namespace["CFG"]
    ckpt = run_dir_for(cfg, tmp_path / "killed") / "checkpoint.msgpack"
    log = tmp_path / "child.log"
    with open(log, "wb") as err, subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=err, text=True) as proc:
        line = proc.stdout.readline()  # the event: blocks until the child announces
        assert line.strip() == "checkpointed", log.read_text()[-2000:]
        assert ckpt.exists() and proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    run_dir = ckpt.parent
    assert not is_complete(run_dir)
    resumed = []
    res = run_stored(cfg, tmp_path / "killed", progress=False,
                     on_chunk=lambda s, *a: resumed.append(s))
    assert resumed[0] > 20  # resumed from a checkpoint, not from step 0
    ref = run_stored(cfg, tmp_path / "reference", progress=False)
    np.testing.assert_allclose(np.asarray(res.state.params["W_dec"]),
                               np.asarray(ref.state.params["W_dec"]), atol=1e-6)
    assert is_complete(run_dir)


bad_prob = st.one_of(
    st.floats(max_value=0.0, allow_nan=False),
    st.floats(min_value=1.0, exclude_min=True, allow_nan=False),
    st.just(math.nan),
)


@settings(max_examples=60, deadline=None)
@given(good=st.lists(st.floats(min_value=1e-6, max_value=1.0), min_size=1, max_size=6),
       bad=bad_prob, where=st.integers(0, 6))
def test_any_invalid_probability_is_refused(good, bad, where):
    """Any probability outside (0, 1], NaN or ±inf among valid ones raises ValueError
    naming probs[i], never a NaN-producing config."""
    probs = list(good)
    i = where % (len(probs) + 1)
    probs.insert(i, bad)
    with pytest.raises(ValueError, match=rf"probs\[{i}\]"):
        ToyConfig(n_features=len(probs), dim=8, probs=tuple(probs))


@settings(max_examples=60, deadline=None)
@given(k=st.one_of(st.floats(max_value=0.0), st.floats(min_value=5.0, exclude_min=True),
                   st.just(math.nan), st.just(math.inf)))
def test_any_invalid_k_is_refused(k):
    """Any k <= 0, k > width, NaN or inf raises ValueError naming k."""
    with pytest.raises(ValueError, match=r"k\[0\]"):
        SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
                    train=TrainConfig(samples=1024), ks=(k,))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 6), i=st.integers(0, 5), j=st.integers(0, 5),
       delta=st.floats(min_value=0.01, max_value=0.5))
def test_any_asymmetric_correlation_matrix_is_refused(n, i, j, delta):
    """A correlation matrix made asymmetric at one entry is refused by name."""
    i, j = i % n, j % n
    if i == j:
        j = (i + 1) % n
    m = np.eye(n)
    m[i, j] += delta
    with pytest.raises(ValueError, match="correlation.matrix"):
        ToyConfig(n_features=n, dim=8, probs=(0.5,) * n,
                  correlation={"kind": "matrix", "matrix": m.tolist()})


def _valid_k_list(text: str, width: int = 5) -> bool:
    """Whether ``text`` is a comma list of distinct finite k in (0, width] (NumPy side)."""
    try:
        ks = [float(t) for t in text.split(",")]
    except ValueError:
        return False
    return (all(math.isfinite(k) and 0 < k <= width for k in ks) and len(set(ks)) == len(ks))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=12))
def test_cli_k_garbage_never_tracebacks(text, capsys, monkeypatch):
    """Whatever --k string a user types, the CLI either accepts it as valid k values or
    exits with code 2 and a one-line error naming k, never a traceback.  Every other
    argument is valid, so the --k check is the one exercised; a training that starts
    anyway would show as a call to the stubbed run_sweep."""
    from hypothesis import assume

    import toysae.run

    if text.startswith("-"):
        text = " " + text
    assume(not _valid_k_list(text))
    started = []
    monkeypatch.setattr(toysae.run, "run_sweep", lambda *a, **k: started.append(a))
    rc = main(["sweep", "--preset", "paper-small-pos", "--k", text, "--samples", "1024"])
    err = capsys.readouterr().err
    assert rc == 2 and not started
    assert "error:" in err and "Traceback" not in err
    assert re.search(r"--k\b|\bk\[\d+\]|\bks=", err.split("error:", 1)[1]), err


@pytest.mark.parametrize("toy, undefined", [
    (dict(n_features=3, dim=4, probs=(0.5,) * 3, mu=0.0, sigma=0.0), "variance_explained"),
    (dict(n_features=1, dim=2, probs=(0.5,)), "mixing"),
], ids=["all-zero-inputs", "one-feature"])
def test_undefined_metrics_are_null_and_named_never_nan(toy, undefined, tmp_path):
    """Issue 18: a degenerate but valid toy (all inputs zero: variance explained is 0/0;
    one feature: the mixing of the *other* features is 0/0) gets null for the undefined
    metric, named under "undefined", and its stored metrics.json is strict JSON (no NaN
    token: parsing with NaN refused succeeds)."""
    cfg = SweepConfig(toy=ToyConfig(**toy), sae=SAEConfig(width=toy["n_features"]),
                      train=TrainConfig(samples=2048, batch_size=256, n_eval=512), ks=(1.0,))
    res = run_stored(cfg, tmp_path, progress=False)
    rec = res.records[0]
    assert rec[undefined] is None and undefined in rec["undefined"]

    def refuse(token):
        raise AssertionError(f"non-finite {token} in metrics.json")

    text = (run_dir_for(cfg, tmp_path) / "metrics.json").read_text()
    assert json.loads(text, parse_constant=refuse)["runs"][0][undefined] is None


# ---------------------------------------------------------------- fuzzing the toy loader

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
BASE_TOY = {"n_features": 6, "dim": 8, "probs": [0.3] * 6}
TOY_PATHS = (
    [(f,) for f in ("n_features", "dim", "probs", "ramp", "correlation", "features",
                    "directions", "target_cos", "feature_seed", "mu", "sigma", "firing",
                    "magnitude", "hierarchy", "bias_norm", "max_active")]
    + [("correlation", f) for f in ("kind", "matrix", "pairs", "seed", "frac_uncorrelated",
                                    "frac_positive", "strength", "rank", "scale", "factor")]
    + [("firing", f) for f in ("kind", "exponent", "p_max", "p_min", "p", "seed")]
    + [("magnitude", f) for f in ("mean", "std")]
    + [("hierarchy", f) for f in ("roots", "branching", "depth", "exclusive", "seed",
                                  "groups", "compensate", "scale_children")])
NESTED_BASE = {"correlation": {"kind": "low_rank", "rank": 2, "scale": 0.1},
               "firing": {"kind": "zipf", "exponent": 1.0, "p_max": 0.4},
               "magnitude": {"mean": 1.0, "std": 0.1},
               "hierarchy": {"roots": 2, "branching": 2, "depth": 1}}


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(TOY_PATHS), value=JSON_VALUES)
def test_any_json_value_in_any_toy_field_is_a_config_or_a_named_refusal(path, value):
    """Issue 18: 300 derandomised examples, each a valid toy with one field (nested fields
    included, under a valid parent object) replaced by an arbitrary JSON value (null,
    booleans, integers up to 2^70, floats with NaN and ±inf, strings, and lists and
    objects of these, nested).  ToyConfig.from_dict either returns a config or raises
    ValueError naming the field's top-level name; never another exception."""
    data = json.loads(json.dumps(BASE_TOY))
    if len(path) == 2:
        data[path[0]] = json.loads(json.dumps(NESTED_BASE[path[0]]))
        if path[0] == "firing":
            data.pop("probs")
        data[path[0]][path[1]] = value
    else:
        if path[0] == "firing":
            data.pop("probs")
        data[path[0]] = value
    try:
        ToyConfig.from_dict(data)
    except ValueError as err:
        text = str(err)
        assert path[0] in text or (path[0] in ("probs", "ramp", "firing")
                                   and "exactly one of" in text), text


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(TOY_PATHS), value=JSON_VALUES)
def test_any_toy_json_file_gives_the_cli_a_run_or_exit_code_2(path, value, tmp_path,
                                                              capsys, monkeypatch):
    """Issue 18: the same mutated toys (60 derandomised examples) written to a file and
    passed as ``toysae sweep --toy FILE``: the CLI exits 0 (training stubbed out) or 2
    with a one-line error, never a traceback."""
    import types

    import toysae.run

    data = json.loads(json.dumps(BASE_TOY))
    if path[0] == "firing":
        data.pop("probs")
    if len(path) == 2:
        data[path[0]] = json.loads(json.dumps(NESTED_BASE[path[0]]))
        data[path[0]][path[1]] = value
    else:
        data[path[0]] = value
    toy_file = tmp_path / "toy.json"
    toy_file.write_text(json.dumps(data))
    monkeypatch.setattr(toysae.run, "run_sweep",
                        lambda *a, **k: types.SimpleNamespace(records=[], run_dir=None))
    rc = main(["sweep", "--toy", str(toy_file), "--k", "1", "--samples", "1024",
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc in (0, 2) and "Traceback" not in err, err
    assert rc == 0 or "error:" in err


@pytest.mark.parametrize("flag, make, needle", [
    ("--json", lambda p: p.mkdir(), "is a folder"),
    ("--json", lambda p: None, "does not exist"),
    ("--out", lambda p: p.write_text("x"), "is a file"),
], ids=["json-is-folder", "json-folder-missing", "out-is-file"])
def test_unwritable_outputs_are_refused_before_compute(flag, make, needle, tmp_path, capsys,
                                                       monkeypatch):
    """Issue 18: a --json path that is a folder or lies in a missing folder, and an --out
    that is a file, are refused with exit code 2 before training starts (run_sweep is
    stubbed and must not be called)."""
    import toysae.run

    target = tmp_path / "target"
    make(target)
    path = target / "out.json" if needle == "does not exist" else target
    started = []
    monkeypatch.setattr(toysae.run, "run_sweep", lambda *a, **k: started.append(a))
    rc = main(["sweep", "--preset", "paper-small-pos", "--k", "1", "--samples", "1024",
               flag, str(path)])
    err = capsys.readouterr().err
    assert rc == 2 and not started and needle in err and flag in err, err


def test_a_sweep_larger_than_the_machine_is_refused_within_a_second(capsys, monkeypatch):
    """Issue 18: dim = 10^9 (features alone 37 GiB at g = 10) and a 10^9-input
    evaluation set are refused before anything is built, in under a second, naming the
    estimate; the CLI says how to go ahead anyway (exit code 2)."""
    import time

    import toysae.run

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="GiB"):
        ToyConfig(n_features=10, dim=10**9, probs=(0.5,) * 10)
    started = []
    monkeypatch.setattr(toysae.run, "run_sweep", lambda *a, **k: started.append(a))
    rc = main(["sweep", "--preset", "paper-main", "--k", "1", "--samples", "1024",
               "--n-eval", str(10**9)])
    err = capsys.readouterr().err
    assert time.perf_counter() - t0 < 1.0
    assert rc == 2 and not started and "GiB" in err and "--ignore-memory-estimate" in err
