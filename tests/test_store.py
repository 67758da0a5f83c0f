"""Run directories: caching, atomic files, resume after an interruption, corruption."""

import json
import os
import socket

import numpy as np
import pytest

from toysae import SAEConfig, SweepConfig, TrainConfig, presets
from toysae.store import is_complete, load_run, run_dir_for, run_stored


def cfg_small():
    return SweepConfig(
        toy=presets.get("paper-small-neg"), sae=SAEConfig(width=5),
        train=TrainConfig(samples=256 * 60, batch_size=256, chunk_steps=20, n_eval=2048),
        ks=(1.8, 2.0), seeds=(3,),
    )


def interrupt_at_step_40(out) -> None:
    """Trains cfg_small() under ``out`` with a checkpoint after every chunk and stops it
    (KeyboardInterrupt) after step 40, leaving a checkpoint at step 40."""
    def interrupt(step, state, logs):
        if step == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stored(cfg_small(), out, progress=False, on_chunk=interrupt,
                   checkpoint_seconds=0.0)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return out, run_stored(cfg_small(), out, progress=False)


def test_finished_run_is_loaded_not_retrained(finished):
    """Running the same config again loads the stored result (no training call)."""
    out, first = finished
    calls = []
    again = run_stored(cfg_small(), out, progress=False, on_chunk=lambda *a: calls.append(a))
    assert calls == []
    np.testing.assert_array_equal(np.asarray(first.state.params["W_dec"]),
                                  np.asarray(again.state.params["W_dec"]))
    assert again.records == json.loads(json.dumps(first.records))


def test_run_directory_contents(finished):
    """The run directory holds config, state, metrics and a manifest, and no temp files."""
    out, res = finished
    run_dir = run_dir_for(cfg_small(), out)
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["config.json", "manifest.json", "metrics.json", "provenance.json",
                     "state.msgpack", "timing.json"]
    assert is_complete(run_dir)
    timing = json.loads((run_dir / "timing.json").read_text())
    assert timing["step"] == 60 and timing["train_s"] > 0
    assert res.train_s == timing["train_s"] == load_run(run_dir).train_s
    assert len(json.loads((run_dir / "metrics.json").read_text())["runs"]) == 2
    assert load_run(run_dir).config == cfg_small()


def test_interrupted_sweep_resumes_to_the_same_result(tmp_path, finished):
    """A sweep interrupted after its second chunk keeps a checkpoint; rerunning resumes
    from it (no step is trained twice) and ends with the same parameters as an
    uninterrupted run (float tolerance 1e-6)."""
    _, reference = finished
    steps_seen = []

    def interrupt(step, state, logs):
        steps_seen.append(step)
        if step == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stored(cfg_small(), tmp_path, progress=False, on_chunk=interrupt,
                   checkpoint_seconds=0.0)
    run_dir = run_dir_for(cfg_small(), tmp_path)
    assert (run_dir / "checkpoint.msgpack").exists() and not is_complete(run_dir)
    # The training time so far is kept with the checkpoint and carried into the resume.
    timing = json.loads((run_dir / "timing.json").read_text())
    assert timing["step"] == 40 and timing["train_s"] > 0
    # Stand in for a long first session, so that the carry-over is visible however fast
    # this CPU trains the last chunk (train_s is kept to 0.01 s: a 20-step chunk of this
    # small toy can take less than that, and "resumed > before" then ties).
    (run_dir / "timing.json").write_text(json.dumps({"train_s": 1000.0, "step": 40}))
    resumed_steps = []
    res = run_stored(cfg_small(), tmp_path, progress=False,
                     on_chunk=lambda s, *a: resumed_steps.append(s))
    assert resumed_steps == [60]  # only the last chunk was trained again
    assert 1000.0 <= res.train_s < 1000.0 + 600.0  # carried over, plus this session
    # Each session that trained it is recorded with the code that ran.
    assert [s["start_step"] for s in res.provenance["sessions"]] == [0, 40]
    assert load_run(run_dir).provenance == res.provenance
    np.testing.assert_allclose(np.asarray(res.state.params["W_dec"]),
                               np.asarray(reference.state.params["W_dec"]), atol=1e-6)
    assert not (run_dir / "checkpoint.msgpack").exists()


