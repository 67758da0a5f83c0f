"""Scale-out: a sweep sharded over 8 fake CPU devices equals the unsharded sweep.

JAX fixes its device count when the backend starts, so the check runs in a fresh
Python process with ``--xla_force_host_platform_device_count=8``.
"""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import dataclasses, jax, numpy as np
    from toysae import SAEConfig, SweepConfig, TrainConfig, presets
    from toysae.sweep import train_sweep
    assert len(jax.devices()) == 8, jax.devices()
    cfg = SweepConfig(
        toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
        train=TrainConfig(samples=256 * 40, batch_size=256, chunk_steps=20, n_eval=1024),
        ks=(1.0, 1.5, 2.0, 2.5, 3.0), seeds=(0, 1))
    seen = []
    plain = train_sweep(cfg, progress=False)
    sharded = train_sweep(cfg, progress=False, devices=jax.devices(),
                          on_chunk=lambda s, st, logs: seen.append(st.params["W_dec"].shape))
    assert seen == [(2, 5, 5, 20)] * 2, seen  # callbacks see the unpadded state
    for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
        a, b = np.asarray(plain.params[name]), np.asarray(sharded.params[name])
        assert a.shape == b.shape, (a.shape, b.shape)
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(plain.since_fired), np.asarray(sharded.since_fired))
    print("SHARDED-OK")
    """
)


def test_sharded_sweep_matches_unsharded():
    """A 2-seed × 5-k sweep on 8 fake CPU devices (k padded to 8, models sharded on a
    NamedSharding mesh) gives the unsharded parameters to float tolerance 1e-5."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SHARDED-OK" in out.stdout
