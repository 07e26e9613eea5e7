"""Every analysis as a function: `bertscope.analyze.surface(model_or_traces, data, **options)`, one
per method of `bertscope analyze` (and `ablate`), with the CLI's options and defaults; the module
itself is callable: `bertscope.analyze(model_or_traces, "surface", data, **options)`.

Options are the CLI's flag names without the dashes, '-' written '_' (`broad_entropy=2.5`,
`batch_size=8`, `no_layers=True`); options the CLI repeats (punct_tokens, threshold) take a
space-separated string, list options (label_names, exclude, sources) a comma-separated string;
a Python list or tuple is joined the same way.
`progress=fn(done, total)` is called as work advances; by default a tqdm bar shows progress
when tqdm is installed and the output is a terminal or a notebook (progress=False: none). Each returns a Result holding the JSON
document the CLI writes for the same inputs and options (`.document`, `.save(path)`).
"""

import json
import os
import sys
import types

from . import _core
from ._display import AttentionMaps, Viewable
from ._progress import _Bar, _progress

__all__ = ["Result", "compare", "methods"]

# One line per method (the CLI's `bertscope analyze METHOD --help` says more).
_SUMMARIES = {
    "ablate": "Accuracy of a fine-tuned sequence classifier with each head and each layer disabled (Kovaleva et al. 2019).",
    "cluster": "Clark et al.'s head clustering: Jensen-Shannon divergence between every pair of heads' attention.",
    "coref": "Clark et al.'s coreference in single heads: how often a mention's head word attends most to its antecedent.",
    "features": "Attention to linguistic features per head (Kovaleva et al. 2019).",
    "flow": "Attention flow (Abnar & Zuidema 2020): maximum flow from an output position to each input token.",
    "gradsep": "Clark et al.'s Figure 3: mean |dL/dA| of the masked-LM loss w.r.t. attention to [SEP] and elsewhere.",
    "importance": "Head importance from head-mask gradients (Michel et al. 2019), with the masking curve.",
    "influence": "Influence patterns (Lu et al. 2021) on agreement minimal pairs.",
    "patterns": "Kovaleva et al.'s self-attention pattern types per head and input (vertical, diagonal, block, ...).",
    "probe": "Clark et al.'s attention-based probing classifiers for dependency parsing.",
    "rollout": "Attention rollout (Abnar & Zuidema 2020): head-averaged attention with the residual, multiplied over layers.",
    "saliency": "Token attributions: gradient x input and integrated gradients on the word embeddings.",
    "surface": "Clark et al.'s surface statistics per head: attention to itself, neighbours, [CLS], [SEP], punctuation; entropy.",
    "syntax": "Clark et al.'s dependency relations in single heads, on a CoNLL-U treebank.",
}


