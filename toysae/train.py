"""Training state and options shared by every architecture (pure pytrees).

An architecture record (:mod:`toysae.saes`) writes its own step over these: the sweep
stacks :class:`TrainState` along model axes and calls the record's ``stack_step``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .sae import Params


class TrainState(NamedTuple):
    """Per-model training state (a pytree; the sweep stacks it along model axes).

    Attributes:
      params: SAE parameter dict.
      opt_state: optax state.
      threshold: the record's scalar per-model state: BatchTopK's running global
        threshold for inference (an EMA of batch thresholds); a logged mean threshold
        for the others.
      since_fired: ``[h]`` int32 steps since each latent last fired.
    """

    params: Params
    opt_state: optax.OptState
    threshold: jax.Array
    since_fired: jax.Array


class StepOptions(NamedTuple):
    """Static (hashable) options of a training step: Adam's settings and the
    architecture record (:mod:`toysae.saes`), which holds every other hyperparameter.

    Examples:
      >>> from toysae.saes import BatchTopK
      >>> opts = StepOptions(1e-3, 0.9, 0.999, BatchTopK(dead_steps=5))
      >>> opts.arch.dead_steps, hash(opts) == hash(StepOptions(1e-3, 0.9, 0.999,
      ...                                                      BatchTopK(dead_steps=5)))
      (5, True)
    """

    lr: float
    beta1: float
    beta2: float
    arch: Any
    clip_grad_norm: float | None = None

    def optimizer(self) -> optax.GradientTransformation:
        return optax.adam(self.lr, b1=self.beta1, b2=self.beta2)


def init_state(params: Params, opts: StepOptions) -> TrainState:
    """Fresh training state around ``params``."""
    h = params["W_dec"].shape[0]
    return TrainState(
        params=params,
        opt_state=opts.optimizer().init(params),
        threshold=jnp.zeros((), jnp.float32),
        since_fired=jnp.zeros((h,), jnp.int32),
    )


def adam_update(state: TrainState, grads: Params, opts: StepOptions):
    """``(params, opt_state)`` after one optimiser step on ``grads``, clipped first to
    the global norm ``opts.clip_grad_norm`` (optax's ``clip_by_global_norm``, over this
    model's gradients) where that is set."""
    if opts.clip_grad_norm is not None:
        grads, _ = optax.clip_by_global_norm(opts.clip_grad_norm).update(
            grads, optax.EmptyState())
    updates, opt_state = opts.optimizer().update(grads, state.opt_state, state.params)
    return optax.apply_updates(state.params, updates), opt_state


def k_at(step: jax.Array, k_start: jax.Array, k_end: jax.Array, start: int, end: int | None,
         integer: bool) -> jax.Array:
    """Column value of a linear schedule from ``k_start`` (until ``start``) to ``k_end``
    (from ``end``): a k schedule, or a penalty's warm-up from 0.

    With ``end=None`` the value is constant at ``k_end``.  With ``integer=True`` the
    interpolated value is truncated to its integer part (paper A.8 reference settings).
    """
    if end is None:
        return jnp.asarray(k_end, jnp.float32)
    frac = jnp.clip((step - start) / max(end - start, 1), 0.0, 1.0)
    k = k_start + (k_end - k_start) * frac
    return jnp.floor(k) if integer else k
