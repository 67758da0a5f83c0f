"""One training step of one BatchTopK SAE, as a pure function (vmapped by the sweep).

Loss = mean_b ‖x̂ − x‖² + aux_coef · AuxK.  The AuxK loss (Gao et al. 2024, as in
common BatchTopK trainers) lets dead latents (no firing for ``dead_steps`` steps)
reconstruct the detached residual ``e = x − x̂`` with their own top-``k_aux``
pre-activations per input, ``k_aux = min(d // 2, #dead)``, normalised by the
residual's variance: ``‖e − ê‖² / ‖e − ē‖²``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from .sae import Params, pre_activations, unit_decoder
from .topk import batch_topk_mask, row_topk_mask


class TrainState(NamedTuple):
    """Per-model training state (a pytree; the sweep stacks it along model axes).

    Attributes:
      params: SAE parameter dict.
      opt_state: optax state.
      threshold: running global threshold for inference (EMA of batch thresholds).
      since_fired: ``[h]`` int32 steps since each latent last fired.
    """

    params: Params
    opt_state: optax.OptState
    threshold: jax.Array
    since_fired: jax.Array


class StepOptions(NamedTuple):
    """Static (hashable) options of a training step."""

    lr: float
    beta1: float
    beta2: float
    aux_coef: float
    dead_steps: int
    threshold_decay: float

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


def k_at(step: jax.Array, k_start: jax.Array, k_end: jax.Array, start: int, end: int | None,
         integer: bool) -> jax.Array:
    """k of a linear schedule from ``k_start`` (until ``start``) to ``k_end`` (from ``end``).

    With ``end=None`` k is constant at ``k_end``.  With ``integer=True`` the
    interpolated value is truncated to its integer part (paper A.8 reference settings).
    """
    if end is None:
        return jnp.asarray(k_end, jnp.float32)
    frac = jnp.clip((step - start) / max(end - start, 1), 0.0, 1.0)
    k = k_start + (k_end - k_start) * frac
    return jnp.floor(k) if integer else k


def loss_fn(params: Params, x: jax.Array, k: jax.Array, dead: jax.Array, aux_coef: float):
    """Training loss of one SAE on one batch.

    Args:
      params: parameter dict.
      x: ``[B, d]`` batch.
      k: scalar k.
      dead: ``[h]`` bool, latents counted as dead.
      aux_coef: AuxK weight.

    Returns:
      ``(loss, (mse, acts [B, h], threshold))``.
    """
    pre = pre_activations(params, x)
    mask, t = batch_topk_mask(pre, k)
    acts = jnp.where(mask, pre, 0.0)
    x_hat = acts @ unit_decoder(params) + params["b_dec"]
    mse = jnp.mean(jnp.sum((x_hat - x) ** 2, axis=-1))
    loss = mse
    if aux_coef > 0:
        n_dead = jnp.sum(dead, dtype=jnp.int32)
        k_aux = jnp.minimum(x.shape[-1] // 2, n_dead)
        pre_dead = jnp.where(dead, pre, 0.0)
        aux_acts = jnp.where(row_topk_mask(pre_dead, k_aux), pre_dead, 0.0)
        resid = jax.lax.stop_gradient(x - x_hat)
        e_hat = aux_acts @ unit_decoder(params)
        num = jnp.sum((resid - e_hat) ** 2)
        den = jnp.sum((resid - resid.mean(0)) ** 2)
        aux = jnp.where(n_dead > 0, num / jnp.maximum(den, 1e-12), 0.0)
        loss = loss + aux_coef * aux
    return loss, (mse, acts, t)


def train_step(state: TrainState, x: jax.Array, k: jax.Array, opts: StepOptions):
    """One Adam step of one SAE.

    Args:
      state: :class:`TrainState`.
      x: ``[B, d]`` batch.
      k: scalar k for this step.
      opts: static :class:`StepOptions`.

    Returns:
      ``(new_state, (loss, mse, l0))``.
    """
    dead = state.since_fired >= opts.dead_steps
    (loss, (mse, acts, t)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, x, k, dead, opts.aux_coef
    )
    updates, opt_state = opts.optimizer().update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    fired = jnp.any(acts > 0, axis=0)
    since = jnp.where(fired, 0, state.since_fired + 1)
    # The first step seeds the EMA with the batch threshold.
    first = jnp.all(state.threshold == 0)
    thr = jnp.where(first, t, (1 - opts.threshold_decay) * state.threshold
                    + opts.threshold_decay * t)
    thr = jnp.where(jnp.isfinite(thr), thr, state.threshold)
    l0 = jnp.sum(acts > 0) / x.shape[0]
    return TrainState(params, opt_state, thr, since), (loss, mse, l0)
