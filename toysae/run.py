"""``run_sweep``: train (or load) a sweep and evaluate it, stored or in memory.

The top of the training stack: it builds the toy model once and hands it down to the
store (:mod:`toysae.store`, which trains through :mod:`toysae.sweep`) or straight to
the sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax

from .config import SweepConfig
from .generator import ToyModel, build_toy
from .store import run_stored
from .sweep import SweepResult, check_sweep_memory, evaluate_state, train_sweep


def run_sweep(cfg: SweepConfig, out_dir: str | None = None, *, progress: bool = True,
              on_chunk: Callable | None = None,
              devices: Sequence[jax.Device] | None = None,
              toy: ToyModel | None = None, check_memory: bool = True) -> SweepResult:
    """Trains (or loads) a sweep and evaluates every model.

    With ``out_dir`` the sweep lives in ``out_dir/<config digest>/``: a finished one
    is loaded instead of retrained, an interrupted one resumes from its last
    checkpoint (see :mod:`toysae.store`).  With several ``devices`` the models are
    sharded across them (see :mod:`toysae.sharding`).

    Args:
      cfg: the sweep.
      out_dir: parent of run directories (None: train in memory, store nothing).
      progress: show a progress bar.
      on_chunk: per-chunk callback ``(step, state, logs)``.
      devices: devices to shard the models over; devices of several processes
        (multi-host, after ``jax.distributed.initialize``) only with ``out_dir=None``,
        every process making the same call.
      toy: ``build_toy(cfg.toy)`` if the caller has it already (built here otherwise).
      check_memory: refuse, before anything is built, a sweep whose
        :func:`~toysae.sweep.sweep_memory_estimate` exceeds this machine's memory.

    Examples:
      >>> from toysae import presets, SAEConfig, TrainConfig
      >>> cfg = SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
      ...                   train=TrainConfig(samples=20_480, n_eval=2048), ks=(2.0,))
      >>> res = run_sweep(cfg, progress=False)
      >>> len(res.records), sorted(res.records[0])[:3]
      (1, ['arch', 'best_cos', 'c_dec'])
    """
    if out_dir is not None and devices is not None and \
            len({d.process_index for d in devices}) > 1:
        raise ValueError("out_dir is not supported with devices of several processes (every "
                         "process would lock and write the same run directory); pass "
                         "out_dir=None: every process returns the whole result")
    if check_memory:
        check_sweep_memory(cfg)
    toy = build_toy(cfg.toy) if toy is None else toy
    if out_dir is not None:
        return run_stored(cfg, out_dir, progress=progress, on_chunk=on_chunk, devices=devices,
                          toy=toy)
    state = train_sweep(cfg, progress=progress, on_chunk=on_chunk, devices=devices, toy=toy)
    return SweepResult(cfg, state, evaluate_state(cfg, toy, state))