def test_run_records_which_code_trained_it(finished):
    """provenance.json names the package and JAX versions and, in a git checkout, the
    commit the package was imported from (the one ``git rev-parse HEAD`` gives)."""
    import subprocess
    from pathlib import Path

    import jax

    from toysae.store import PACKAGE_ROOT

    _, res = finished
    (session,) = res.provenance["sessions"]
    assert session["start_step"] == 0 and session["jax"] == jax.__version__
    if (Path(PACKAGE_ROOT) / ".git").exists():
        head = subprocess.run(["git", "-C", str(PACKAGE_ROOT), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        assert session["code_revision"] == head and isinstance(session["dirty"], bool)
    else:
        assert session["code_revision"] is None


def test_corrupted_run_is_retrained_not_loaded(tmp_path, finished):
    """A run whose state file was altered fails its checksum: it is not loaded, and
    running the config again retrains and repairs it."""
    run_stored(cfg_small(), tmp_path, progress=False)
    run_dir = run_dir_for(cfg_small(), tmp_path)
    state_file = run_dir / "state.msgpack"
    raw = bytearray(state_file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    state_file.write_bytes(bytes(raw))
    assert not is_complete(run_dir)
    with pytest.raises(ValueError, match="run_dir"):
        load_run(run_dir)
    calls = []
    run_stored(cfg_small(), tmp_path, progress=False, on_chunk=lambda *a: calls.append(a))
    assert calls and is_complete(run_dir)


def test_half_written_run_without_manifest_is_not_complete(tmp_path):
    """A directory with metrics but no manifest (killed before the last write) is not
    complete."""
    d = tmp_path / "x"
    d.mkdir()
    (d / "metrics.json").write_text("{}")
    assert not is_complete(d)


def _small_cfg():
    return SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
                       train=TrainConfig(samples=256 * 20, batch_size=256, chunk_steps=10,
                                         n_eval=1024), ks=(2.0,), seeds=(0,))


def test_live_lock_refuses_and_stale_lock_is_taken_over(tmp_path):
    """Two processes must never train one run directory: a lock held by a live process
    (here our parent, which is alive) is refused with RunLocked, before any training;
    a lock left by a process that has exited is taken over, and released at the end."""
    import os
    import socket
    import subprocess
    import sys

    from toysae.errors import RunLocked

    cfg = _small_cfg()
    run_dir = run_dir_for(cfg, tmp_path)
    run_dir.mkdir(parents=True)
    lock = run_dir / "lock"
    lock.write_text(f"{os.getppid()} {socket.gethostname()}")
    with pytest.raises(RunLocked, match="being trained by process"):
        run_stored(cfg, tmp_path, progress=False)
    assert not (run_dir / "checkpoint.msgpack").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    lock.write_text(f"{dead} {socket.gethostname()}")
    run_stored(cfg, tmp_path, progress=False)
    assert is_complete(run_dir) and not lock.exists()


def test_cli_exit_code_4_when_locked(tmp_path, capsys):
    import os
    import socket

    from toysae import cli

    cfg = _small_cfg()
    run_dir = run_dir_for(cfg, tmp_path)
    run_dir.mkdir(parents=True)
    (run_dir / "lock").write_text(f"{os.getppid()} {socket.gethostname()}")
    code = cli.main(["sweep", "--preset", "paper-small-pos", "--k", "2", "--samples", "5120",
                     "--batch-size", "256", "--chunk-steps", "10", "--n-eval", "1024",
                     "--out", str(tmp_path), "--no-progress"])
    assert code == 4
    assert "lock" in capsys.readouterr().err


def test_lock_appears_with_its_pid_and_host_and_leaves_no_private_file(tmp_path):
    """Issue 18: the lock is made by hard-linking a file already holding "<pid> <host>",
    so it never exists empty (an empty lock would read as stale and be taken over); the
    private file it was linked from is gone afterwards, and a second taker is refused."""
    from toysae.errors import RunLocked
    from toysae.store import _acquire_lock

    lock = _acquire_lock(tmp_path)
    assert lock.read_text() == f"{os.getpid()} {socket.gethostname()}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"]
    with pytest.raises(RunLocked):
        _acquire_lock(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"]


def test_checkpoint_with_a_flipped_byte_is_ignored_not_resumed(tmp_path):
    """Issue 18: a checkpoint carries the sha256 of its payload; one flipped byte in the
    payload (which msgpack might otherwise decode into wrong numbers) makes the resume
    warn and start from step 0 instead of loading it."""
    interrupt_at_step_40(tmp_path)
    ckpt = run_dir_for(cfg_small(), tmp_path) / "checkpoint.msgpack"
    raw = bytearray(ckpt.read_bytes())
    raw[-100] ^= 0x01  # inside the last parameter array
    ckpt.write_bytes(bytes(raw))
    steps = []
    with pytest.warns(UserWarning, match="checksum"):
        run_stored(cfg_small(), tmp_path, progress=False, on_chunk=lambda s, *a: steps.append(s))
    assert steps[0] == 20  # trained again from the start


def test_lock_from_another_host_is_stale_once_its_heartbeat_stops(tmp_path):
    """Issue 18: a lock held by a process on another host cannot be tested by pid; it is
    refused while recently touched (a trainer touches it after every chunk) and taken
    over, with a warning, once untouched for longer than LOCK_STALE_S."""
    import toysae.store as store
    from toysae.errors import RunLocked

    lock = tmp_path / "lock"
    lock.write_text("12345 some-other-host")
    with pytest.raises(RunLocked, match="some-other-host"):
        store._acquire_lock(tmp_path)
    old = os.stat(lock).st_mtime - store.LOCK_STALE_S - 60
    os.utime(lock, (old, old))
    with pytest.warns(UserWarning, match="some-other-host"):
        taken = store._acquire_lock(tmp_path)
    assert taken.read_text() == f"{os.getpid()} {socket.gethostname()}"


def test_training_touches_its_lock_after_every_chunk(tmp_path):
    """The heartbeat: during training the lock's mtime moves forward between chunks."""
    seen = []

    def watch(step, *_):
        seen.append(os.stat(run_dir_for(cfg_small(), tmp_path) / "lock").st_mtime_ns)

    run_stored(cfg_small(), tmp_path, progress=False, on_chunk=watch)
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] > seen[0]


def test_run_from_another_numerics_version_is_retrained_not_loaded(tmp_path, monkeypatch):
    """Issue 21: a finished run whose manifest carries another numerics version (here:
    the code's version bumped after it was trained) is stale: running the config again
    warns and retrains it, the manifest then carries the new version, and a run whose
    manifest predates versions (no ``"numerics"``) counts as version 0, so stale too."""
    import toysae.store as store
    from toysae.errors import StaleRunWarning

    first = run_stored(cfg_small(), tmp_path, progress=False)
    run_dir = run_dir_for(cfg_small(), tmp_path)
    assert store.numerics_version(run_dir) == store.NUMERICS_VERSION
    assert store.is_current(run_dir)
    monkeypatch.setattr(store, "NUMERICS_VERSION", store.NUMERICS_VERSION + 1)
    assert is_complete(run_dir) and not store.is_current(run_dir)
    calls = []
    with pytest.warns(StaleRunWarning, match="older code"):
        again = run_stored(cfg_small(), tmp_path, progress=False,
                           on_chunk=lambda s, *a: calls.append(s))
    assert calls == [20, 40, 60]  # trained from the start, not loaded
    assert store.numerics_version(run_dir) == store.NUMERICS_VERSION
    assert again.provenance["sessions"][-1]["numerics"] == store.NUMERICS_VERSION
    np.testing.assert_allclose(np.asarray(again.state.params["W_dec"]),
                               np.asarray(first.state.params["W_dec"]), atol=1e-6)
    # A manifest without a version (written before versions existed) is version 0.
    manifest = json.loads((run_dir / "manifest.json").read_text())
    del manifest["numerics"]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert store.numerics_version(run_dir) == 0 and not store.is_current(run_dir)


def test_checkpoint_from_another_numerics_version_is_not_resumed(tmp_path, monkeypatch):
    """A checkpoint left by an interrupted session of older numerics is not resumed
    (mixing two codes' steps in one run); training starts again, with a warning."""
    import toysae.store as store
    from toysae.errors import StaleRunWarning

    interrupt_at_step_40(tmp_path)
    monkeypatch.setattr(store, "NUMERICS_VERSION", store.NUMERICS_VERSION + 1)
    steps = []
    with pytest.warns(StaleRunWarning, match="ignoring checkpoint"):
        res = run_stored(cfg_small(), tmp_path, progress=False,
                         on_chunk=lambda s, *a: steps.append(s))
    assert steps == [20, 40, 60]
    assert [s["start_step"] for s in res.provenance["sessions"]] == [0]
