"""Parity with the authors' trainer: SAELens's BatchTopK beside ours on the main toy.

The paper's reference code trains with SAELens (6.11 in its notebooks).  This script
trains SAELens's own ``BatchTopKTrainingSAE`` with its ``SAETrainer`` (the ``compare``
extra: ``pip install -e '.[compare]'``) and our BatchTopK sweep on the same toy
(``paper-main``; SAELens draws its batches from the same arrays through PyTorch,
``benchmarks/suite_saelens.TorchToy``), at the same k, seeds, batch, learning rate and
number of samples, and computes the metrics as the reference notebook does:

* MCC: mean |cos| over the Hungarian matching of decoder rows to true features;
* c_dec: mean |cos| over the strict upper triangle of the row-normalised decoder;
* s_n^dec: ``(x − b_dec) @ W_decᵀ`` sorted descending, the element at index n·b, with
  SAELens's **raw** decoder rows (its BatchTopK has no decoder-norm constraint), and also
  with unit rows; ours uses unit rows (its forward pass normalises them).

Where the two differ, :data:`VARIANTS` retrains ours with its dead-latent handling moved
towards SAELens's, to see which choice makes the difference.

Budget: ``--samples`` per SAE, by default the paper's 15M (14,648 steps of 1024).  Results
go to ``figures/parity.json`` after every SAELens run, so an interrupted run resumes; the
docs' parity table is written from it.  ``figures/parity_3m.json`` is an earlier run at
3M samples with SAELens 6.54 (``--samples 3000000 --out figures/parity_3m.json``).

Which SAELens: the reference notebooks ran on SAELens 6.11, whose JumpReLU trains
``log_threshold`` (6.54 trains the threshold directly, clamped at 0) and whose BatchTopK
uses raw decoder rows (6.54 by default rescales the activations by the decoder norms).
The ``compare`` extra installs a current SAELens; for the authors' version install 6.11
beside it (``pip install --no-deps --target DIR sae-lens==6.11.0``, then
``PYTHONPATH=DIR``).  The results record the version that ran, and a run with another
version starts its SAELens block afresh.

Usage: ``python experiments/parity.py [--samples 15000000] [--ks 10,11,12,13] [--seeds 0-4]
[--jumprelu]`` (run with a Python that has both toysae and sae-lens installed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from common import write_json  # noqa: E402

from toysae import SAEConfig, SweepConfig, TrainConfig, build_toy, presets, run_sweep  # noqa: E402
from toysae.metrics import recovery, s_n_dec  # noqa: E402

N_EVAL, S_N_BATCH, S_N = 100_000, 4096, (12, 18)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=15_000_000)
    p.add_argument("--ks", default="10,11,12,13")
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--out", default=str(HERE.parent / "figures" / "parity.json"))
    p.add_argument("--out-dir", default=str(HERE.parent / "runs"), help="our run store")
    p.add_argument("--jumprelu-seeds", metavar="A-B",
                   help="only the JumpReLU seed spread at λ = --jumprelu-lambda: ours and "
                        "SAELens's, seeds A..B, the reference recipe")
    p.add_argument("--jumprelu-lambda", type=float, default=0.3)
    p.add_argument("--skip-variants", action="store_true",
                   help="leave out our trainer's variants (VARIANTS) this time; a later "
                        "run without this flag adds them")
    p.add_argument("--jumprelu", action="store_true",
                   help="only the JumpReLU parity (SAELens's JumpReLU with the reference "
                        "recipe at λ = 0.1, 0.3, 0.5, 1.0 beside figures/jumprelu.json)")
    args = p.parse_args(argv)
    args.ks = tuple(float(k) for k in args.ks.split(","))
    lo, _, hi = args.seeds.partition("-")
    args.seeds = tuple(range(int(lo), int(hi or lo) + 1))
    if args.jumprelu_seeds:
        lo, _, hi = args.jumprelu_seeds.partition("-")
        args.jumprelu_seeds = tuple(range(int(lo), int(hi or lo) + 1))
    if args.samples < 1024 * 10:
        p.error(f"--samples={args.samples} is too small; expected at least 10,240")
    return args


def metrics(w_dec: np.ndarray, b_dec: np.ndarray, features: np.ndarray, x: np.ndarray) -> dict:
    """The reference notebook's metrics of one decoder ``w_dec [h, d]``: MCC, recovered
    features and c_dec (:func:`toysae.metrics.recovery`), s_n^dec with unit rows
    (:func:`toysae.s_n_dec`) and with raw rows, as the notebook reads SAELens's."""
    params = {"W_dec": jnp.asarray(w_dec, jnp.float32), "b_dec": jnp.asarray(b_dec, jnp.float32)}
    rec = recovery(params, jnp.asarray(features, jnp.float32))
    out = {"mcc": float(rec["mcc"]), "n_recovered": int(rec["n_recovered"]),
           "c_dec": float(rec["c_dec"])}
    b = x[:S_N_BATCH]
    raw = np.sort(((b - b_dec) @ w_dec.T).ravel())[::-1]
    for n in S_N:
        out[f"s{n}_dec_raw"] = float(raw[n * len(b)])
        out[f"s{n}_dec_unit"] = float(s_n_dec(params, jnp.asarray(b, jnp.float32), n))
    return out


