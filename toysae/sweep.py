"""Many SAEs in one compiled program: every k × every seed of a :class:`SweepConfig`.

Layout: the training state is stacked ``[S, K, ...]`` (seeds × k values).  One step runs
the seeds one after another (``lax.map``; each seed has its own batch), each a ``vmap``
over k (the batch is shared, so the K encoders act on one input matrix as one large
matmul); see :data:`SEED_BLOCK`.  Steps run in
``lax.scan`` chunks of ``chunk_steps``; between chunks the driver updates the progress
bar, calls the optional callback and writes a checkpoint.  k and the step count are
data, so every chunk and every sweep of the same shape reuse one compiled program.

Keys: seed ``s`` inits from ``fold_in(key(s), 0)`` and draws batch ``t`` from
``fold_in(fold_in(key(s), 1), t)``, so the same config and seed give the same numbers,
a resumed sweep continues exactly, and a model trained alone equals the same model
trained inside a sweep, step for step, to float rounding.  Over a long run those
rounding differences can grow in a model whose top-k sits on a knife edge: on the main
toy the k = 2 model trained alone and inside the 25-model sweep agree to 1e-8 after 300
steps but differ by up to 0.06 in a decoder entry after 1,000 (k = 5: 0.04).  The same
holds for any change of the stack (other k values, AuxK groups); the same config and
seeds always give the same numbers.

The engine is generic over the architecture record (:mod:`toysae.saes`) that
:func:`step_options` builds from the config: the record's ``stack_step`` trains the
stack, its ``column_groups`` may split the column axis (BatchTopK's AuxK groups), its
``warmup`` says whether the column is a k (following the config's k schedule) or a
penalty warmed up from 0, and its ``evaluate`` gives the metrics.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from . import saes, sharding
from .config import SweepConfig, TrainConfig
from .detection import absorption, detection, uniqueness
from .generator import ToyModel, build_toy, memory_estimate
from .hierarchy import build_tree
from .metrics import cos_matrix, default_s_n, match
from .normalize import fold_state, training_toy
from .train import StepOptions, TrainState, init_state, k_at
from .validation import refuse_if_over_memory

# Number of traces of the chunk program; tests use it to check for recompiles.
TRACE_COUNT = {"chunk": 0}


def step_options(cfg: SweepConfig) -> StepOptions:
    """Adam's settings and the architecture record of ``cfg`` (static, hashable)."""
    t = cfg.train
    return StepOptions(t.lr, t.beta1, t.beta2, saes.build(cfg.sae), t.clip_grad_norm)


def init_sweep_state(cfg: SweepConfig, toy: ToyModel) -> TrainState:
    """Stacked ``[S, K, ...]`` initial state; every k of a seed starts identically."""
    opts = step_options(cfg)
    arch = opts.arch

    def one_seed(seed):
        key = jax.random.fold_in(jax.random.key(seed), 0)
        if cfg.sae.init == "ground_truth":
            return arch.ground_truth(toy.features, key, cfg.sae.init_noise)
        return arch.init(key, toy.dim, cfg.sae.width)

    params = jax.vmap(one_seed)(jnp.asarray(cfg.seeds))
    n_k = len(cfg.columns)
    params = jax.tree.map(lambda a: jnp.repeat(a[:, None], n_k, axis=1), params)
    return jax.vmap(jax.vmap(partial(init_state, opts=opts)))(params)


#: Seeds stepped together (one ``vmap``) in the unsharded chunk program; blocks of this
#: many run one after another (``run_chunk``'s ``seed_block``).  Chosen by measurement
#: (issue 20; ``benchmarks/ab.py`` → ``benchmarks/layout_ab.json``: main toy, 125
#: models = 5 seeds × 25 k, 50-step chunks, 2 CPU cores, nothing else running, 4
#: alternating rounds): median 734k model-samples/s one seed at a time against 662k
#: with the 5 seeds in one vmap (paired ratio 1.10).  Per seed the step works on a
#: fifth of the data at a time, and each seed's AuxK groups pick their branch on their
#: own.  A one-seed sweep is the same program either way.
SEED_BLOCK = 1


def data_keys(seeds) -> jax.Array:
    """``[S]`` data-stream keys, one per seed."""
    return jax.vmap(lambda s: jax.random.fold_in(jax.random.key(s), 1))(jnp.asarray(seeds))


