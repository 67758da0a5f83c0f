"""Console entry point ``toysae``.

Subcommands: ``sweep`` (train a grid of columns -- k or λ -- × seeds of any architecture
and print a recovery table), ``show`` (print a stored run), ``presets`` (list the named
toy models), ``archs`` (list the architectures with their column and defaults).

Exit codes: 0 success; 2 invalid input, refused before any compute with a message
naming the argument and what is accepted; 3 training diverged (non-finite loss); 4 the
run directory is being trained by another live process (its ``lock`` file); 130
interrupted (Ctrl-C or SIGTERM; finished work stays in the run directory).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .errors import RunLocked

EXIT_OK, EXIT_IO, EXIT_USAGE, EXIT_DIVERGED, EXIT_BUSY = 0, 1, 2, 3, 4

TABLE_COLUMNS = (
    ("seed", "{:>4d}"), ("k", "{:>6.2f}"), ("mcc", "{:>6.3f}"), ("n_recovered", "{:>5d}"),
    ("c_dec", "{:>6.4f}"), ("mse", "{:>7.4f}"), ("variance_explained", "{:>6.3f}"),
    ("l0", "{:>6.2f}"), ("dead_latents", "{:>4d}"),
)
HEADERS = {"n_recovered": "rec", "variance_explained": "VE", "dead_latents": "dead"}


def _version() -> str:
    try:
        return version("toysae")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def format_table(records: list[dict], n_features: int | None = None,
                 column: str = "k") -> str:
    """Aligned text table of per-model metrics (one row per model; ``column`` is the
    records' column key, ``"k"`` or ``"lambda"``)."""
    cols = [(column, "{:>6.3g}") if c == "k" else (c, f) for c, f in TABLE_COLUMNS]
    widths = [max(len(f.format(0 if "d}" in f else 0.0)), len(HEADERS.get(c, c)))
              for c, f in cols]
    head = "  ".join(HEADERS.get(c, c).rjust(w) for (c, _), w in zip(cols, widths,
                                                                      strict=True))
    lines = [head, "-" * len(head)]
    undefined = sorted({n for rec in records for n in rec.get("undefined", ())})
    for rec in records:
        cells = [("n/a" if rec.get(c) is None else f.format(rec[c])).rjust(w)
                 for (c, f), w in zip(cols, widths, strict=True)]
        lines.append("  ".join(cells))
    if n_features is not None:
        lines.append(f"rec = features with best |cos| > 0.9 (of {n_features}); "
                     "VE = variance explained; dead = never fire on the evaluation set")
    if undefined:
        lines.append(f"n/a: undefined for this toy or model ({', '.join(undefined)}: e.g. a "
                     "0/0 such as variance explained of all-zero inputs)")
    return "\n".join(lines)


def _parse_list(name: str, text: str, cast):
    try:
        items = [cast(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--{name}={text!r} is not a comma-separated list of "
                         f"{'integers' if cast is int else 'numbers'}") from None
    if not items:
        raise ValueError(f"--{name} is empty; expected a comma-separated list")
    return tuple(items)


def load_toy_json(path: str):
    """Reads a toy model JSON file (fields documented in docs/toy-json.md)."""
    from .config import ToyConfig

    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"--toy={path!r} cannot be read: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"--toy={path!r} is not valid JSON: {err}") from None
    try:
        return ToyConfig.from_dict(data)
    except (TypeError, AttributeError, KeyError, IndexError, OverflowError) as err:
        # the config's own checks name the field; anything they miss still gets a message
        raise ValueError(f"--toy={path!r}: not a valid toy model ({type(err).__name__}: "
                         f"{err})") from None


# The column flags of `toysae sweep`: the argparse dest of each; an architecture takes
# the one its record names (``column_flag``) and refuses the others.
COLUMN_FLAGS = {"--k": "k", "--l1": "l1", "--lambdas": "lambdas"}


def _columns(args, arch) -> dict:
    """``{"ks": ...}`` or ``{"lambdas": ...}`` from the architecture's column flag."""
    given = [f for f, dest in COLUMN_FLAGS.items() if getattr(args, dest, None) is not None]
    wrong = [f for f in given if f != arch.column_flag]
    if wrong:
        raise ValueError(f"{wrong[0]} does not belong to --arch={arch.name}; its column "
                         f"flag is {arch.column_flag}")
    text = getattr(args, COLUMN_FLAGS[arch.column_flag], None)
    name = arch.column_flag.lstrip("-")
    if text is None:
        what = "k values in (0, width]" if arch.column == "k" else "coefficients λ > 0"
        raise ValueError(f"--arch={arch.name} needs {arch.column_flag} (comma-separated "
                         f"{what})")
    values = _parse_list(name, text, float)
    if arch.column == "lambda":
        for i, v in enumerate(values):
            if not v > 0 or v == float("inf"):
                raise ValueError(f"--{name}: value {i} is {v}; expected a finite "
                                 "coefficient λ > 0")
        return {"lambdas": values}
    return {"ks": values}


def _sweep_config(args):
    from . import presets, saes
    from .config import SAEConfig, SweepConfig, TrainConfig

    try:
        arch = saes.get(getattr(args, "arch", "batchtopk"))
    except ValueError as err:
        raise ValueError(f"--{err}") from None
    toy = presets.get(args.preset) if args.preset else load_toy_json(args.toy)
    width = toy.n_features if args.width is None else args.width
    train_kw = {k: v for k, v in dict(
        samples=args.samples, batch_size=args.batch_size, lr=args.lr, n_eval=args.n_eval,
        chunk_steps=getattr(args, "chunk_steps", None),
        normalize=getattr(args, "normalize", None),
        clip_grad_norm=getattr(args, "clip_grad_norm", None)).items() if v is not None}
    sae_kw = {"arch": arch.name}
    if getattr(args, "prefixes", None) is not None:
        sae_kw["prefixes"] = _parse_list("prefixes", args.prefixes, int)
    return SweepConfig(
        toy=toy,
        sae=SAEConfig(width=width, init=args.init, **sae_kw),
        train=TrainConfig(**train_kw),
        seeds=_parse_list("seeds", args.seeds, int),
        **_columns(args, arch),
    )


def _devices(n: int | None):
    """The devices to shard over (see :func:`toysae.sharding.local_devices`)."""
    from .sharding import local_devices

    try:
        return local_devices(n)
    except ValueError as err:
        raise ValueError(f"--{err}") from None


def _check_outputs(args) -> None:
    """Refuses, before any compute, a ``--json`` file or ``--out`` folder that cannot be
    written (checked on the path itself, or on its nearest existing folder)."""
    import os

    def writable_folder(path: Path) -> Path:
        while not path.exists():
            path = path.parent
        return path

    if getattr(args, "json", None):
        target = Path(args.json).resolve()
        if target.is_dir():
            raise ValueError(f"--json={args.json!r} is a folder; expected a file path")
        parent = target.parent
        if not parent.is_dir():
            raise ValueError(f"--json={args.json!r}: folder {str(parent)!r} does not exist")
        if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target,
                                                                                 os.W_OK)):
            raise ValueError(f"--json={args.json!r} cannot be written (permission denied)")
    if getattr(args, "out", None):
        out = Path(args.out).resolve()
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out={args.out!r} is a file; expected a folder")
        base = writable_folder(out)
        if not base.is_dir() or not os.access(base, os.W_OK):
            raise ValueError(f"--out={args.out!r} cannot be written ({str(base)!r} is not a "
                             "writable folder)")


