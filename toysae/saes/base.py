"""The architecture record: everything the engine needs to know about one SAE family.

In the spirit of optax's ``(init, update)`` pairs, an architecture is a small frozen
record closed over its hyperparameters.  Its fields are the family's hyperparameters
(so records compare and hash by value, and a jitted program keyed on a record is reused
by every sweep with the same settings); its methods are pure functions over a parameter
dict.  Nothing outside ``toysae/saes/`` asks which architecture it holds: the sweep,
the trainer, the store, the CLI and the tuner only call the methods below.

What a record gives the engine:

* ``init`` / ``ground_truth``: random and ground-truth parameters;
* ``encode`` (training mode, with the sweep column -- k or λ -- as traced data),
  ``infer`` (one input at a time), ``decode``;
* ``train_step`` (loss, gradients -- hand-written where that pays, tested against
  autodiff -- the Adam update, dead-latent handling and the extra per-model state, a
  running threshold) and ``stack_step`` (every model of a ``[S, K]`` stack at once);
* ``warmup``: whether the column is warmed up from 0 (a penalty coefficient) or follows
  the config's k schedule;
* ``evaluate``: every metric of one model;
* ``module``: a Flax NNX module around one model's parameters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from ..metrics import reconstruction, recovery, s_n_dec
from ..sae import Params, ground_truth_params, init_params

# SAEConfig fields every architecture is built from (and every config's JSON form keeps).
COMMON_FIELDS = ("width", "init", "init_noise", "dec_init_norm")


@dataclass(frozen=True)
class Arch:
    """Base of the architecture records (subclasses are frozen dataclasses).

    Class attributes a subclass sets:
      name: registry name (``SAEConfig.arch``, ``toysae sweep --arch``).
      column: what one model column of a sweep holds: ``"k"`` (mean active latents per
        input, ``SweepConfig.ks``) or ``"lambda"`` (a sparsity coefficient,
        ``SweepConfig.lambdas``); the records' key for it.
      column_flag: the ``toysae sweep`` flag that gives the column values.
      summary: one line for ``toysae archs``.
      config_fields: the :class:`~toysae.config.SAEConfig` fields its JSON form (and so
        the cache digest) keeps.

    Examples:
      >>> from toysae.saes import BatchTopK
      >>> BatchTopK() == BatchTopK(), BatchTopK().column, hash(BatchTopK()) == hash(BatchTopK())
      (True, 'k', True)
    """

    name: ClassVar[str] = ""
    column: ClassVar[str] = "k"
    column_flag: ClassVar[str] = "--k"
    summary: ClassVar[str] = ""
    config_fields: ClassVar[tuple[str, ...]] = COMMON_FIELDS

    dec_init_norm: float = 0.1

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_config(cls, sae) -> Arch:
        """The record of an :class:`~toysae.config.SAEConfig` (fields of the same name)."""
        return cls(**{f.name: getattr(sae, f.name) for f in dataclasses.fields(cls)})

    def warmup(self, n_steps: int) -> int | None:
        """Steps over which the column rises linearly from 0 (a penalty's warm-up; 0:
        constant from the start), or None: the column is a k and follows the config's k
        schedule (``k_start``, ``TrainConfig.schedule_*``)."""
        return None

    # -- parameters and forward pass -----------------------------------------------------
    def init(self, key: jax.Array, dim: int, width: int) -> Params:
        """Random parameters (decoder rows at norm ``dec_init_norm`` in random directions,
        encoder tied to its transpose, zero biases; :func:`toysae.sae.init_params`)."""
        return init_params(key, dim, width, self.dec_init_norm)

    def ground_truth(self, features: jax.Array, key: jax.Array, noise: float) -> Params:
        """The ground-truth SAE (paper §3): ``W_dec = F``, ``W_enc = Fᵀ``, zero biases."""
        return ground_truth_params(features, key, noise)

    def encode(self, params: Params, x: jax.Array, column: jax.Array) -> jax.Array:
        """``[B, h]`` training-mode activations of a batch ``x [B, d]``."""
        raise NotImplementedError

    def infer(self, params: Params, x: jax.Array, column: jax.Array,
              threshold: jax.Array) -> jax.Array:
        """``[B, h]`` activations one input at a time (default: as :meth:`encode`)."""
        return self.encode(params, x, column)

    def decode(self, params: Params, acts: jax.Array) -> jax.Array:
        """``[B, d]`` reconstruction."""
        raise NotImplementedError

    def fold_input_scale(self, params: Params, threshold: jax.Array, scale: float
                         ) -> tuple[Params, jax.Array]:
        """Parameters trained on inputs ``scale · x``, turned into an SAE of raw inputs
        (:mod:`toysae.normalize`): activations divided by ``scale``, reconstructions
        exact.  Biases and the per-model ``threshold`` state are divided by ``scale``;
        the weights stay.  Works on stacked parameters (any leading axes)."""
        out = dict(params)
        out["b_enc"] = params["b_enc"] / scale
        out["b_dec"] = params["b_dec"] / scale
        return out, threshold / scale

    # -- training --------------------------------------------------------------------------
    def train_step(self, state, x: jax.Array, column: jax.Array, opts):
        """One Adam step of one model: ``(state, x [B, d], column, StepOptions) ->
        (state, (loss, mse, l0))``."""
        raise NotImplementedError

    def stack_step(self, state, x: jax.Array, columns: jax.Array, opts):
        """One step of every model of a stacked ``[S, K, ...]`` state (``x [S, B, d]``,
        ``columns [K]``): :meth:`train_step` vmapped over columns (shared batch) inside
        seeds.  Records override it where a stack-level choice pays (BatchTopK's AuxK)."""
        step = partial(self.train_step, opts=opts)
        return jax.vmap(jax.vmap(step, in_axes=(0, None, 0)), in_axes=(0, 0, None))(
            state, x, columns)

    def column_groups(self, n_columns: int, group: int | None = None
                      ) -> tuple[tuple[int, int], ...] | None:
        """Static slices of the column axis whose steps run apart (None: one stack)."""
        return None

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, params: Params, column: jax.Array, threshold: jax.Array,
                 features: jax.Array, x: jax.Array, s_n: tuple[int, ...] = (),
                 mixing_feature: int = 0) -> dict[str, jax.Array]:
        """Every metric of one model on ``x [n, d]`` (keys of
        :func:`toysae.metrics.evaluate`; ``l0`` is the achieved L0)."""
        raise NotImplementedError

    def module(self, params: Params, column: float, threshold: float = 0.0) -> nnx.Module:
        """One model as a Flax NNX module (:class:`SAE`)."""
        return SAE(self, params, column, threshold)