def aux_groups(n_k: int, opts: StepOptions, group: int | None = None
               ) -> tuple[tuple[int, int], ...] | None:
    """Static slices of the column axis that run their steps apart (the record's
    ``column_groups``; BatchTopK's AuxK groups), or None.

    Examples:
      >>> from toysae.saes import BatchTopK, ReLUL1
      >>> aux_groups(12, StepOptions(1e-3, 0.9, 0.999, BatchTopK()))
      ((0, 5), (5, 10), (10, 12))
      >>> aux_groups(12, StepOptions(1e-3, 0.9, 0.999, ReLUL1())) is None
      True
    """
    return opts.arch.column_groups(n_k, group)


def eval_inputs(toy: ToyModel, train: TrainConfig, n: int | None = None) -> jax.Array:
    """The evaluation set every model of a run is measured on: ``[n, d]`` inputs drawn
    with ``key(train.eval_seed)`` (``n``: ``train.n_eval``)."""
    return eval_set(toy, train, n)[1]


def eval_set(toy: ToyModel, train: TrainConfig, n: int | None = None
             ) -> tuple[jax.Array, jax.Array]:
    """``(fires [n, g] bool, x [n, d])``: the evaluation set and which true features
    fire in it.  The one place it is made."""
    fires, x, most = _draw_eval(toy, jax.random.key(train.eval_seed),
                                train.n_eval if n is None else n)
    check_active(toy, most, "the evaluation set")
    return fires, x


@partial(jax.jit, static_argnames="n")
def _draw_eval(toy: ToyModel, key: jax.Array, n: int):
    # Jitted, so a capped toy's float [n, g] coefficients are never formed: only the bool
    # firing pattern (nonzero coefficients) is.
    events = toy._events(key, n)
    _, x, most = toy._draw_events(events, n)
    fires, mags, idx, vals, _ = events
    if idx is None:
        return fires & (mags != 0), x, most
    rows = jnp.arange(n)[:, None]
    present = jnp.zeros((n, toy.n_features + 1), bool).at[rows, idx].set(vals != 0)
    return present[:, :-1], x, most


def check_active(toy: ToyModel, most, where: str) -> None:
    """Raises when an input of the sparse path had more active features than the toy's
    ``max_active`` (its ``x`` is NaN, never a truncated input).

    Args:
      toy: the toy model.
      most: the largest active count measured (any shape; None: not measured).
      where: what was drawn, for the message.
    """
    if toy.max_active is None or most is None:
        return
    worst = int(np.max(np.asarray(most)))
    if worst > toy.max_active:
        raise ValueError(f"an input in {where} has {worst} active features, more than the "
                         f"toy's max_active={toy.max_active}; raise max_active to at least "
                         f"{worst} (or leave it unset for the dense path)")


@partial(jax.jit, static_argnames=("opts", "batch", "length", "schedule", "groups",
                                   "seed_block"),
         donate_argnums=0)