def cmd_sweep(args) -> int:
    cfg = _sweep_config(args)  # every check happens here, before any compute
    devices = _devices(args.devices)
    _check_outputs(args)
    from .run import run_sweep
    from .sweep import check_sweep_memory

    if not args.ignore_memory_estimate:  # before anything is printed or built
        check_sweep_memory(cfg)
    n_models = len(cfg.columns) * len(cfg.seeds)
    print(f"toy: {cfg.toy.n_features} features in d={cfg.toy.dim}, true L0 "
          f"{_l0_text(cfg.toy)}; {n_models} {cfg.sae.arch} SAE(s) of width "
          f"{cfg.sae.width}, {cfg.train.n_steps} steps of {cfg.train.batch_size}",
          file=sys.stderr)
    result = run_sweep(cfg, args.out, progress=not args.no_progress, devices=devices,
                       check_memory=False)  # checked above, before anything was printed
    print(format_table(result.records, cfg.toy.n_features, cfg.column_name))
    if result.run_dir:
        print(f"run directory: {result.run_dir}")
    if args.json:
        from .store import atomic_write

        keep = [{k: v for k, v in r.items() if k != "cos"} for r in result.records]
        atomic_write(args.json, json.dumps({"true_l0": _exact_l0(cfg.toy), "runs": keep},
                                           indent=1, allow_nan=False))
    return EXIT_OK