#: Our trainer with one of its choices changed towards SAELens's, to find which choice
#: makes the difference: no resampling of silent latents; and, on top, SAELens's dead-latent
#: handling (AuxK coefficient 1.0, a latent dead after 1,000 silent steps).
VARIANTS = {"no_resample": dict(resample=False),
            "saelens_dead_handling": dict(resample=False, aux_coef=1.0, dead_steps=1000)}


def ours(args, toy, features, x, **sae_kw) -> dict:
    cfg = SweepConfig(toy=presets.get("paper-main"), sae=SAEConfig(width=50, **sae_kw),
                      train=TrainConfig(samples=args.samples), ks=args.ks, seeds=args.seeds)
    t0 = time.perf_counter()
    res = run_sweep(cfg, out_dir=args.out_dir, progress=False, toy=toy)
    out = {"wall_s": round(time.perf_counter() - t0, 1), "train_s": res.train_s, "runs": {}}
    for k in args.ks:
        for s in args.seeds:
            p = res.params(seed=s, k=k)
            out["runs"][f"{k:g}/{s}"] = metrics(np.asarray(p["W_dec"]), np.asarray(p["b_dec"]),
                                                features, x)
    return out


def _fit(sae, toy, seed: int, samples: int, batch: int, lr: float, norm_batches: int
         ) -> float:
    """Trains ``sae`` with SAELens's ``SAETrainer`` on ``toy`` (constant lr, Adam
    (0.9, 0.999), SAELens's default dead window of 1,000 steps, ``norm_batches`` batches
    for the input-norm estimate where the SAE normalises its inputs); returns seconds."""
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training import sae_trainer
    from suite_saelens import TorchToy, _fill

    trainer_cfg = _fill(SAETrainerConfig, dict(
        n_checkpoints=0, checkpoint_path=None, save_final_checkpoint=False,
        total_training_samples=samples, device="cpu", autocast=False, lr=lr,
        lr_end=lr, lr_scheduler_name="constant", lr_warm_up_steps=0, adam_beta1=0.9,
        adam_beta2=0.999, lr_decay_steps=0, n_restart_cycles=1,
        train_batch_size_samples=batch, dead_feature_window=1000,
        feature_sampling_window=2000, n_batches_for_norm_estimate=norm_batches,
        logger=_fill(LoggingConfig, dict(log_to_wandb=False))))
    if hasattr(sae_trainer, "tqdm"):
        from functools import partial

        from tqdm.auto import tqdm
        sae_trainer.tqdm = partial(tqdm, disable=True)
    os.environ.setdefault("TQDM_DISABLE", "1")  # the input-norm estimate's own bar
    t0 = time.perf_counter()
    sae_trainer.SAETrainer(cfg=trainer_cfg, sae=sae,
                           data_provider=TorchToy(toy, batch, "cpu", seed)).fit()
    return time.perf_counter() - t0


def train_saelens(toy, *, k: float, seed: int, samples: int, batch: int = 1024,
                  lr: float = 3e-4) -> tuple[np.ndarray, np.ndarray, float]:
    """One SAELens BatchTopK SAE trained on ``toy``: ``(W_dec, b_dec, seconds)``."""
    import torch
    from sae_lens import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from suite_saelens import _fill

    torch.manual_seed(seed)
    steps = samples // batch
    # SAELens's defaults for everything else (its AuxK coefficient and decoder init), as
    # the reference notebook does.
    sae = BatchTopKTrainingSAE(_fill(BatchTopKTrainingSAEConfig, dict(
        d_in=int(toy.features.shape[1]), d_sae=50, k=int(k) if float(k).is_integer() else k,
        device="cpu",
        dtype="float32")))
    secs = _fit(sae, toy, seed, steps * batch, batch, lr, norm_batches=100)
    return (sae.W_dec.detach().cpu().numpy().astype(np.float64),
            sae.b_dec.detach().cpu().numpy().astype(np.float64), secs)


