"""Teaching demo: *Sparse but Wrong* (arXiv 2508.16560) on a laptop CPU in about a minute.

A marimo notebook.  Open it with ``marimo edit demo/toysae_demo.py``, serve it as an app
with ``marimo run demo/toysae_demo.py``, or run it top to bottom as a plain script with
``python demo/toysae_demo.py``; as a script it writes the summary figure ``demo.png`` to
``$TOYSAE_DEMO_OUT`` (default: the repository's ``figures/``).
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import os
    import time
    from pathlib import Path

    import jax
    import jax.numpy as jnp
    import marimo as mo
    import matplotlib.pyplot as plt
    import numpy as np

    import toysae
    from toysae import SAEConfig, SweepConfig, TrainConfig, presets
    from toysae.metrics import match, reconstruction
    from toysae.sae import encode, ground_truth_params

    return (
        Path, SAEConfig, SweepConfig, TrainConfig, encode, ground_truth_params, jax, jnp,
        match, mo, np, os, plt, presets, reconstruction, time, toysae,
    )


@app.cell
def _(mo):
    mo.md(r"""
    # Sparse but wrong: a BatchTopK SAE learns the true features only at the true L0

    This notebook retells Chanin & Garriga-Alonso, *Sparse but Wrong: Incorrect L0 Leads
    to Incorrect Features in Sparse Autoencoders* (arXiv 2508.16560) with `toysae`, on a
    toy model whose true features we know.

    1. **The generator** and its *true L0*, the mean number of features active per input.
    2. **One sweep** of sparse autoencoders trained below, at and above the true L0.
    3. **The sparsity–reconstruction trap**: at low L0 the trained SAE reconstructs
       *better* than the SAE made of the true features.
    4. **c_dec** (decoder cosine similarity) finds the true L0 without knowing the features.
    5. **Theorem 1**: a two-feature toy where mixing features provably lowers the loss
       (sliders for the probabilities).

    Compute: about a minute on a 2-core CPU (the paper's budget is ~40 times larger).
    """)
    return


@app.cell
def _(mo):
    mo.md(r"""
    ## 1. The generator

    The paper's main toy model (§3.2, preset `paper-main`): $g = 50$ orthogonal unit
    features $f_i \in \mathbb{R}^{100}$.  An input is $x = \sum_i m_i f_i$.  Feature $i$
    fires with probability $p_i$, falling linearly from 0.39 (feature 0) to 0.05
    (feature 49); which features fire together is set by a Gaussian copula with a random
    correlation matrix (the paper's recipe, seed 42); a firing feature has magnitude
    $m_i = \mathrm{ReLU}(1 + 0.15\,\varepsilon)$.

    The **true L0** is the expected number of firing features, $\sum_i p_i$.
    """)
    return


@app.cell
def _(jax, np, presets, toysae):
    toy_cfg = presets.get("paper-main")
    toy = toysae.build_toy(toy_cfg)
    true_l0 = toy_cfg.true_l0
    coeffs, _x = toy.sample(jax.random.key(0), 20_000)  # [20000, 50], [20000, 100]
    n_firing = np.asarray((coeffs > 0).sum(axis=1))
    return n_firing, toy, toy_cfg, true_l0


@app.cell
def _(mo, n_firing, np, plt, toy, true_l0):
    _fig, _ax = plt.subplots(1, 3, figsize=(12, 3.2))
    _ax[0].bar(np.arange(toy.n_features), np.asarray(toy.probs), color="C0")
    _ax[0].set_xlabel("feature i")
    _ax[0].set_ylabel("firing probability $p_i$")
    _ax[0].set_title("firing probabilities", fontsize=10)
    _bins = np.arange(n_firing.max() + 2) - 0.5
    _ax[1].hist(n_firing, bins=_bins, color="C1")
    _ax[1].axvline(true_l0, color="k", ls="--", label=f"true L0 = Σp = {true_l0:.2f}")
    _ax[1].set_xlabel("features firing in one input")
    _ax[1].set_ylabel("inputs (of 20,000)")
    _ax[1].legend(fontsize=8)
    _ax[1].set_title("L0 of the inputs", fontsize=10)
    _im = _ax[2].imshow(toy.correlation, cmap="RdBu_r", vmin=-1, vmax=1)
    _ax[2].set_title("copula correlation C", fontsize=10)
    _ax[2].set_xlabel("feature")
    _ax[2].set_ylabel("feature")
    _fig.colorbar(_im, ax=_ax[2])
    _fig.tight_layout()
    mo.vstack([
        mo.md(f"True L0 = **{true_l0:.4f}** (the paper rounds it to 11); mean over "
              f"20,000 samples: {n_firing.mean():.3f}."),
        _fig,
    ])
    return


@app.cell
def _(mo):
    mo.md(r"""
    ## 2. One sweep: SAEs below, at and above the true L0

    A **BatchTopK** SAE (50 latents) keeps, over a whole batch of $B$ inputs, the
    $k \cdot B$ largest latent activations, so on average $k$ latents are active per
    input: $k$ *is* the SAE's L0.  `toysae.run_sweep` trains one SAE per $k$ in one
    compiled, vmapped JAX program; every $k$ starts from the same initialisation and
    sees the same batches, so differences between columns are due to $k$ alone.

    **Budget** (to fit in about a minute on a laptop): 400,000 samples per SAE with
    batch 256 and Adam lr $10^{-3}$, one seed.  The paper trains on 15M samples with
    batch 1024 and lr $3\cdot10^{-4}$, 5 seeds (`toysae sweep --preset paper-main ...`).
    """)
    return


@app.cell
def _(SAEConfig, SweepConfig, TrainConfig, os, time, toy_cfg, toysae):
    KS = (3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0, 18.0)
    sweep_cfg = SweepConfig(
        toy=toy_cfg,
        sae=SAEConfig(width=50),
        train=TrainConfig(samples=400_000, batch_size=256, lr=1e-3, n_eval=20_000),
        ks=KS,
        seeds=(0,),
    )
    _t0 = time.perf_counter()
    # $TOYSAE_DEMO_RUNS: a run store to cache the sweep in (the tests share one); unset,
    # the sweep trains in memory every time.
    result = toysae.run_sweep(sweep_cfg, out_dir=os.environ.get("TOYSAE_DEMO_RUNS") or None,
                              progress=False)
    sweep_seconds = time.perf_counter() - _t0
    records = {rec["k"]: rec for rec in result.records}
    print(f"sweep of {len(KS)} SAEs: {sweep_seconds:.1f} s")
    return KS, records, sweep_cfg, sweep_seconds


@app.cell
def _(KS, mo, records, sweep_seconds):
    _rows = "\n".join(
        f"| {k:g} | {records[k]['mcc']:.3f} | {records[k]['n_recovered']} / 50 | "
        f"{records[k]['c_dec']:.4f} | {records[k]['mse']:.3f} |" for k in KS)
    mo.md(f"""
    Trained {len(KS)} SAEs in **{sweep_seconds:.0f} s** (compilation included).
    MCC = mean |cos| between matched decoder rows and true features (1 = perfect);
    recovered = true features with a decoder row at |cos| > 0.9.

    | k | MCC | recovered | c_dec | MSE |
    |---|---|---|---|---|
    {_rows}
    """)
    return


@app.cell
def _(jnp, match, np):
    def matched_cos(rec):
        """Signed ``[h, g]`` cosines, latent rows reordered to match feature columns."""
        cos = np.asarray(rec["cos"])
        rows, _ = match(jnp.abs(jnp.asarray(cos)))
        return cos[np.asarray(rows)]

    def heatmap(ax, rec, true_l0):
        im = ax.imshow(matched_cos(rec), cmap="RdBu_r", vmin=-1, vmax=1)
        where = "below" if rec["k"] < true_l0 - 1 else (
            "above" if rec["k"] > true_l0 + 1 else "at")
        ax.set_title(f"k = {rec['k']:g} ({where} true L0): MCC {rec['mcc']:.3f}, "
                     f"{rec['n_recovered']}/50", fontsize=9)
        ax.set_xlabel("true feature")
        ax.set_ylabel("SAE latent (matched)")
        return im

    return (heatmap,)


@app.cell
def _(heatmap, mo, plt, records, true_l0):
    _fig, _axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
    for _ax, _k in zip(_axes, (5.0, 11.0, 18.0), strict=True):
        _im = heatmap(_ax, records[_k], true_l0)
    _fig.colorbar(_im, ax=_axes, label="cos(decoder row, true feature)", shrink=0.9)
    mo.vstack([
        _fig,
        mo.md(r"""
        Cosine of each SAE latent's decoder direction with each true feature (latents
        reordered to match features).  **At k = 11** the diagonal is ~1: every latent
        is one true feature.  **Below** (k = 5), latents are mixtures: off-diagonal
        stripes in the first columns are the frequent, correlated features (feature 0
        fires most) leaking into other latents, positively or negatively with the sign
        of their correlation.  **Above** (k = 18), most latents stay correct, but some
        become degenerate mixtures.
        """),
    ])
    return


@app.cell
def _(mo):
    mo.md(r"""
    ## 3. The sparsity–reconstruction trap

    Why not pick $k$ by reconstruction quality?  Run the **ground-truth SAE** (decoder =
    the true features, encoder = their transpose) with BatchTopK at the same $k$ and
    compare mean squared errors on the same 20,000 evaluation inputs.  Below the true
    L0, the trained SAE, with its *wrong* features, reconstructs **better** than the
    true features can: mixing in frequent features is how it serves inputs with more
    than $k$ active features (paper §3.3: MSE 2.73 against 4.88 at L0 = 5).
    """)
    return


@app.cell
def _(KS, encode, ground_truth_params, jax, jnp, np, reconstruction, sweep_cfg, toy):
    # The sweep's evaluation set: same key and size as toysae.sweep.evaluate_state.
    _x_eval = toy.sample(jax.random.key(sweep_cfg.train.eval_seed), sweep_cfg.train.n_eval)[1]
    _gt = ground_truth_params(toy.features)

    @jax.jit
    def _gt_mse(params, x, ks):
        return jax.vmap(lambda k: reconstruction(params, x, encode(params, x, k)[0])["mse"])(ks)

    _mse = np.asarray(_gt_mse(_gt, _x_eval, jnp.asarray(KS)))
    gt_mse = dict(zip(KS, _mse.tolist(), strict=True))
    return (gt_mse,)


@app.cell
def _(KS, gt_mse, records, true_l0):
    def plot_trap(ax):
        ax.plot(KS, [records[k]["mse"] for k in KS], "o-", label="trained SAE")
        ax.plot(KS, [gt_mse[k] for k in KS], "s--", label="ground-truth SAE")
        ax.axvline(true_l0, color="k", ls=":", lw=1, label="true L0")
        ax.set_xlabel("k (L0 of the SAE)")
        ax.set_ylabel("MSE  (mean ‖x − x̂‖²)")
        ax.set_title("trained beats ground truth below the true L0", fontsize=9)
        ax.legend(fontsize=8)

    return (plot_trap,)


@app.cell
def _(gt_mse, mo, plot_trap, plt, records):
    _fig, _ax = plt.subplots(figsize=(5.5, 3.5))
    plot_trap(_ax)
    mo.hstack([
        _fig,
        mo.md(f"""
        At k = 5: trained SAE MSE **{records[5.0]['mse']:.2f}**, ground-truth SAE
        **{gt_mse[5.0]:.2f}**.

        The loss prefers the wrong features, so an SAE at the wrong L0 is not stuck
        in a bad local minimum: it is *pushed* away from the truth (the paper shows
        that an SAE started at the ground truth with k = 5 drifts away).
        """),
    ], widths=[3, 2])
    return


@app.cell
def _(mo):
    mo.md(r"""
    ## 4. Finding the true L0 with c_dec

    $c_\text{dec}$ = mean $|\cos|$ over all pairs of decoder rows (paper §3.4).  It needs
    neither data nor the true features.  Mixed latents share components of the same
    frequent features, so they are less orthogonal: $c_\text{dec}$ is lowest at the
    true L0.  In a real SAE, choose the L0 at its minimum (or at the elbow before it
    rises steeply as L0 falls); `toysae find-l0` automates a coarse-to-fine search.
    """)
    return


@app.cell
def _(KS, records, toysae, true_l0):
    estimate = toysae.argmin_rule(KS, [[records[k]["c_dec"] for k in KS]], "argmin_c_dec")

    def plot_c_dec(ax):
        ax.plot(KS, [records[k]["c_dec"] for k in KS], "o-", color="C2")
        ax.axvline(true_l0, color="k", ls=":", lw=1, label=f"true L0 {true_l0:.2f}")
        ax.axvline(estimate.l0, color="C3", ls="--", lw=1,
                   label=f"argmin c_dec: k = {estimate.l0:g}")
        ax.set_xlabel("k (L0 of the SAE)")
        ax.set_ylabel("c_dec")
        ax.set_title("decoder cosine similarity finds the true L0", fontsize=9)
        ax.legend(fontsize=8)

    return estimate, plot_c_dec


@app.cell
def _(estimate, mo, plot_c_dec, plt, true_l0):
    _fig, _ax = plt.subplots(figsize=(5.5, 3.5))
    plot_c_dec(_ax)
    mo.hstack([
        _fig,
        mo.md(f"""
        The minimum of c_dec over the sweep is at **k = {estimate.l0:g}**; the true L0
        is {true_l0:.2f}.  One seed here; the paper averages 5 seeds per k (Fig 6).
        """),
    ], widths=[3, 2])
    return


@app.cell
def _(mo):
    mo.md(r"""
    ## 5. Theorem 1: why low L0 mixes features

    Two orthonormal features.  Only $f_1$ fires with probability $P_1$, only $f_2$ with
    $P_2$, both with $P_{12}$, always with magnitude $m = 1$.  A tied Top-1 SAE (L0 = 1,
    below the true L0 $P_1 + P_2 + 2P_{12}$) keeps latent 2 $= f_2$ and sets latent 1 to
    $\propto \alpha f_1 + (1 - \alpha) f_2$: $\alpha = 1$ is the true feature, $\alpha = 1/2$
    an even mix.  Its expected loss (paper A.5) is

    $$E[L(\alpha)] = \frac{P_1 (1-\alpha)^2 + P_{12} (1-2\alpha)^2}{\alpha^2 + (1-\alpha)^2},$$

    so $E[L(1)] = P_{12}$ and $E[L(1/2)] = P_1/2$: **the mix wins whenever
    $P_{12} > P_1/2$**.  Move the sliders ($P_2$ does not enter the loss; it is 0.1 in
    the Monte-Carlo check, which samples the generator of `toysae.theory`).
    """)
    return


@app.cell
def _(mo):
    p1_slider = mo.ui.slider(0.02, 0.44, step=0.02, value=0.4, show_value=True,
                             label="P1 (only f1 fires)")
    p12_slider = mo.ui.slider(0.0, 0.44, step=0.02, value=0.4, show_value=True,
                              label="P12 (both fire)")
    mo.hstack([p1_slider, p12_slider], justify="start")
    return p12_slider, p1_slider


@app.cell
def _(jax, jnp, np, toysae):
    ALPHAS = np.linspace(0.0, 1.0, 201)

    def plot_theorem(ax, p1, p12, mc_points=True):
        """E[L(α)] (closed form), its minimiser, and optionally Monte-Carlo points."""
        loss = np.asarray(toysae.expected_loss(jnp.asarray(ALPHAS), p1, p12))
        star = float(toysae.optimal_alpha(p1, p12))
        ax.plot(ALPHAS, loss, color="C0", label="closed form (A.5)")
        if mc_points:
            two = toysae.build_toy(toysae.two_feature_toy_config(p1, 0.1, p12))
            grid = jnp.linspace(0.0, 1.0, 11)
            mc = toysae.monte_carlo_loss(grid, two, jax.random.key(0), 50_000)
            ax.plot(grid, mc, "o", mfc="none", color="C1", label="Monte-Carlo (generator)")
        ax.plot([1.0], [p12], "s", color="C2", label=f"true feature α=1: {p12:.3f}")
        ax.plot([0.5], [p1 / 2], "D", color="C3", label=f"even mix α=½: {p1 / 2:.3f}")
        ax.axvline(star, color="k", ls=":", lw=1, label=f"optimum α* = {star:.3f}")
        ax.set_xlabel("α  (latent 1 ∝ α f1 + (1−α) f2)")
        ax.set_ylabel("E[L(α)]")
        ax.set_title(f"Theorem 1: P1 = {p1:.2f}, P12 = {p12:.2f}", fontsize=9)
        ax.legend(fontsize=7)
        return star

    return (plot_theorem,)


@app.cell
def _(mo, p12_slider, p1_slider, plot_theorem, plt, toysae):
    _p1, _p12 = p1_slider.value, p12_slider.value
    _fig, _ax = plt.subplots(figsize=(5.5, 3.6))
    _star = plot_theorem(_ax, _p1, _p12)
    _verdict = ("**mixes**: the even mix beats the true feature"
                if toysae.mixes(_p1, _p12) else
                "**does not pass the threshold**: the true feature beats the even mix")
    mo.hstack([
        _fig,
        mo.md(f"""
        P12 = {_p12:.2f} {'>' if _p12 > _p1 / 2 else '≤'} P1/2 = {_p1 / 2:.2f}:
        the SAE {_verdict}.

        The best α is {_star:.3f}.  The slope at α = 1 is $2P_{{12}} > 0$, so gradient
        descent leaves the true feature for *any* co-occurrence; the theorem's threshold
        only decides how far it moves (`toysae.descend_alpha`).
        """),
    ], widths=[3, 2])
    return


@app.cell
def _(mo):
    mo.md(r"""
    ## Summary figure

    Run as a script (`python demo/toysae_demo.py`), the notebook writes this figure to
    `figures/demo.png` (or to `$TOYSAE_DEMO_OUT/demo.png`).  It uses the paper's example
    P1 = P12 = 0.4, not the sliders, so it is the same on every run.
    """)
    return


@app.cell
def _(Path, heatmap, mo, os, plot_c_dec, plot_theorem, plot_trap, plt, records, true_l0):
    summary, _axes = plt.subplots(2, 3, figsize=(13, 8), layout="constrained")
    for _ax, _k in zip(_axes[0], (5.0, 11.0, 18.0), strict=True):
        _im = heatmap(_ax, records[_k], true_l0)
    summary.colorbar(_im, ax=_axes[0], label="cos(decoder row, true feature)", shrink=0.9)
    plot_trap(_axes[1, 0])
    plot_c_dec(_axes[1, 1])
    plot_theorem(_axes[1, 2], 0.4, 0.4, mc_points=False)
    summary.suptitle("toysae demo: BatchTopK SAEs on the paper's main toy (true L0 10.95), "
                     "400k samples each", fontsize=11)
    summary_path = None
    if mo.app_meta().mode == "script":
        _default = Path(mo.notebook_dir() or ".").resolve().parent / "figures"
        _out = Path(os.environ.get("TOYSAE_DEMO_OUT") or _default)
        _out.mkdir(parents=True, exist_ok=True)
        summary_path = _out / "demo.png"
        summary.savefig(summary_path, dpi=72, bbox_inches="tight", metadata={"Software": None})
        print(f"wrote {summary_path} ({summary_path.stat().st_size / 1000:.0f} kB)")
    mo.as_html(summary)
    return


if __name__ == "__main__":
    app.run()