def cmd_find_l0(args) -> int:
    from .l0 import find_l0

    # find_l0 chooses the ks of a BatchTopK sweep
    args.k, args.init, args.chunk_steps, args.arch = "1", "random", None, "batchtopk"
    cfg = _sweep_config(args)  # every check happens here, before any compute
    _check_outputs(args)
    result = find_l0(cfg, out_dir=args.out, progress=not args.no_progress, rule=args.rule)
    print(f"true L0 {result['true_l0']:.4g}; {result['trainings']} SAE trainings over k = "
          f"{', '.join(f'{k:g}' for k in result['ks'])}")
    print(f"{'rule':<26}{'L0':>8}{'spread':>8}")
    for rule, est in result["estimates"].items():
        mark = "  <- answer" if rule == result["rule"] else ""
        print(f"{rule:<26}{est['l0']:>8.2f}{est['spread']:>8.2f}{mark}")
    print(f"L0 {result['l0']:g} ({result['rule']}): {result['confidence']['sentence']}")
    if result["confidence"].get("reading"):
        print(f"How to read it: {result['confidence']['reading']}")
    if args.json:
        from .store import atomic_write

        atomic_write(args.json, json.dumps(result, indent=1, allow_nan=False))
    return EXIT_OK


def cmd_show(args) -> int:
    from .store import load_run

    result = load_run(args.run_dir)
    cfg = result.config
    print(f"run {args.run_dir}: {cfg.toy.n_features} features in d={cfg.toy.dim}, true L0 "
          f"{_l0_text(cfg.toy)}, width {cfg.sae.width}, {cfg.train.samples} samples, "
          f"batch {cfg.train.batch_size}, lr {cfg.train.lr}")
    print(format_table(result.records, cfg.toy.n_features, cfg.column_name))
    return EXIT_OK


def cmd_archs(args) -> int:
    """Lists the registered architectures: column flag, hyperparameters and defaults."""
    import dataclasses

    from . import saes

    for name in saes.names():
        rec = saes.get(name)
        defaults = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(rec))
        print(f"{name:<11} column {rec.column:<6} ({rec.column_flag})  {rec.summary}")
        print(f"{'':<11} defaults: {defaults}")
    return EXIT_OK


def cmd_presets(args) -> int:
    from . import presets

    rows = [(name, presets.get(name)) for name in sorted(presets.PRESETS)]
    print(f"{'preset':<22}{'g':>6}{'d':>5}{'true L0':>9}  correlation  hierarchy")
    for name, cfg in rows:
        l0 = _exact_l0(cfg)
        print(f"{name:<22}{cfg.n_features:>6}{cfg.dim:>5}"
              f"{'estimate' if l0 is None else f'{l0:.4f}':>9}  {cfg.correlation.kind:<11}  "
              f"{'yes' if cfg.hierarchy is not None else 'no'}")
    return EXIT_OK


def _exact_l0(toy_cfg) -> float | None:
    """The exact true L0, or None where only an estimate exists (a hierarchy over
    correlated features: :func:`toysae.true_l0_report`)."""
    if toy_cfg.hierarchy is not None and toy_cfg.correlation.kind != "none":
        return None
    return toy_cfg.true_l0


