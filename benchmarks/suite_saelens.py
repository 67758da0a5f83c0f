"""Optional baseline: SAELens's BatchTopK trainer on the same toy model and budget.

Needs the ``compare`` extra (``pip install -e '.[compare]'``: ``sae-lens`` and
``torch``).  Without it, :func:`saelens_baseline` returns ``(None, reason)`` and never
raises; an SAELens whose API differs from the one used here is reported the same way.

The inputs come from the *same* toy model: its arrays (feature directions, firing
thresholds, Cholesky factor of the copula, magnitudes) are copied into a small PyTorch
generator that draws each batch on the trainer's device exactly as
``toysae.ToyModel.sample`` does.  Generation is inside the timed loop, as it is in our
chunk program.  Settings follow the paper's reference: width 50, BatchTopK with the
given k, Adam lr 3e-4 (0.9, 0.999), AuxK coefficient 1/32, decoder init norm 0.1,
batch 1024, no learning-rate schedule, no W&B logging, no checkpoints.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

INSTALL_HINT = "pip install -e '.[compare]'"


def _import():
    import sae_lens  # noqa: F401
    import torch  # noqa: F401


def availability() -> tuple[bool, str | None]:
    """``(True, None)`` when ``sae_lens`` and ``torch`` import, else ``(False, why)``."""
    try:
        _import()
    except Exception as e:  # noqa: BLE001 - ImportError, or a broken install
        return False, (f"SAELens comparison skipped: {type(e).__name__}: {e} "
                       f"(install the optional extra: {INSTALL_HINT})")
    return True, None


def _fill(cls, values: dict):
    """``cls(**values)`` restricted to the dataclass fields ``cls`` has; a required field
    that ``values`` lacks raises a TypeError naming it."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


class TorchToy:
    """Batches of the toy model ``toy`` (a ``toysae.ToyModel``) drawn with PyTorch."""

    def __init__(self, toy, batch: int, device: str, seed: int = 0):
        import torch

        self.torch = torch
        self.batch = batch
        self.device = device

        def arr(a):
            return torch.as_tensor(np.array(a, np.float32), device=device)  # a writable copy

        self.features = arr(toy.features)
        self.thresholds = arr(toy.thresholds)
        self.chol_t = arr(toy.chol).T.contiguous() if toy.correlated else None
        self.mu, self.sigma = arr(toy.mu), arr(toy.sigma)
        self.gen = torch.Generator(device=device).manual_seed(seed)

    def __iter__(self):
        return self

    def __next__(self):
        torch = self.torch
        with torch.no_grad():
            g = self.features.shape[0]
            shape = (self.batch, g)
            z = torch.randn(shape, generator=self.gen, device=self.device)
            if self.chol_t is not None:
                z = z @ self.chol_t
            eps = torch.randn(shape, generator=self.gen, device=self.device)
            mags = torch.relu(self.mu + self.sigma * eps)
            coeffs = torch.where(z > self.thresholds, mags, torch.zeros_like(mags))
            return coeffs @ self.features


def _train(toy, *, k: float, width: int, batch: int, steps: int, lr: float, aux_coef: float,
           dead_window: int, device: str, seed: int) -> float:
    """Seconds for one SAELens ``SAETrainer.fit()`` of ``steps`` steps (trainer set-up
    excluded)."""
    import torch
    from sae_lens import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training import sae_trainer

    torch.manual_seed(seed)
    dim = int(toy.features.shape[1])
    sae_cfg = _fill(BatchTopKTrainingSAEConfig, dict(
        d_in=dim, d_sae=width, k=float(k), aux_loss_coefficient=aux_coef,
        decoder_init_norm=0.1, device=device, dtype="float32",
    ))
    sae = BatchTopKTrainingSAE(sae_cfg)
    trainer_cfg = _fill(SAETrainerConfig, dict(
        n_checkpoints=0, checkpoint_path=None, save_final_checkpoint=False,
        total_training_samples=steps * batch, device=device, autocast=False, lr=lr,
        lr_end=lr, lr_scheduler_name="constant", lr_warm_up_steps=0, adam_beta1=0.9,
        adam_beta2=0.999, lr_decay_steps=0, n_restart_cycles=1,
        train_batch_size_samples=batch, dead_feature_window=dead_window,
        feature_sampling_window=2000, n_batches_for_norm_estimate=100,
        logger=_fill(LoggingConfig, dict(log_to_wandb=False)),
    ))
    if hasattr(sae_trainer, "tqdm"):  # no progress bar in a benchmark
        from functools import partial

        from tqdm.auto import tqdm

        sae_trainer.tqdm = partial(tqdm, disable=True)
    trainer = sae_trainer.SAETrainer(cfg=trainer_cfg, sae=sae,
                                     data_provider=TorchToy(toy, batch, device, seed))
    t0 = time.perf_counter()
    trainer.fit()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def saelens_baseline(toy, *, k: float = 11.0, width: int = 50, batch: int = 1024,
                     steps: int = 1000, repeats: int = 3, warmup_steps: int = 20,
                     lr: float = 3e-4, aux_coef: float = 1 / 32,
                     dead_window: int = 50) -> tuple[dict | None, str | None]:
    """Median samples/s of SAELens BatchTopK training on ``toy``.

    Returns ``(result, None)`` or ``(None, reason)``; never raises.
    """
    ok, why = availability()
    if not ok:
        return None, why
    try:
        import sae_lens
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        kw = dict(k=k, width=width, batch=batch, lr=lr, aux_coef=aux_coef,
                  dead_window=dead_window, device=device, seed=0)
        _train(toy, steps=warmup_steps, **kw)
        times = [_train(toy, steps=steps, **kw) for _ in range(max(1, repeats))]
        med = float(np.median(times))
        return dict(
            version=getattr(sae_lens, "__version__", None), torch=torch.__version__,
            device=device, torch_threads=torch.get_num_threads(), models=1, k=k,
            width=width, batch=batch, steps=steps, median_run_s=med,
            times_s=[round(t, 6) for t in times], samples_s=batch * steps / med,
        ), None
    except Exception as e:  # noqa: BLE001 - an API mismatch must not fail the suite
        return None, (f"SAELens comparison failed: {type(e).__name__}: {e} (the installed "
                      "sae-lens API may differ from the one benchmarks/suite_saelens.py uses)")
