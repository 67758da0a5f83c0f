"""One training step of one BatchTopK SAE, as a pure function (vmapped by the sweep).

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
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from .sae import NORM_FLOOR, Params, decode, decoder_norms, pre_activations, unit_decoder
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
    resample: bool = True
    dec_init_norm: float = 0.1
    arch: str = "batchtopk"
    bandwidth: float = 2.0
    tanh_scale: float = 4.0

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


def loss_fn(params: Params, x: jax.Array, k: jax.Array, dead: jax.Array, aux_coef: float,
            *, aux_topk: bool = True):
    """Training loss of one SAE on one batch.

    Args:
      params: parameter dict.
      x: ``[B, d]`` batch.
      k: scalar k.
      dead: ``[h]`` bool, latents counted as dead.
      aux_coef: AuxK weight.
      aux_topk: with False the AuxK per-row top-``k_aux`` is replaced by "every positive
        dead pre-activation", which is the same selection whenever ``#dead <= d // 2``
        (then ``k_aux = #dead``); only pass False when that holds (see
        :func:`sweep_step`).

    Returns:
      ``(loss, (mse, acts [B, h], threshold, x_hat [B, d]))``.
    """
    pre = pre_activations(params, x)
    mask, t = batch_topk_mask(pre, k)
    acts = jnp.where(mask, pre, 0.0)
    x_hat = decode(params, acts)
    mse = jnp.mean(jnp.sum((x_hat - x) ** 2, axis=-1))
    loss = mse
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


def loss_and_grads(params: Params, x: jax.Array, k: jax.Array,
                   dead: jax.Array | None = None, aux_coef: float = 0.0):
    """``jax.value_and_grad(loss_fn, has_aux=True)`` with ``aux_topk=False``, written out
    by hand.

    The same loss and gradients as autodiff of :func:`loss_fn` (equal to float rounding;
    ``tests/test_train.py``), valid where ``aux_topk=False`` is (``#dead <= d // 2``),
    and arranged so that a sweep is cheaper:

    * the encoder input is ``x`` itself, ``z = x W_enc + (b_enc − b_dec W_enc)`` (as in
      :func:`~toysae.sae.pre_activations`), and the encoder gradient is
      ``xᵀ dz − b_dec ⊗ Σ_b dz``: under ``vmap`` over models that share the batch
      (``x`` unbatched), each is one ``[B, d] × [d, M·h]`` GEMM over all models instead
      of M small ones;
    * the b_dec gradient through the encoder is ``−(Σ_b dz) W_encᵀ``, a ``[h] × [h, d]``
      product, where autodiff of ``(x − b_dec) W_enc`` forms the full ``[B, d]``
      cotangent first (about a fifth of the step's matmul time in the profile, issue 5).

    Math (per model; ``r = x̂ − x``, ``g = 2r / B``, ``U`` the unit-norm decoder,
    ``n`` its row norms, ``a`` the acts, ``p`` the pre-activations): ``dU = aᵀ g``,
    ``da = g Uᵀ``, ``dz = da · [a > 0]`` (the BatchTopK mask and ReLU pass gradient only
    where a latent fires), ``dW_dec = (dU − U ⊙ rowsum(dU ⊙ U)) / n`` (``dU / 1e-12``
    for a row of norm at most ``NORM_FLOOR`` = 1e-12, as the floor in
    :func:`~toysae.sae.decoder_norms` gives), ``db_enc = Σ_b dz``,
    ``db_dec = Σ_b g − db_enc W_encᵀ``.  AuxK with every positive dead pre-activation
    (``a' = p · dead``, ``ê = a' U``, residual
    ``e = −r`` held constant, ``D = ‖e − ē‖²``): ``q = 2 c (ê − e) / D``, adding
    ``a'ᵀ q`` to ``dU`` and ``(q Uᵀ) · [a' > 0]`` to ``dz``.

    Args:
      params: parameter dict (``W_enc [d, h]``, ``b_enc [h]``, ``W_dec [h, d]``,
        ``b_dec [d]``).
      x: ``[B, d]`` batch.
      k: scalar k.
      dead: ``[h]`` bool, latents counted as dead (None: none, no AuxK term).
      aux_coef: AuxK weight c (static).

    Returns:
      ``((loss, (mse, acts [B, h], threshold, x_hat [B, d])), grads)``, as
      ``jax.value_and_grad(loss_fn, has_aux=True)``.
    """
    w_enc, b_dec = params["W_enc"], params["b_dec"]
    pre = pre_activations(params, x)
    mask, t = batch_topk_mask(pre, k)
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
        aux_acts = jnp.where(dead, pre, 0.0)
        e = -resid
        e_hat = aux_acts @ unit
        diff = e_hat - e
        den = jnp.maximum(jnp.sum((e - e.mean(0)) ** 2), 1e-12)
        any_dead = jnp.any(dead)
        loss = loss + aux_coef * jnp.where(any_dead, jnp.sum(diff**2) / den, 0.0)
        q = jnp.where(any_dead, (2.0 * aux_coef) / den, 0.0) * diff
        d_unit = d_unit + aux_acts.T @ q
        dz = dz + jnp.where(aux_acts > 0, q @ unit.T, 0.0)
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


def train_step(state: TrainState, x: jax.Array, k: jax.Array, opts: StepOptions,
               *, aux: str = "topk"):
    """One Adam step of one SAE.

    Args:
      state: :class:`TrainState`.
      x: ``[B, d]`` batch.
      k: scalar k for this step.
      opts: static :class:`StepOptions`.
      aux: static AuxK variant: ``"topk"`` (general; autodiff of :func:`loss_fn`),
        ``"all"`` (valid when ``#dead <= d // 2``, see :func:`loss_fn`) or ``"off"``
        (valid when no latent is dead: the AuxK term is then exactly 0, and so is its
        gradient); these two use the hand-written gradients of :func:`loss_and_grads`.

    Returns:
      ``(new_state, (loss, mse, l0))``.
    """
    dead = state.since_fired >= opts.dead_steps
    if aux == "off":
        (loss, (mse, acts, t, x_hat)), grads = loss_and_grads(state.params, x, k)
    elif aux == "all":
        (loss, (mse, acts, t, x_hat)), grads = loss_and_grads(state.params, x, k, dead,
                                                              opts.aux_coef)
    else:
        (loss, (mse, acts, t, x_hat)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, x, k, dead, opts.aux_coef, aux_topk=aux == "topk")
    updates, opt_state = opts.optimizer().update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    fired = jnp.any(acts > 0, axis=0)
    since = jnp.where(fired, 0, state.since_fired + 1)
    if opts.resample and aux != "off":
        params, opt_state, since = resample_dead(params, opt_state, since, x - x_hat, opts)
    # The first step seeds the EMA with the batch threshold.
    first = jnp.all(state.threshold == 0)
    thr = jnp.where(first, t, (1 - opts.threshold_decay) * state.threshold
                    + opts.threshold_decay * t)
    thr = jnp.where(jnp.isfinite(thr), thr, state.threshold)
    l0 = jnp.sum(acts > 0) / x.shape[0]
    return TrainState(params, opt_state, thr, since), (loss, mse, l0)


def resample_dead(params: Params, opt_state, since: jax.Array, resid: jax.Array,
                  opts: StepOptions):
    """Re-initialises latents silent for ``2 · dead_steps`` steps (module docstring).

    Args:
      params: parameters after this step's update.
      opt_state: Adam state (``(ScaleByAdamState, EmptyState)`` of ``optax.adam``).
      since: ``[h]`` steps since each latent fired.
      resid: ``[B, d]`` this step's residuals ``x − x̂``.
      opts: step options.

    Returns:
      ``(params, opt_state, since)`` with the silent latents reset.
    """
    gone = since >= 2 * opts.dead_steps
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
        W_dec=jnp.where(gone[:, None], opts.dec_init_norm * dirs, params["W_dec"]),
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


def sweep_step(state: TrainState, x: jax.Array, k: jax.Array, opts: StepOptions):
    """One step of every model of a stacked ``[S, K, ...]`` state (``x [S, B, d]``,
    ``k [K]``): :func:`train_step` vmapped over k (shared batch) inside seeds.

    Equal to the plain vmapped ``train_step``, but cheaper: the AuxK variant is chosen
    for the whole stack at once (outside ``vmap``, so only one branch runs): ``"off"``
    when no model has a dead latent (the common case), ``"all"`` when every model
    has at most ``d // 2`` dead latents, else the general ``"topk"``.

    A JumpReLU stack (``opts.arch == "jumprelu"``) runs
    :func:`toysae.jumprelu.train_step` instead, with λ in place of k.

    Returns:
      ``(new_state, (loss, mse, l0))``, each log ``[S, K]``.
    """
    if opts.arch == "jumprelu":
        from .jumprelu import train_step as jump_step

        step = partial(jump_step, opts=opts)
        return jax.vmap(jax.vmap(step, in_axes=(0, None, 0)), in_axes=(0, 0, None))(state, x, k)

    def run(aux):
        step = partial(train_step, opts=opts, aux=aux)
        return jax.vmap(jax.vmap(step, in_axes=(0, None, 0)), in_axes=(0, 0, None))

    if opts.aux_coef <= 0 and not opts.resample:
        return run("off")(state, x, k)
    n_dead = jnp.sum(state.since_fired >= opts.dead_steps, axis=-1, dtype=jnp.int32)
    half_d = x.shape[-1] // 2
    branches = [run("off"), run("all")]
    if state.since_fired.shape[-1] > half_d:  # #dead > d // 2 is possible
        branches.append(run("topk"))
    index = jnp.where(jnp.any(n_dead > 0), 1, 0)
    index = jnp.where(jnp.any(n_dead > half_d), len(branches) - 1, index)
    return jax.lax.switch(index, branches, state, x, k)
