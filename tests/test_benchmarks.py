"""The benchmark suite's quick mode runs end to end and writes a complete results file.

Runs ``benchmarks/run_all.py --quick`` (one model size, a few steps; numbers are not
measurements) into a temporary folder, so ``benchmarks/results.json`` is never touched.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick",
           "--models", "1", "--one-at-a-time-models", "1",  # one chunk program to compile
           "--out", str(out / "results.json"), "--markdown", str(out / "table.md")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), (out / "table.md").read_text()


def test_quick_mode_writes_every_section(quick_results):
    res, table = quick_results
    assert res["quick"] is True and res["errors"] == []
    m = res["machine"]
    assert m["cpu_model"] and _positive(m["cores"]) and m["jax"] and m["devices"] and m["date"]
    assert res["device_label"]

    single = res["single"]
    assert _positive(single["samples_s"]) and single["finite"]
    assert [s["models"] for s in res["sweep"]] == [1]
    for entry in [single, *res["sweep"], *res["scaling"]]:
        assert _positive(entry["samples_s"]) and _positive(entry["gflops"])
        assert _positive(entry["memory"]["peak_rss_bytes"])
    assert [s["toy"]["n_features"] for s in res["scaling"]] == [50]

    gen = res["generator"]
    copula = [v for k, v in gen.items() if k.startswith("copula_g")]
    assert len(copula) == 1 and copula[0]["correlated"] and _positive(copula[0]["samples_s"])
    assert _positive(copula[0]["build"]["total_s"])
    assert _positive(gen["main"]["samples_s"])

    base = res["baselines"]
    assert _positive(base["matmul"]["gflops"]) and _positive(base["matmul_after"]["gflops"])
    assert _positive(base["one_at_a_time"]["samples_s"])
    assert _positive(base["ratios"]["sweep_1_over_one_at_a_time"])
    # SAELens: numbers when the `compare` extra is installed, else null with a reason.
    if base["saelens"] is None:
        assert isinstance(base["saelens_reason"], str) and base["saelens_reason"]
    else:
        assert _positive(base["saelens"]["samples_s"])

    assert "Machine:" in table and res["device_label"] in table
    assert "| Single SAE" in table and "Scaling" in table and "Generator" in table


def test_full_sweep_benchmark_records_one_end_to_end_session(tmp_path):
    """benchmarks/full_sweep.py (the 125-SAE paper sweep, here at 2 steps) trains into its
    own run store, reports its training seconds as one end-to-end session, and a second
    call finds the finished run instead of training it again.  The session records the
    host's matmul rate before and after."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "full_sweep.py"), "--dir",
           str(tmp_path / "runs"), "--samples", "2048", "--n-eval", "256", "--no-progress",
           "--out", str(tmp_path / "full.json")]
    for call in range(2):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        res = json.loads((tmp_path / "full.json").read_text())
        assert res["models"] == 125 and res["samples_per_model"] == 2048
        assert _positive(res["train_s"]) and _positive(res["model_samples_s"])
        assert res["end_to_end"] and len(res["sessions"]) == 1, call
        assert res["paper_budget"] is False and res["under_40_min"] is None
        assert res["under_25_min"] is None and res["peak_rss_bytes"] > 0
        assert res["wall_s"] >= res["train_s"]
        host = res["sessions"][0]["host_matmul_gflops"]  # the host's speed, before/after
        assert len(host) == 2 and all(_positive(v) for v in host)
        rec = res["recovery"]
        assert rec["k"] == 11.0 and len(rec["mcc_per_seed"]) == 5
        assert 1.0 <= rec["argmin_c_dec"] <= 25.0