def evaluate_raw_decoder(params: Params, acts: jax.Array, features: jax.Array,
                         x: jax.Array, s_n: tuple[int, ...], mixing_feature: int,
                         extra: dict | None = None) -> dict[str, jax.Array]:
    """Metrics of a model that decodes with its raw decoder rows (``acts W_dec + b_dec``).

    :func:`toysae.metrics.reconstruction` decodes with unit rows, so the activations are
    scaled by the row norms first: ``(acts · ‖W_dec‖) Ŵ_dec = acts W_dec``, the same x̂.
    """
    norms = jnp.linalg.norm(params["W_dec"], axis=-1)
    out = recovery(params, features, mixing_feature)
    out.update(reconstruction(params, x, acts * norms))
    out["l0"] = jnp.mean(jnp.sum(acts != 0, axis=-1))
    out["dead_latents"] = jnp.sum(~jnp.any(acts != 0, axis=0))
    out.update(extra or {})
    for n in s_n:
        out[f"s{n}_dec"] = s_n_dec(params, x, n)
    return out


def activity(state, acts: jax.Array, x: jax.Array):
    """``(since_fired [h], l0)``: steps since each latent fired, and this batch's L0."""
    fired = jnp.any(acts != 0, axis=0)
    since = jnp.where(fired, 0, state.since_fired + 1)
    return since, jnp.sum(acts != 0) / x.shape[0]


class SAE(nnx.Module):
    """Any architecture's model as a Flax NNX module, for use one model at a time.

    ``sae(x)`` encodes in training mode (``mode="train"``: e.g. BatchTopK over the
    batch) or one input at a time (``mode="infer"``) and decodes.

    Examples:
      >>> from toysae.saes import ReLUL1
      >>> arch = ReLUL1()
      >>> sae = SAE(arch, arch.init(jax.random.key(0), 20, 5), column=0.1)
      >>> sae(jnp.ones((8, 20))).shape, sae.encode(jnp.ones((8, 20))).shape
      ((8, 20), (8, 5))
    """

    def __init__(self, arch: Arch, params: Params, column: float, threshold: float = 0.0):
        self.arch = arch
        self.column = float(column)
        self.names = tuple(params)
        for n, v in params.items():
            setattr(self, n, nnx.Param(jnp.asarray(v)))
        self.threshold = nnx.BatchStat(jnp.asarray(threshold, jnp.float32))

    def params(self) -> Params:
        """The parameter dict of this module."""
        return {n: getattr(self, n)[...] for n in self.names}

    def encode(self, x: jax.Array, mode: str = "train") -> jax.Array:
        """``[B, h]`` latents in ``"train"`` or ``"infer"`` mode."""
        p = self.params()
        if mode == "train":
            return self.arch.encode(p, x, self.column)
        if mode == "infer":
            return self.arch.infer(p, x, self.column, self.threshold[...])
        raise ValueError(f"mode={mode!r} is not accepted; expected 'train' or 'infer'")

    def decode(self, acts: jax.Array) -> jax.Array:
        return self.arch.decode(self.params(), acts)

    def __call__(self, x: jax.Array, mode: str = "train") -> jax.Array:
        return self.decode(self.encode(x, mode))
