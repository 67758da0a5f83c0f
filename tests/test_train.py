"""The training step: AuxK variants agree, resampling of silent latents, stack-level
branch choice equals the plain vmapped step."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from toysae.sae import init_params
from toysae.saes import BatchTopK
from toysae.train import StepOptions, TrainState, init_state

ARCH = BatchTopK(aux_coef=1 / 32, dead_steps=5, threshold_decay=0.01, resample=True,
                 dec_init_norm=0.1)
OPTS = StepOptions(lr=1e-3, beta1=0.9, beta2=0.999, arch=ARCH)
loss_fn, loss_and_grads, train_step = ARCH.loss_fn, ARCH.loss_and_grads, ARCH.train_step
sweep_step = ARCH.stack_step


def resample_dead(params, opt_state, since, resid, opts):
    return opts.arch.resample_dead(params, opt_state, since, resid)
D, H, B = 12, 8, 64


def _state(key, since):
    st = init_state(init_params(key, D, H), OPTS)
    return st._replace(since_fired=jnp.asarray(since, jnp.int32))


def _x(key):
    return jax.nn.relu(jax.random.normal(key, (B, D)))


def test_aux_all_equals_aux_topk_when_few_dead():
    """With #dead <= d // 2 the cheap AuxK variant ("all" positive dead pre-activations)
    gives the same step as the general per-row top-k_aux (float tolerance 1e-6)."""
    since = [0, 7, 0, 9, 0, 0, 6, 0]  # three dead latents (>= 5), d // 2 = 6
    st, x = _state(jax.random.key(0), since), _x(jax.random.key(1))
    step = jax.jit(train_step, static_argnames=("opts", "aux"))  # compiled, not eager
    a, la = step(st, x, jnp.float32(3.0), opts=OPTS, aux="topk")
    b, lb = step(st, x, jnp.float32(3.0), opts=OPTS, aux="all")
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-6)
    np.testing.assert_allclose(np.asarray(la), np.asarray(lb), atol=1e-6)


def test_sweep_step_equals_plain_vmapped_step():
    """sweep_step (AuxK branch and resampling picked once for the stack) equals
    vmap(vmap(train_step)) with the general AuxK and resampling always on, on 2 × 3
    stacks: one where a model has latents silent long enough to be resampled this step,
    one with dead latents none of which is (resampling skipped), one with none dead."""
    keys = jax.random.split(jax.random.key(2), 6)
    x = jnp.stack([_x(jax.random.key(3)), _x(jax.random.key(4))])
    ks = jnp.asarray([1.0, 2.5, 4.0])
    plain_step = partial(train_step, opts=OPTS, aux="topk")
    plain_fn = jax.jit(jax.vmap(jax.vmap(plain_step, in_axes=(0, None, 0)),
                                in_axes=(0, 0, None)))
    fast_fn = jax.jit(partial(sweep_step, opts=OPTS))  # one compile each, reused per case
    for case in ("resampled", "dead", "none dead"):
        sinces = np.zeros((6, H), np.int32)
        if case != "none dead":
            sinces[1, 2] = 7  # dead (>= 5) but not resampled (< 2 · 5 − 1)
        if case == "resampled":
            sinces[4, [0, 5]] = 12  # silent for >= 2 * dead_steps: resampled
        states = [_state(k, s) for k, s in zip(keys, sinces, strict=True)]
        stacked = jax.tree.map(lambda *a: jnp.stack(a).reshape((2, 3) + a[0].shape), *states)
        fast, lf = fast_fn(stacked, x, ks)
        plain, lp = plain_fn(stacked, x, ks)
        for u, v in zip(jax.tree.leaves(fast), jax.tree.leaves(plain), strict=True):
            np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-6, err_msg=case)
        np.testing.assert_allclose(np.asarray(lf), np.asarray(lp), atol=1e-6, err_msg=case)


def _messy_params(key):
    """Parameters away from their init: non-zero biases, decoder rows of varied norm."""
    ks = jax.random.split(key, 4)
    p = init_params(ks[0], D, H)
    return dict(p, b_enc=0.1 * jax.random.normal(ks[1], (H,)),
                b_dec=0.3 * jax.random.normal(ks[2], (D,)),
                W_dec=p["W_dec"] * jax.random.uniform(ks[3], (H, 1), minval=0.2, maxval=3.0))


def _assert_same(hand, auto, what=""):
    """Loss, aux outputs (acts, threshold, x_hat) and every gradient agree to float32
    rounding (gradients: atol 1e-5 of each one's scale)."""
    (la, auxa), ga = hand
    (lb, auxb), gb = auto
    np.testing.assert_allclose(float(la), float(lb), rtol=1e-6, err_msg=what)
    for u, v in zip(auxa, auxb, strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-5, atol=1e-6)
    for name in ga:
        scale = float(jnp.max(jnp.abs(gb[name])))
        assert scale > 0, name
        np.testing.assert_allclose(np.asarray(ga[name]), np.asarray(gb[name]),
                                   atol=1e-5 * scale, err_msg=f"{name} {what}")


def test_hand_written_grads_equal_autodiff():
    """loss_and_grads (the no-AuxK branch's gradients, written out) equals autodiff of
    loss_fn with aux_coef=0: loss, acts, threshold, x_hat and every gradient, to float32
    rounding (rtol 1e-5 of each gradient's scale), for fractional and integer k."""
    x = _x(jax.random.key(5))
    for i, k in enumerate([1.0, 2.5, 5.0]):
        p = _messy_params(jax.random.key(10 + i))
        _assert_same(loss_and_grads(p, x, jnp.float32(k)),
                     jax.value_and_grad(loss_fn, has_aux=True)(
                         p, x, jnp.float32(k), jnp.zeros(H, bool), 0.0), f"k={k}")


def test_hand_written_aux_grads_equal_autodiff():
    """loss_and_grads with dead latents (the "all" AuxK branch, written out) equals
    autodiff of loss_fn with aux_topk=False: loss, aux outputs and every gradient, for
    dead sets that fire in the BatchTopK this step and ones that do not, an AuxK weight
    large enough that its gradient dominates (1.0) and the default 1/32."""
    x = _x(jax.random.key(15))
    cases = [([1, 4], 1.0, 2.0), ([0, 3, 5, 7], 1 / 32, 1.0), ([2], 1.0, 5.0), ([], 1.0, 3.0)]
    for i, (idx, coef, k) in enumerate(cases):
        p = _messy_params(jax.random.key(30 + i))
        dead = jnp.zeros(H, bool).at[jnp.asarray(idx, jnp.int32)].set(True)
        _assert_same(loss_and_grads(p, x, jnp.float32(k), dead, coef),
                     jax.value_and_grad(loss_fn, has_aux=True)(
                         p, x, jnp.float32(k), dead, coef, aux_topk=False), f"case {i}")


def test_capped_aux_grads_equal_autodiff():
    """loss_and_grads with aux_cap (the "few" AuxK branch: the products on the dead
    latents' columns alone, gathered, the gradients scattered back) equals autodiff of
    loss_fn with aux_topk=False, for dead sets of 0, 1, 3 and exactly aux_cap = 4
    latents (the last dead one at the highest index), under jit and vmapped over models
    with different dead sets."""
    x = _x(jax.random.key(16))
    cases = [([], 1.0, 2.0), ([6], 1.0, 2.0), ([0, 3, 5], 1 / 32, 1.0), ([1, 2, 4, 7], 1.0, 3.0)]
    capped = jax.jit(partial(loss_and_grads, aux_coef=1.0, aux_cap=4))
    for i, (idx, coef, k) in enumerate(cases):
        p = _messy_params(jax.random.key(40 + i))
        dead = jnp.zeros(H, bool).at[jnp.asarray(idx, jnp.int32)].set(True)
        _assert_same(loss_and_grads(p, x, jnp.float32(k), dead, coef, aux_cap=4),
                     jax.value_and_grad(loss_fn, has_aux=True)(
                         p, x, jnp.float32(k), dead, coef, aux_topk=False), f"case {i}")
    params = [_messy_params(jax.random.key(50 + i)) for i in range(len(cases))]
    deads = jnp.stack([jnp.zeros(H, bool).at[jnp.asarray(c[0], jnp.int32)].set(True)
                       for c in cases])
    ks = jnp.asarray([c[2] for c in cases], jnp.float32)
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *params)
    batched = jax.vmap(capped, in_axes=(0, None, 0, 0))(stacked, x, ks, deads)
    for i, p in enumerate(params):
        one = jax.tree.map(lambda a, i=i: a[i], batched)
        _assert_same(one, loss_and_grads(p, x, ks[i], deads[i], 1.0), f"vmapped {i}")


