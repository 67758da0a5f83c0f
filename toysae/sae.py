"""BatchTopK SAE: pure functions over a parameter dict, and a Flax NNX module around them.

Parameters (a dict pytree, stackable along leading model axes)::

  W_enc [d, h], b_enc [h], W_dec [h, d], b_dec [d]

Forward pass (paper §3; Bussmann et al. BatchTopK)::

  pre  = ReLU((x − b_dec) W_enc + b_enc)                   [B, h]
  acts = pre · 1[pre among the round(k·B) largest of the batch]
  x̂    = acts Ŵ_dec + b_dec,   Ŵ_dec = W_dec / ‖W_dec‖_row   (unit-norm rows)

The decoder is normalised *inside* the forward pass, so metrics always see unit
directions while the stored rows keep their norm: with Adam, a row's angular step is
about lr / ‖row‖, and rows start at norm ``dec_init_norm`` (0.1), which lets
directions move quickly at lr 3e-4.

Inference on one input at a time uses a running global threshold (an EMA of the batch
threshold during training): ``acts = pre · 1[pre > threshold]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from .topk import batch_topk_mask

Params = dict[str, jax.Array]


def init_params(key: jax.Array, dim: int, width: int, dec_init_norm: float = 0.1) -> Params:
    """Random init: decoder rows in random directions with norm ``dec_init_norm``,
    encoder tied to the decoder's transpose, zero biases.

    Args:
      key: JAX PRNG key.
      dim: d.
      width: h.
      dec_init_norm: norm of each decoder row.

    Returns:
      Parameter dict (shapes in the module docstring).

    Examples:
      >>> p = init_params(jax.random.key(0), dim=20, width=5)
      >>> p["W_enc"].shape, p["W_dec"].shape, round(float(jnp.linalg.norm(p["W_dec"][0])), 4)
      ((20, 5), (5, 20), 0.1)
    """
    w = jax.random.normal(key, (width, dim), jnp.float32)
    w = dec_init_norm * w / jnp.linalg.norm(w, axis=1, keepdims=True)
    return dict(
        W_enc=w.T, b_enc=jnp.zeros((width,), jnp.float32),
        W_dec=w, b_dec=jnp.zeros((dim,), jnp.float32),
    )


def ground_truth_params(
    features: jax.Array, key: jax.Array | None = None, noise: float = 0.0
) -> Params:
    """The ground-truth SAE (paper §3): ``W_dec = F``, ``W_enc = Fᵀ``, zero biases.

    Args:
      features: ``[g, d]`` true features (width h = g).
      key: key for the optional noise.
      noise: std of Gaussian noise added to the decoder (and its transpose).

    Examples:
      >>> p = ground_truth_params(jnp.eye(3, 8))
      >>> p["W_dec"].shape, p["W_enc"].shape, bool((p["W_enc"] == p["W_dec"].T).all())
      ((3, 8), (8, 3), True)
    """
    w = jnp.asarray(features, jnp.float32)
    if noise > 0:
        w = w + noise * jax.random.normal(key, w.shape, w.dtype)
    g, d = w.shape
    return dict(
        W_enc=w.T, b_enc=jnp.zeros((g,), jnp.float32), W_dec=w, b_dec=jnp.zeros((d,), jnp.float32)
    )


# Rows of norm at most this are divided by it instead (no division by zero).
NORM_FLOOR = 1e-12


def decoder_norms(params: Params) -> tuple[jax.Array, jax.Array]:
    """``(unit [h, d], norm [h, 1])``: the decoder with unit-norm rows (the one used in
    the forward pass) and its row norms before the floor :data:`NORM_FLOOR`."""
    w = params["W_dec"]
    norm = jnp.linalg.norm(w, axis=-1, keepdims=True)
    return w / jnp.maximum(norm, NORM_FLOOR), norm


def unit_decoder(params: Params) -> jax.Array:
    """``[h, d]`` decoder with unit-norm rows, the one used in the forward pass."""
    return decoder_norms(params)[0]


def pre_activations(params: Params, x: jax.Array) -> jax.Array:
    """``[B, h]`` ReLU((x − b_dec) W_enc + b_enc), computed as
    ``ReLU(x W_enc + (b_enc − b_dec W_enc))``: the same up to float rounding, and with
    ``x`` entering the product unchanged, models that share a batch (``vmap`` with ``x``
    unbatched) multiply it by all their encoders in one GEMM."""
    w = params["W_enc"]
    return jax.nn.relu(x @ w + (params["b_enc"] - params["b_dec"] @ w))


def encode(params: Params, x: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
    """BatchTopK encoding of a batch.

    Args:
      params: parameter dict.
      x: ``[B, d]`` inputs.
      k: mean active latents per input (may be fractional and traced).

    Returns:
      ``(acts [B, h], threshold scalar)``.
    """
    pre = pre_activations(params, x)
    mask, t = batch_topk_mask(pre, k)
    return jnp.where(mask, pre, 0.0), t


def encode_threshold(params: Params, x: jax.Array, threshold: jax.Array) -> jax.Array:
    """Inference-mode encoding with a fixed global threshold: ``[B, h]``."""
    pre = pre_activations(params, x)
    return jnp.where(pre > threshold, pre, 0.0)


def decode(params: Params, acts: jax.Array) -> jax.Array:
    """``[B, d]`` reconstruction ``acts Ŵ_dec + b_dec``."""
    return acts @ unit_decoder(params) + params["b_dec"]


class BatchTopKSAE(nnx.Module):
    """A BatchTopK SAE as a Flax NNX module, for use one model at a time.

    Training many SAEs uses the pure functions of this module on stacked parameter
    dicts (see :mod:`toysae.sweep`); :meth:`from_params` and :meth:`params` convert.

    Examples:
      >>> sae = BatchTopKSAE(20, 5, k=2.0, rngs=nnx.Rngs(0))
      >>> x = jnp.ones((8, 20))
      >>> sae(x).shape
      (8, 20)
    """

    def __init__(self, dim: int, width: int, k: float, *, rngs: nnx.Rngs,
                 dec_init_norm: float = 0.1):
        p = init_params(rngs.params(), dim, width, dec_init_norm)
        self.W_enc = nnx.Param(p["W_enc"])
        self.b_enc = nnx.Param(p["b_enc"])
        self.W_dec = nnx.Param(p["W_dec"])
        self.b_dec = nnx.Param(p["b_dec"])
        self.k = float(k)
        self.threshold = nnx.BatchStat(jnp.zeros((), jnp.float32))

    @classmethod
    def from_params(cls, params: Params, k: float, threshold: float = 0.0) -> BatchTopKSAE:
        """Wraps a (single-model) parameter dict."""
        d, h = params["W_enc"].shape
        sae = cls(d, h, k, rngs=nnx.Rngs(0))
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            getattr(sae, name)[...] = jnp.asarray(params[name])
        sae.threshold[...] = jnp.asarray(threshold, jnp.float32)
        return sae

    def params(self) -> Params:
        """The parameter dict of this module."""
        return {n: getattr(self, n)[...] for n in ("W_enc", "b_enc", "W_dec", "b_dec")}

    def encode(self, x: jax.Array, mode: str = "batch") -> jax.Array:
        """``[B, h]`` latents; ``mode="batch"`` (BatchTopK over the batch) or
        ``"threshold"`` (the running global threshold, one input at a time)."""
        if mode == "batch":
            return encode(self.params(), x, self.k)[0]
        if mode == "threshold":
            return encode_threshold(self.params(), x, self.threshold[...])
        raise ValueError(f"mode={mode!r} is not accepted; expected 'batch' or 'threshold'")

    def decode(self, acts: jax.Array) -> jax.Array:
        return decode(self.params(), acts)

    def __call__(self, x: jax.Array, mode: str = "batch") -> jax.Array:
        return self.decode(self.encode(x, mode))
