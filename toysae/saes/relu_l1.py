"""ReLU SAE with an L1 penalty: the standard SAE, as in Anthropic's "April update"
recipe (decoder-norm-weighted L1, λ warm-up).

  pre  = (x − b_dec) W_enc + b_enc,   acts = ReLU(pre)                 [B, h]
  x̂    = acts W_dec + b_dec            (raw decoder rows, not normalised)
  L    = mean_b ‖x̂ − x‖² + λ_t · mean_b Σ_i acts_i ‖W_dec,i‖

λ_t rises linearly from 0 to λ over the first ``l1_warmup_frac`` of training (the
April update: 5%).  λ is the sweep column; the achieved L0 is measured, not set.
Weighting the penalty by the row norms keeps the SAE from shrinking activations by
growing its decoder.  We subtract ``b_dec`` before the encoder, as SAELens's standard
SAE does by default (the April update does not); dead latents get no special handling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp

from ..sae import Params
from ..train import TrainState, adam_update
from .base import COMMON_FIELDS, Arch, activity, evaluate_raw_decoder


def encode(params: Params, x: jax.Array) -> jax.Array:
    """``[B, h]`` ReLU((x − b_dec) W_enc + b_enc)."""
    return jax.nn.relu((x - params["b_dec"]) @ params["W_enc"] + params["b_enc"])


def decode(params: Params, acts: jax.Array) -> jax.Array:
    """``[B, d]`` ``acts W_dec + b_dec`` with the raw decoder."""
    return acts @ params["W_dec"] + params["b_dec"]


def loss_fn(params: Params, x: jax.Array, lam: jax.Array):
    """Training loss (module docstring): ``(loss, (mse, acts [B, h]))``.

    Examples:
      >>> p = {"W_enc": jnp.eye(2), "b_enc": jnp.zeros(2), "W_dec": 2 * jnp.eye(2),
      ...      "b_dec": jnp.zeros(2)}
      >>> loss, (mse, acts) = loss_fn(p, jnp.array([[1.0, 0.0]]), 0.5)
      >>> float(mse), float(loss)  # x̂ = (2, 0): error 1; L1 = 1 · ‖W_dec,0‖ = 2
      (1.0, 2.0)
    """
    acts = encode(params, x)
    mse = jnp.mean(jnp.sum((decode(params, acts) - x) ** 2, axis=-1))
    norms = jnp.linalg.norm(params["W_dec"], axis=-1)
    l1 = jnp.mean(jnp.sum(acts * norms, axis=-1))
    return mse + lam * l1, (mse, acts)


@dataclass(frozen=True)
class ReLUL1(Arch):
    """ReLU + L1 record (module docstring); λ is the sweep column.

    Attributes:
      dec_init_norm: norm of the decoder rows at random init.
      l1_warmup_frac: fraction of training over which λ rises from 0 (April update: 0.05).

    Examples:
      >>> arch = ReLUL1()
      >>> arch.warmup(14_648), arch.column
      (732, 'lambda')
    """

    name: ClassVar[str] = "relu_l1"
    column: ClassVar[str] = "lambda"
    column_flag: ClassVar[str] = "--l1"
    summary: ClassVar[str] = ("ReLU + L1 (the standard SAE, April-update recipe): "
                              "decoder-norm-weighted L1 penalty λ with warm-up")
    config_fields: ClassVar[tuple[str, ...]] = COMMON_FIELDS + ("arch", "l1_warmup_frac")

    l1_warmup_frac: float = 0.05

    def warmup(self, n_steps):
        return round(self.l1_warmup_frac * n_steps)

    def encode(self, params, x, column):
        return encode(params, x)

    def decode(self, params, acts):
        return decode(params, acts)

    def train_step(self, state: TrainState, x, column, opts):
        (loss, (mse, acts)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, x, column)
        params, opt_state = adam_update(state, grads, opts)
        since, l0 = activity(state, acts, x)
        return state._replace(params=params, opt_state=opt_state, since_fired=since), (
            loss, mse, l0)

    def evaluate(self, params, column, threshold, features, x, s_n=(), mixing_feature=0):
        return evaluate_raw_decoder(params, encode(params, x), features, x, s_n,
                                    mixing_feature)
