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
        claims.claim("main.k11_recovers", "k=11 recovers", "MCC ≈ 1", "MCC 0.999 ± 0.001", True),
        claims.claim("main.c_dec_argmin_at_11", "c_dec min at 11", "11", "argmin 12", False,
                     argmin=12)])
    write_results(tmp_path, "jumprelu", [
        claims.claim("jumprelu.l0_sticks", "formula | MC", "§3.6", "0.4%", True)])
    data = reproduce.main(["--table-only", "--fig-dir", str(tmp_path)])
    assert [c["id"] for c in data["claims"]] == ["main.k11_recovers", "main.c_dec_argmin_at_11",
                                                 "jumprelu.l0_sticks"]
    assert data["claims"][1]["holds"] is False and data["claims"][1]["detail"] == {"argmin": 12}
    assert [c["origin"] for c in data["claims"]] == ["paper", "paper", "toysae"]
    assert data["claims"][1]["source"]["verbatim"] is True
    assert data["claims"][0]["results_file"] == "main_toy.json"
    assert "superposition.json" in data["missing"]
    on_disk = json.loads((tmp_path / "claims.json").read_text())
    assert on_disk["claims"] == data["claims"]
    table = claims.markdown_table(data["claims"])
    assert ("| main.c_dec_argmin_at_11 | paper | c_dec min at 11 | “Shaded area is 1 stdev. "
            "c_dec is minimized at the true L0.”") in table
    assert "| 11 | argmin 12 | **no** |" in table
    assert "formula \\| MC" in table  # pipes inside cells are escaped


def test_a_claim_without_a_source_is_refused(tmp_path):
    write_results(tmp_path, "main_toy", [claims.claim("main.new_row", "x", "y", "z", True)])
    with pytest.raises(KeyError, match="claim_sources"):
        claims.collect(tmp_path)


def test_every_committed_claim_row_says_where_it_comes_from():
    data = json.loads((EXPERIMENTS.parent / "figures" / "claims.json").read_text())
    for rec in data["claims"]:
        assert rec["origin"] in ("paper", "literature", "toysae"), rec["id"]
        assert rec["source"]["text"] and rec["source"]["where"], rec["id"]
    # Every rule of ours stands beside the faithful row it names (or is a claim of ours).
    ids = {r["id"] for r in data["claims"]}
    for rec in data["claims"]:
        if rec["origin"] == "toysae" and rec["beside"] is not None:
            assert rec["beside"] in ids, rec["id"]


def test_faithful_rows_from_synthetic_results():
    """The derived rows read the numbers as their rules say (ours: synthetic inputs)."""
    import claim_sources as src

    def by_k(values):
        return {str(k): {"s12_dec": {"mean": v}, "s18_dec": {"mean": v}}
                for k, v in zip(range(9, 14), values, strict=True)}
    flat = src.derived("main_toy", {"by_k": by_k([0.4, 0.3, 0.03, 0.02, 0.03])})
    steep = src.derived("main_toy", {"by_k": by_k([0.4, 0.3, 0.03, 0.2, 0.4])})
    assert [c["holds"] for c in flat] == [True, True]
    assert [c["holds"] for c in steep] == [False, False]
    mix = {"mixing_vs_corr_k1.8": {"+0.0": {"mean": 0.001}, "+0.1": {"mean": 0.02},
                                    "-0.1": {"mean": -0.03}}}
    (row,) = src.derived("small_toy", mix)
    assert row["holds"] and abs(row["detail"]["ratio"] - 0.05) < 1e-12
    mix["mixing_vs_corr_k1.8"]["+0.0"]["mean"] = -0.004
    assert not src.derived("small_toy", mix)[0]["holds"]
    rows = {c["id"]: c for c in src.derived("theorem1", {})}
    assert rows["theorem1.mixes_whenever_p12_positive"]["holds"]
    assert rows["theorem1.half_beats_one_iff"]["holds"]
    # A row the results file already has is not derived again.
    have = {"claims": [{"id": "theorem1.half_beats_one_iff"}]}
    assert [c["id"] for c in src.derived("theorem1", have)] == [
        "theorem1.mixes_whenever_p12_positive"]


def test_a_scratch_fig_dir_leaves_the_docs_alone(tmp_path):
    """Only the committed figures/claims.json rewrites the docs' claim blocks; a
    reproduction into another folder (CI's scratch run) must not."""
    import reports

    write_results(tmp_path, "jumprelu", [claims.claim("jumprelu.l0_sticks", "x", "A.5", "0.4%",
                                                      True)])
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


def test_a_full_run_from_an_empty_cache_is_recorded_and_kept(tmp_path, monkeypatch):
    """Claim (issue 21): `reproduce` records its end-to-end wall time and whether it
    started from an empty cache; a full run from an empty cache is kept in claims.json as
    "reproduction" through later partial runs and table rebuilds, which only replace
    "last_run"."""
    monkeypatch.setattr(reproduce, "run_script", lambda name, args: 0.0)
    fig, runs = tmp_path / "fig", tmp_path / "runs"
    fig.mkdir()
    assert reproduce.cache_is_empty(runs)
    full = reproduce.main(["--fig-dir", str(fig), "--out-dir", str(runs)])
    rec = full["reproduction"]
    assert rec == full["last_run"]
    assert rec["from_empty_cache"] is True and rec["only"] is None
    assert rec["total_s"] >= 0 and rec["cores"] >= 1 and len(rec["load_start"]) == 3
    assert "code_revision" in rec["code"]
    part = reproduce.main(["--fig-dir", str(fig), "--out-dir", str(runs),
                           "--only", "theorem1"])
    assert part["reproduction"] == rec and part["last_run"]["only"] == ["theorem1"]
    table = reproduce.main(["--table-only", "--fig-dir", str(fig)])
    assert table["reproduction"] == rec and table["last_run"] is None
    kept = json.loads((fig / "claims.json").read_text())["reproduction"]
    assert kept["total_s"] == rec["total_s"]
