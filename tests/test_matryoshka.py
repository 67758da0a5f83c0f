"""Matryoshka BatchTopK (toysae.saes.matryoshka): the nested reconstruction loss against
NumPy, its prefixes' validation, and a measured claim at small scale."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toysae import SAEConfig, SweepConfig, TrainConfig, presets, run_sweep, saes
from toysae.saes import MatryoshkaBatchTopK
from toysae.topk import batch_topk_mask


def test_loss_is_the_sum_of_prefix_reconstructions():
    """loss_fn (no dead latent) = Σ_j mean_b ‖acts[:, :m_j] Ŵ[:m_j] + b_dec − x‖²
    (NumPy), and its mse is the full dictionary's."""
    arch = MatryoshkaBatchTopK(prefixes=(2, 3, 6))
    p = arch.init(jax.random.key(0), 10, 6)
    p = {**p, "b_dec": 0.1 * jnp.ones(10)}
    x = jax.random.normal(jax.random.key(1), (32, 10))
    loss, (mse, acts, _, _) = arch.loss_fn(p, x, 3.0, jnp.zeros(6, bool), 0.0)
    pn = {n: np.asarray(v, np.float64) for n, v in p.items()}
    xn = np.asarray(x, np.float64)
    pre = np.maximum(xn @ pn["W_enc"] + pn["b_enc"] - pn["b_dec"] @ pn["W_enc"], 0)
    mask = np.asarray(batch_topk_mask(jnp.asarray(pre, jnp.float32), 3.0)[0])
    a = np.where(mask, pre, 0.0)
    unit = pn["W_dec"] / np.linalg.norm(pn["W_dec"], axis=1, keepdims=True)
    errs = [np.mean(np.sum((a[:, :m] @ unit[:m] + pn["b_dec"] - xn) ** 2, 1))
            for m in (2, 3, 6)]
    np.testing.assert_allclose(float(loss), sum(errs), rtol=1e-5)
    np.testing.assert_allclose(float(mse), errs[-1], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(acts), a, atol=1e-5)


def test_prefixes_from_config():
    """The width is added as the last prefix; None gives (h/4, h/2, h)."""
    assert saes.build(SAEConfig(width=50, arch="matryoshka")).prefixes == (12, 25, 50)
    assert saes.build(SAEConfig(width=8, arch="matryoshka", prefixes=[2, 4])).prefixes == (
        2, 4, 8)


@pytest.mark.parametrize("prefixes, needle", [
    ((3, 2), "strictly increasing"), ((2, 9), r"prefixes\[1\]=9"), ((0, 4), r"prefixes\[0\]=0"),
    ((), "non-empty"), ("12", "list of integers"), ((2.5,), "not an integer"),
])
def test_bad_prefixes_are_refused(prefixes, needle):
    with pytest.raises(ValueError, match=needle):
        SAEConfig(width=8, arch="matryoshka", prefixes=prefixes)


def test_nested_prefixes_do_not_pick_up_the_correlated_feature():
    """Claim (ours, measured): on the small toy with f0 positively correlated with f1–f4
    (c = +0.4), BatchTopK at k = 1.8 from the ground truth mixes +f0 into latents 1–4
    (the paper's Fig 2: "latents 1–4 pick up +f0"; here 0.22).  Matryoshka BatchTopK
    with the default prefixes (1, 2, 5), same k, init, budget (400 steps of 1024) and
    seeds 0–2, does not: measured mixing −0.034 to −0.035 at k = 1.8 (the first latent,
    alone in its prefix, must reconstruct every input by itself).  Margin: mixing below
    0.05 in every seed, against BatchTopK's > 0.1."""
    cfg = SweepConfig(toy=presets.paper_small(0.4),
                      sae=SAEConfig(width=5, init="ground_truth", arch="matryoshka"),
                      train=TrainConfig(samples=1024 * 400, n_eval=20_000, chunk_steps=400),
                      ks=(1.8,), seeds=(0, 1, 2))
    res = run_sweep(cfg, progress=False)
    mixing = np.array([res.record(s, 1.8)["mixing"] for s in cfg.seeds])
    assert np.all(mixing < 0.05), mixing
