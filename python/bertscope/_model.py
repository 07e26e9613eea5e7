"""Models, runs (traces), gradients and hooks: the Python face of bertscope::Model."""

import os
import re

import numpy as np

from . import _core
from ._core import Encoding, Error, Target
from ._display import Viewable, _float32
from ._progress import _Bar, _progress

# Sites a hook can be put at (the trace's names without "layer.{l}.").
LAYER_SITES = (
    "attn.query", "attn.key", "attn.value", "attn.scores", "attn.probs", "attn.context",
    "attn.out", "attn.residual", "resid_mid", "ffn.act", "ffn.out", "out",
    "attn.scores.c2c", "attn.scores.c2p", "attn.scores.p2c",  # DeBERTa's score terms
)
MODEL_SITES = ("embed.norm", "embed.out", "final_norm.in", "pooler.out")


def _error(message, kind="input"):
    e = Error(message)
    e.kind = kind
    return e


class HookPoint:
    """Where a hook is called: `name` ("layer.1.attn.context"), `layer`, `input` (the input's index
    in the run), `pass_` ("forward" or "backward") and `tokens` (the input's length)."""

    __slots__ = ("name", "layer", "input", "pass_", "tokens")

    def __init__(self, name, layer, input, pass_, tokens):
        self.name, self.layer, self.input, self.pass_, self.tokens = name, layer, input, pass_, tokens

    def __repr__(self):
        return f"HookPoint({self.name!r}, input={self.input}, pass_={self.pass_!r}, tokens={self.tokens})"


class observe:
    """Wraps a hook that only reads: its view is read-only, and a gradient may be taken over the
    pass it observes (a writable hook counts as replacing values, which gradients refuse except
    at attn.probs)."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError("bertscope.observe takes a callable")
        self.fn = fn


def _hook_specs(hooks, layers):
    """hooks: {site name: fn} or [(site name, fn), ...] -> [_core.HookSpec]."""
    if not hooks:
        return []
    items = hooks.items() if isinstance(hooks, dict) else hooks
    specs = []
    for name, fn in items:
        writable = True
        if isinstance(fn, observe):
            fn, writable = fn.fn, False
        if not callable(fn):
            raise TypeError(f"hook at {name!r}: expected a callable, got {type(fn).__name__}")
        if name in MODEL_SITES:
            specs.append(_core.HookSpec(name, 0, fn, writable))
            continue
        m = re.fullmatch(r"(?:layer\.(\d+|\*)\.)?(.+)", name)
        site = m.group(2)
        if site not in LAYER_SITES:
            raise _error(f"unknown hook site '{name}': expected embed.out, pooler.out or layer.{{l}}.SITE "
                         f"(layer.*.SITE or SITE for every layer) with SITE one of {', '.join(LAYER_SITES)}")
        layer = -1 if m.group(1) in (None, "*") else int(m.group(1))
        if layer >= layers:
            raise _error(f"hook site '{name}': layer {layer} outside the model's {layers} layers")
        specs.append(_core.HookSpec(site, layer, fn, writable))
    return specs


def _record_string(record):
    if record is None:
        return ""
    if isinstance(record, str):
        return record
    return ",".join(record)


class Trace(Viewable):
    """The outputs of one input of a run. Arrays are read-only NumPy views over the engine's
    memory (no copy; their base is a `bertscope._core.Buffer` that keeps it alive). The engine
    records every layer's attention into one buffer, so `attentions` [layers, heads, T, T] and
    each `attention(l)` are views of the same memory (likewise `hidden_states`).
    With attention recorded it shows in the viewer: inline in Jupyter, `show()`,
    `save_html(path)`, `figure(view, path)`."""

    def __init__(self, output, encoding, layers, text="", pair=None, model_name=""):
        self._output = output
        self.encoding = encoding
        self._layers = layers
        self._sites = None
        self._stacks = None
        self.text, self.pair, self._model_name = text, pair, model_name

    @property
    def tokens(self):
        return self.encoding.tokens if self.encoding is not None else None

    @property
    def sites(self):
        """Every recorded site by name ("layer.0.attn.probs"), as views."""
        if self._sites is None:
            self._sites = self._output.sites()
        return self._sites

    def site(self, name):
        """The recorded site `name` (a view); bertscope.Error naming it when it was not recorded."""
        sites = self.sites
        if name not in sites:
            self._output.site(name)  # raises the library's message
        return sites[name]

    __getitem__ = site

    def __contains__(self, name):
        return name in self.sites

    def attention(self, layer):
        """Layer `layer`'s attention probabilities [heads, T, T] (a view)."""
        return self.site(f"layer.{layer}.attn.probs")

    def _stack(self, name, members):
        if self._stacks is None:
            self._stacks = self._output.stacks()
        if name in self._stacks:
            return self._stacks[name]
        for site in members:
            self.site(site)  # the library's message naming the first site not recorded
        raise _error(f"{name} is not stacked in this trace")

    @property
    def attentions(self):
        """[layers, heads, T, T]: every layer's attn.probs, a view of the buffer the engine
        recorded them into (no copy). Needs record="attn.probs" (every layer)."""
        return self._stack("attentions", [f"layer.{l}.attn.probs" for l in range(self._layers)])

    @property
    def hidden_states(self):
        """[layers + 1, T, hidden]: embed.out and every layer.{l}.out, a view of one buffer (no
        copy), as transformers' hidden_states. Needs record="hidden"."""
        return self._stack("hidden_states", ["embed.out"] + [f"layer.{l}.out" for l in range(self._layers)])

    @property
    def last_hidden(self):
        return self._output.last_hidden()

    @property
    def mlm_logits(self):
        return self._output.mlm_logits()

    @property
    def classifier_logits(self):
        return self._output.classifier_logits()

    @property
    def pooled(self):
        return self._output.pooled()

    @property
    def logits(self):
        """The classifier's logits when they were asked for, else the MLM head's."""
        c = self.classifier_logits
        return c if c is not None else self.mlm_logits

    def __repr__(self):
        n = len(self.encoding) if self.encoding is not None else "?"
        return f"<bertscope.Trace of {n} tokens: {', '.join(self.sites) or 'no sites recorded'}>"

    def view_document(self):
        """The attention document the viewer shows: ("attention.json", JSON text). Needs
        record="attn.probs"."""
        if self.encoding is None:
            raise _error("this trace has no encoding to show")
        missing = [l for l in range(self._layers) if f"layer.{l}.attn.probs" not in self.sites]
        if missing:
            raise _error(f"the viewer shows attention: run with record=\"attn.probs\" (layer.{missing[0]}.attn.probs was not recorded)")
        maps = [self.attention(l) for l in range(self._layers)]
        return "attention.json", _core.attention_document(self.encoding, maps, self.text or "", self.pair, self._model_name)

    def _view_title(self):
        return f"bertscope: {self.text[:60]}" if self.text else "bertscope trace"

    def _repr_html_(self):
        # Without attention there is nothing to draw: Jupyter then shows the repr.
        if self.encoding is None or any(f"layer.{l}.attn.probs" not in self.sites for l in range(self._layers)):
            return None
        return super()._repr_html_()


