"""The `toysae` command line: contract of `sweep`, `show`, `presets`, and bad input."""

import json

import pytest

from toysae.cli import main


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["sweep", "--preset", "nope", "--k", "2"], "preset='nope'"),
        (["sweep", "--preset", "paper-small-pos", "--k", "0"], "k[0]=0.0"),
        (["sweep", "--preset", "paper-small-pos", "--k", "6"], "k[0]=6.0"),
        (["sweep", "--preset", "paper-small-pos", "--k", "-1"], "k[0]=-1.0"),
        (["sweep", "--preset", "paper-small-pos", "--k", "inf"], "not finite"),
        (["sweep", "--preset", "paper-small-pos", "--k", "a,b"], "--k='a,b'"),
        (["sweep", "--preset", "paper-small-pos", "--k", "2", "--width", "0"], "width=0"),
        (["sweep", "--preset", "paper-small-pos", "--k", "2", "--lr", "nan"], "lr=nan"),
        (["sweep", "--preset", "paper-small-pos", "--k", "2", "--seeds", "1,1"], "seeds"),
        (["sweep", "--preset", "paper-small-pos", "--k", "2", "--samples", "10"], "samples=10"),
        (["sweep", "--preset", "paper-small-pos", "--k", "2", "--init", "zeros"], "init='zeros'"),
        (["sweep", "--toy", "/nonexistent/toy.json", "--k", "2"], "cannot be read"),
        (["show", "/nonexistent/run"], "run_dir="),
        (["sweep", "--preset", "paper-small-pos", "--arch", "nope", "--k", "2"],
         "--arch='nope' is not accepted"),
        (["sweep", "--preset", "paper-small-pos", "--l1", "0.1"],
         "--l1 does not belong to --arch=batchtopk"),
        (["sweep", "--preset", "paper-small-pos", "--arch", "relu_l1", "--k", "2"],
         "--k does not belong to --arch=relu_l1"),
        (["sweep", "--preset", "paper-small-pos", "--arch", "jumprelu", "--l1", "0.1"],
         "--l1 does not belong to --arch=jumprelu"),
        (["sweep", "--preset", "paper-small-pos", "--arch", "relu_l1"], "needs --l1"),
        (["sweep", "--preset", "paper-small-pos", "--arch", "relu_l1", "--l1=-0.5"],
         "--l1: value 0 is -0.5"),
        (["sweep", "--preset", "paper-small-pos", "--arch", "jumprelu", "--lambdas", "0,1"],
         "--lambdas: value 0 is 0.0"),
        (["sweep", "--preset", "paper-small-pos", "--arch", "matryoshka", "--k", "2",
          "--prefixes", "3,2"], "strictly increasing"),
        (["sweep", "--preset", "paper-small-pos", "--arch", "matryoshka", "--k", "2",
          "--prefixes", "2,6"], "prefixes[1]=6"),
        (["sweep", "--preset", "paper-small-pos", "--k", "2", "--normalize", "l2"],
         "normalize='l2' is not accepted"),
        (["sweep", "--preset", "paper-small-pos", "--k", "2", "--clip-grad-norm", "0"],
         "clip_grad_norm=0"),
    ],
)
def test_bad_input_is_refused_with_a_named_argument(argv, needle, capsys):
    """Bad input exits with code 2 and a message naming the argument and value."""
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize(
    "toy, needle",
    [
        ('{"n_features": 3, "dim": 4, "probs": [0.5, 1.5, 0.1]}', "probs[1]=1.5"),
        ('{"n_features": 2, "dim": 4, "probs": [0.5, 0.0]}', "probs[1]=0.0"),
        ('{"n_features": 2, "dim": 0, "probs": [0.5, 0.5]}', "dim=0"),
        ('{"n_features": 2, "dim": 4, "probs": [0.5, 0.5], "mu": NaN}', "mu=nan"),
        ('{"n_features": 2, "dim": 4, "probs": [0.5, 0.5], "correlation": {"kind": "matrix",'
         ' "matrix": [[1, 0.3], [0.2, 1]]}}', "not symmetric"),
        ('{"n_features": 2, "dim": 4, "probs": [0.5, 0.5], "correlation": {"kind": "matrix",'
         ' "matrix": [[1, 2], [2, 1]]}}', "[-1, 1]"),
        ('{"n_features": 2, "dim": 4, "probs": [0.5, 0.5], "correlation": {"kind": "matrix",'
         ' "matrix": [[0.5, 0], [0, 1]]}}', "unit diagonal"),
        ('{"n_features": 2, "dim": 4, "probs": [0.5, 0.5], "colour": 1}', "colour"),
        ('{"n_features": 2, "dim": 4', "not valid JSON"),
    ],
)
def test_bad_toy_json_is_refused(toy, needle, tmp_path, capsys):
    """An invalid toy-model file is refused before compute, naming the field."""
    path = tmp_path / "toy.json"
    path.write_text(toy)
    assert main(["sweep", "--toy", str(path), "--k", "1"]) == 2
    assert needle in capsys.readouterr().err