def run_chunk(state: TrainState, step0: jax.Array, n_steps: jax.Array, toy: ToyModel,
              keys: jax.Array, k_start: jax.Array, k_end: jax.Array, *, opts: StepOptions,
              batch: int, length: int, schedule: tuple,
              groups: tuple[tuple[int, int], ...] | None = None,
              seed_block: int | None = None) -> tuple[TrainState, dict]:
    """Runs ``length`` steps of every model from global step ``step0``.

    Steps at or beyond ``n_steps`` leave the state unchanged, so the last chunk of a
    run needs no separate program.  With ``groups`` (:func:`aux_groups`) the column axis
    is split into those slices for the chunk, and each slice steps on its own.

    Args:
      state: stacked ``[S, K, ...]`` :class:`TrainState` (donated).
      step0: int32 scalar, global step of the chunk's first step.
      n_steps: int32 scalar, total steps of the run.
      toy: the toy model (a pytree, so it is data, not a constant).
      keys: ``[S]`` data keys.
      k_start, k_end: ``[K]`` column schedule ends (a k schedule, or a penalty's
        warm-up from 0).
      opts: static step options (the architecture record is ``opts.arch``).
      batch: static batch size.
      length: static chunk length.
      schedule: static ``(start, end, integer)`` of the k schedule.
      groups: static slices of the k axis (None: one group).
      seed_block: static; each step runs the seeds in blocks of this many, one block
        after another (``lax.map``), each block vmapped; it must divide the number of
        seeds.  None: every seed in one vmap.

    Returns:
      ``(state, logs)`` with per-model means over the chunk's active steps
      (``loss``, ``mse``, ``l0``, each ``[S, K]``).
    """
    TRACE_COUNT["chunk"] += 1
    step = partial(opts.arch.stack_step, opts=opts)

    capped = toy.max_active is not None

    n_seeds = keys.shape[0]
    if seed_block is not None and (not isinstance(seed_block, int) or seed_block < 1):
        raise ValueError(f"seed_block={seed_block!r}; expected None or an integer >= 1")
    blocked = seed_block is not None and seed_block < n_seeds
    if blocked and n_seeds % seed_block:
        raise ValueError(f"seed_block={seed_block} must divide the number of seeds "
                         f"({n_seeds})")

    def block_step(st, keys, ks, t):
        """One step of the seeds in ``keys`` (state ``[s, K, ...]``)."""
        _, x, most = jax.vmap(lambda key: toy.draw(jax.random.fold_in(key, t), batch))(keys)
        if groups is None:
            st, logs = step(st, x, ks)
        else:
            outs = [step(part, x, ks[a:b]) for part, (a, b) in zip(st, groups, strict=True)]
            logs = tuple(jnp.concatenate([o[1][i] for o in outs], axis=1) for i in range(3))
            st = tuple(o[0] for o in outs)
        return st, logs + ((jnp.max(most),) if capped else ())

    def run_step(st, t):
        ks = k_at(t, k_start, k_end, *schedule)
        if not blocked:
            return block_step(st, keys, ks, t)
        # [S, ...] -> [S / b, b, ...]: blocks one after another, each vmapped.
        n_blocks = n_seeds // seed_block

        def split(a):
            return a.reshape((n_blocks, seed_block) + a.shape[1:])

        st, logs = jax.lax.map(lambda args: block_step(*args, ks, t),
                               (jax.tree.map(split, st), split(keys)))
        st = jax.tree.map(lambda a: a.reshape((n_seeds,) + a.shape[2:]), st)
        logs = tuple(v.reshape((n_seeds,) + v.shape[2:]) for v in logs[:3]) + (
            (jnp.max(logs[3]),) if capped else ())
        return st, logs

    def skip_step(st, t):
        zero = jnp.zeros(keys.shape + k_start.shape, jnp.float32)
        return st, (zero, zero, zero) + ((jnp.int32(0),) if capped else ())

    def body(st, i):
        t = step0 + i
        active = t < n_steps
        # Steps past the end are skipped whole (no per-step select over the state).
        st, logs = jax.lax.cond(active, run_step, skip_step, st, t)
        return st, logs + (active,)

    if groups is not None:
        state = tuple(jax.tree.map(lambda v, a=a, b=b: v[:, a:b], state) for a, b in groups)
    state, (loss, mse, l0, *most, active) = jax.lax.scan(body, state, jnp.arange(length))
    if groups is not None:
        state = jax.tree.map(lambda *parts: jnp.concatenate(parts, axis=1), *state)
    n = jnp.maximum(jnp.sum(active), 1)
    logs = dict(loss=loss.sum(0) / n, mse=mse.sum(0) / n, l0=l0.sum(0) / n)
    if capped:  # the sparse path's largest active count, as [S, K] like the others
        logs["most_active"] = jnp.broadcast_to(jnp.max(most[0]), loss.shape[1:])
    return state, logs


# The traced body of run_chunk, which run_chunk_sharded runs on every device.
_chunk_body = run_chunk.__wrapped__


@partial(jax.jit, static_argnames=("opts", "batch", "length", "schedule", "mesh",
                                   "seed_block"), donate_argnums=0)