def test_aux_few_step_equals_aux_all():
    """train_step with aux="few" (#dead <= AUX_FEW) gives the "all" step to float
    tolerance 1e-6, resampling included (one latent silent long enough)."""
    from toysae.saes.batchtopk import AUX_FEW

    since = [0, 7, 0, 12, 0, 0, 6, 0]  # three dead (>= 5), one resampled (>= 10)
    assert sum(v >= 5 for v in since) <= AUX_FEW
    st, x = _state(jax.random.key(7), since), _x(jax.random.key(8))
    step = jax.jit(train_step, static_argnames=("opts", "aux"))
    a, la = step(st, x, jnp.float32(3.0), opts=OPTS, aux="all")
    b, lb = step(st, x, jnp.float32(3.0), opts=OPTS, aux="few")
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-6)
    np.testing.assert_allclose(np.asarray(la), np.asarray(lb), atol=1e-6)


def test_hand_written_grads_vmap_and_jit_agree_with_a_loop():
    """Under vmap over models sharing one batch (x unbatched: the sweep's layout, where the
    encoder products become one GEMM over all models), and under jit, the gradients equal
    a Python loop of unjitted calls (atol 1e-5 of each gradient's scale)."""
    x = _x(jax.random.key(6))
    params = [_messy_params(jax.random.key(20 + i)) for i in range(3)]
    ks = jnp.asarray([1.0, 3.0, 4.5])
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *params)
    batched = jax.jit(jax.vmap(loss_and_grads, in_axes=(0, None, 0)))(stacked, x, ks)
    for i, p in enumerate(params):
        (loss, _), g = loss_and_grads(p, x, ks[i])
        np.testing.assert_allclose(float(batched[0][0][i]), float(loss), rtol=1e-6)
        for name in g:
            scale = float(jnp.max(jnp.abs(g[name])))
            np.testing.assert_allclose(np.asarray(batched[1][name][i]), np.asarray(g[name]),
                                       atol=1e-5 * scale, err_msg=name)