#: The JumpReLU notebook's settings (paper-facts: the authors' code), for both trainers.
JUMPRELU_LAMBDAS = (0.1, 0.3, 0.5, 1.0)
JUMPRELU_NOTEBOOK = dict(jumprelu_bandwidth=2.0, jumprelu_init_threshold=0.1,
                         jumprelu_sparsity_loss_mode="tanh", l0_warm_up_steps=10_000,
                         normalize_activations="expected_average_only_in")


def train_saelens_jumprelu(toy, *, lam: float, seed: int, samples: int, batch: int = 1024,
                           lr: float = 3e-4) -> tuple[np.ndarray, np.ndarray, float, dict]:
    """One SAELens JumpReLU SAE with the reference notebook's recipe (input scaling by
    √d / E‖x‖ estimated over 1,000 batches and folded back, the trainer's gradient clip at
    1.0, tanh sparsity loss, λ warm-up over 10,000 steps):
    ``(W_dec, b_dec, seconds, {"l0", "mse"})`` with L0 and MSE measured on raw inputs."""
    import torch
    from sae_lens import JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig
    from suite_saelens import _fill

    missing = sorted(set(JUMPRELU_NOTEBOOK) - {f.name for f in
                                               dataclasses.fields(JumpReLUTrainingSAEConfig)})
    if missing:  # _fill would drop them silently: not the reference recipe
        raise RuntimeError(f"this SAELens's JumpReLUTrainingSAEConfig lacks {missing}")
    torch.manual_seed(seed)
    steps = samples // batch
    sae = JumpReLUTrainingSAE(_fill(JumpReLUTrainingSAEConfig, dict(
        d_in=int(toy.features.shape[1]), d_sae=50, l0_coefficient=float(lam), device="cpu",
        dtype="float32", **JUMPRELU_NOTEBOOK)))
    secs = _fit(sae, toy, seed, steps * batch, batch, lr, norm_batches=1000)
    x = torch.as_tensor(np.asarray(toy.sample(jax.random.key(54321), 20_000)[1], np.float32))
    with torch.no_grad():
        acts = sae.encode(x)
        mse = float(((sae.decode(acts) - x) ** 2).sum(-1).mean())
        l0 = float((acts > 0).float().sum(-1).mean())
    return (sae.W_dec.detach().cpu().numpy().astype(np.float64),
            sae.b_dec.detach().cpu().numpy().astype(np.float64), secs,
            {"l0": l0, "mse": mse})


def jumprelu_parity(args, toy, features, x, out: dict, path: Path) -> None:
    """SAELens's JumpReLU with the reference recipe at :data:`JUMPRELU_LAMBDAS`, seed 0,
    beside our reference-recipe runs of the same λ (``figures/jumprelu.json``)."""
    ref = {}
    jr = HERE.parent / "figures" / "jumprelu.json"
    if jr.is_file():
        rows = json.loads(jr.read_text()).get("recipes", {}).get("reference", {})
        ref = {f"{r['lambda']:g}": r for r in rows.get("per_lambda", [])}
    settings = {"lambdas": JUMPRELU_LAMBDAS, "seed": 0, "samples": args.samples,
                "notebook": JUMPRELU_NOTEBOOK, "ours_from": "figures/jumprelu.json (reference "
                "recipe, 15M samples)"}
    block = out.get("jumprelu") or {}
    if block.get("settings") != json.loads(json.dumps(settings)):
        block = {"settings": settings, "saelens": {}}
    out["jumprelu"] = block
    from jumprelu import LAMBDAS, REFERENCE_L0
    block["notebook_l0"] = {f"{lam:g}": v for lam, v in zip(LAMBDAS, REFERENCE_L0,
                                                             strict=True)}
    runs = block["saelens"].setdefault(saelens_version(), {})  # SAELens version → λ → row
    for lam in JUMPRELU_LAMBDAS:
        key = f"{lam:g}"
        if key not in runs:
            w, b, secs, meas = train_saelens_jumprelu(toy, lam=lam, seed=0,
                                                      samples=args.samples)
            runs[key] = {**meas, **metrics(w, b, features, x), "seconds": round(secs, 1)}
            print(f"[parity] SAELens {saelens_version()} JumpReLU λ={lam:g}: L0 "
                  f"{meas['l0']:.2f}, MCC {runs[key]['mcc']:.4f} ({secs:.0f} s)")
        block.setdefault("ours", {})[key] = {m: ref[key].get(m) for m in ("l0", "mcc", "c_dec",
                                                                         "mse")} \
            if key in ref else None
        write_json(path, out)