def run_chunk_sharded(state: TrainState, step0: jax.Array, n_steps: jax.Array,
                      toy: ToyModel, keys: jax.Array, k_start: jax.Array, k_end: jax.Array,
                      *, opts: StepOptions, batch: int, length: int, schedule: tuple,
                      mesh, seed_block: int | None = None) -> tuple[TrainState, dict]:
    """:func:`run_chunk` with the models split over ``mesh``'s ``"models"`` axis, each
    device running its own slice as an unsharded sweep (:func:`jax.shard_map`).

    Every device draws the seeds' batches itself (the data keys and the toy are
    replicated), steps its ``K / n_devices`` columns with their own AuxK groups
    (:func:`aux_groups` of the local slice) and picks each group's AuxK branch and runs
    the BatchTopK threshold search alone: a chunk has no cross-device communication.
    (Under plain sharding, GSPMD made every step all-reduce the branch choice and the
    threshold search's loop condition, and AuxK groups could not be used.)

    The arguments are those of :func:`run_chunk` (without ``groups``; ``seed_block``
    applies on every device), with the k axis
    of ``state``, ``k_start`` and ``k_end`` padded to a multiple of the mesh size
    (:func:`toysae.sharding.pad_k`) and placed with ``toysae.sharding.STATE_SPEC`` /
    ``K_SPEC``, and ``mesh`` (static): :func:`toysae.sharding.model_mesh`.

    Returns:
      ``(state, logs)`` as :func:`run_chunk`, sharded along k.
    """
    from jax.sharding import PartitionSpec as P

    n_local = k_end.shape[0] // mesh.size
    groups = aux_groups(n_local, opts)
    local = partial(_chunk_body, opts=opts, batch=batch, length=length,
                    schedule=schedule, groups=groups, seed_block=seed_block)
    spec_k = P(None, sharding.AXIS)
    logs_spec = {"loss": spec_k, "mse": spec_k, "l0": spec_k}
    if toy.max_active is not None:
        logs_spec["most_active"] = spec_k
    # check_vma=False: the replicated toy and keys meet the per-device state inside
    # lax.cond / lax.switch, which the varying-axes check would reject for no benefit
    # (nothing here reduces over the models axis).
    return jax.shard_map(local, mesh=mesh, check_vma=False,
                         in_specs=(spec_k, P(), P(), P(), P(), P(sharding.AXIS),
                                   P(sharding.AXIS)),
                         out_specs=(spec_k, logs_spec))(
        state, step0, n_steps, toy, keys, k_start, k_end)


@partial(jax.jit, static_argnames=("arch", "s_n"))
def _evaluate_all(arch, params, columns, thresholds, features, x, s_n, fires=None, edges=None):
    flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), params)
    flat_col = jnp.broadcast_to(columns, thresholds.shape).reshape(-1)

    def one(args):
        p, col, thr = args
        out = arch.evaluate(p, col, thr, features=features, x=x, s_n=s_n)
        if fires is not None:
            out.update(firing_metrics(p, arch.infer(p, x, col, thr) != 0, fires, features,
                                      edges))
        return out

    return jax.lax.map(one, (flat, flat_col, thresholds.reshape(-1)))


def firing_metrics(params, latent_fires: jax.Array, fires: jax.Array, features: jax.Array,
                   edges: jax.Array | None = None) -> dict:
    """Uniqueness, precision, recall, F1 and (with hierarchy ``edges``) absorption of one
    model (:mod:`toysae.detection`), from its inference-mode firing ``[n, h]`` and the
    true firing ``[n, g]``."""
    cos = cos_matrix(params, features)
    abs_cos = jnp.abs(cos)
    out = {"uniqueness": uniqueness(abs_cos), **detection(abs_cos, latent_fires, fires)}
    if edges is not None:
        rows, cols = match(abs_cos)
        latent_of = jnp.full((features.shape[0],), -1, rows.dtype).at[cols].set(rows)
        out.update(absorption(cos, latent_of, latent_fires, fires, edges))
    return out


def hierarchy_edges(toy_cfg) -> jax.Array | None:
    """``[E, 2]`` (parent, child) pairs of a hierarchy toy, or None without one."""
    if toy_cfg.hierarchy is None:
        return None
    parent = build_tree(toy_cfg.hierarchy, toy_cfg.n_features).parent
    child = np.nonzero(parent >= 0)[0]
    return jnp.asarray(np.stack([parent[child], child], axis=1), jnp.int32)


# Per-pair arrays are kept in records only while they are small (here: h · g <= 2^16).
PAIR_ARRAY_LIMIT = 1 << 16