class Gradients:
    """The gradient of one target: `value` (the target), `head_mask` ([layers, heads] or None),
    `sites` (by name, shaped as the sites), `output` (the forward pass's Trace). Views, no copy."""

    def __init__(self, core, encoding, layers, text="", pair=None, model_name=""):
        self._core = core
        self.value = core.value
        self.head_mask = core.head_mask()
        self.sites = core.sites()
        self.output = Trace(core.output, encoding, layers, text, pair, model_name)

    def __getitem__(self, name):
        if name == "head_mask" and self.head_mask is not None:
            return self.head_mask
        if name not in self.sites:
            raise _error(f"no gradient with respect to '{name}': taken for "
                         f"{', '.join((['head_mask'] if self.head_mask is not None else []) + list(self.sites)) or 'nothing'}")
        return self.sites[name]

    def __repr__(self):
        return f"<bertscope.Gradients value={self.value:.6g}>"

    def _repr_html_(self):
        return None


def _texts(x):
    """(text, pair) of a run's input, when it was given as text."""
    if isinstance(x, str):
        return x, None
    if isinstance(x, tuple) and len(x) == 2 and all(isinstance(s, str) for s in x):
        return x[0], x[1]
    return "", None


def _run_args(record, batch_size, head_mask, uniform_heads, skip_layers, mlm_logits, classifier_logits, pooled):
    a = _core.RunArgs()
    a.record = _record_string(record)
    a.batch_size = int(batch_size)
    if head_mask is not None:
        a.head_mask = _float32(head_mask)
    a.uniform_heads = [(int(l), int(h)) for l, h in uniform_heads]
    a.skip_layers = [int(l) for l in skip_layers]
    a.mlm_logits, a.classifier_logits, a.pooled = bool(mlm_logits), bool(classifier_logits), bool(pooled)
    return a


