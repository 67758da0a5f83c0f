"""Run directories: atomic writes, caching by config digest, resuming, corruption checks.

Layout of ``OUT/<digest>/`` (``digest`` = :meth:`SweepConfig.digest`)::

  config.json        the SweepConfig (JSON form)
  checkpoint.msgpack training state + step, rewritten between chunks (Flax serialization,
                     behind its own sha256: a checkpoint that fails it is ignored, loudly)
  state.msgpack      final stacked TrainState (Flax serialization)
  metrics.json       {"runs": [one record per model]}
  manifest.json      sha256 of every finished file and the numerics version; written last
  provenance.json    {"sessions": [...]}: for every session that trained it, the step it
                     started at, the time, and :func:`provenance` (package and JAX
                     versions, code revision; informational, not checksummed)
  timing.json        {"train_s", "step"}: wall seconds spent training so far, summed over
                     every resumed session (informational: not part of the checksums)
  lock               "<pid> <host>" of the process training it (removed when it stops)

Every file is written to a temporary name and renamed (``os.replace``), so a killed
process never leaves a half-written file under a final name.  A run is complete only
when ``manifest.json`` exists and every checksum matches; anything else is resumed
from a valid checkpoint or retrained, never silently loaded.

A cache hit needs the config digest *and* the numerics version: a complete run trained
by code of another :data:`NUMERICS_VERSION` (or before versions were recorded) is stale,
and :func:`run_stored` retrains it, with a warning, instead of loading it.  The digest
alone names the directory, so a run keeps its place across versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from flax import serialization

from .config import SweepConfig
from .errors import RunLocked, StaleRunWarning
from .generator import ToyModel, build_toy
from .sharding import to_host
from .sweep import SweepResult, evaluate_state, init_sweep_state, train_sweep

FINAL_FILES = ("config.json", "state.msgpack", "metrics.json")

#: The version of the training numerics: bump it in the commit that changes what
#: training computes for an unchanged config (a default, a step, a generator draw, an
#: evaluation), so that runs cached by older code are retrained rather than loaded.
#: ``tests/test_golden_step.py`` fails on such a change until it is bumped.  The version
#: is that of the unsharded program; a sweep sharded over devices (``--devices``) runs
#: other matmul shapes and equals it to float rounding only (``tests/test_sharding.py``),
#: so changes to the sharded program alone (e.g. ``run_chunk_sharded``) do not bump it.
#: Nor does a change of the unsharded program's layout that moves float rounding only:
#: stepping the seeds one after another (:data:`toysae.sweep.SEED_BLOCK`, issue 20)
#: equals the one-vmap layout to 1e-5 (``tests/test_sweep.py``), as AuxK groups do.
#:
#: * 0: every run whose manifest records no version (trained before 2026-12-01).
#: * 1: the code of 2026-12-01 (the training step of revision e5be67c).
NUMERICS_VERSION = 1
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def provenance() -> dict:
    """Which code is running: ``{"toysae", "jax", "code_revision", "dirty"}``.

    ``code_revision`` is the git commit of the checkout the package is imported from and
    ``dirty`` whether tracked files differ from it; both None where the package is not
    in a git checkout (e.g. installed from a wheel).

    Examples:
      >>> sorted(provenance())
      ['code_revision', 'dirty', 'jax', 'toysae']
    """
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    import jax

    try:
        pkg = version("toysae")
    except PackageNotFoundError:
        pkg = None
    rev = dirty = None
    if (PACKAGE_ROOT / ".git").exists():
        try:
            def git(*args):
                return subprocess.run(["git", "-C", str(PACKAGE_ROOT), *args], text=True,
                                      capture_output=True, timeout=10, check=True).stdout
            rev = git("rev-parse", "HEAD").strip()
            dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
        except (OSError, subprocess.SubprocessError):
            rev = dirty = None
    return {"toysae": pkg, "jax": jax.__version__, "code_revision": rev, "dirty": dirty}


def _read_provenance(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / "provenance.json").read_text())
    except (OSError, ValueError):
        return None


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Writes ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    Examples:
      >>> import tempfile
      >>> path = Path(tempfile.mkdtemp()) / "sub" / "note.txt"  # folders are created
      >>> atomic_write(path, "hello")
      >>> path.read_text()
      'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_dir_for(cfg: SweepConfig, out_dir: str | os.PathLike) -> Path:
    """The run directory of a config under ``out_dir``: ``out_dir/<cfg.digest()>``.

    Examples:
      >>> from toysae import SAEConfig, presets
      >>> cfg = SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5), ks=(2.0,))
      >>> run_dir_for(cfg, "runs") == Path("runs") / cfg.digest()
      True
    """
    return Path(out_dir) / cfg.digest()


def is_complete(run_dir: str | os.PathLike) -> bool:
    """True when the manifest exists and every listed file matches its checksum.

    Examples:
      >>> import tempfile
      >>> is_complete(tempfile.mkdtemp())  # an empty folder is no finished run
      False
    """
    run_dir = Path(run_dir)
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
        return all(
            (run_dir / name).is_file() and _sha256(run_dir / name) == digest
            for name, digest in manifest["sha256"].items()
        ) and set(manifest["sha256"]) >= set(FINAL_FILES)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def numerics_version(run_dir: str | os.PathLike) -> int | None:
    """The numerics version a finished run was trained with: its manifest's
    ``"numerics"``, 0 for a manifest from before versions were recorded, None where
    there is no readable manifest.

    Examples:
      >>> import tempfile
      >>> numerics_version(tempfile.mkdtemp()) is None
      True
    """
    try:
        manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
        return int(manifest.get("numerics", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def is_current(run_dir: str | os.PathLike) -> bool:
    """True when the run is complete (:func:`is_complete`) and was trained with this
    code's :data:`NUMERICS_VERSION`: the condition for loading it from the cache."""
    # The version first: a cheap read, where is_complete hashes every final file.
    return numerics_version(run_dir) == NUMERICS_VERSION and is_complete(run_dir)


