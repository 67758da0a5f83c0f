"""Shared, session-scoped fixtures: built toy models and one large sample of each.

Sampling is the expensive part of the generator tests, so each preset is sampled once
(``N_SAMPLES`` inputs, fixed keys) and the statistical tests reuse the same draw.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import numpy as np
import pytest
from hypothesis import settings

from toysae import presets

# Property-based tests draw the same examples on every run (issue 18): a failure is
# reproducible and the suite cannot pass or fail by chance.
settings.register_profile("toysae", derandomize=True, print_blob=True)
settings.load_profile("toysae")

N_SAMPLES = 200_000


@functools.partial(jax.jit, static_argnums=2)
def jit_sample(toy, key, n: int):
    """``toy.sample(key, n)`` compiled as one program (much faster than op-by-op)."""
    return toy.sample(key, n)


def _draw(toy, seed: int, n: int = N_SAMPLES) -> dict[str, np.ndarray]:
    coeffs, x = jit_sample(toy, jax.random.key(seed), n)
    return dict(coeffs=np.asarray(coeffs), x=np.asarray(x))


@pytest.fixture(scope="session")
def sampler():
    return jit_sample


@pytest.fixture(scope="session")
def main_cfg():
    return presets.get("paper-main")


@pytest.fixture(scope="session")
def main_toy(main_cfg):
    from toysae.generator import build_toy

    return build_toy(main_cfg)


@pytest.fixture(scope="session")
def main_draw(main_toy):
    return _draw(main_toy, seed=101)


@pytest.fixture(scope="session", params=["paper-small-pos", "paper-small-neg"])
def small(request):
    """(name, config, built toy, draw) of each small preset."""
    from toysae.generator import build_toy

    cfg = presets.get(request.param)
    toy = build_toy(cfg)
    return request.param, cfg, toy, _draw(toy, seed=202)


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory):
    """A run store shared by the teaching-demo tests (``$TOYSAE_DEMO_RUNS``): the first
    to run trains the demo's sweep, the second loads it."""
    return tmp_path_factory.mktemp("demo_runs")


def cpu_key() -> str:
    """The CPU model and whether it has AVX-512: XLA compiles for the host CPU, so a
    training run's last bits (and, through top-k ties, whole trajectories) differ between
    CPU models. Reference numbers (``tests/data``) are kept per key where a machine of
    another kind wrote different ones."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                  if ln.startswith("model name")), "unknown")
    return f"{model}|{'avx512f' if ' avx512f' in info else 'no-avx512f'}"