class Result(Viewable):
    """An analysis' result: `document` (the CLI's JSON document as a dict: method, model, data,
    params, results), `method`, `table` (the summary the CLI prints), `tables` (its tables as
    pandas DataFrames), `json(indent)`, `save(path)` (written as the CLI's --out does). Shown by
    the viewer inline in Jupyter, `show()`, `save_html(path)`, `figure(view, path)`."""

    def __init__(self, document):
        self._doc = document
        self._dict = None

    @property
    def method(self):
        return self._doc.method

    @property
    def document(self):
        if self._dict is None:
            self._dict = json.loads(self._doc.json())
        return self._dict

    @property
    def results(self):
        return self.document["results"]

    @property
    def params(self):
        return self.document["params"]

    @property
    def table(self):
        return self._doc.table

    def json(self, indent=None):
        return self._doc.json(-1 if indent is None else int(indent))

    def save(self, path):
        self._doc.save(os.fspath(path))

    def __repr__(self):
        return f"<bertscope.Result of {self.method}>"

    def __str__(self):
        return self.table

    def view_document(self):
        return f"{self.method}.json", self._doc.json()

    def _view_title(self):
        return f"bertscope {self.method}"

    @property
    def tables(self):
        """The document's tables as pandas DataFrames by their path in `results` ("heads",
        "relations.accuracy"): per-head matrices [layers][heads] with a layer index and head
        columns, lists of records as rows. Needs pandas."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("Result.tables needs pandas (Debian: python3-pandas)") from e
        out = {}
        model = self.document.get("model") or {}
        _collect_tables(self.results, "", out, pd, (model.get("layers"), model.get("heads")))
        return out


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) or x is None


def _collect_tables(value, path, out, pd, layers_heads):
    """Walks a results tree: a rectangular list of number lists is a matrix (a [layers][heads]
    one gets a layer index and head columns), a list of flat objects a table of records."""
    if isinstance(value, dict):
        for k, v in value.items():
            _collect_tables(v, f"{path}.{k}" if path else k, out, pd, layers_heads)
    elif isinstance(value, list) and value:
        if all(isinstance(r, list) and r and all(_is_number(x) for x in r) for r in value) and \
                len({len(r) for r in value}) == 1:
            df = pd.DataFrame(value, dtype=float)
            if (len(value), len(value[0])) == layers_heads:
                df.index.name, df.columns.name = "layer", "head"
            out[path or "results"] = df
        elif all(isinstance(r, dict) for r in value) and \
                all(not isinstance(x, (dict, list)) for r in value for x in r.values()):
            out[path or "results"] = pd.DataFrame.from_records(value)


def _attention_maps(subject):
    """The AttentionMaps of an analysis on attention held in memory (one or a list), else None."""
    if isinstance(subject, AttentionMaps):
        return [subject]
    if isinstance(subject, (list, tuple)) and subject and all(isinstance(m, AttentionMaps) for m in subject):
        return list(subject)
    return None


def _data_list(data):
    if isinstance(data, (str, os.PathLike)):
        return [os.fspath(data)]
    return [os.fspath(d) for d in data]


def _core_model(model):
    return getattr(model, "_core", model)


# Options the CLI repeats: a list joins with spaces (a comma can be an item); other lists with commas.
_SPACE_LISTS = {"punct_tokens", "threshold"}


def _options(options):
    out = {}
    for k, v in options.items():
        if isinstance(v, (list, tuple)):
            v = (" " if k in _SPACE_LISTS else ",").join(str(x) for x in v)
        out[k] = v
    return out


def _with_progress(progress, label, call):
    cb = _progress(progress, label)
    try:
        return Result(call(cb))
    finally:
        if isinstance(cb, _Bar):
            cb.close()


def _run(model_or_traces, method, data, progress, options):
    data = _data_list(data)
    options = _options(options)
    maps = _attention_maps(model_or_traces)
    if maps is not None:
        inputs = [m._analysis_input() for m in maps]
        return _with_progress(progress, method, lambda cb: _core.analyze_attention(inputs, method, data, options, cb))
    if isinstance(model_or_traces, (str, os.PathLike)):
        return _with_progress(progress, method, lambda cb: _core.analyze_traces(os.fspath(model_or_traces), method, data,
                                                                                options, cb))
    return _with_progress(progress, method,
                          lambda cb: _core.analyze(_core_model(model_or_traces), method, data, options, cb))


def run(model_or_traces, method, data, progress=None, **options):
    """Runs `method` with a Model (bertscope.load), on a folder of traces (as `bertscope run
    --input` writes) or on a list of AttentionMaps (attention computed elsewhere, one per data
    input; both for methods that read attention alone) over the data file(s)."""
    return _run(model_or_traces, method, data, progress, options)


def compare(model_a, model_b, data, progress=None, **options):
    """`bertscope compare`: the attention of two models of the same shape on the same inputs."""
    return _with_progress(progress, "compare", lambda cb: _core.compare(_core_model(model_a), _core_model(model_b),
                                                                        os.fspath(data), _options(options), cb))


def methods():
    """The methods, by name (bertscope::analysis_methods())."""
    return list(_core.analysis_methods())


def _method_function(method):
    def analysis(model_or_traces, data, progress=None, **options):
        return _run(model_or_traces, method, data, progress, options)

    analysis.__name__ = analysis.__qualname__ = method
    analysis.__doc__ = (f"{_SUMMARIES.get(method, method)}\n\n"
                        f"Same as `bertscope {'ablate' if method == 'ablate' else 'analyze ' + method} --model M "
                        f"--data DATA ...`: options by the CLI's flag names ('-' written '_'), its defaults "
                        f"for the rest. model_or_traces: a Model or a folder of traces. Returns a Result.")
    return analysis


for _m in _core.analysis_methods():
    globals()[_m] = _method_function(_m)
    __all__.append(_m)
del _m


class _CallableModule(types.ModuleType):
    def __call__(self, model_or_traces, method, data, progress=None, **options):
        """bertscope.analyze(model_or_traces, method, data, **options): see run()."""
        return _run(model_or_traces, method, data, progress, options)


sys.modules[__name__].__class__ = _CallableModule
