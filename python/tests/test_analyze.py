"""Every analysis as a function: documents equal the command's for the same inputs and options."""

import json

import pytest

import bertscope
from conftest import cli


def without_seconds(v):
    """Timings differ from run to run, and `execution` (how the command ran) is the command's alone;
    everything else must not differ (as tests/api_analysis_test.cpp)."""
    if isinstance(v, dict):
        return {k: without_seconds(x) for k, x in v.items() if k not in ("seconds", "seconds_per_output_node", "execution")}
    if isinstance(v, list):
        return [without_seconds(x) for x in v]
    return v


def cli_document(tmp_path, *args):
    out = tmp_path / "cli.json"
    cli(*args, "--out", out)
    return json.loads(out.read_text())


def same_document(result, expected, method):
    assert result.method == method
    api, exp = without_seconds(result.document), without_seconds(expected)
    for key in ("method", "model", "data", "params", "results"):
        assert api[key] == exp[key], key
    assert api == exp
    assert result.table


@pytest.fixture
def lines(tmp_path):
    p = tmp_path / "lines.txt"
    p.write_text("the cat sat on the mat , and then it slept .\nwho is there ?\tnobody .\n"
                 "a very long day , a very short night .\n")
    return p


def test_surface_equals_the_command(mlm, lines, tmp_path):
    expected = cli_document(tmp_path, "analyze", "surface", "--model", mlm.folder, "--data", lines, "--broad-entropy", "2.5",
                            "--punct-tokens", ".", ",", "?", "--batch-size", "2")
    progress = []
    r = bertscope.analyze.surface(mlm, lines, broad_entropy=2.5, punct_tokens=". , ?", batch_size=2,
                                  progress=lambda done, total: progress.append((done, total)))
    same_document(r, expected, "surface")
    assert progress[-1] == (3, 3)
    same_document(bertscope.analyze.surface(mlm, lines, broad_entropy=2.5, punct_tokens=[".", ",", "?"], batch_size=2),
                  expected, "surface")
    # The module is callable too, and another option gives another document.
    other = bertscope.analyze(mlm, "surface", [str(lines)], broad_entropy=0.5)
    assert other.params != without_seconds(expected)["params"]
    # save() writes the document.
    r.save(tmp_path / "saved.json")
    assert json.loads((tmp_path / "saved.json").read_text()) == r.document
    assert json.loads(r.json(indent=2)) == r.document
    assert "bertscope-view" in r._repr_html_()  # the viewer inline (test_display.py)
    # Traces written by `bertscope run --input` give the command's results.
    traces = tmp_path / "traces"
    cli("run", "--model", mlm.folder, "--input", lines, "--out", traces)
    expected = cli_document(tmp_path, "analyze", "surface", "--traces", traces, "--data", lines)
    same_document(bertscope.analyze.surface(traces, lines), expected, "surface")


def test_syntax_equals_the_command(mlm, data, tmp_path):
    conllu = data / "clark" / "en_ewt-ud-dev.first60.conllu"
    expected = cli_document(tmp_path, "analyze", "syntax", "--model", mlm.folder, "--data", conllu, "--from", "first",
                            "--base-relations")
    same_document(bertscope.analyze.syntax(mlm, conllu, **{"from": "first"}, base_relations=True), expected, "syntax")


def test_rollout_importance_and_compare_equal_the_commands(mlm, clf, lines, data, tmp_path):
    expected = cli_document(tmp_path, "analyze", "rollout", "--model", mlm.folder, "--data", lines, "--positions", "all",
                            "--residual", "0.3")
    same_document(bertscope.analyze.rollout(mlm, lines, positions="all", residual=0.3), expected, "rollout")
    sst2 = data / "kovaleva" / "sst2_dev.head40.tsv"
    expected = cli_document(tmp_path, "analyze", "importance", "--model", clf.folder, "--data", sst2, "--no-curve")
    same_document(bertscope.analyze.importance(clf, sst2, no_curve=True), expected, "importance")
    expected = cli_document(tmp_path, "compare", "--model", mlm.folder, "--model-b", clf.folder, "--data", sst2,
                            "--pad-to", "128")
    same_document(bertscope.compare(mlm, clf, sst2, pad_to=128), expected, "compare")


def test_every_method_is_a_function():
    methods = bertscope.analysis_methods()
    assert bertscope.analyze.methods() == methods
    assert {"surface", "syntax", "ablate", "influence", "importance"} <= set(methods)
    for m in methods:
        f = getattr(bertscope.analyze, m)
        assert f.__name__ == m and f.__doc__


def test_bad_methods_and_options_are_exceptions(mlm, data):
    conllu = data / "clark" / "en_ewt-ud-dev.first60.conllu"
    with pytest.raises(bertscope.Error, match="unknown analysis method 'sintax'"):
        bertscope.analyze(mlm, "sintax", conllu)
    with pytest.raises(bertscope.Error, match="unknown option 'form' for syntax"):
        bertscope.analyze.syntax(mlm, conllu, form="first")
    with pytest.raises(bertscope.Error, match="expected true or false"):
        bertscope.analyze.syntax(mlm, conllu, base_relations=1)
    with pytest.raises(bertscope.Error, match="/nonexistent/file.conllu"):
        bertscope.analyze.syntax(mlm, "/nonexistent/file.conllu")
    with pytest.raises(bertscope.Error, match="not a sequence classifier"):
        bertscope.analyze.ablate(mlm, data / "kovaleva" / "sst2_dev.head40.tsv")
    with pytest.raises(TypeError, match="option 'punct_tokens'"):
        bertscope.analyze.surface(mlm, conllu, punct_tokens={".": 1})


def test_ctrl_c_stops_an_analysis(mlm, lines):
    import os
    import signal

    calls = []

    def interrupt(done, total):
        calls.append(done)
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        bertscope.analyze.surface(mlm, lines, batch_size=1, progress=interrupt)
    assert calls == [1]