def evaluate_state(cfg: SweepConfig, toy: ToyModel, state: TrainState) -> list[dict]:
    """Metrics of every model, one record per (seed, column), on the shared evaluation
    set (:func:`eval_set`); a record names its architecture (``"arch"``) and its
    column (``"k"`` or ``"lambda"``, :attr:`SweepConfig.column_name`).  Records of models
    with ``width · n_features`` above :data:`PAIR_ARRAY_LIMIT` omit the per-pair arrays
    ``cos`` and ``best_cos``.  A metric that is undefined for a model (NaN, e.g. a 0/0 on
    a degenerate toy) is null, and the record lists its name under ``"undefined"``; no NaN
    reaches a JSON file."""
    fires, x = eval_set(toy, cfg.train)
    s_n = default_s_n(cfg.sae.width)
    columns = jnp.asarray(cfg.columns, jnp.float32)
    out = _evaluate_all(step_options(cfg).arch, state.params, columns, state.threshold,
                        toy.features, x, s_n, fires, hierarchy_edges(cfg.toy))
    out = jax.device_get(out)
    if cfg.sae.width * cfg.toy.n_features > PAIR_ARRAY_LIMIT:
        out = {k: v for k, v in out.items() if k not in ("cos", "best_cos")}
    thresholds = np.asarray(state.threshold).reshape(-1)
    records = []
    for i, (seed, k) in enumerate((s, k) for s in cfg.seeds for k in cfg.columns):
        rec = {"seed": seed, cfg.column_name: k}
        if cfg.k_start is not None:
            rec["k_start"] = cfg.k_start[cfg.ks.index(k)]
        for name, val in out.items():
            v = np.asarray(val[i])
            if v.ndim:
                rec[name] = [x if math.isfinite(x) else None for x in v.ravel().tolist()]
                rec[name] = np.asarray(rec[name], object).reshape(v.shape).tolist()
            elif name in _INT_METRICS:
                rec[name] = int(v)
            elif np.isfinite(v):
                rec[name] = float(v)
            else:  # a metric this model or toy leaves undefined (e.g. 0/0): null, named
                rec[name] = None
                rec.setdefault("undefined", []).append(name)
        rec["threshold"] = float(thresholds[i])
        rec["arch"] = cfg.sae.arch
        records.append(rec)
    return records


_INT_METRICS = ("n_recovered", "dead_latents")


@dataclasses.dataclass
class SweepResult:
    """What a sweep returns: its config, final stacked state and per-model metrics.

    Attributes:
      config: the :class:`SweepConfig`.
      state: stacked ``[S, K, ...]`` final :class:`TrainState`.
      records: one metrics dict per model, seeds outer, k inner.
      run_dir: where it is stored, if anywhere.
      train_s: wall seconds spent training it, summed over every resumed session
        (recorded in the run directory's ``timing.json``); None when not recorded.
      provenance: which code trained it, one entry per training session (the run
        directory's ``provenance.json``, :func:`toysae.store.provenance`); None when not
        recorded.

    Examples:
      >>> from toysae import presets, run_sweep, SAEConfig, TrainConfig
      >>> cfg = SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
      ...                   train=TrainConfig(samples=20_480, n_eval=2048), ks=(2.0,))
      >>> res = run_sweep(cfg, progress=False)
      >>> res.params(seed=0, k=2)["W_dec"].shape, res.record(0, 2)["k"]
      ((5, 20), 2.0)
      >>> res.sae(0, 2)(jnp.ones((4, 20))).shape  # a Flax NNX BatchTopKSAE
      (4, 20)
      >>> res.record(0, 2)["arch"]
      'batchtopk'
    """

    config: SweepConfig
    state: TrainState
    records: list[dict]
    run_dir: str | None = None
    train_s: float | None = None
    provenance: dict | None = None

    def index(self, seed: int, k: float) -> tuple[int, int]:
        """``(seed_idx, k_idx)`` of a model (``k`` is λ in a λ sweep)."""
        return self.config.seeds.index(seed), self.config.columns.index(float(k))

    def params(self, seed: int, k: float) -> dict:
        """Parameter dict of one model."""
        i, j = self.index(seed, k)
        return jax.tree.map(lambda a: a[i, j], self.state.params)

    def sae(self, seed: int, k: float):
        """One model as a Flax NNX module (the record's ``module``: a
        :class:`~toysae.sae.BatchTopKSAE` for BatchTopK, else :class:`toysae.saes.SAE`)."""
        i, j = self.index(seed, k)
        return step_options(self.config).arch.module(self.params(seed, k), float(k),
                                                     self.state.threshold[i, j])

    def record(self, seed: int, k: float) -> dict:
        i, j = self.index(seed, k)
        return self.records[i * len(self.config.columns) + j]


