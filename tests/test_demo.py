"""The teaching demo (marimo notebook) runs top to bottom as a script and writes its figure.

About a minute of compute on a 2-core CPU (it trains 8 SAEs on the main toy model).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "demo" / "toysae_demo.py"


def test_demo_runs_as_script_and_writes_figure(tmp_path, demo_runs):
    env = dict(os.environ, TOYSAE_DEMO_OUT=str(tmp_path), MPLBACKEND="Agg",
               TOYSAE_DEMO_RUNS=str(demo_runs))
    proc = subprocess.run([sys.executable, str(DEMO)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    fig = tmp_path / "demo.png"
    assert fig.is_file(), proc.stdout[-3000:]
    data = fig.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < len(data) < 300_000
    assert "sweep of 8 SAEs" in proc.stdout
