"""`toysae reproduce`: the claim table is built by code from the results files, the docs
are rewritten only from the committed results, and bad arguments fail early."""

import json
import sys
from pathlib import Path

import pytest

from toysae import cli

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

import claim_records as claims  # noqa: E402
import reproduce  # noqa: E402


def write_results(fig_dir: Path, stem: str, records: list[dict]) -> None:
    (fig_dir / f"{stem}.json").write_text(json.dumps({"claims": records}))


def test_table_is_built_from_results_files(tmp_path):
    write_results(tmp_path, "main_toy", [
        claims.claim("main.a", "k=11 recovers", "MCC ≈ 1", "MCC 0.999 ± 0.001", True),
        claims.claim("main.b", "c_dec min at 11", "11", "argmin 12", False, argmin=12)])
    write_results(tmp_path, "theorem1", [
        claims.claim("t.a", "formula | MC", "A.5", "0.4%", True)])
    data = reproduce.main(["--table-only", "--fig-dir", str(tmp_path)])
    assert [c["id"] for c in data["claims"]] == ["main.a", "main.b", "t.a"]
    assert data["claims"][1]["holds"] is False and data["claims"][1]["detail"] == {"argmin": 12}
    assert "superposition.json" in data["missing"]
    on_disk = json.loads((tmp_path / "claims.json").read_text())
    assert on_disk["claims"] == data["claims"]
    table = claims.markdown_table(data["claims"])
    assert "| main.b | c_dec min at 11 | 11 | argmin 12 | **no** |" in table
    assert "formula \\| MC" in table  # pipes inside cells are escaped


def test_a_scratch_fig_dir_leaves_the_docs_alone(tmp_path):
    """Only the committed figures/claims.json rewrites the docs' claim blocks; a
    reproduction into another folder (CI's scratch run) must not."""
    import reports

    write_results(tmp_path, "theorem1", [claims.claim("t.a", "x", "A.5", "0.4%", True)])
    pages = {name: (EXPERIMENTS.parent / rep.page).read_text()
             for name, rep in reports.REPORTS.items()}
    reproduce.main(["--table-only", "--fig-dir", str(tmp_path)])
    assert reports.write_for(tmp_path / "claims.json") == []
    for name, rep in reports.REPORTS.items():
        assert (EXPERIMENTS.parent / rep.page).read_text() == pages[name]


def test_claims_must_be_a_list(tmp_path):
    (tmp_path / "jumprelu.json").write_text(json.dumps({"claims": {"a": {"holds": True}}}))
    with pytest.raises(ValueError, match="must be a list"):
        claims.collect(tmp_path)


def test_cli_rejects_unknown_script_before_running_anything(capsys):
    assert cli.main(["reproduce", "--only", "main_toy,nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_every_script_named_in_reproduce_exists_and_writes_a_known_stem():
    for name in reproduce.SCRIPTS:
        assert (EXPERIMENTS / f"{name}.py").is_file(), name
    assert set(reproduce.SCRIPTS) == set(claims.RESULT_STEMS)


@pytest.mark.parametrize("argv", [["--devices", "0"], ["--devices", "-2"]])
def test_devices_out_of_range_is_refused_before_running_anything(argv, capsys):
    """Claim: `reproduce --devices N` with N < 1 exits 2 naming --devices, and so does a
    script's own --devices (common.parse_args), before any script or training starts."""
    with pytest.raises(SystemExit) as exc:
        reproduce.main(argv)
    assert exc.value.code == 2 and "--devices" in capsys.readouterr().err
    import common

    with pytest.raises(SystemExit) as exc:
        common.parse_args("test", argv)
    assert exc.value.code == 2 and "--devices=" in capsys.readouterr().err


def test_devices_are_passed_to_every_script(monkeypatch):
    """Claim: `reproduce --devices 2` hands `--devices 2` to each experiment script."""
    seen = []

    class Done:
        returncode = 0

    monkeypatch.setattr(reproduce.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or Done)
    args = reproduce.parse_args(["--devices", "2", "--only", "theorem1"])
    reproduce.run_script("theorem1", args)
    assert seen and seen[0][-2:] == ["--devices", "2"]


def test_training_time_sums_recorded_sweeps_once_each(tmp_path):
    """Claim: the reproduction's training time is the sum of each cached sweep's recorded
    time, a sweep named by two scripts counts once, and sweeps without a record are
    listed rather than guessed."""
    (tmp_path / "main_toy.json").write_text(json.dumps({"sweeps": {
        "a": {"digest": "aaa", "train_s": 100.0}, "b": {"digest": "bbb", "train_s": None}}}))
    (tmp_path / "schedules.json").write_text(json.dumps({"sweeps": [
        {"digest": "aaa", "train_s": 100.0}, {"digest": "ccc", "train_s": 20.5}]}))
    t = reproduce.training_time(tmp_path, quick=False)
    assert t == {"train_s": 120.5, "sweeps": 2, "unrecorded": ["bbb"]}


def test_reproduce_stops_cleanly_on_sigterm(tmp_path):
    """Issue 18: SIGTERM to `toysae reproduce` (sent once its first script has started,
    an event it prints) stops it like Ctrl-C: exit code 143, a one-line message saying
    the same command resumes, no traceback."""
    import signal
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "toysae.cli", "reproduce", "--quick", "--only", "small_toy",
           "--no-progress", "--out-dir", str(tmp_path / "runs"),
           "--fig-dir", str(tmp_path / "figs")]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        line = proc.stdout.readline()  # the event: "=== small_toy (quick) ==="
        assert "small_toy" in line, line + proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in err and "resumes" in err and "Traceback" not in err