def train_sweep(
    cfg: SweepConfig,
    *,
    state: TrainState | None = None,
    start_step: int = 0,
    progress: bool = True,
    on_chunk: Callable[[int, TrainState, dict], None] | None = None,
    devices: Sequence[jax.Device] | None = None,
    toy: ToyModel | None = None,
    columns: Callable[[int], Sequence[float]] | None = None,
) -> TrainState:
    """Trains every model of a sweep; returns the final stacked state.

    Args:
      cfg: the sweep config.
      state: state to resume from (with ``start_step``); a fresh one if None.
      start_step: global step to resume at (a multiple of ``chunk_steps``).
      progress: show a tqdm bar.
      on_chunk: called as ``on_chunk(step, state, logs)`` after every chunk, e.g. to
        checkpoint; ``state`` must not be kept (its buffers are donated next chunk).
        With ``devices`` of several processes, ``state`` is a global ``jax.Array``
        tree (:func:`toysae.sharding.to_host` fetches it, on every process) and
        ``logs`` are NumPy arrays.
      devices: devices to shard the models over (see :mod:`toysae.sharding`); None
        runs on the default device.  Devices of several processes (multi-host, after
        ``jax.distributed.initialize``): every process calls this with the same
        arguments, and every process returns the whole state.
      toy: the toy model of ``cfg.toy``, built once by the caller (None: built
        here), or one with feature directions no config describes (the caller then
        owns its provenance).
      columns: ``columns(step)`` gives the column values of the chunk that starts at
        global step ``step`` (one per column, constant over the chunk), instead of the
        config's columns and schedule: a controller that sets k between chunks (the
        online tuner, :mod:`toysae.tuner`) together with ``on_chunk``.  Not with
        ``devices``.

    With ``cfg.train.normalize`` the models train on inputs scaled by
    :func:`toysae.normalize.input_scale`: the states passed to ``on_chunk`` (and a
    ``state`` resumed from them) are in those units, and the returned state is folded back
    to raw inputs (:func:`toysae.normalize.fold_state`).
    """
    if toy is None:
        toy = build_toy(cfg.toy)
    if state is None:
        state = init_sweep_state(cfg, toy)
    toy, scale = training_toy(cfg.train, toy)
    t = cfg.train
    n_steps = t.n_steps
    keys = data_keys(cfg.seeds)
    k_end = jnp.asarray(cfg.columns, jnp.float32)
    k_start = k_end if cfg.k_start is None else jnp.asarray(cfg.k_start, jnp.float32)
    schedule = (t.schedule_start, t.schedule_end, t.schedule_integer)
    opts = step_options(cfg)
    warm = opts.arch.warmup(n_steps)
    if warm is not None:  # a penalty coefficient warms up linearly from 0 (paper §3.6)
        k_start = jnp.zeros_like(k_end)
        schedule = (0, warm or None, False)
    length = min(t.chunk_steps, n_steps)
    n_models = len(cfg.columns) * len(cfg.seeds)
    bar = tqdm(total=n_steps, initial=start_step, disable=not progress, unit="step",
               desc=f"{n_models} SAE(s)", dynamic_ncols=True)
    n_k = len(cfg.columns)
    sharded = devices is not None and len(devices) > 1
    if sharded and columns is not None:
        raise ValueError("columns (a per-chunk controller) is not supported with several "
                         "devices; pass devices=None")
    if sharded:
        mesh = sharding.model_mesh(devices)
        size = sharding.padded_size(n_k, len(devices))
        state = sharding.place(sharding.pad_k(state, size, 1), mesh, sharding.STATE_SPEC)
        k_start, k_end = (sharding.place(sharding.pad_k(a, size, 0), mesh, sharding.K_SPEC)
                          for a in (k_start, k_end))
        keys, toy = sharding.place((keys, toy), mesh, sharding.REPLICATED)
    global_logs = sharded and sharding.spans_processes(mesh)

    # Sharded, each device runs its slice of the k axis with its own AuxK groups
    # (run_chunk_sharded); unsharded, the groups slice the whole axis.
    groups = None if sharded else aux_groups(n_k, opts)

    def unpadded(st):
        return sharding.unpad_k(st, n_k, 1) if sharded else st

    step = start_step
    while step < n_steps:
        if columns is not None:
            k_start = k_end = jnp.asarray(columns(step), jnp.float32)
        if sharded:
            state, logs = run_chunk_sharded(
                state, jnp.int32(step), jnp.int32(n_steps), toy, keys, k_start, k_end,
                opts=opts, batch=t.batch_size, length=length, schedule=schedule, mesh=mesh,
                seed_block=SEED_BLOCK)
        else:
            state, logs = run_chunk(
                state, jnp.int32(step), jnp.int32(n_steps), toy, keys, k_start, k_end,
                opts=opts, batch=t.batch_size, length=length, schedule=schedule,
                groups=groups, seed_block=SEED_BLOCK,
            )
        logs = unpadded(logs)
        if global_logs:  # sharded over other processes' devices too: gather to NumPy
            logs = sharding.to_host(logs)
        done = min(length, n_steps - step)
        step += done
        check_active(toy, logs.get("most_active"), f"training batches up to step {step}")
        loss = np.asarray(logs["loss"])
        if not np.all(np.isfinite(loss)):
            bar.close()
            raise FloatingPointError(
                f"training diverged by step {step}: non-finite loss in "
                f"{int(np.sum(~np.isfinite(loss)))} model(s); the likely cause is a learning "
                f"rate too high for this toy model (lr={t.lr}): lower it"
            )
        bar.update(done)
        bar.set_postfix(mse=f"{float(np.mean(logs['mse'])):.4f}")
        if on_chunk is not None:
            on_chunk(step, unpadded(state), logs)
    bar.close()
    state = sharding.to_host(unpadded(state)) if sharded else state
    return fold_state(opts.arch, state, scale)


