"""The viewer from Python: traces, results and attention from elsewhere render as one
self-contained page (inline in notebooks as a sandboxed iframe), save atomically, and draw one
view as PNG or SVG in headless Chromium; tables as DataFrames; a tqdm bar that stays quiet in
pipes."""

import html
import json
import os
import re
import shutil

import numpy as np
import pytest

import bertscope

TEXT = "the cat sat on the mat ."
needs_chromium = pytest.mark.skipif(not any(shutil.which(c) for c in ("chromium", "chromium-browser")),
                                    reason="no Chromium")


def page_config(page):
    """The viewer's embedded config of a page (the JSON in #bertscope-config)."""
    m = re.search(r'<script type="application/json" id="bertscope-config">(.*?)</script>', page, re.S)
    assert m, "no viewer config in the page"
    return json.loads(m.group(1))


def srcdoc(fragment):
    m = re.fullmatch(r'<iframe class="bertscope-view" sandbox="allow-scripts allow-downloads" style="[^"]*" srcdoc="([^"]*)"></iframe>',
                     fragment)
    assert m, fragment[:200]
    return html.unescape(m.group(1))


def test_trace_renders_inline_as_a_self_contained_page(mlm):
    t = mlm.run(TEXT, record="attn.probs")
    page = srcdoc(t._repr_html_())
    assert page == t.html()
    assert "<script" in page and "src=" not in page.split("</head>")[0].lower().replace('src="data:', "")
    docs = page_config(page)["documents"]
    assert [d["name"] for d in docs] == ["attention.json"]
    doc = docs[0]["json"]
    assert doc["kind"] == "attention" and doc["tokens"] == t.tokens and doc["text"] == TEXT
    assert doc["layers"] == mlm.info.layers and doc["heads"] == mlm.info.heads and doc["length"] == len(t.tokens)


def test_two_outputs_are_two_pages(mlm):
    a = mlm.run(TEXT, record="attn.probs")._repr_html_()
    b = mlm.run(("who is there ?", "nobody ."), record="attn.probs")._repr_html_()
    da, db = page_config(srcdoc(a))["documents"][0]["json"], page_config(srcdoc(b))["documents"][0]["json"]
    assert da["tokens"] != db["tokens"] and db["text_pair"] == "nobody ."


def test_trace_without_attention_has_no_html_and_says_why(mlm):
    t = mlm.run(TEXT, record="hidden")
    assert t._repr_html_() is None
    with pytest.raises(bertscope.Error, match='record="attn.probs"'):
        t.html()


def test_save_html(mlm, tmp_path):
    t = mlm.run(TEXT, record="attn.probs")
    p = t.save_html(tmp_path / "t.html")
    assert open(p, encoding="utf-8").read() == t.html()
    assert [f.name for f in tmp_path.iterdir()] == ["t.html"]  # no temporary left behind
    with pytest.raises(OSError):
        t.save_html(tmp_path / "missing" / "t.html")
    assert [f.name for f in tmp_path.iterdir()] == ["t.html"]


@needs_chromium
def test_figures(mlm, tmp_path):
    t = mlm.run(TEXT, record="attn.probs")
    views = [v["id"] for v in t.views()]
    assert "grid" in views and "heatmap" in views
    png = t.figure("heatmap", tmp_path / "h.png", layer=1, head=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "h.png").read_bytes() == png
    svg = t.figure("grid")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    with pytest.raises(bertscope.Error, match="layer"):
        t.figure("heatmap", layer=99)
    with pytest.raises(bertscope.Error, match="format"):
        t.figure("grid", format="gif")
    with pytest.raises(ValueError, match="format"):
        t.figure("grid", tmp_path / "g.jpg")
    assert not (tmp_path / "g.jpg").exists()


def test_attention_from_elsewhere(mlm):
    t = mlm.run(TEXT, record="attn.probs")
    stacked = bertscope.AttentionMaps(t.attentions, t.tokens, text=TEXT)
    # transformers' shape: a tuple of [1, heads, T, T] per layer (torch tensors accepted).
    torch = pytest.importorskip("torch")
    per_layer = bertscope.AttentionMaps(tuple(torch.from_numpy(t.attentions[l][None]) for l in range(mlm.info.layers)),
                                        t.tokens, text=TEXT)
    a = page_config(stacked.html())["documents"][0]["json"]
    b = page_config(per_layer.html())["documents"][0]["json"]
    assert a["attention"] == b["attention"] and a["tokens"] == t.tokens
    with pytest.raises(bertscope.Error, match="shape"):
        bertscope.AttentionMaps(np.zeros((2, 2, 3, 3)), t.tokens).html()
    with pytest.raises(ValueError, match="word_ids"):
        bertscope.AttentionMaps(t.attentions, t.tokens, word_ids=[0, 1])