def _to_bytes(state, step: int) -> bytes:
    return serialization.to_bytes({"state": to_host(state), "step": np.int64(step)})


def _from_bytes(target, raw: bytes):
    out = serialization.from_bytes({"state": target, "step": np.int64(0)}, raw)
    return out["state"], int(out["step"])


# A checkpoint carries its own checksum: MAGIC, the sha256 of the payload, the payload
# (one atomic write, so file and checksum can never disagree by a crash between writes).
CHECKPOINT_MAGIC = b"toysae-ckpt-sha256\n"


def _checkpoint_bytes(state, step: int) -> bytes:
    payload = _to_bytes(state, step)
    return CHECKPOINT_MAGIC + hashlib.sha256(payload).digest() + payload


def _read_checkpoint(target, raw: bytes):
    """``(state, step)`` of a checkpoint; raises ValueError when its checksum fails.
    Checkpoints written before checksums existed (no magic) are read as they are."""
    if not raw.startswith(CHECKPOINT_MAGIC):
        return _from_bytes(target, raw)
    body = raw[len(CHECKPOINT_MAGIC):]
    digest, payload = body[:32], body[32:]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError("checksum mismatch (the file was changed or truncated)")
    return _from_bytes(target, payload)


def save_run(result: SweepResult, run_dir: str | os.PathLike) -> None:
    """Writes a finished sweep (config, final state, metrics, then the manifest)."""
    run_dir = Path(run_dir)
    cfg = result.config
    atomic_write(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=1))
    atomic_write(run_dir / "state.msgpack", _to_bytes(result.state, cfg.train.n_steps))
    atomic_write(run_dir / "metrics.json", json.dumps({"runs": result.records}, allow_nan=False))
    manifest = {"digest": cfg.digest(), "numerics": NUMERICS_VERSION,
                "sha256": {n: _sha256(run_dir / n) for n in FINAL_FILES}}
    atomic_write(run_dir / "manifest.json", json.dumps(manifest, indent=1))
    ckpt = run_dir / "checkpoint.msgpack"
    if ckpt.exists():
        ckpt.unlink()