def test_sweep_json_contract_and_show(tmp_path, capsys):
    """`toysae sweep --toy FILE --json` prints a table, writes one record per model with
    the contract's keys, stores the run, and `toysae show` prints it again."""
    toy = {"n_features": 3, "dim": 6, "probs": [0.3, 0.3, 0.3],
           "correlation": {"kind": "pairs", "pairs": [[0, 1, 0.4]]}}
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(toy))
    out_json = tmp_path / "out.json"
    rc = main(["sweep", "--toy", str(path), "--k", "1,2", "--seeds", "0,1", "--samples", "5120",
               "--batch-size", "256", "--n-eval", "1024", "--out", str(tmp_path / "runs"),
               "--json", str(out_json), "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "mcc" in printed and "c_dec" in printed
    runs = json.loads(out_json.read_text())["runs"]
    assert len(runs) == 4
    for key in ("k", "seed", "mcc", "n_recovered", "c_dec", "mse", "variance_explained", "l0",
                "dead_latents"):
        assert all(key in r for r in runs)
    assert {(r["seed"], r["k"]) for r in runs} == {(0, 1.0), (0, 2.0), (1, 1.0), (1, 2.0)}
    run_dir = next((tmp_path / "runs").iterdir())
    assert main(["show", str(run_dir)]) == 0
    assert "mcc" in capsys.readouterr().out


def test_archs_lists_every_architecture_with_its_column(capsys):
    assert main(["archs"]) == 0
    out = capsys.readouterr().out
    for name, flag in (("batchtopk", "--k"), ("topk", "--k"), ("matryoshka", "--k"),
                       ("relu_l1", "--l1"), ("jumprelu", "--lambdas")):
        assert any(line.startswith(name) and flag in line for line in out.splitlines()), name


def test_sweep_with_a_lambda_architecture_names_its_column(tmp_path, capsys):
    """`toysae sweep --arch relu_l1 --l1 ...` trains, prints a λ column and writes
    records with "lambda" and "arch"."""
    path = tmp_path / "out.json"
    argv = ["sweep", "--preset", "paper-small-pos", "--arch", "relu_l1", "--l1", "0.1,1",
            "--samples", "20480", "--n-eval", "1024", "--no-progress", "--json", str(path)]
    assert main(argv) == 0
    assert "lambda" in capsys.readouterr().out.splitlines()[0]
    runs = json.loads(path.read_text())["runs"]
    assert [r["lambda"] for r in runs] == [0.1, 1.0] and {r["arch"] for r in runs} == {
        "relu_l1"}


def test_presets_lists_true_l0(capsys):
    """`toysae presets` lists every preset with its true L0."""
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "paper-main" in out and "10.9525" in out and "paper-small-neg" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "toysae" in capsys.readouterr().out


def test_divergence_exits_3_naming_the_learning_rate(tmp_path, capsys):
    """An absurd learning rate makes the loss non-finite: the CLI stops with exit code 3
    and a message naming the likely cause (the learning rate), not a NaN table."""
    rc = main(["sweep", "--preset", "paper-small-pos", "--k", "2", "--samples", "5120",
               "--batch-size", "256", "--lr", "1e30", "--n-eval", "1024",
               "--out", str(tmp_path), "--no-progress"])
    assert rc == 3
    err = capsys.readouterr().err
    assert "learning rate" in err and "lr=1e+30" in err
