"""The viewer in notebooks and files: traces and results render inline (`_repr_html_`), open in
a browser (`show()`), save as one self-contained page (`save_html(path)`) and as one figure
(`figure(view, path)`, PNG or SVG drawn by the viewer in headless Chromium, as `bertscope
figure` draws it).

Each inline output is the whole self-contained viewer page inside an iframe's `srcdoc`: the
viewer's code and styles are inlined (no CDN, no server, works offline in Jupyter Notebook,
JupyterLab and VS Code), and each output has its own document, so several outputs in one
notebook never share element ids, styles or script state.
"""

import html
import os
import tempfile
import webbrowser

from . import _core

__all__ = ["AttentionMaps", "Viewable", "inline_html"]

# Tall enough for the grid and one heatmap beside it without scrolling the notebook cell.
_DEFAULT_HEIGHT = 640


def _float32(x):
    """An array input as contiguous float32 NumPy: NumPy arrays, anything with __array__, and
    DLPack producers (torch, JAX, CuPy on the CPU), which NumPy reads in place."""
    import numpy as np
    if hasattr(x, "detach"):  # a torch tensor that may require grad
        x = x.detach()
    if not isinstance(x, np.ndarray) and hasattr(x, "__dlpack__"):
        try:
            x = np.from_dlpack(x)
        except (TypeError, RuntimeError, BufferError):
            pass  # not on the CPU: __array__ (if any) below
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def inline_html(page, height=_DEFAULT_HEIGHT):
    """`page` (a whole HTML page) as an iframe for a notebook cell. allow-scripts without
    allow-same-origin: the viewer runs, but cannot reach the notebook's page or storage."""
    return (f'<iframe class="bertscope-view" sandbox="allow-scripts allow-downloads" '
            f'style="width:100%;height:{int(height)}px;border:1px solid #d0d7de;border-radius:4px" '
            f'srcdoc="{html.escape(page, quote=True)}"></iframe>')


def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell"


def _figure_format(path, format):
    if format is not None:
        return format
    if path is not None:
        ext = os.path.splitext(os.fspath(path))[1].lower()
        if ext in (".png", ".svg"):
            return ext[1:]
        raise ValueError(f"{os.fspath(path)}: give format='png' or 'svg' (or a .png / .svg file name)")
    return "svg"


def _write_atomic(path, data):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".bertscope-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class Viewable:
    """What traces and results share: a viewer document (`view_document()` -> (file name, JSON
    text)) shown by the viewer."""

    def view_document(self):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _view_title(self):
        return "bertscope"

    def html(self):
        """The self-contained viewer page (str) showing this object."""
        return _core.viewer_html([self.view_document()], self._view_title())

    def save_html(self, path):
        """Writes the self-contained viewer page to `path` (atomically); returns the path."""
        _write_atomic(path, self.html().encode("utf-8"))
        return path

    def _repr_html_(self):
        return inline_html(self.html())

    def show(self, height=_DEFAULT_HEIGHT):
        """Shows the viewer: inline in a notebook, else in the default web browser (from a
        temporary file)."""
        if _in_notebook():
            from IPython.display import HTML, display
            display(HTML(inline_html(self.html(), height)))
            return None
        fd, path = tempfile.mkstemp(prefix="bertscope-", suffix=".html")
        with os.fdopen(fd, "wb") as f:
            f.write(self.html().encode("utf-8"))
        webbrowser.open("file://" + path)
        return path

    def views(self):
        """The views the viewer offers for this object and their settings (as `bertscope figure
        --list` prints them)."""
        import json
        name, doc = self.view_document()
        return json.loads(_core.render_figure(doc, "", {}, "list", 2.0, name).decode("utf-8"))

    def figure(self, view, path=None, format=None, scale=2.0, **settings):
        """One view drawn by the viewer in headless Chromium (needs chromium): "grid",
        "heatmap", a view id from views(); settings by name (layer=3, head=1). Returns the SVG
        text or PNG bytes, and writes them to `path` when given (format from its suffix)."""
        fmt = _figure_format(path, format)
        name, doc = self.view_document()
        data = _core.render_figure(doc, view, {k: str(v) for k, v in settings.items()}, fmt, float(scale), name)
        if path is not None:
            _write_atomic(path, data)
        return data.decode("utf-8") if fmt == "svg" else data