def load_run(run_dir: str | os.PathLike, toy: ToyModel | None = None) -> SweepResult:
    """Loads a finished run directory.

    Records written before they named their architecture get ``"arch"`` from the
    stored config (a migration in memory; the files are left as they are).

    Args:
      run_dir: the run directory.
      toy: ``build_toy`` of the stored config's toy, if the caller has it.

    Raises:
      ValueError: if the directory is not a complete, uncorrupted run.

    Examples:
      >>> import shutil, tempfile
      >>> from toysae import SAEConfig, TrainConfig, presets
      >>> from toysae.run import run_sweep
      >>> cfg = SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
      ...                   train=TrainConfig(samples=20_480, n_eval=2048), ks=(2.0,))
      >>> out = tempfile.mkdtemp()
      >>> res = run_sweep(cfg, out, progress=False)  # trains and saves out/<digest>/
      >>> is_complete(res.run_dir), Path(res.run_dir) == run_dir_for(cfg, out)
      (True, True)
      >>> loaded = load_run(res.run_dir)
      >>> loaded.records == res.records, loaded.state.params["W_dec"].shape  # [S, K, h, d]
      (True, (1, 1, 5, 20))
      >>> shutil.rmtree(out)
    """
    run_dir = Path(run_dir)
    if not is_complete(run_dir):
        raise ValueError(f"run_dir={str(run_dir)!r} is not a complete run (missing or corrupted "
                         "files); expected a directory written by a finished sweep")
    cfg = SweepConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    target = init_sweep_state(cfg, build_toy(cfg.toy) if toy is None else toy)
    state, _ = _from_bytes(target, (run_dir / "state.msgpack").read_bytes())
    records = json.loads((run_dir / "metrics.json").read_text())["runs"]
    for rec in records:
        rec.setdefault("arch", cfg.sae.arch)
    return SweepResult(cfg, state, records, str(run_dir), _read_timing(run_dir)[0],
                       _read_provenance(run_dir))


