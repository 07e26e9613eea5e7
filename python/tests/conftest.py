"""Fixtures: small random models made with `bertscope make-model`, and the CLI to compare with.

CTest sets BERTSCOPE_CLI (the bertscope binary), BERTSCOPE_TEST_DATA (tests/data) and
PYTHONPATH (the build tree's package); run by hand from the repository root they default to
build/release."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = os.environ.get("BERTSCOPE_CLI", str(ROOT / "build" / "release" / "bertscope"))
DATA = pathlib.Path(os.environ.get("BERTSCOPE_TEST_DATA", str(ROOT / "tests" / "data")))
VOCAB = str(DATA / "bert-base-uncased" / "vocab.txt")


def cli(*args):
    """Runs the bertscope command; returns its output, failing the test on a non-zero status."""
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"bertscope {' '.join(map(str, args))}: {r.stdout}{r.stderr}"
    return r.stdout


def make_model(folder, *args):
    cli("make-model", "--out", folder, *args)
    return str(folder)


@pytest.fixture(scope="session")
def folders(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    common = ["--vocab", VOCAB, "--layers", "2", "--hidden", "32", "--heads", "2", "--intermediate", "40",
              "--init-std", "0.2", "--bias-std", "0.1"]
    return {
        "mlm": make_model(d / "mlm", *common, "--seed", "11"),
        "clf": make_model(d / "clf", *common, "--labels", "3", "--seed", "12"),
    }


@pytest.fixture(scope="session")
def mlm(folders):
    import bertscope
    return bertscope.load(folders["mlm"])


@pytest.fixture(scope="session")
def clf(folders):
    import bertscope
    return bertscope.load(folders["clf"])


@pytest.fixture(scope="session")
def data():
    return DATA