# The special tokens of the BERT and RoBERTa families, by spelling.
_SPECIAL_ROLES = {"[CLS]": "cls_or_bos", "<s>": "cls_or_bos", "[SEP]": "sep_or_eos", "</s>": "sep_or_eos",
                  "[PAD]": "pad", "<pad>": "pad", "[MASK]": "mask", "<mask>": "mask", "[UNK]": "unk", "<unk>": "unk"}


def _roles(tokens):
    return [_SPECIAL_ROLES.get(t, "ordinary") for t in tokens]


def _word_ids(tokens, roles):
    """Word ids from the pieces' spelling: "##" continues a word (WordPiece); when the pieces
    mark word starts ("Ġ" byte-level BPE, "▁" SentencePiece), an unmarked piece continues one.
    Specials get -1; a separator restarts the count (word ids count within a segment)."""
    marks_starts = any(t.startswith(("Ġ", "▁")) for t in tokens)
    out, word, open_word = [], -1, False
    for t, r in zip(tokens, roles):
        if r in ("cls_or_bos", "sep_or_eos", "pad"):
            out.append(-1)
            open_word = False
            if r == "sep_or_eos":
                word = -1
            continue
        continues = open_word and (t.startswith("##") if not marks_starts else not t.startswith(("Ġ", "▁")))
        if not continues:
            word += 1
        out.append(word)
        open_word = True
    return out


class AttentionMaps(Viewable):
    """Attention computed elsewhere (transformers' `output_attentions`, another toolkit), shown
    by bertscope's viewer: `attentions` is one [layers, heads, T, T] array or a list of
    [heads, T, T] (or [1, heads, T, T], as transformers returns per layer) arrays; anything
    NumPy can read, torch tensors included. `tokens`: the T token strings. `roles` ("ordinary",
    "cls_or_bos", "sep_or_eos", "pad", "mask", "unk") default to the BERT and RoBERTa special
    tokens' spellings, and `word_ids` (-1 for specials, counted within each segment) to the
    pieces' spelling ("##" continues a word; "Ġ" / "▁" start one): analyses read both instead
    of token strings. A list of AttentionMaps, one per data input, goes wherever analyses take a
    model (bertscope.analyze.surface(maps, "data.txt")).

        out = hf_model(**batch, output_attentions=True)
        bertscope.AttentionMaps([a[0] for a in out.attentions], tokens).show()
    """

    def __init__(self, attentions, tokens, word_ids=None, text="", pair=None, model_name="", roles=None):
        if isinstance(attentions, (list, tuple)):
            maps = [_float32(a) for a in attentions]
            maps = [m[0] if m.ndim == 4 and m.shape[0] == 1 else m for m in maps]
        else:
            maps = [_float32(attentions)]
        self.maps = maps
        self.tokens = [str(t) for t in tokens]
        t = len(self.tokens)
        self.roles = _roles(self.tokens) if roles is None else [str(r) for r in roles]
        if len(self.roles) != t:
            raise ValueError(f"roles: {len(self.roles)} entries for {t} tokens")
        self.word_ids = _word_ids(self.tokens, self.roles) if word_ids is None else \
            [-1 if w is None else int(w) for w in word_ids]
        if len(self.word_ids) != t:
            raise ValueError(f"word_ids: {len(self.word_ids)} entries for {t} tokens")
        self.text, self.pair, self.model_name = text, pair, model_name

    def encoding(self):
        e = _core.Encoding()
        t = len(self.tokens)
        e.tokens = self.tokens
        e.ids = [0] * t
        e.roles = self.roles
        e.word_ids = self.word_ids
        # The segment of each token: a separator closes the first one, as in [CLS] A [SEP] B
        # [SEP], whose type ids are 0 up to the first [SEP] and 1 after it.
        seq, types, current = [], [], 0
        for r in self.roles:
            seq.append(current if r in ("ordinary", "unk", "mask") else -1)
            types.append(current)
            if r == "sep_or_eos":
                current = 1
        e.sequence_ids = seq
        e.type_ids = types
        e.offsets = [(0, 0)] * t
        return e

    def _analysis_input(self):
        return (self.encoding(), self.maps, self.text or "", self.pair)

    def view_document(self):
        return "attention.json", _core.attention_document(self.encoding(), self.maps, self.text, self.pair, self.model_name)

    def __repr__(self):
        return f"<bertscope.AttentionMaps of {len(self.tokens)} tokens>"