def _read_timing(run_dir: Path) -> tuple[float | None, int]:
    """``(train_s, step)`` from ``timing.json``; ``(None, 0)`` if absent or unreadable."""
    try:
        t = json.loads((run_dir / "timing.json").read_text())
        return float(t["train_s"]), int(t["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, 0


# A trainer touches its lock after every chunk (a heartbeat); a lock from another host,
# whose pid cannot be tested from here, is stale once untouched for this long.
LOCK_STALE_S = 2 * 3600.0


def _acquire_lock(run_dir: Path) -> Path:
    """Creates ``run_dir/lock`` for this process; takes over a lock whose process is gone
    (on this host: the pid no longer runs; from another host: no heartbeat for
    :data:`LOCK_STALE_S`).

    Raises:
      RunLocked: if a live process holds it: two processes training one run directory
        would both write its checkpoint.
    """
    import socket

    lock = run_dir / "lock"
    host = socket.gethostname()
    # The lock appears with its content in one step: written to a private file first,
    # then hard-linked to the lock's name (link fails if the name exists), so no reader
    # ever sees an empty lock and mistakes a live one for stale.
    mine = run_dir / f".lock.{os.getpid()}.{host}"
    mine.write_text(f"{os.getpid()} {host}")
    try:
        return _link_lock(mine, lock, host, run_dir)
    finally:
        mine.unlink(missing_ok=True)


def _link_lock(mine: Path, lock: Path, host: str, run_dir: Path) -> Path:
    for _ in range(2):
        try:
            os.link(mine, lock)
        except FileExistsError:
            try:
                pid_text, _, owner = lock.read_text().partition(" ")
                pid, owner = int(pid_text), owner.strip()
            except (OSError, ValueError):
                pid, owner = -1, host
            if owner != host:  # no pid to test there: stale once its heartbeat stops
                try:
                    age = time.time() - lock.stat().st_mtime
                except OSError:
                    continue
                if age > LOCK_STALE_S:
                    warnings.warn(f"taking over {lock} from process {pid} on {owner}: not "
                                  f"touched for {age / 3600:.1f} h", stacklevel=3)
                    lock.unlink(missing_ok=True)
                    continue
            if owner != host or (pid > 0 and _pid_alive(pid)):
                raise RunLocked(
                    f"{run_dir} is being trained by process {pid} on {owner} (lock file "
                    f"{lock}); wait for it to finish, after which the same call loads the "
                    f"result, or delete the lock file if that process is gone") from None
            lock.unlink(missing_ok=True)  # stale: its process has exited
            continue
        return lock
    raise RunLocked(f"could not take the lock {lock}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_stored(cfg: SweepConfig, out_dir: str | os.PathLike, *, progress: bool = True,
               on_chunk=None, checkpoint_seconds: float = 20.0,
               devices=None, toy: ToyModel | None = None) -> SweepResult:
    """Loads a finished sweep, or resumes / starts it with checkpoints, then saves it.

    Args:
      cfg: the sweep.
      out_dir: parent of run directories.
      progress: show a progress bar.
      on_chunk: extra per-chunk callback ``(step, state, logs)``.
      checkpoint_seconds: minimum wall time between checkpoints (the last chunk is
        always followed by the final save).
      devices: devices to shard the models over (see :mod:`toysae.sharding`).
      toy: ``build_toy(cfg.toy)``, if the caller has it (built here otherwise).
    """
    run_dir = run_dir_for(cfg, out_dir)
    toy = build_toy(cfg.toy) if toy is None else toy
    if is_current(run_dir):
        return load_run(run_dir, toy)
    version = numerics_version(run_dir)
    if version not in (None, NUMERICS_VERSION) and is_complete(run_dir):
        warnings.warn(
            f"{run_dir} holds a finished run of this config trained by older code (numerics "
            f"version {version}, now {NUMERICS_VERSION}): retraining it instead of loading "
            "it", StaleRunWarning, stacklevel=2)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = _acquire_lock(run_dir)
    try:
        if is_current(run_dir):  # finished by another process meanwhile
            return load_run(run_dir, toy)
        return _train_stored(cfg, run_dir, progress, on_chunk, checkpoint_seconds, devices,
                             toy)
    finally:
        lock.unlink(missing_ok=True)


def _train_stored(cfg, run_dir, progress, on_chunk, checkpoint_seconds,
                  devices, toy) -> SweepResult:
    """Resumes from the checkpoint (if readable) or starts; trains; saves."""
    target = init_sweep_state(cfg, toy)
    state, step = None, 0
    ckpt = run_dir / "checkpoint.msgpack"
    if ckpt.exists():
        try:
            state, step = _read_checkpoint(target, ckpt.read_bytes())
        except Exception as err:  # corrupted checkpoint: start again, loudly
            warnings.warn(f"ignoring unreadable checkpoint {ckpt}: {err}", stacklevel=2)
            state, step = None, 0
        sessions = (_read_provenance(run_dir) or {}).get("sessions") or [{}]
        if state is not None and sessions[-1].get("numerics", 0) != NUMERICS_VERSION:
            warnings.warn(f"ignoring checkpoint {ckpt}: written by older code (numerics "
                          f"version {sessions[-1].get('numerics', 0)}, now "
                          f"{NUMERICS_VERSION}); training from the start", StaleRunWarning,
                          stacklevel=2)
            state, step = None, 0
    atomic_write(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=1))
    sessions = [] if step == 0 else (_read_provenance(run_dir) or {}).get("sessions", [])
    sessions.append({"start_step": step, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     "numerics": NUMERICS_VERSION, **provenance()})
    atomic_write(run_dir / "provenance.json", json.dumps({"sessions": sessions}, indent=1))
    # Training time carried over from earlier sessions, if it was recorded up to the
    # step we resume from (otherwise it is unknown and stays unknown).
    before, timed_step = _read_timing(run_dir)
    if step == 0:
        before = 0.0
    elif timed_step != step:
        before = None
    t_start = time.monotonic()
    last = [t_start]

    def write_timing(at_step):
        if before is not None:
            atomic_write(run_dir / "timing.json", json.dumps(
                {"train_s": round(before + time.monotonic() - t_start, 2), "step": at_step}))

    def checkpoint(at_step, st, logs):
        with contextlib.suppress(OSError):  # the lock's heartbeat (see LOCK_STALE_S)
            os.utime(run_dir / "lock")
        # Save first, so that nothing the callback does can lose finished steps.
        if at_step < cfg.train.n_steps and time.monotonic() - last[0] >= checkpoint_seconds:
            atomic_write(ckpt, _checkpoint_bytes(st, at_step))
            write_timing(at_step)
            last[0] = time.monotonic()
        if on_chunk is not None:
            on_chunk(at_step, st, logs)

    try:  # with TrainConfig.normalize, checkpoints hold the scaled units (train_sweep)
        state = train_sweep(cfg, state=state if state is not None else target,
                            start_step=step, progress=progress, on_chunk=checkpoint,
                            devices=devices, toy=toy)
    except FloatingPointError as err:
        kept = (f"the last good checkpoint is kept in {ckpt}" if ckpt.exists()
                else "no checkpoint was written before it")
        raise FloatingPointError(f"{err}; {kept}") from None
    write_timing(cfg.train.n_steps)
    result = SweepResult(cfg, state, evaluate_state(cfg, toy, state), str(run_dir),
                         _read_timing(run_dir)[0], _read_provenance(run_dir))
    save_run(result, run_dir)
    return result