def test_full_sweep_benchmark_times_the_25_model_sweep(tmp_path):
    """full_sweep.py --seeds 0: the same end-to-end timing for k = 1..25 at one seed."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "full_sweep.py"), "--dir",
           str(tmp_path / "runs"), "--seeds", "0", "--samples", "2048", "--n-eval", "256",
           "--no-progress", "--out", str(tmp_path / "sw25.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((tmp_path / "sw25.json").read_text())
    assert res["models"] == 25 and res["paper_budget"] is False
    bad = subprocess.run(cmd[:-2] + ["--seeds", "0,0"], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert bad.returncode == 2 and "--seeds='0,0'; expected distinct seeds" in bad.stderr


@pytest.mark.parametrize(("compare", "names"), [
    ("layout", {"seeds one after another", "seeds in one vmap"}),
    ("threshold", {"interpolated probes (illinois)", "bisection"}),
])
def test_ab_times_both_variants_in_turn(tmp_path, compare, names):
    """benchmarks/ab.py times both variants of a comparison chunk by chunk in one fresh
    process per round, and writes their rates, the paired ratios and the load."""
    out = tmp_path / "ab.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "ab.py"), "--compare", compare,
           "--models", "50" if compare == "layout" else "5", "--rounds", "1",
           "--repeats", "2", "--length", "2", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert {r["variant"] for r in res["runs"]} == names
    assert all(len(r["times_s"]) == 2 and r["compile_s"] > 0 for r in res["runs"])
    assert all(_positive(v) for v in res["median_samples_s"].values())
    assert len(res["paired_ratios"]) == 2 and res["median_paired_ratio"] > 0
    assert "others_share" in res["load"]


def test_generator_saelens_measures_our_generator(monkeypatch):
    """benchmarks/generator_saelens.py's measurement of our generator (the function its
    ``ours_*`` cases call), on a tiny low-rank toy on the sparse path; no SAELens needed."""
    import importlib

    from toysae.config import CorrelationSpec, ToyConfig

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    bench = importlib.import_module("generator_saelens")
    cfg = ToyConfig(n_features=64, dim=16, ramp=(0.3, 0.05), features="random",
                    correlation=CorrelationSpec(kind="low_rank", rank=4, scale=0.1),
                    max_active=32)
    out = bench.measure_toy(cfg, batch=32, length=2, repeats=2)
    assert set(bench.RESULT_KEYS) <= set(out)
    assert _positive(out["samples_s"]) and _positive(out["median_call_s"])
    assert len(out["times_s"]) == out["repeats"] == 2 and out["length"] == 2
    assert (out["n_features"], out["dim"], out["max_active"]) == (64, 16, 32)
    assert out["finite"] and 0 < out["most_active"] <= 32 and _positive(out["mean_active"])
    assert out["build_s"] >= 0 and out["compile_s"] >= 0


def test_load_monitor_counts_other_processes_not_its_own(monkeypatch):
    """benchmarks/quiet.py on Linux: CPU burnt by this process is counted as ours, CPU
    burnt meanwhile by another (not waited-for) process as the others'.  The other
    process's own CPU time over the window is read from /proc/<pid>/stat, so the check
    holds however loaded the machine is: the monitor must attribute at least that much
    to others, less 0.05 s for the clock-tick granularity of both readings."""
    import importlib
    import os
    import time

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    quiet = importlib.import_module("quiet")
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat: the monitor reports None off Linux")
    with quiet.LoadMonitor(interval=0.2) as mon:
        t = time.process_time()
        while time.process_time() - t < 0.3:
            pass
    assert mon.result()["own_cpu_s"] >= 0.29  # our own loop is ours

    def cpu_of(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    hog = subprocess.Popen([sys.executable, "-c",
                            "import time\nt=time.time()\nwhile time.time()-t<6: pass"])
    try:
        time.sleep(0.3)
        before = cpu_of(hog.pid)
        with quiet.LoadMonitor(interval=0.2) as mon:
            time.sleep(1.0)
        hog_cpu = cpu_of(hog.pid) - before
    finally:
        hog.kill()
        hog.wait()
    other = mon.result()
    assert hog_cpu > 0.1, hog_cpu  # the other process did run in the window
    assert other["others_cpu_s"] >= hog_cpu - 0.05, (other, hog_cpu)
    assert other["own_cpu_s"] < 0.2, other  # sleeping is not ours
    assert "CPU time" in quiet.describe(other)
    assert quiet.describe(None) == "machine load not measured"