class Model:
    """A loaded model folder (`bertscope.load(folder)`)."""

    def __init__(self, core):
        self._core = core
        self._info = core.info

    @classmethod
    def load(cls, folder):
        return cls(_core.Model.load(os.fspath(folder)))

    @property
    def info(self):
        """What the folder holds: family, layers, heads, hidden, vocab, has_classifier, ..."""
        return self._info

    @property
    def folder(self):
        return self._info.folder

    def encode(self, text, pair=None, truncate=False):
        """Tokenizes as transformers does: ids, type_ids, tokens, roles, word_ids, sequence_ids,
        offsets (code-point spans in the segment's text)."""
        return self._core.encode(text, pair, truncate)

    def _encoding(self, x, truncate):
        if isinstance(x, Encoding):
            return x
        if isinstance(x, str):
            return self.encode(x, None, truncate)
        if isinstance(x, tuple) and len(x) == 2 and all(isinstance(s, str) for s in x):
            return self.encode(x[0], x[1], truncate)
        raise TypeError(f"expected a text, a (text, pair) tuple or an Encoding, got {type(x).__name__}")

    def _logits_flags(self, logits, mlm_logits, classifier_logits):
        if logits:
            if self._info.has_classifier:
                classifier_logits = True
            elif self._info.has_mlm_head:
                mlm_logits = True
        return mlm_logits, classifier_logits

    def run(self, inputs, record=None, hooks=None, batch_size=16, head_mask=None, uniform_heads=(), skip_layers=(),
            replace_attention=None, logits=False, mlm_logits=False, classifier_logits=False, pooled=False,
            truncate=False, progress=None):
        """Runs the encoder on a text, a (text, pair) tuple, an Encoding, or a list of them; returns
        one Trace (or a list of Traces for a list).

        record: site patterns as a list or a comma-separated string ("attn.probs", "hidden",
        "layer.3.attn.context", "all"). hooks: {site name: fn} (or a list of pairs) with fn(values,
        hook) called per input on a writable view of the pass's values, shaped as the recorded
        site, valid only during the call (copy it to keep it); returning an array replaces the
        values (bertscope.observe(fn) only reads).
        head_mask [layers, heads] scales attention (0 removes a head); uniform_heads [(layer,
        head)]; skip_layers [layer]; replace_attention {(layer, head): [T, T] row-stochastic array}
        for one input (a list of such dicts, or None, for a list). The GIL is released while the encoder runs; Ctrl-C stops after
        the current batch of batch_size inputs. progress: fn(done, total) after each batch; by
        default a tqdm bar (when tqdm is installed) for runs of more than one batch; False: none."""
        single = isinstance(inputs, (str, Encoding, tuple))
        items = [inputs] if single else list(inputs)
        encodings = [self._encoding(x, truncate) for x in items]
        mlm_logits, classifier_logits = self._logits_flags(logits, mlm_logits, classifier_logits)
        args = _run_args(record, batch_size, head_mask, uniform_heads, skip_layers, mlm_logits, classifier_logits, pooled)
        specs = _hook_specs(hooks, self._info.layers)
        replaced = []
        if replace_attention is not None:
            per_input = [replace_attention] if single else list(replace_attention)
            replaced = [[(int(l), int(h), _float32(a))
                         for (l, h), a in (r or {}).items()] for r in per_input]
        bar = _progress(progress if progress is not None or len(encodings) > args.batch_size else False, "run")
        try:
            outputs = self._core.run(encodings, args, specs, HookPoint, replaced, bar)
        finally:
            if isinstance(bar, _Bar):
                bar.close()
        name = os.path.basename(os.path.normpath(self._info.folder))
        traces = [Trace(o, e, self._info.layers, *_texts(x), name) for o, e, x in zip(outputs, encodings, items)]
        return traces[0] if single else traces

    def gradient(self, input, target, wrt=("head_mask",), record=None, hooks=None, backward_hooks=None, head_mask=None,
                 uniform_heads=(), skip_layers=(), truncate=False):
        """The gradient of `target` (bertscope.Target.class_logit(label), .mlm_logit(position, token),
        .class_loss(label), .mlm_loss(labels)) for one input, with respect to what `wrt` names:
        "head_mask" ([layers, heads]) and site patterns ("layer.0.attn.probs", "attn.context").
        hooks act in the forward pass (use bertscope.observe for hooks that only read);
        backward_hooks see dL/d(site) in the backward pass, after it is recorded, and may scale
        it or stop it. Interventions as in run()."""
        if not isinstance(target, Target):
            raise TypeError("target: expected a bertscope.Target (Target.class_logit(label), ...)")
        wrt = [wrt] if isinstance(wrt, str) else list(wrt)
        want_mask = "head_mask" in wrt
        sites = ",".join(w for w in wrt if w != "head_mask")
        encoding = self._encoding(input, truncate)
        args = _run_args(record, 1, head_mask, uniform_heads, skip_layers, False, False, False)
        g = self._core.gradient(encoding, target, want_mask, sites, args, _hook_specs(hooks, self._info.layers),
                                _hook_specs(backward_hooks, self._info.layers), HookPoint)
        return Gradients(g, encoding, self._info.layers, *_texts(input), os.path.basename(os.path.normpath(self._info.folder)))

    def __repr__(self):
        i = self._info
        return f"<bertscope.Model {i.family} {i.layers}x{i.heads}x{i.hidden} from {i.folder!r}>"


def load(folder):
    """Loads a Hugging Face model folder (config.json, weights, tokenizer files)."""
    return Model.load(folder)
