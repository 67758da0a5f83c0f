"""Matryoshka BatchTopK SAE (Bussmann et al. 2025; Nabeshima 2024).

The latents form nested prefix dictionaries ``m_1 < m_2 < … < m_P = h``: the first
``m_j`` latents alone must reconstruct the input, so early latents learn general
directions and later ones refine them.  Encoding is BatchTopK over all h latents
(:mod:`toysae.saes.batchtopk`); the reconstruction loss is the sum over prefixes

  L_rec = Σ_j mean_b ‖x − (acts[:, :m_j] Ŵ_dec[:m_j] + b_dec)‖²

plus BatchTopK's AuxK on the full dictionary's residual, with resampling of dead
latents.  The reported ``mse`` is the full dictionary's.  Gradients are autodiff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp

from ..sae import unit_decoder
from .batchtopk import BatchTopK


def default_prefixes(width: int) -> tuple[int, ...]:
    """``(h // 4, h // 2, h)`` without repeats or zeros.

    Examples:
      >>> default_prefixes(50), default_prefixes(2)
      ((12, 25, 50), (1, 2))
    """
    return tuple(sorted({m for m in (width // 4, width // 2, width) if m >= 1}))


@dataclass(frozen=True)
class MatryoshkaBatchTopK(BatchTopK):
    """Matryoshka BatchTopK record (module docstring); k is the sweep column.

    Attributes:
      prefixes: nested dictionary sizes, strictly increasing, the last one the width
        (``SAEConfig.prefixes``; a list that stops short of the width gets it added).

    Examples:
      >>> import jax
      >>> arch = MatryoshkaBatchTopK(prefixes=(2, 5))
      >>> p = arch.init(jax.random.key(0), 20, 5)
      >>> x = jax.random.normal(jax.random.key(1), (8, 20))
      >>> loss, (mse, *_rest) = arch.loss_fn(p, x, 2.0, jnp.zeros(5, bool), 0.0)
      >>> bool(loss > mse)  # the prefix of 2 latents adds its own reconstruction loss
      True
    """

    name: ClassVar[str] = "matryoshka"
    summary: ClassVar[str] = ("Matryoshka BatchTopK (Bussmann et al. 2025): BatchTopK whose "
                              "nested prefix dictionaries each reconstruct the input "
                              "(prefixes=() means width/4, width/2, width)")
    config_fields: ClassVar[tuple[str, ...]] = BatchTopK.config_fields + ("arch", "prefixes")
    hand_written: ClassVar[bool] = False

    prefixes: tuple[int, ...] = ()

    @classmethod
    def from_config(cls, sae):
        base = BatchTopK.from_config(sae)
        prefixes = tuple(sae.prefixes) if sae.prefixes else default_prefixes(sae.width)
        if prefixes[-1] != sae.width:
            prefixes = prefixes + (sae.width,)
        return cls(**{**base.__dict__, "prefixes": prefixes})

    def recon_loss(self, params, acts, x):
        unit = unit_decoder(params)
        x_hat = jnp.broadcast_to(params["b_dec"], x.shape)
        total, start = jnp.zeros((), x.dtype), 0
        for end in self.prefixes or (acts.shape[-1],):
            x_hat = x_hat + acts[:, start:end] @ unit[start:end]
            mse = jnp.mean(jnp.sum((x_hat - x) ** 2, axis=-1))
            total, start = total + mse, end
        return total, mse, x_hat