def _l0_text(toy_cfg) -> str:
    l0 = _exact_l0(toy_cfg)
    return (f"{l0:.4g}" if l0 is not None else
            "not exact (a hierarchy over correlated features; toysae.true_l0_report "
            "estimates it from 1M samples)")


def _add_training_args(parser: argparse.ArgumentParser, seeds: str) -> None:
    """Options shared by the subcommands that train: toy model, SAE width, budget."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="named toy model (see `toysae presets`)")
    src.add_argument("--toy", metavar="FILE.json", help="toy model described as JSON")
    parser.add_argument("--seeds", default=seeds,
                        help=f"comma-separated integer seeds (default {seeds})")
    parser.add_argument("--width", type=int,
                        help="SAE latents (default: number of true features)")
    parser.add_argument("--samples", type=int,
                        help="training samples per SAE (default 15,000,000)")
    parser.add_argument("--batch-size", type=int, help="batch size (default 1024)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 3e-4)")
    parser.add_argument("--n-eval", type=int, help="evaluation samples (default 100,000)")
    parser.add_argument("--out", metavar="DIR",
                        help="store runs under DIR (cached, resumable)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="toysae", description="Toy-model simulations of sparse autoencoders with known "
        "ground truth (Chanin & Garriga-Alonso, 'Sparse but Wrong', arXiv 2508.16560).")
    p.add_argument("--version", action="version", version=f"toysae {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sweep", help="train SAEs for every column (k or λ) × seed, print "
                       "metrics", description="Train one SAE per (column, seed) in one "
                       "compiled program and print recovery metrics against the true "
                       "features.  The column is k for batchtopk, topk and matryoshka "
                       "(--k), λ for relu_l1 (--l1) and jumprelu (--lambdas); see "
                       "`toysae archs`.")
    _add_training_args(s, seeds="0")
    s.add_argument("--arch", default="batchtopk",
                   help="architecture (default batchtopk; `toysae archs` lists them)")
    s.add_argument("--k", help="comma-separated k values in (0, width], e.g. 5,11,18; "
                   "fractional k keeps round(k*batch) activations per batch")
    s.add_argument("--l1", help="relu_l1: comma-separated L1 coefficients λ > 0")
    s.add_argument("--lambdas", help="jumprelu: comma-separated sparsity coefficients λ > 0")
    s.add_argument("--prefixes", help="matryoshka: comma-separated nested dictionary sizes, "
                   "increasing, at most the width (default width/4, width/2, width)")
    s.add_argument("--init", default="random", help="random or ground_truth (default random)")
    s.add_argument("--chunk-steps", type=int, help="steps per compiled chunk (default 500)")
    s.add_argument("--normalize", help="none (default) or expected_average: train on inputs "
                   "scaled by sqrt(d)/E|x| and fold the scale back (SAELens's "
                   "expected_average_only_in)")
    s.add_argument("--clip-grad-norm", type=float,
                   help="clip each model's gradient to this global norm (SAELens: 1.0)")
    s.add_argument("--json", metavar="PATH", help='write {"runs": [...]} to PATH')
    s.add_argument("--ignore-memory-estimate", action="store_true",
                   help="train even when the sweep's memory estimate exceeds this machine's")
    s.add_argument("--devices", type=int, help="shard the models over N devices (on a CPU "
                   "the cores are split into N devices; 2 is fastest on 2 cores)")
    s.set_defaults(func=cmd_sweep)

    f = sub.add_parser("find-l0", help="estimate the true L0 from SAE sweeps",
                       description="Train a coarse k grid, refine around the c_dec minimum, "
                       "and report each selection rule's L0 estimate (toysae.l0).")
    _add_training_args(f, seeds="0,1,2")
    f.add_argument("--rule", help="the rule to search with and answer with: "
                   "argmax_cross_seed (default with 2 or more seeds), argmin_c_dec (default "
                   "with one seed), argmin_live_c_dec, argmax_enc_dec_alignment, elbow_c_dec, "
                   "argmin_s_n_dec or online_tuner")
    f.add_argument("--json", metavar="PATH", help="write the estimates as JSON")
    f.set_defaults(func=cmd_find_l0)

    sh = sub.add_parser("show", help="print a stored run", description="Print the config "
                        "summary and metrics table of a run directory written by --out.")
    sh.add_argument("run_dir", help="a run directory (OUT/<digest>)")
    sh.set_defaults(func=cmd_show)

    pr = sub.add_parser("presets", help="list named toy models with their true L0")
    pr.set_defaults(func=cmd_presets)

    ar = sub.add_parser("archs", help="list the SAE architectures, their column and defaults")
    ar.set_defaults(func=cmd_archs)

    # Listed for --help; its arguments are parsed by experiments/reproduce.py (main()
    # hands "toysae reproduce ..." over before this parser runs).
    sub.add_parser("reproduce", help="regenerate every figure and the claim table of the "
                   "paper's toy models (experiments/reproduce.py; --quick for minutes)")
    return p


def experiments_dir() -> Path:
    """The repository's ``experiments/`` folder (present in a clone, not in a wheel)."""
    return Path(__file__).resolve().parent.parent / "experiments"


