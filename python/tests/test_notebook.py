"""docs/examples/tour.ipynb executed with nbclient (a real Jupyter kernel): every cell runs, the
traces and results render as the inline viewer, two outputs never share a page, and the
executed notebook's outputs are saved as one HTML page that the browser test
(tests/browser/notebook.test.mjs) opens in Chromium to check that each inline viewer drew."""

import html
import os
import re

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NOTEBOOK = os.path.join(ROOT, "docs", "examples", "tour.ipynb")


def _outputs_page(nb):
    """The executed notebook as one offline HTML page: each cell's source and its outputs
    (HTML as it is, images inline, text as preformatted text)."""
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>tour.ipynb</title></head><body>"]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        parts.append(f"<section class='cell' data-cell='{i}'><pre class='source'>{html.escape(cell.source)}</pre>")
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data:
                parts.append(f"<div class='output html'>{data['text/html']}</div>")
            elif "image/png" in data:
                parts.append(f"<img class='output png' src='data:image/png;base64,{data['image/png']}'>")
            elif "text/plain" in data:
                parts.append(f"<pre class='output'>{html.escape(data['text/plain'])}</pre>")
            elif out.get("output_type") == "stream":
                parts.append(f"<pre class='output stream'>{html.escape(out.get('text', ''))}</pre>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)


def test_tour_notebook_runs_and_shows_the_viewer(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env_root = os.environ.get("BERTSCOPE_ROOT")
    os.environ["BERTSCOPE_ROOT"] = ROOT
    try:
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                         resources={"metadata": {"path": os.path.join(ROOT, "docs", "examples")}})
        client.execute()
    finally:
        if env_root is None:
            os.environ.pop("BERTSCOPE_ROOT", None)
        else:
            os.environ["BERTSCOPE_ROOT"] = env_root
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors

    frames = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            h = out.get("data", {}).get("text/html", "")
            frames += re.findall(r'<iframe class="bertscope-view"[^>]*srcdoc="([^"]*)"', h)
    # Two traces, the surface result and the AttentionMaps: four viewers, four different pages.
    assert len(frames) == 4, len(frames)
    assert len(set(frames)) == 4
    for f in frames:
        page = html.unescape(f)
        assert "<script" in page and "http://" not in page.split("<script", 1)[0]
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])), "no matplotlib figure"

    out_dir = os.environ.get("BERTSCOPE_NOTEBOOK_OUT")
    for folder in filter(None, [str(tmp_path), out_dir]):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "tour.html"), "w", encoding="utf-8") as f:
            f.write(_outputs_page(nb))
        nbformat.write(nb, os.path.join(folder, "tour.executed.ipynb"))
