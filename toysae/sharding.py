"""Scale-out: the stacked model axis on a device mesh (DESIGN "Scale-out").

A sweep's state is stacked ``[S, K, ...]``.  With several devices the k axis is put on
a one-dimensional :class:`jax.sharding.Mesh` (axis ``"models"``) with
:class:`~jax.sharding.NamedSharding`; the same jitted chunk program then runs every
device's share of the models, and GSPMD keeps each device's work local (the seeds'
batches are replicated, being small).  K is padded to a multiple of the device count by
repeating the last k; the padding models are dropped again before anything is returned
or saved.

Across hosts: start one process per host with ``jax.distributed.initialize(...)``
before any other JAX call; ``jax.devices()`` then lists every host's devices and the
same call ``run_sweep(cfg, devices=jax.devices())`` shards over all of them.  On a
CPU-only machine, ``jax.config.update("jax_num_cpu_devices", n)`` (before JAX starts
its backend) splits the cores into ``n`` devices.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "models"


def model_mesh(devices: Sequence[jax.Device]) -> Mesh:
    """One-dimensional mesh named ``"models"`` over ``devices``."""
    return Mesh(np.asarray(list(devices)), (AXIS,))


def padded_size(n: int, n_devices: int) -> int:
    """Smallest multiple of ``n_devices`` that is >= ``n``."""
    return -(-n // n_devices) * n_devices


def pad_k(tree, size: int, axis: int):
    """Pads every leaf along ``axis`` to ``size`` by repeating its last entry."""

    def pad(a):
        extra = size - a.shape[axis]
        if extra == 0:
            return a
        last = jax.lax.slice_in_dim(a, a.shape[axis] - 1, a.shape[axis], axis=axis)
        return jnp.concatenate([a, jnp.repeat(last, extra, axis=axis)], axis=axis)

    return jax.tree.map(pad, tree)


def unpad_k(tree, size: int, axis: int):
    """Drops padding models: keeps the first ``size`` entries along ``axis``."""
    return jax.tree.map(lambda a: jax.lax.slice_in_dim(a, 0, size, axis=axis), tree)


def place(tree, mesh: Mesh, spec: P):
    """``device_put`` of every leaf with ``NamedSharding(mesh, spec)``."""
    return jax.device_put(tree, NamedSharding(mesh, spec))


def to_host(tree):
    """Fetches a (possibly multi-host) sharded pytree to NumPy on every process."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def local_devices(n: int | None) -> list[jax.Device] | None:
    """The first ``n`` devices to shard a sweep over; None for the default device.

    On a CPU-only machine the cores are first split into ``n`` devices (this only works
    before JAX starts its backend; afterwards the devices that exist are used).

    Args:
      n: device count, an integer >= 1, or None (same as 1: no sharding).

    Returns:
      A list of ``n`` devices, or None when ``n`` is None or 1.

    Raises:
      ValueError: ``n < 1`` or more devices asked for than exist.

    Examples:
      >>> local_devices(1) is None
      True
    """
    if n is None or n == 1:
        return None
    if n < 1:
        raise ValueError(f"devices={n} is out of range; expected an integer >= 1")
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # backend already started: use what exists
        pass
    available = jax.devices()
    if len(available) < n:
        raise ValueError(f"devices={n} but only {len(available)} device(s) exist; "
                         f"expected at most {len(available)}")
    return available[:n]


STATE_SPEC = P(None, AXIS)  # [S, K, ...]: models along k
K_SPEC = P(AXIS)  # [K]
REPLICATED = P()
