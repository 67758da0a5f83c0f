"""What a user relies on: killing a sweep loses no finished work, and no invalid input
gets past validation (property-based)."""

import math
import signal
import subprocess
import sys
import textwrap
import time

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
    script = KILL_CFG + textwrap.dedent(f"""
        from toysae.store import run_stored
        run_stored(CFG, {str(tmp_path / "killed")!r}, progress=False, checkpoint_seconds=0.0)
    """)
    namespace = {}
    exec(KILL_CFG, namespace)
    cfg = namespace["CFG"]
    ckpt = run_dir_for(cfg, tmp_path / "killed") / "checkpoint.msgpack"
    log = tmp_path / "child.log"
    with open(log, "wb") as err, subprocess.Popen([sys.executable, "-c", script],
                                                  stderr=err) as proc:
        deadline = time.monotonic() + 300
        while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert ckpt.exists(), log.read_text()[-2000:]
        time.sleep(1.0)
        assert proc.poll() is None, "the sweep finished before it could be killed"
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


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=12))
def test_cli_k_garbage_never_tracebacks(text, capsys):
    """Whatever --k string a user types, the CLI either accepts it as valid k values or
    exits with code 2 and a one-line error (it never starts compute here: --samples is
    invalid too, so a valid --k still stops at validation)."""
    if text.startswith("-"):
        text = " " + text
    rc = main(["sweep", "--preset", "paper-small-pos", "--k", text, "--samples", "1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
