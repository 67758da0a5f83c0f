"""One process of the two-process sweep of ``tests/test_multihost.py``.

Usage: ``python tests/multihost_worker.py PORT PROCESS_ID OUT.json``.  Before any other
JAX call it selects the CPU platform with gloo collectives and two CPU devices, and
joins the other process with :func:`jax.distributed.initialize` on
``127.0.0.1:PORT``; it then runs :func:`sweep_config`'s sweep sharded over both
processes' devices (``run_sweep(cfg, devices=jax.devices())``) and writes its records
to OUT.json, with what it saw of the sharding (and the error that refuses the same
call with a run directory).
"""

import json
import sys

import jax

NUM_PROCESSES = 2
LOCAL_DEVICES = 2


def sweep_config():
    """The sweep of the test: 5 k values × 2 seeds of BatchTopK on the small toy, 100
    steps in two chunks (so the chunk program is reused and the logs are gathered
    twice); on 4 devices K is padded to 8."""
    from toysae import SAEConfig, SweepConfig, TrainConfig, presets

    return SweepConfig(
        toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
        train=TrainConfig(samples=256 * 100, batch_size=256, chunk_steps=50, n_eval=1024),
        ks=(1.0, 1.5, 2.0, 2.5, 3.0), seeds=(0, 1))


def main(port: int, process_id: int, out: str) -> None:
    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_num_cpu_devices", LOCAL_DEVICES)
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}",
                               num_processes=NUM_PROCESSES, process_id=process_id,
                               initialization_timeout=60)
    from toysae import run_sweep, sweep

    chunks = []
    run_chunk = sweep.run_chunk_sharded

    def spy(state, *args, **kwargs):  # which padded k columns this process trains
        state, logs = run_chunk(state, *args, **kwargs)
        w = state.params["W_dec"]  # [S, K padded, h, d]
        chunks.append({"shape": list(w.shape), "spec": str(w.sharding.spec),
                       "fully_addressable": w.is_fully_addressable,
                       "local_columns": sorted({i for s in w.addressable_shards
                                                for i in range(*s.index[1].indices(
                                                    w.shape[1]))})})
        return state, logs

    sweep.run_chunk_sharded = spy

    def on_chunk(step, state, logs):
        chunks[-1].update(step=step, logs=type(logs["loss"]).__name__,
                          logs_shape=list(logs["loss"].shape))

    try:  # a run directory is refused (every process would lock and write it)
        run_sweep(sweep_config(), out_dir=out + ".runs", devices=jax.devices())
        refused = None
    except ValueError as err:
        refused = str(err)
    res = run_sweep(sweep_config(), progress=False, devices=jax.devices(),
                    on_chunk=on_chunk)
    with open(out, "w") as f:
        json.dump({"process_index": jax.process_index(),
                   "process_count": jax.process_count(),
                   "n_devices": len(jax.devices()), "chunks": chunks, "refused": refused,
                   "records": res.records}, f)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
