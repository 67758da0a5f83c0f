"""JumpReLU SAE (paper §3.6, Fig 7): pure functions, trained by the same sweep engine.

Parameters: the BatchTopK dict plus ``log_threshold [h]``::

  pre  = (x − b_dec) W_enc + b_enc                                   [B, h]
  acts = pre · 1[pre > θ],   θ = exp(log_threshold)                  [B, h]
  x̂    = acts W_dec + b_dec                (raw decoder rows, not normalised)

Training loss (the paper's recipe, SAELens's JumpReLU with the ``tanh`` sparsity mode)::

  L = mean_b ‖x̂ − x‖² + λ_t · mean_b Σ_i tanh(c · acts_i · ‖W_dec,i‖)

with λ_t rising linearly from 0 to λ over ``warmup_steps`` steps.  The jump has no
gradient with respect to θ; the straight-through estimator of Rajamanoharan et al.
(2024) replaces it by ``−(θ/ε) · K((pre − θ)/ε)`` with the rectangle kernel
``K(z) = 1[|z| < 1/2]`` and bandwidth ε (paper: 2.0, initial θ = 0.1).  The gradient
with respect to ``pre`` is that of ``pre · 1[pre > θ]`` with the mask held fixed.

The sweep passes λ where a BatchTopK sweep passes k (one column of models per λ); see
:class:`toysae.config.SweepConfig` ``lambdas``.  :class:`JumpReLU` is the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import jax
import jax.numpy as jnp

from .. import sae as batchtopk
from ..train import adam_update
from .base import COMMON_FIELDS, Arch, activity, evaluate_raw_decoder

Params = dict[str, jax.Array]


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def jump(pre: jax.Array, threshold: jax.Array, bandwidth: float) -> jax.Array:
    """``pre · 1[pre > threshold]`` with the straight-through threshold gradient.

    Args:
      pre: ``[..., h]`` pre-activations.
      threshold: ``[h]`` positive thresholds θ.
      bandwidth: ε of the rectangle kernel (static).

    Returns:
      ``[..., h]`` activations.

    Examples:
      >>> g = jax.grad(lambda t: jump(jnp.array([0.5, 2.0]), t, 2.0).sum())(jnp.ones(2))
      >>> g.tolist()  # only pre = 0.5 lies within ε/2 = 1 of θ = 1: −θ/ε
      [-0.5, -0.0]
    """
    return jnp.where(pre > threshold, pre, 0.0)


def _jump_fwd(pre, threshold, bandwidth):
    return jump(pre, threshold, bandwidth), (pre, threshold)


def _jump_bwd(bandwidth, res, g):
    pre, threshold = res
    g_pre = jnp.where(pre > threshold, g, 0.0)
    kernel = (jnp.abs((pre - threshold) / bandwidth) < 0.5).astype(pre.dtype)
    g_thr = -(threshold / bandwidth) * kernel * g
    # Sum the threshold gradient over the leading (batch) axes.
    g_thr = jnp.sum(g_thr.reshape(-1, threshold.shape[-1]), axis=0)
    return g_pre, g_thr


jump.defvjp(_jump_fwd, _jump_bwd)


def init_params(key: jax.Array, dim: int, width: int, dec_init_norm: float = 0.1,
                init_threshold: float = 0.1) -> Params:
    """Random init as :func:`toysae.sae.init_params`, plus ``log_threshold`` at
    ``log(init_threshold)``."""
    p = batchtopk.init_params(key, dim, width, dec_init_norm)
    return with_threshold(p, init_threshold)


def with_threshold(params: Params, init_threshold: float) -> Params:
    """``params`` with a ``log_threshold [h]`` of ``log(init_threshold)`` added."""
    h = params["W_dec"].shape[0]
    return {**params, "log_threshold": jnp.full((h,), jnp.log(init_threshold), jnp.float32)}


def threshold(params: Params) -> jax.Array:
    """``[h]`` thresholds θ = exp(log_threshold)."""
    return jnp.exp(params["log_threshold"])


def pre_activations(params: Params, x: jax.Array) -> jax.Array:
    """``[B, h]`` (x − b_dec) W_enc + b_enc (no ReLU: θ > 0 does that job)."""
    return (x - params["b_dec"]) @ params["W_enc"] + params["b_enc"]


def encode(params: Params, x: jax.Array, bandwidth: float = 2.0) -> jax.Array:
    """``[B, h]`` JumpReLU activations (differentiable in θ through :func:`jump`)."""
    return jump(pre_activations(params, x), threshold(params), bandwidth)


def decode(params: Params, acts: jax.Array) -> jax.Array:
    """``[B, d]`` reconstruction with the raw decoder, ``acts W_dec + b_dec``."""
    return acts @ params["W_dec"] + params["b_dec"]


def loss_fn(params: Params, x: jax.Array, lam: jax.Array, bandwidth: float,
            tanh_scale: float):
    """Training loss of one JumpReLU SAE on one batch (module docstring).

    Args:
      params: parameter dict.
      x: ``[B, d]`` batch.
      lam: scalar sparsity coefficient of this step (after warm-up scaling).
      bandwidth: ε of the straight-through estimator.
      tanh_scale: c of the tanh penalty.

    Returns:
      ``(loss, (mse, acts [B, h]))``.
    """
    acts = encode(params, x, bandwidth)
    x_hat = decode(params, acts)
    mse = jnp.mean(jnp.sum((x_hat - x) ** 2, axis=-1))
    norms = jnp.linalg.norm(params["W_dec"], axis=-1)
    # acts >= 0 (θ > 0), so |acts| = acts; without the abs the penalty's gradient at
    # acts = 0 is c·‖W_dec,i‖ (as in SAELens), which the straight-through estimator
    # passes to θ for inputs just below the threshold too.
    sparsity = jnp.mean(jnp.sum(jnp.tanh(tanh_scale * acts * norms), axis=-1))
    return mse + lam * sparsity, (mse, acts)


def train_step(state, x: jax.Array, lam: jax.Array, opts, bandwidth: float = 2.0,
               tanh_scale: float = 4.0):
    """One Adam step of one JumpReLU SAE (same state and log layout as every record's
    ``train_step``).

    Args:
      state: :class:`toysae.train.TrainState` (``threshold`` holds the mean θ, for
        logging only).
      x: ``[B, d]`` batch.
      lam: scalar λ of this step.
      opts: :class:`toysae.train.StepOptions`.
      bandwidth: ε of the straight-through estimator (static).
      tanh_scale: c of the tanh penalty (static).

    Returns:
      ``(new_state, (loss, mse, l0))``.
    """
    (loss, (mse, acts)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, x, lam, bandwidth, tanh_scale)
    params, opt_state = adam_update(state, grads, opts)
    since, l0 = activity(state, acts, x)
    thr = jnp.mean(threshold(params))
    return state._replace(params=params, opt_state=opt_state, threshold=thr,
                          since_fired=since), (loss, mse, l0)


def evaluate(params: Params, features: jax.Array, x: jax.Array,
             s_n: tuple[int, ...] = (), mixing_feature: int = 0) -> dict[str, jax.Array]:
    """Every metric of one JumpReLU SAE (same keys as :func:`toysae.metrics.evaluate`
    except the BatchTopK-only ``mse_thr``/``l0_thr``; ``l0`` is the achieved L0).

    Decoding is with the raw decoder (:func:`toysae.saes.base.evaluate_raw_decoder`);
    ``threshold_mean`` is the mean θ.
    """
    pre = pre_activations(params, x)
    acts = jnp.where(pre > threshold(params), pre, 0.0)
    return evaluate_raw_decoder(params, acts, features, x, s_n, mixing_feature,
                                {"threshold_mean": jnp.mean(threshold(params))})


@dataclass(frozen=True)
class JumpReLU(Arch):
    """JumpReLU record (module docstring, paper §3.6); λ is the sweep column and the
    achieved L0 is measured.

    Attributes:
      dec_init_norm: norm of the decoder rows at random init.
      init_threshold: initial θ (paper: 0.1).
      bandwidth: straight-through bandwidth ε (paper: 2.0).
      tanh_scale: c of the tanh sparsity penalty (SAELens default 4.0).
      warmup_steps: steps over which λ rises linearly from 0 (paper: 10,000).

    Examples:
      >>> arch = JumpReLU(init_threshold=0.5)
      >>> p = arch.init(jax.random.key(0), 20, 5)
      >>> sorted(p), round(float(threshold(p)[0]), 4)
      (['W_dec', 'W_enc', 'b_dec', 'b_enc', 'log_threshold'], 0.5)
    """

    name: ClassVar[str] = "jumprelu"
    column: ClassVar[str] = "lambda"
    column_flag: ClassVar[str] = "--lambdas"
    summary: ClassVar[str] = ("JumpReLU (paper §3.6): per-latent thresholds with "
                              "straight-through gradients, tanh sparsity penalty λ")
    # The JSON form of a JumpReLU config predates the registry: every field then known.
    config_fields: ClassVar[tuple[str, ...]] = COMMON_FIELDS + (
        "aux_coef", "dead_steps", "threshold_decay", "resample", "arch", "bandwidth",
        "init_threshold", "tanh_scale", "warmup_steps")

    init_threshold: float = 0.1
    bandwidth: float = 2.0
    tanh_scale: float = 4.0
    warmup_steps: int = 10_000

    def warmup(self, n_steps):
        return self.warmup_steps

    def init(self, key, dim, width):
        return init_params(key, dim, width, self.dec_init_norm, self.init_threshold)

    def ground_truth(self, features, key, noise):
        return with_threshold(batchtopk.ground_truth_params(features, key, noise),
                              self.init_threshold)

    def encode(self, params, x, column):
        pre = pre_activations(params, x)
        return jnp.where(pre > threshold(params), pre, 0.0)

    def decode(self, params, acts):
        return decode(params, acts)

    def fold_input_scale(self, params, threshold, scale):
        """As the base, and θ divided by ``scale`` (``log_threshold − log scale``)."""
        out, threshold = super().fold_input_scale(params, threshold, scale)
        out["log_threshold"] = params["log_threshold"] - jnp.log(jnp.float32(scale))
        return out, threshold

    def train_step(self, state, x, column, opts):
        return train_step(state, x, column, opts, self.bandwidth, self.tanh_scale)

    def evaluate(self, params, column, threshold, features, x, s_n=(), mixing_feature=0):
        return evaluate(params, features, x, s_n, mixing_feature)
