"""The training step: AuxK variants agree, resampling of silent latents, stack-level
branch choice equals the plain vmapped step."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from toysae.sae import init_params
from toysae.train import StepOptions, TrainState, init_state, resample_dead, sweep_step, train_step

OPTS = StepOptions(lr=1e-3, beta1=0.9, beta2=0.999, aux_coef=1 / 32, dead_steps=5,
                   threshold_decay=0.01, resample=True, dec_init_norm=0.1)
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
    a, la = train_step(st, x, jnp.float32(3.0), OPTS, aux="topk")
    b, lb = train_step(st, x, jnp.float32(3.0), OPTS, aux="all")
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-6)
    np.testing.assert_allclose(np.asarray(la), np.asarray(lb), atol=1e-6)


def test_sweep_step_equals_plain_vmapped_step():
    """sweep_step (AuxK branch picked once for the stack) equals vmap(vmap(train_step))
    with the general AuxK, on a 2 × 3 stack where some models have dead latents."""
    keys = jax.random.split(jax.random.key(2), 6)
    sinces = np.zeros((6, H), np.int32)
    sinces[1, 2] = 7
    sinces[4, [0, 5]] = 12  # silent for >= 2 * dead_steps: resampled
    states = [_state(k, s) for k, s in zip(keys, sinces, strict=True)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a).reshape((2, 3) + a[0].shape), *states)
    x = jnp.stack([_x(jax.random.key(3)), _x(jax.random.key(4))])
    ks = jnp.asarray([1.0, 2.5, 4.0])
    fast, lf = sweep_step(stacked, x, ks, OPTS)
    plain_step = partial(train_step, opts=OPTS, aux="topk")
    plain, lp = jax.vmap(jax.vmap(plain_step, in_axes=(0, None, 0)), in_axes=(0, 0, None))(
        stacked, x, ks)
    for u, v in zip(jax.tree.leaves(fast), jax.tree.leaves(plain), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-6)
    np.testing.assert_allclose(np.asarray(lf), np.asarray(lp), atol=1e-6)


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