def cmd_reproduce(argv: list[str]) -> int:
    """Runs ``experiments/reproduce.py`` with ``argv``; returns its exit status."""
    import importlib.util

    script = experiments_dir() / "reproduce.py"
    if not script.is_file():
        print(f"toysae reproduce: error: {script} not found; reproduce runs from a clone of "
              "the repository (pip install -e .), whose experiments/ it uses", file=sys.stderr)
        return EXIT_USAGE
    sys.path.insert(0, str(script.parent))
    try:
        spec = importlib.util.spec_from_file_location("toysae_reproduce", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.main(argv)
    except SystemExit as exit_:  # argparse errors (2) and failed scripts
        if exit_.code in (None, 0):
            return 0
        if not isinstance(exit_.code, int):
            print(f"toysae reproduce: error: {exit_.code}", file=sys.stderr)
            return 1
        return exit_.code
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (main's _sigterm_stops)
        # the running script is stopped; finished sweeps stay cached (atomic writes)
        terminated = isinstance(stop, _Terminated)
        why = "stopped by SIGTERM" if terminated else "interrupted"
        print(f"toysae reproduce: {why}; finished sweeps are cached and the same command "
              "resumes", file=sys.stderr)
        return 143 if terminated else 130
    finally:
        sys.path.remove(str(script.parent))
    return 0


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised as a :class:`KeyboardInterrupt` so that it stops a command the way
    Ctrl-C does (every ``except KeyboardInterrupt`` and ``finally`` runs), while a
    command that answers SIGTERM differently can tell the two apart."""


def _raise_terminated(signum, frame):
    raise _Terminated


@contextmanager
def _sigterm_stops():
    """Within the block, SIGTERM (e.g. a batch scheduler) raises :class:`_Terminated`; the
    previous handler is restored on the way out."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["reproduce"]:
        with _sigterm_stops():  # exits with 143 on SIGTERM, 130 on Ctrl-C
            return cmd_reproduce(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    with _sigterm_stops():  # SIGTERM, like Ctrl-C, exits with 130 keeping the checkpoint
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    """Runs the parsed command, turning its errors into exit codes."""
    try:
        return args.func(args)
    except ValueError as err:
        print(f"toysae {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except FloatingPointError as err:
        print(f"toysae {args.command}: error: {err}", file=sys.stderr)
        return EXIT_DIVERGED
    except RunLocked as err:
        print(f"toysae {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BUSY
    except OSError as err:  # a file or folder that the checks could not foresee
        where = f" ({err.filename})" if err.filename else ""
        print(f"toysae {args.command}: error: {err.strerror or err}{where}", file=sys.stderr)
        return EXIT_IO
    except KeyboardInterrupt:
        print("toysae: interrupted; finished work is kept in the run directory (--out) and "
              "the same command resumes it", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