def test_result_renders_and_has_tables(mlm, tmp_path):
    p = tmp_path / "lines.txt"
    p.write_text("the cat sat on the mat .\nwho is there ?\tnobody .\n")
    r = bertscope.analyze.surface(mlm, p, progress=False)
    docs = page_config(srcdoc(r._repr_html_()))["documents"]
    assert docs[0]["name"] == "surface.json" and docs[0]["json"]["results"] == r.results
    pd = pytest.importorskip("pandas")
    tables = r.tables
    heads = tables["heads"]
    assert isinstance(heads, pd.DataFrame) and len(heads) == mlm.info.layers * mlm.info.heads
    assert list(heads["sep"]) == [h["sep"] for h in r.results["heads"]]


def test_progress_callback_and_quiet_bar(mlm, tmp_path, capfd):
    p = tmp_path / "lines.txt"
    p.write_text("\n".join(["the cat sat on the mat ."] * 5) + "\n")
    seen = []
    bertscope.analyze.surface(mlm, p, progress=lambda d, n: seen.append((d, n)))
    assert seen and seen[-1] == (5, 5)
    capfd.readouterr()
    bertscope.analyze.surface(mlm, p)  # the default tqdm bar: silent when stderr is not a terminal
    assert capfd.readouterr().err == ""


def without_seconds(v):
    if isinstance(v, dict):
        return {k: without_seconds(x) for k, x in v.items() if "seconds" not in k and k != "execution"}
    if isinstance(v, list):
        return [without_seconds(x) for x in v]
    return v


LINES = ["the cat sat on the mat , and then it slept .", "who is there ?\tnobody ."]


def maps_of(model, lines):
    out = []
    for line in lines:
        parts = line.split("\t")
        t = model.run(tuple(parts) if len(parts) == 2 else parts[0], record="attn.probs")
        # As a transformers user would hand them over: per-layer [1, heads, T, T] and the token strings.
        out.append(bertscope.AttentionMaps([t.attention(l)[None] for l in range(model.info.layers)], t.tokens,
                                           text=parts[0], pair=parts[1] if len(parts) == 2 else None))
        e, a = t.encoding, out[-1].encoding()
        assert (list(a.word_ids), list(a.type_ids), list(a.sequence_ids), list(a.roles)) == \
            (list(e.word_ids), list(e.type_ids), list(e.sequence_ids), list(e.roles))
    return out


@pytest.mark.parametrize("method", ["surface", "rollout", "cluster", "patterns", "features", "flow"])
def test_analyses_of_attention_in_memory_equal_the_models(mlm, tmp_path, method):
    p = tmp_path / "lines.txt"
    p.write_text("\n".join(LINES) + "\n")
    from_model = bertscope.analyze(mlm, method, p, progress=False)
    from_maps = bertscope.analyze(maps_of(mlm, LINES), method, p, progress=False)
    assert without_seconds(from_maps.results) == without_seconds(from_model.results)
    assert from_maps.document["model"] == {"attention": "in memory", "layers": mlm.info.layers, "heads": mlm.info.heads}


def test_attention_in_memory_errors(mlm, tmp_path):
    p = tmp_path / "lines.txt"
    p.write_text("\n".join(LINES) + "\n")
    maps = maps_of(mlm, LINES)
    with pytest.raises(bertscope.Error, match="1 inputs for 2 data inputs"):
        bertscope.analyze.surface(maps[:1], p, progress=False)
    with pytest.raises(bertscope.Error, match="runs the model"):
        bertscope.analyze.gradsep(maps, p, progress=False)
    bad = bertscope.AttentionMaps(np.zeros((2, 3, 4, 4), np.float32), maps[1].tokens)
    with pytest.raises(bertscope.Error, match="attention input 1"):
        bertscope.analyze.surface([maps[0], bad], p, progress=False)
    wrong_text = bertscope.AttentionMaps(maps[1].maps, maps[1].tokens, text="someone else ?", pair="nobody .")
    with pytest.raises(bertscope.Error, match="attention input 1: made from the text"):
        bertscope.analyze.surface([maps[0], wrong_text], p, progress=False)


def test_run_progress(mlm, capfd):
    seen = []
    traces = mlm.run(["the cat sat ."] * 5, batch_size=2, progress=lambda d, n: seen.append((d, n)))
    assert len(traces) == 5 and seen == [(2, 5), (4, 5), (5, 5)]
    capfd.readouterr()
    mlm.run(["the cat sat ."] * 5, batch_size=2)  # default bar: silent off a terminal
    assert capfd.readouterr().err == ""
