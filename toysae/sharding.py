"""Scale-out: the stacked model axis on a device mesh (DESIGN "Scale-out").

A sweep's state is stacked ``[S, K, ...]``.  With several devices the k axis is put on
a one-dimensional :class:`jax.sharding.Mesh` (axis ``"models"``) with
:class:`~jax.sharding.NamedSharding`, and :func:`toysae.sweep.run_chunk_sharded` runs
each device's share of the models as an unsharded sweep of its own (``jax.shard_map``;
the seeds' batches are drawn on every device, being small), with its own AuxK groups:
a training chunk has no collective across devices, so on several hosts the steps do
not wait on the network (only the per-chunk logs and the final state are gathered).
K is padded to a multiple of the device count by repeating the last k; the padding
models are dropped again before anything is returned or saved.  On a CPU-only machine,
``jax.config.update("jax_num_cpu_devices", n)`` (before JAX starts its backend) splits
the cores into ``n`` devices.

Across processes (multi-host), as ``tests/test_multihost.py`` runs it with two
processes on one machine: every process first selects its collectives and joins the
others, before any other JAX call::

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU only
    jax.distributed.initialize(coordinator_address="host0:1234", num_processes=2,
                               process_id=i)

and then makes the same call ``run_sweep(cfg, devices=jax.devices())`` (in memory:
``out_dir`` is refused).  Each process builds the same initial state and places only
its own devices' slices (:func:`place`, with
:func:`jax.make_array_from_process_local_data`); the per-chunk logs and the final state
are gathered to every process (:func:`to_host`, with
:func:`jax.experimental.multihost_utils.process_allgather`), so every process evaluates
the models and returns the same records.
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
    """Every leaf of ``tree`` as a ``jax.Array`` with ``NamedSharding(mesh, spec)``.

    On one process (a fully addressable mesh) this is ``jax.device_put``.  On a mesh
    that spans processes, every process must call it with the same values (here: the
    same config and seeds, so every process builds the same initial state); each
    process then places only its own devices' slices, with
    :func:`jax.make_array_from_process_local_data` given the full value
    (``global_shape`` equal to the local shape).  Key arrays are placed as their key
    data and wrapped again.
    """
    sharding = NamedSharding(mesh, spec)
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)
    return jax.tree.map(lambda a: _place_global(a, sharding), tree)


def _place_global(a, sharding: NamedSharding) -> jax.Array:
    if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
        data = _place_global(jax.random.key_data(a), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
    host = np.asarray(a)
    return jax.make_array_from_process_local_data(sharding, host, host.shape)


def spans_processes(mesh: Mesh) -> bool:
    """Whether ``mesh`` holds devices of other processes (a multi-host sweep).

    Examples:
      >>> spans_processes(model_mesh(jax.devices()[:1]))
      False
    """
    return not NamedSharding(mesh, REPLICATED).is_fully_addressable


def to_host(tree):
    """Every leaf of ``tree`` as NumPy, on every process.

    A leaf sharded over several processes' devices (not fully addressable) is gathered
    with :func:`jax.experimental.multihost_utils.process_allgather` (a collective: every
    process must call this); any other leaf is fetched with ``jax.device_get``.
    """

    def fetch(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            from jax.experimental import multihost_utils

            return multihost_utils.process_allgather(a, tiled=True)
        return jax.device_get(a)

    return jax.tree.map(fetch, tree)


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