def jumprelu_seed_spread(args, toy, features, x, out: dict, path: Path) -> None:
    """How much the achieved L0 of the reference recipe moves with the seed at one λ: our
    sweep over ``args.jumprelu_seeds`` (the settings of ``experiments/jumprelu.py``, one
    λ) and SAELens's JumpReLU, one run per seed, with the installed SAELens."""
    from jumprelu import sweep_cfg

    lam, seeds = args.jumprelu_lambda, args.jumprelu_seeds
    settings = {"lambda": lam, "seeds": seeds, "samples": args.samples}
    block = out.get("jumprelu_seeds") or {}
    if block.get("settings") != json.loads(json.dumps(settings)):
        block = {"settings": settings, "saelens": {}}
    out["jumprelu_seeds"] = block
    if "ours" not in block:
        base = sweep_cfg(quick=False)
        cfg = dataclasses.replace(base, lambdas=(lam,), seeds=seeds,
                                  train=dataclasses.replace(base.train, samples=args.samples))
        t0 = time.perf_counter()
        res = run_sweep(cfg, out_dir=args.out_dir, progress=False, toy=toy)
        block["ours"] = {str(r["seed"]): {m: float(r[m]) for m in ("l0", "mcc", "c_dec", "mse")}
                         for r in res.records}
        block["ours_s"] = round(time.perf_counter() - t0, 1)
        print(f"[parity] ours JumpReLU λ={lam:g}, seeds {seeds}: L0 "
              f"{[round(r['l0'], 2) for r in block['ours'].values()]}")
        write_json(path, out)
    runs = block["saelens"].setdefault(saelens_version(), {})
    for seed in seeds:
        if str(seed) not in runs:
            w, b, secs, meas = train_saelens_jumprelu(toy, lam=lam, seed=seed,
                                                      samples=args.samples)
            runs[str(seed)] = {**meas, **metrics(w, b, features, x), "seconds": round(secs, 1)}
            print(f"[parity] SAELens {saelens_version()} JumpReLU λ={lam:g} seed {seed}: L0 "
                  f"{meas['l0']:.2f}")
            write_json(path, out)


def data_check(toy, n_batches: int = 100, batch: int = 1024) -> dict:
    """The batches SAELens trains on (``TorchToy``) against ours (``toy.sample``): mean
    active features per input (coefficients recovered through the features'
    pseudo-inverse, active when above 1e-4) and mean ‖x‖, over ``n_batches · batch``
    inputs of each."""
    import torch
    from suite_saelens import TorchToy

    feats = np.asarray(toy.features, np.float64)
    pinv = np.linalg.pinv(feats)
    tt = TorchToy(toy, batch, "cpu", 0)
    with torch.no_grad():
        xt = np.concatenate([next(tt).numpy() for _ in range(n_batches)]).astype(np.float64)
    xj = np.asarray(toy.sample(jax.random.key(1), n_batches * batch)[1], np.float64)
    out = {"inputs": n_batches * batch}
    for name, xx in (("saelens_batches", xt), ("toysae_batches", xj)):
        out[name] = {"l0": float((np.abs(xx @ pinv) > 1e-4).sum(1).mean()),
                     "mean_norm": float(np.linalg.norm(xx, axis=1).mean())}
    return out


def saelens_version() -> str:
    """The installed SAELens's version (the one that trains here)."""
    import sae_lens

    return sae_lens.__version__


def saelens_defaults() -> dict:
    """The SAELens config values this script leaves at their defaults (6.54 has
    ``rescale_acts_by_decoder_norm``, True: its top-k reads activations scaled by the
    decoder norms, as if the rows were unit; 6.11 has no such option and uses raw rows)."""
    from sae_lens import BatchTopKTrainingSAEConfig
    from suite_saelens import _fill

    cfg = _fill(BatchTopKTrainingSAEConfig, dict(d_in=100, d_sae=50, k=11.0))
    return {name: getattr(cfg, name) for name in ("aux_loss_coefficient", "decoder_init_norm",
                                                  "rescale_acts_by_decoder_norm")
            if hasattr(cfg, name)}


