"""Multi-host on one machine: two processes joined by ``jax.distributed.initialize``.

Each process (``tests/multihost_worker.py``) runs on the CPU platform with gloo
collectives and two CPU devices, joins a coordinator on a free localhost port, and
calls ``run_sweep(cfg, devices=jax.devices())`` over all four devices: the models of a
5-k × 2-seed sweep (K padded to 8) are sharded across both processes, trained for two
chunks, gathered back and evaluated.  The test runs the same sweep unsharded in its own
process and compares the records.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from multihost_worker import LOCAL_DEVICES, NUM_PROCESSES, sweep_config

from toysae import run_sweep

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("multihost_worker.py")
# A hung coordinator or collective fails the test after this long instead of blocking
# (the processes also give up joining after the worker's initialization_timeout).
TIMEOUT_S = 300
# Float metrics of the two-process sweep against the unsharded one.  Sharding changes
# the shapes of the per-device matmuls (and the unsharded sweep steps in AuxK groups),
# so they agree to float32 rounding, not bitwise: measured max |difference| 1.2e-7
# (one float32 ulp at 1, in c_dec, cos, best_cos, mse_thr, s1_dec).  1e-5 leaves a
# margin of about 80x and is the tolerance of tests/test_sharding.py.
ATOL = 1e-5


def _gloo_available() -> bool:
    """Whether this jaxlib has the gloo TCP collectives that a multi-process CPU
    backend is built with (``jax._src.xla_bridge.make_cpu_client`` calls exactly this)."""
    try:
        from jax._src.lib import _jax
    except ImportError:
        return False
    return hasattr(_jax, "make_gloo_tcp_collectives")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_workers(tmp_path: Path):
    """Starts the processes (output to ``worker<i>.log``); returns them and their logs."""
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("XLA_FLAGS", None)  # no forced device count: the workers set their own
    procs, logs = [], []
    for i in range(NUM_PROCESSES):
        log = open(tmp_path / f"worker{i}.log", "w")  # closed in _wait
        logs.append(log)
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER), str(port), str(i), str(tmp_path / f"out{i}.json")],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    return procs, logs


def _wait(procs, logs, tmp_path: Path, deadline: float) -> None:
    try:
        for p in procs:
            p.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
            p.wait()
        pytest.fail(f"the processes did not finish within {TIMEOUT_S} s:\n" + _tails(tmp_path))
    finally:
        for log in logs:
            log.close()
    codes = [p.returncode for p in procs]
    assert codes == [0] * len(procs), f"exit codes {codes}:\n" + _tails(tmp_path)


def _tails(tmp_path: Path) -> str:
    return "\n".join(f"--- worker {i} ---\n" + (tmp_path / f"worker{i}.log").read_text()[-3000:]
                     for i in range(NUM_PROCESSES))


def _assert_close(a, b, where: str) -> None:
    """Equal records: floats within ATOL, everything else (ints, strings, nulls, keys,
    list shapes) exactly."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= ATOL, f"{where}: {a} vs {b}"
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} vs {b!r}"


@pytest.mark.skipif(not _gloo_available(), reason="this jaxlib has no gloo CPU collectives, "
                    "so CPU processes cannot be joined")
def test_two_process_sweep_matches_single_process(tmp_path):
    """Two processes on localhost, joined with ``jax.distributed.initialize`` (gloo CPU
    collectives, 2 CPU devices each), run ``run_sweep(cfg, devices=jax.devices())``:

    - every chunk trains a state ``[2, 8, 5, 20]`` (K = 5 padded to 8) sharded
      ``P(None, 'models')`` and not fully addressable, each process holding 4 of the 8
      padded columns, none held twice; the per-chunk logs reach ``on_chunk`` as NumPy
      ``[2, 5]`` (padding dropped);
    - both processes return identical records;
    - the same call with a run directory (``out_dir``) is refused, before anything is
      trained, on both processes;
    - the records equal the unsharded single-process sweep's: same keys, integers,
      nulls and shapes exactly, floats within ``ATOL`` = 1e-5 (measured max difference
      1.2e-7, float32 rounding of differently shaped matmuls).
    """
    deadline = time.monotonic() + TIMEOUT_S
    procs, logs = _start_workers(tmp_path)
    try:  # the single-process sweep runs here while the two processes run
        reference = run_sweep(sweep_config(), progress=False).records
    finally:
        _wait(procs, logs, tmp_path, deadline)
    outs = [json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(NUM_PROCESSES)]

    held = []
    for i, out in enumerate(outs):
        assert out["process_index"] == i and out["process_count"] == NUM_PROCESSES
        assert out["n_devices"] == NUM_PROCESSES * LOCAL_DEVICES
        assert "out_dir is not supported with devices of several processes" in out["refused"]
        assert [c["step"] for c in out["chunks"]] == [50, 100]
        for c in out["chunks"]:
            assert c["shape"] == [2, 8, 5, 20] and c["spec"] == "P(None, 'models')", c
            assert not c["fully_addressable"], c
            assert c["local_columns"] == out["chunks"][0]["local_columns"], c
            assert c["logs"] == "ndarray" and c["logs_shape"] == [2, 5], c
        held.append(out["chunks"][0]["local_columns"])
    assert sorted(held[0] + held[1]) == list(range(8)) and len(held[0]) == 4, held

    assert outs[0]["records"] == outs[1]["records"]
    assert len(reference) == 10
    _assert_close(reference, outs[0]["records"], "records")
    # The comparison is not vacuous: the models learned something and differ by k.
    mcc = np.array([r["mcc"] for r in reference])
    assert np.ptp(mcc) > 0.01 and mcc.max() > 0.5, mcc
