"""BatchTopK SAE (paper §3; Bussmann et al. 2024): the paper's architecture, and the
base of TopK and Matryoshka BatchTopK.

Forward pass (:mod:`toysae.sae`): ``pre = ReLU((x − b_dec) W_enc + b_enc)``; the batch
keeps its ``round(k·B)`` largest pre-activations; ``x̂ = acts Ŵ_dec + b_dec`` with unit
decoder rows.  Inference one input at a time uses a running global threshold (an EMA of
the batch threshold during training).

Loss = mean_b ‖x̂ − x‖² + aux_coef · AuxK.  The AuxK loss (Gao et al. 2024, as in
common BatchTopK trainers) lets dead latents (no firing for ``dead_steps`` steps)
reconstruct the detached residual ``e = x − x̂`` with their own top-``k_aux``
pre-activations per input, ``k_aux = min(d // 2, #dead)``, normalised by the
residual's variance: ``‖e − ê‖² / ‖e − ē‖²``.

Dead latents that stay silent for ``2 · dead_steps`` steps are also resampled (if
``resample``): the decoder row of each is set to the direction of the residual of one of
the batch's worst-reconstructed inputs (the j-th dead latent takes the j-th worst
input), at norm ``dec_init_norm``; its encoder column to the same direction scaled to
the live latents' mean encoder norm; its encoder bias and Adam moments to zero.  This is
deterministic (no random draw).  Measured on the main toy model at k = 11: with AuxK
alone, seed 4 of 0-4 kept a latent pointing at −f49 that never fired, and left one
feature unlearned.

AuxK groups: for more than :data:`AUX_GROUP` k values the k axis is split into groups
that pick their AuxK branch apart (:meth:`BatchTopK.column_groups`), so the models with
no dead latent skip the AuxK products.  Measured on the main toy (k = 1..25, 800 steps,
2 CPU cores): 395k-455k model-samples/s against 222k-271k in one group.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import jax
import jax.numpy as jnp

from ..metrics import evaluate as evaluate_batchtopk
from ..sae import (
    NORM_FLOOR,
    BatchTopKSAE,
    Params,
    decode,
    decoder_norms,
    encode_threshold,
    pre_activations,
    unit_decoder,
)
from ..topk import batch_topk_mask, row_topk_mask
from ..train import TrainState, adam_update
from .base import COMMON_FIELDS, Arch

# Models per AuxK group (see :meth:`BatchTopK.column_groups`); at 5 the stacked step
# costs per model about what it costs at 25 (issue 5 benchmark: 306k vs 283k
# model-samples/s).
AUX_GROUP = 5

#: Dead latents per model up to which the AuxK branch works on those latents' columns
#: alone (``aux="few"`` of :meth:`BatchTopK.train_step`): the AuxK products then take
#: ``[B, AUX_FEW]`` instead of ``[B, h]``.  Past the first few hundred steps of the main
#: toy's k = 1..25 sweep, a model with a dead latent had 1 or 2 (snapshots every 250
#: steps of a 4,000-step run, issue 20).  0 turns the branch off.
AUX_FEW = 4


def aux_few_cap(h: int, d: int) -> int:
    """Dead latents per model up to which ``aux="few"`` applies for width ``h`` and
    input dimension ``d``: :data:`AUX_FEW`, at most ``d // 2`` (where ``"all"`` is
    valid) and ``h``; 0 when the branch is off."""
    return max(0, min(AUX_FEW, d // 2, h))


@dataclass(frozen=True)
class BatchTopK(Arch):
    """BatchTopK record (module docstring); k is the sweep column.

    Attributes:
      dec_init_norm: norm of the decoder rows at random init.
      aux_coef: AuxK weight (0 disables it).
      dead_steps: a latent silent this many steps is dead (AuxK); twice as many,
        resampled.
      threshold_decay: EMA rate of the running inference threshold.
      resample: resample latents silent for ``2 · dead_steps`` steps.

    Examples:
      >>> arch = BatchTopK()
      >>> p = arch.init(jax.random.key(0), 20, 5)
      >>> acts = arch.encode(p, jnp.ones((4, 20)), 2.0)  # keeps round(2 · 4) = 8 entries
      >>> acts.shape, int((acts > 0).sum()) <= 8
      ((4, 5), True)
    """

    name: ClassVar[str] = "batchtopk"
    summary: ClassVar[str] = ("BatchTopK (paper §3): the batch keeps its round(k·B) "
                              "largest pre-activations; AuxK and resampling of dead latents")
    # The JSON form of a BatchTopK config predates the registry: no "arch" key, so the
    # cache digests of every earlier run stay valid.
    config_fields: ClassVar[tuple[str, ...]] = COMMON_FIELDS + (
        "aux_coef", "dead_steps", "threshold_decay", "resample")
    # Whether loss_and_grads (hand-written) gives this record's gradients.
    hand_written: ClassVar[bool] = True

    aux_coef: float = 1.0 / 32.0
    dead_steps: int = 50
    threshold_decay: float = 0.01
    resample: bool = True

    # -- forward pass ----------------------------------------------------------------------
    def select(self, pre: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(mask [B, h], threshold)`` of the kept activations (BatchTopK)."""
        return batch_topk_mask(pre, k)

    def encode(self, params: Params, x: jax.Array, column: jax.Array) -> jax.Array:
        pre = pre_activations(params, x)
        return jnp.where(self.select(pre, column)[0], pre, 0.0)

    def infer(self, params, x, column, threshold):
        return encode_threshold(params, x, threshold)

    def decode(self, params: Params, acts: jax.Array) -> jax.Array:
        return decode(params, acts)

    def recon_loss(self, params: Params, acts: jax.Array, x: jax.Array):
        """``(reconstruction loss, mse, x̂ [B, d])``: the MSE of the full dictionary."""
        x_hat = decode(params, acts)
        mse = jnp.mean(jnp.sum((x_hat - x) ** 2, axis=-1))
        return mse, mse, x_hat

    # -- loss and gradients ------------------------------------------------------------------
    def loss_fn(self, params: Params, x: jax.Array, k: jax.Array, dead: jax.Array,
                aux_coef: float, *, aux_topk: bool = True):
        """Training loss of one SAE on one batch (autodiff reference).

        Args:
          params: parameter dict.
          x: ``[B, d]`` batch.
          k: scalar k.
          dead: ``[h]`` bool, latents counted as dead.
          aux_coef: AuxK weight (static).
          aux_topk: with False the AuxK per-row top-``k_aux`` is replaced by "every
            positive dead pre-activation", which is the same selection whenever
            ``#dead <= d // 2`` (then ``k_aux = #dead``); only pass False when that
            holds (see :meth:`stack_step`).

        Returns:
          ``(loss, (mse, acts [B, h], threshold, x_hat [B, d]))``.
        """
        pre = pre_activations(params, x)
        mask, t = self.select(pre, k)
        acts = jnp.where(mask, pre, 0.0)
        loss, mse, x_hat = self.recon_loss(params, acts, x)
        if aux_coef > 0:
            n_dead = jnp.sum(dead, dtype=jnp.int32)
            k_aux = jnp.minimum(x.shape[-1] // 2, n_dead)
            pre_dead = jnp.where(dead, pre, 0.0)
            aux_mask = row_topk_mask(pre_dead, k_aux) if aux_topk else pre_dead > 0
            aux_acts = jnp.where(aux_mask & (pre_dead > 0), pre_dead, 0.0)
            resid = jax.lax.stop_gradient(x - x_hat)
            e_hat = aux_acts @ unit_decoder(params)
            num = jnp.sum((resid - e_hat) ** 2)
            den = jnp.sum((resid - resid.mean(0)) ** 2)
            aux = jnp.where(n_dead > 0, num / jnp.maximum(den, 1e-12), 0.0)
            loss = loss + aux_coef * aux
        return loss, (mse, acts, t, x_hat)

    def loss_and_grads(self, params: Params, x: jax.Array, k: jax.Array,
                       dead: jax.Array | None = None, aux_coef: float = 0.0,
                       aux_cap: int | None = None):
        """``jax.value_and_grad(loss_fn, has_aux=True)`` with ``aux_topk=False``, written
        out by hand.

        The same loss and gradients as autodiff of :meth:`loss_fn` (equal to float
        rounding; ``tests/test_train.py``), valid where ``aux_topk=False`` is
        (``#dead <= d // 2``), and arranged so that a sweep is cheaper:

        * the encoder input is ``x`` itself, ``z = x W_enc + (b_enc − b_dec W_enc)`` (as
          in :func:`~toysae.sae.pre_activations`), and the encoder gradient is
          ``xᵀ dz − b_dec ⊗ Σ_b dz``: under ``vmap`` over models that share the batch
          (``x`` unbatched), each is one ``[B, d] × [d, M·h]`` GEMM over all models
          instead of M small ones;
        * the b_dec gradient through the encoder is ``−(Σ_b dz) W_encᵀ``, a
          ``[h] × [h, d]`` product, where autodiff of ``(x − b_dec) W_enc`` forms the
          full ``[B, d]`` cotangent first (about a fifth of the step's matmul time in the
          profile, issue 5).

        Math (per model; ``r = x̂ − x``, ``g = 2r / B``, ``U`` the unit-norm decoder,
        ``n`` its row norms, ``a`` the acts, ``p`` the pre-activations): ``dU = aᵀ g``,
        ``da = g Uᵀ``, ``dz = da · [a > 0]`` (the top-k mask and ReLU pass gradient only
        where a latent fires; any mask from :meth:`select`), ``dW_dec = (dU − U ⊙
        rowsum(dU ⊙ U)) / n`` (``dU / 1e-12`` for a row of norm at most ``NORM_FLOOR`` =
        1e-12, as the floor in :func:`~toysae.sae.decoder_norms` gives),
        ``db_enc = Σ_b dz``, ``db_dec = Σ_b g − db_enc W_encᵀ``.  AuxK with every
        positive dead pre-activation (``a' = p · dead``, ``ê = a' U``, residual
        ``e = −r`` held constant, ``D = ‖e − ē‖²``): ``q = 2 c (ê − e) / D``, adding
        ``a'ᵀ q`` to ``dU`` and ``(q Uᵀ) · [a' > 0]`` to ``dz``.

        With ``aux_cap`` the AuxK products run on the columns of the dead latents alone
        (the first ``aux_cap`` of them by index, gathered; the rest of ``aux_acts`` is
        zero, so they add nothing): the same sums without the zero terms, so equal to
        float rounding, and valid only where at most ``aux_cap`` latents are dead.

        Args:
          params: parameter dict (``W_enc [d, h]``, ``b_enc [h]``, ``W_dec [h, d]``,
            ``b_dec [d]``).
          x: ``[B, d]`` batch.
          k: scalar k.
          dead: ``[h]`` bool, latents counted as dead (None: none, no AuxK term).
          aux_coef: AuxK weight c (static).
          aux_cap: static; at most this many latents are dead (None: any number).

        Returns:
          ``((loss, (mse, acts [B, h], threshold, x_hat [B, d])), grads)``, as
          ``jax.value_and_grad(loss_fn, has_aux=True)``.
        """
        w_enc, b_dec = params["W_enc"], params["b_dec"]
        pre = pre_activations(params, x)
        mask, t = self.select(pre, k)
        acts = jnp.where(mask, pre, 0.0)
        unit, norm = decoder_norms(params)
        x_hat = acts @ unit + b_dec
        resid = x_hat - x
        mse = jnp.mean(jnp.sum(resid**2, axis=-1))
        g = resid * (2.0 / x.shape[0])
        d_unit = acts.T @ g
        dz = jnp.where(acts > 0, g @ unit.T, 0.0)
        loss = mse
        if dead is not None and aux_coef > 0:
            if aux_cap is None:
                cols, valid = None, dead
                aux_acts, aux_unit = jnp.where(dead, pre, 0.0), unit
            else:  # the dead latents' columns (top_k: distinct, lowest index first)
                cols = jax.lax.top_k(dead.astype(jnp.float32), aux_cap)[1]
                valid = dead[cols]
                aux_acts, aux_unit = jnp.where(valid, pre[:, cols], 0.0), unit[cols]
            e = -resid
            e_hat = aux_acts @ aux_unit
            diff = e_hat - e
            den = jnp.maximum(jnp.sum((e - e.mean(0)) ** 2), 1e-12)
            any_dead = jnp.any(dead)
            loss = loss + aux_coef * jnp.where(any_dead, jnp.sum(diff**2) / den, 0.0)
            q = jnp.where(any_dead, (2.0 * aux_coef) / den, 0.0) * diff
            aux_d_unit = aux_acts.T @ q
            aux_dz = jnp.where(aux_acts > 0, q @ aux_unit.T, 0.0)
            if cols is None:
                d_unit, dz = d_unit + aux_d_unit, dz + aux_dz
            else:  # columns not dead (valid False) add exact zeros
                d_unit = d_unit.at[cols].add(aux_d_unit)
                dz = dz.at[:, cols].add(aux_dz)
        db_enc = jnp.sum(dz, axis=0)
        radial = unit * jnp.sum(d_unit * unit, axis=-1, keepdims=True)
        grads = dict(
            W_enc=x.T @ dz - b_dec[:, None] * db_enc[None, :],
            b_enc=db_enc,
            W_dec=(jnp.where(norm > NORM_FLOOR, d_unit - radial, d_unit)
                   / jnp.maximum(norm, NORM_FLOOR)),
            b_dec=jnp.sum(g, axis=0) - w_enc @ db_enc,
        )
        return (loss, (mse, acts, t, x_hat)), grads

    # -- training step ---------------------------------------------------------------------
    def train_step(self, state: TrainState, x: jax.Array, k: jax.Array, opts,
                   *, aux: str = "topk"):
        """One Adam step of one SAE.

        Args:
          state: :class:`~toysae.train.TrainState`.
          x: ``[B, d]`` batch.
          k: scalar k for this step.
          opts: static :class:`~toysae.train.StepOptions`.
          aux: static AuxK variant: ``"topk"`` (general; autodiff of :meth:`loss_fn`),
            ``"all"`` (valid when ``#dead <= d // 2``, see :meth:`loss_fn`), ``"few"``
            (valid when besides ``#dead <= AUX_FEW``: ``"all"`` on the dead latents'
            columns alone, see :meth:`loss_and_grads`) or ``"off"``
            (valid when no latent is dead: the AuxK term is then exactly 0, and so is
            its gradient); these two use the hand-written gradients of
            :meth:`loss_and_grads` where :attr:`hand_written` holds.

        Returns:
          ``(new_state, (loss, mse, l0))``.
        """
        dead = state.since_fired >= self.dead_steps
        if aux == "off" and self.hand_written:
            (loss, (mse, acts, t, x_hat)), grads = self.loss_and_grads(state.params, x, k)
        elif aux in ("all", "few") and self.hand_written:
            (loss, (mse, acts, t, x_hat)), grads = self.loss_and_grads(
                state.params, x, k, dead, self.aux_coef,
                aux_cap=aux_few_cap(dead.shape[-1], x.shape[-1]) if aux == "few" else None)
        else:
            coef = 0.0 if aux == "off" else self.aux_coef
            (loss, (mse, acts, t, x_hat)), grads = jax.value_and_grad(
                self.loss_fn, has_aux=True)(state.params, x, k, dead, coef,
                                            aux_topk=aux == "topk")
        params, opt_state = adam_update(state, grads, opts)
        fired = jnp.any(acts > 0, axis=0)
        since = jnp.where(fired, 0, state.since_fired + 1)
        if self.resample and aux != "off":
            params, opt_state, since = self.resample_dead(params, opt_state, since,
                                                          x - x_hat)
        # The first step seeds the EMA with the batch threshold.
        first = jnp.all(state.threshold == 0)
        thr = jnp.where(first, t, (1 - self.threshold_decay) * state.threshold
                        + self.threshold_decay * t)
        thr = jnp.where(jnp.isfinite(thr), thr, state.threshold)
        l0 = jnp.sum(acts > 0) / x.shape[0]
        return TrainState(params, opt_state, thr, since), (loss, mse, l0)

    def resample_dead(self, params: Params, opt_state, since: jax.Array, resid: jax.Array):
        """Re-initialises latents silent for ``2 · dead_steps`` steps (module docstring).

        Args:
          params: parameters after this step's update.
          opt_state: Adam state (``(ScaleByAdamState, EmptyState)`` of ``optax.adam``).
          since: ``[h]`` steps since each latent fired.
          resid: ``[B, d]`` this step's residuals ``x − x̂``.

        Returns:
          ``(params, opt_state, since)`` with the silent latents reset.
        """
        gone = since >= 2 * self.dead_steps
        # The j-th gone latent takes the j-th worst input, j < h: a top-h of the batch's
        # errors (ties to the lower index, as a stable sort) instead of a full argsort,
        # which took about a tenth of an AuxK step at M = 25 (issue 5 profile).
        n_worst = min(since.shape[-1], resid.shape[0])
        worst = jax.lax.top_k(jnp.sum(resid**2, axis=-1), n_worst)[1]  # worst input first
        rank = jnp.clip(jnp.cumsum(gone) - 1, 0, n_worst - 1)
        dirs = resid[worst[rank]]  # [h, d]
        dirs = dirs / jnp.maximum(jnp.linalg.norm(dirs, axis=-1, keepdims=True), 1e-12)
        enc_norm = jnp.linalg.norm(params["W_enc"], axis=0)  # [h]
        live_norm = jnp.sum(jnp.where(gone, 0.0, enc_norm)) / jnp.maximum(jnp.sum(~gone), 1)
        col = gone[None, :]
        new = dict(
            W_dec=jnp.where(gone[:, None], self.dec_init_norm * dirs, params["W_dec"]),
            W_enc=jnp.where(col, live_norm * dirs.T, params["W_enc"]),
            b_enc=jnp.where(gone, 0.0, params["b_enc"]),
            b_dec=params["b_dec"],
        )
        masks = dict(W_dec=gone[:, None], W_enc=col, b_enc=gone, b_dec=jnp.zeros((), bool))

        def reset(tree):
            return {n: jnp.where(masks[n], 0.0, v) for n, v in tree.items()}

        adam, rest = opt_state[0], opt_state[1:]
        adam = adam._replace(mu=reset(adam.mu), nu=reset(adam.nu))
        return new, (adam, *rest), jnp.where(gone, 0, since)

    def stack_step(self, state: TrainState, x: jax.Array, k: jax.Array, opts):
        """One step of every model of a stacked ``[S, K, ...]`` state (``x [S, B, d]``,
        ``k [K]``): :meth:`train_step` vmapped over k (shared batch) inside seeds.

        Equal to the plain vmapped ``train_step``, but cheaper: the AuxK variant is
        chosen for the whole stack at once (outside ``vmap``, so only one branch runs):
        ``"off"`` when no model has a dead latent (the common case), ``"few"`` when every
        model has at most :data:`AUX_FEW` (and ``d // 2``), ``"all"`` when at most
        ``d // 2``, else the general ``"topk"``.

        Returns:
          ``(new_state, (loss, mse, l0))``, each log ``[S, K]``.
        """

        def run(aux):
            step = partial(self.train_step, opts=opts, aux=aux)
            return jax.vmap(jax.vmap(step, in_axes=(0, None, 0)), in_axes=(0, 0, None))

        if self.aux_coef <= 0 and not self.resample:
            return run("off")(state, x, k)
        n_dead = jnp.sum(state.since_fired >= self.dead_steps, axis=-1, dtype=jnp.int32)
        half_d = x.shape[-1] // 2
        h = state.since_fired.shape[-1]
        few = aux_few_cap(h, x.shape[-1])
        # "few" only where it is cheaper than "all" (fewer columns) and hand-written;
        # AUX_FEW = 0 turns it off (read when traced).
        names = ["off"] + (["few"] if self.hand_written and 1 <= few < h else []) + ["all"]
        if h > half_d:  # #dead > d // 2 is possible
            names.append("topk")
        most = jnp.max(n_dead)
        index = jnp.where(most > 0, names.index("all"), 0)
        if "few" in names:
            index = jnp.where((most > 0) & (most <= few), names.index("few"), index)
        if "topk" in names:
            index = jnp.where(most > half_d, names.index("topk"), index)
        return jax.lax.switch(index, [run(a) for a in names], state, x, k)

    def column_groups(self, n_columns: int, group: int | None = None
                      ) -> tuple[tuple[int, int], ...] | None:
        """Static ``(start, stop)`` slices of the k axis that pick their AuxK branch apart.

        :meth:`stack_step` picks one AuxK branch for the whole stack, so one model with a
        dead latent (in a k = 1..25 sweep nearly always the k = 1 model) makes every
        model pay for the AuxK products.  Split into groups of consecutive columns, only
        the groups that hold such a model do.  Each model's step is the same either way
        to float rounding (``tests/test_sweep.py``); over long runs see
        :mod:`toysae.sweep`.

        Args:
          n_columns: number of k columns.
          group: columns per group (None: :data:`AUX_GROUP`).

        Returns:
          The slices, or None where grouping cannot help (no AuxK and no resampling, or
          no more columns than one group).

        Examples:
          >>> BatchTopK().column_groups(12)
          ((0, 5), (5, 10), (10, 12))
          >>> BatchTopK().column_groups(5) is None
          True
        """
        group = AUX_GROUP if group is None else group
        if (self.aux_coef <= 0 and not self.resample) or n_columns <= group:
            return None
        return tuple((a, min(a + group, n_columns)) for a in range(0, n_columns, group))

    # -- evaluation and modules ----------------------------------------------------------------
    def evaluate(self, params, column, threshold, features, x, s_n=(), mixing_feature=0):
        """:func:`toysae.metrics.evaluate`: batch mode at k over the whole evaluation set,
        and the running threshold's ``mse_thr`` / ``l0_thr``."""
        return evaluate_batchtopk(params, column, threshold, features, x, s_n, mixing_feature)

    def module(self, params, column, threshold=0.0):
        """A :class:`toysae.sae.BatchTopKSAE`."""
        return BatchTopKSAE.from_params(params, column, threshold)