def sweep_memory_estimate(cfg: SweepConfig) -> dict[str, int]:
    """Bytes a sweep needs, estimated from its config before anything is built.

    Parts: ``toy`` (:func:`toysae.generator.memory_estimate` at the batch size),
    ``models`` (every model's parameters and two Adam moments, twice over for the
    buffers a step swaps), ``step`` (one training step's activations and gradients,
    ``[models, batch, width]`` several times over), ``evaluation`` (the evaluation set,
    its true firing and one model's activations at a time) and ``total``.  A lower bound
    (buffers XLA adds and the libraries' own memory are not in it): for the
    SynthSAEBench-sized sweep of ``experiments/synthsaebench.py`` it gives 2.4 GiB where
    the measured peak RSS was 4.9 GiB; it is there to refuse the impossible early.

    Examples:
      >>> from toysae import presets, SAEConfig
      >>> cfg = SweepConfig(toy=presets.get("paper-main"), sae=SAEConfig(width=50),
      ...                   ks=(5.0, 11.0), seeds=(0, 1))
      >>> est = sweep_memory_estimate(cfg)
      >>> sorted(est), est["total"] < 2**30
      (['evaluation', 'models', 'step', 'total', 'toy'], True)
    """
    g, d, h = cfg.toy.n_features, cfg.toy.dim, cfg.sae.width
    t = cfg.train
    m = len(cfg.columns) * len(cfg.seeds)
    out = {
        "toy": memory_estimate(cfg.toy, t.batch_size)["total"],
        "models": 2 * 3 * 4 * m * (2 * h * d + h + d),
        "step": 4 * t.batch_size * (6 * m * h + 2 * len(cfg.seeds) * d),
        "evaluation": t.n_eval * (4 * d + g + 3 * 4 * h),
    }
    out["total"] = sum(out.values())
    return out


def check_sweep_memory(cfg: SweepConfig) -> None:
    """Refuses a sweep whose :func:`sweep_memory_estimate` exceeds this machine's memory,
    naming the estimate, its largest part and how to go ahead anyway."""
    refuse_if_over_memory(
        sweep_memory_estimate(cfg),
        "this sweep needs about {need} GiB (mostly {part}: {part_need} GiB) and this machine "
        "has {have} GiB; use fewer or smaller models, a smaller n_eval or batch_size, or pass "
        "--ignore-memory-estimate (Python: run_sweep(..., check_memory=False)) to try anyway")
