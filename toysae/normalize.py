"""Input scaling during training, folded back at the end (SAELens's
``normalize_activations="expected_average_only_in"``, the reference recipe of the paper's
JumpReLU notebook).

SAELens multiplies every training batch by ``s = √d / E‖x‖`` (the mean norm estimated
over ``n_batches`` batches before training) and folds ``s`` back into the weights when
training ends, so the stored SAE works on raw inputs.  Here the scaled inputs come from a
copy of the toy whose feature directions and bias are multiplied by ``s`` (which scales
every input exactly, ``x' = s·x``, on the dense and the sparse path alike), and the fold
divides the biases and thresholds by ``s`` (:meth:`toysae.saes.base.Arch.fold_input_scale`):
with ``a' = act(pre(x'))`` the activations of the trained SAE, the folded SAE gives
``a = a' / s`` on raw inputs and reconstructs ``x̂ = x̂' / s`` exactly, for every
architecture whose activation is positively homogeneous in the pre-activation and its
thresholds (ReLU, TopK, BatchTopK, JumpReLU).  The decoder directions, and so every
recovery metric, are those trained.  (SAELens folds ``s`` into ``W_enc`` and ``W_dec``
instead, keeping activations in scaled units; the decoder directions are the same.)
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import jax
import jax.numpy as jnp

from .config import TrainConfig
from .generator import ToyModel

#: The key of the batches that estimate the mean input norm (fixed, so the scale is a
#: function of the config alone).
SCALE_SEED = 7


@partial(jax.jit, static_argnums=(2, 3))
def _norm_sum(toy: ToyModel, key: jax.Array, batch: int, n_batches: int) -> jax.Array:
    """Sum of ‖x‖ over ``n_batches`` batches drawn with ``fold_in(key, i)`` (the toy is
    an argument, not a constant baked into the program)."""
    def body(i, acc):
        _, x, _ = toy.draw(jax.random.fold_in(key, i), batch)
        return acc + jnp.sum(jnp.linalg.norm(x, axis=-1))
    return jax.lax.fori_loop(0, n_batches, body, jnp.float32(0.0))


def input_scale(toy: ToyModel, batch: int, n_batches: int, seed: int = SCALE_SEED) -> float:
    """``√d / mean‖x‖`` over ``n_batches`` batches of ``batch`` inputs drawn with
    ``key(seed)`` (SAELens's ``estimated_norm_scaling_factor``).

    Examples:
      >>> from toysae import build_toy, presets
      >>> s = input_scale(build_toy(presets.get("paper-main")), 1024, 50)
      >>> round(s, 2)  # E‖x‖ ≈ 3.3 for the main toy (the reference printed 3.0252)
      3.03
    """
    d = toy.features.shape[1]
    mean = float(_norm_sum(toy, jax.random.key(seed), batch, n_batches)) / (batch * n_batches)
    if not math.isfinite(mean) or mean <= 0.0:
        raise ValueError(f"cannot normalise inputs whose mean norm is {mean}: the toy's "
                         "inputs are all zero (or not finite); use normalize='none'")
    return math.sqrt(d) / mean


def scaled_toy(toy: ToyModel, scale: float) -> ToyModel:
    """The toy whose every input is ``scale`` times ``toy``'s (same draws, same keys)."""
    bias = None if toy.bias is None else toy.bias * scale
    return dataclasses.replace(toy, features=toy.features * scale, bias=bias)


def training_toy(train: TrainConfig, toy: ToyModel) -> tuple[ToyModel, float]:
    """``(the toy to train on, its input scale)``: ``toy`` itself and 1.0 without
    normalisation, else :func:`scaled_toy` at :func:`input_scale`."""
    if train.normalize == "none":
        return toy, 1.0
    s = input_scale(toy, train.batch_size, train.normalize_batches)
    return scaled_toy(toy, s), s


def fold_state(arch, state, scale: float):
    """A stacked training state trained on inputs ``scale · x``, folded into one of raw
    inputs (:meth:`~toysae.saes.base.Arch.fold_input_scale`); unchanged at scale 1."""
    if scale == 1.0:
        return state
    params, threshold = arch.fold_input_scale(state.params, state.threshold, scale)
    return state._replace(params=params, threshold=threshold)