def summary(runs: dict, ks, seeds) -> dict:
    out = {}
    for k in ks:
        per = [runs[f"{k:g}/{s}"] for s in seeds if f"{k:g}/{s}" in runs]
        if per:
            out[f"{k:g}"] = {m: {"mean": float(np.mean([r[m] for r in per])),
                                 "std": float(np.std([r[m] for r in per], ddof=1))
                                 if len(per) > 1 else 0.0,
                                 "per_seed": [r[m] for r in per]} for m in per[0]}
    return out


def main(argv=None) -> dict:
    args = parse(argv)
    toy = build_toy(presets.get("paper-main"))
    features = np.asarray(toy.features, np.float64)
    x = np.asarray(toy.sample(jax.random.key(12345), N_EVAL)[1], np.float64)
    path = Path(args.out)
    settings = {"toy": "paper-main", "width": 50, "samples": args.samples, "batch": 1024,
                "lr": 3e-4, "ks": args.ks, "seeds": args.seeds, "n_eval": N_EVAL,
                "s_n_batch": S_N_BATCH}
    old = json.loads(path.read_text()) if path.is_file() else {}
    if args.jumprelu_seeds:  # its own block too
        jumprelu_seed_spread(args, toy, features, x, old, path)
        return old
    if args.jumprelu:  # its own block of the file; the BatchTopK part is left as it is
        jumprelu_parity(args, toy, features, x, old, path)
        return old
    out = old if old.get("settings") == json.loads(json.dumps(settings)) else {}
    for block in ("jumprelu", "jumprelu_seeds"):  # their own settings: kept
        if block in old:
            out[block] = old[block]
    out["settings"] = settings
    out["experiment"] = "Parity: SAELens's BatchTopK trainer beside ours (issue 21)"
    print(f"[parity] ours: {len(args.ks) * len(args.seeds)} SAEs, {args.samples:,} samples")
    out["ours"] = ours(args, toy, features, x)
    out["ours"]["summary"] = summary(out["ours"]["runs"], args.ks, args.seeds)
    try:
        import sae_lens
        import torch
    except ImportError as err:
        out["saelens"] = {"skipped": f"sae-lens not installed ({err}); pip install -e "
                                     "'.[compare]'"}
        add_variants(args, toy, features, x, out, path)
        return out
    if out.get("saelens_versions", {}).get("sae_lens") != sae_lens.__version__:
        out["saelens"] = {"runs": {}, "seconds": {}}  # another SAELens: its runs start afresh
    out["saelens_versions"] = {"sae_lens": sae_lens.__version__, "torch": torch.__version__}
    out["saelens_defaults"] = saelens_defaults()
    out["data_check"] = data_check(toy)
    lens = out.setdefault("saelens", {"runs": {}, "seconds": {}})
    for k in args.ks:
        for s in args.seeds:
            key = f"{k:g}/{s}"
            if key in lens["runs"]:
                continue
            w, b, secs = train_saelens(toy, k=k, seed=s, samples=args.samples)
            lens["runs"][key] = metrics(w, b, features, x)
            lens["seconds"][key] = round(secs, 1)
            lens["summary"] = summary(lens["runs"], args.ks, args.seeds)
            print(f"[parity] SAELens k={k:g} seed={s}: MCC {lens['runs'][key]['mcc']:.4f} "
                  f"({secs:.0f} s)")
            write_json(path, out)  # after every SAE: an interrupted run resumes
    add_variants(args, toy, features, x, out, path)
    return out


def add_variants(args, toy, features, x, out: dict, path: Path) -> None:
    """Our trainer's :data:`VARIANTS` (unless ``--skip-variants``), each written when done."""
    variants = out.setdefault("ours_variants", {})
    for name, kw in VARIANTS.items():
        if args.skip_variants or name in variants:
            continue
        print(f"[parity] ours, {name}: {kw}")
        res = ours(args, toy, features, x, **kw)
        variants[name] = {"sae": kw, "train_s": res["train_s"],
                          "summary": summary(res["runs"], args.ks, args.seeds)}
        write_json(path, out)
    write_json(path, out)


if __name__ == "__main__":
    main()