def test_no_aux_branch_equals_the_autodiff_branch_without_dead_latents():
    """With no dead latent the AuxK term is 0: the "off" step (hand-written gradients)
    and the general "topk" step (autodiff) give the same new state (atol 1e-6)."""
    st = _state(jax.random.key(7), [0] * H)._replace(params=_messy_params(jax.random.key(8)))
    st = st._replace(opt_state=OPTS.optimizer().init(st.params))
    x = _x(jax.random.key(9))
    a, la = train_step(st, x, jnp.float32(2.0), OPTS, aux="off")
    b, lb = train_step(st, x, jnp.float32(2.0), OPTS, aux="topk")
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-6)
    np.testing.assert_allclose(np.asarray(la), np.asarray(lb), atol=1e-6)


def test_resample_dead_resets_only_silent_latents():
    """resample_dead: latents silent for >= 2 · dead_steps get decoder rows along the
    residuals of the worst inputs (j-th silent latent ↔ j-th worst input) at norm
    dec_init_norm, encoder columns along the same direction at the live latents' mean
    encoder norm, zero bias and zero Adam moments; the others are untouched."""
    st = _state(jax.random.key(5), [0, 10, 3, 0, 11, 0, 0, 9])  # 10 and 11 are >= 10
    params = st.params
    adam = st.opt_state[0]
    adam = adam._replace(mu=jax.tree.map(jnp.ones_like, adam.mu),
                         nu=jax.tree.map(jnp.ones_like, adam.nu))
    opt_state = (adam, *st.opt_state[1:])
    resid = jax.random.normal(jax.random.key(6), (B, D))
    new, new_opt, since = resample_dead(params, opt_state, st.since_fired, resid, OPTS)
    order = np.argsort(-np.sum(np.asarray(resid) ** 2, axis=1))
    r = np.asarray(resid)
    gone = [1, 4]
    enc_norm = np.linalg.norm(np.asarray(params["W_enc"]), axis=0)
    live = np.mean(np.delete(enc_norm, gone))
    for j, latent in enumerate(gone):
        u = r[order[j]] / np.linalg.norm(r[order[j]])
        np.testing.assert_allclose(np.asarray(new["W_dec"][latent]), 0.1 * u, atol=1e-6)
        np.testing.assert_allclose(np.asarray(new["W_enc"][:, latent]), live * u, atol=1e-5)
        assert float(new["b_enc"][latent]) == 0.0
        assert float(new_opt[0].mu["W_dec"][latent].sum()) == 0.0
        assert float(new_opt[0].nu["W_enc"][:, latent].sum()) == 0.0
    keep = np.array([0, 2, 3, 5, 6, 7])
    np.testing.assert_array_equal(np.asarray(new["W_dec"][keep]),
                                  np.asarray(params["W_dec"][keep]))
    assert float(new_opt[0].mu["W_dec"][keep].min()) == 1.0
    np.testing.assert_array_equal(np.asarray(since), [0, 0, 3, 0, 0, 0, 0, 9])
    assert isinstance(st, TrainState)


def test_resample_dead_more_gone_latents_than_inputs():
    """resample_dead with more silent latents than batch rows (h = 8 > B = 3): the j-th
    silent latent takes the j-th worst input, and every one past the last input takes
    the last (best-reconstructed) one, as the clipped rank of a full sort gives."""
    st = _state(jax.random.key(7), [10] * 6 + [0, 0])
    resid = jax.random.normal(jax.random.key(8), (3, D))
    new, _, since = resample_dead(st.params, st.opt_state, st.since_fired, resid, OPTS)
    r = np.asarray(resid)
    order = np.argsort(-np.sum(r**2, axis=1), kind="stable")
    for latent in range(6):
        u = r[order[min(latent, 2)]]
        np.testing.assert_allclose(np.asarray(new["W_dec"][latent]),
                                   0.1 * u / np.linalg.norm(u), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(since), [0] * 8)
