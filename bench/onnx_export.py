#!/usr/bin/python3
"""ONNX side of bench/compare_onnx.sh: exports a BERT model folder's encoder to ONNX by tracing
`forward` of bench/pytorch_bert.py (transformers' eager BertModel arithmetic), float32, int64
inputs input_ids / attention_mask / token_type_ids. Two variants, each in two forms:

  last_hidden        output last_hidden_state only (ONNX Runtime's best case)
  attn_hidden        what `bertscope bench` records by default (--record attn.probs,hidden):
                     last_hidden_state, attn_probs.{l} [batch, head, q, k] for every layer, and
                     hidden_states.{i} [batch, tok, hidden] for i = 0 (embeddings) .. layers-1
                     (hidden_states.{layers} is last_hidden_state itself)

  VARIANT.onnx       dynamic batch and sequence axes, opset 17, the traced graph as it is. ORT's
                     optimizer (level 'all') fuses little of it: SkipLayerNormFusion needs known
                     sequence and hidden dims, and AttentionFusion matches opset <= 12 ops only.
  VARIANT.BxS.onnx   (--static BxS ...) fixed batch B and sequence S, opset 12, the same
                     arithmetic written so that ORT's own fusions match it (the patterns of
                     onnxruntime/core/optimizer/{attention,embed_layer_norm,skip_layer_norm}_fusion.cc
                     and attention_fusion_helper.h): each LayerNormalization as one node (ORT's
                     LayerNormalization-1 of the onnx domain, which AttentionFusion requires and
                     which keeps MatMulAddFusion off the Q/K/V projections); the Q/K/V reshapes
                     with shape (0, -1, heads, head_size) and the context reshape with (0, 0, -1);
                     K transposed once (0, 2, 3, 1); the mask as Unsqueeze(1), Unsqueeze(2),
                     Cast, Sub(1, .), Mul(., -10000); the embeddings summed (word + position) +
                     token type with the position ids a [B, S] constant. last_hidden.BxS.onnx then
                     becomes EmbedLayerNormalization, Attention, SkipLayerNormalization and Gelu;
                     attn_hidden.BxS.onnx cannot get Attention (ORT's fused Attention op has no
                     probabilities output, and the fusion refuses a Softmax that is a graph
                     output), so it keeps the unfused attention (and with it no
                     EmbedLayerNormalization, which needs an Attention after it).

The exported graphs take attention_mask the way transformers' BertModel does (pytorch_bert.forward
takes no mask: its inputs are never padded): adding (1 - mask) * float32.min (dynamic files) or
(1 - mask) * -10000 (static files, the constant ORT's fusion looks for; exp(-10000) is 0 in
float32 as well) to the scaled scores before the softmax, so a padded key gets probability 0 and
an all-ones mask leaves the scores unchanged. The files go to OUT (default MODEL.onnx/, next to
the model folder, e.g. build/bench-bert-base.onnx/) with meta.json, and are rewritten only when
missing or older than the model or these scripts.

--check runs each file in ONNX Runtime (node bench/onnx_bert.mjs --check) and compares every
output with the PyTorch forward (pytorch_bert.forward with the float32.min mask, for the static
files too): the dynamic files on a small random batch of another shape than the traced one
(3 x 21 tokens, the third input's last 5 keys masked), each static file on its own shape (the
last input's last 5 keys masked); it fails when a difference exceeds --tolerance (1e-4).

    /usr/bin/python3 bench/onnx_export.py build/bench-bert-base [--out DIR] [--static 1x128 8x128] [--check]
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("onnx_export.py: PyTorch is missing (Debian: apt-get install python3-torch; run with /usr/bin/python3)")
sys.path.insert(0, HERE)
import pytorch_bert  # noqa: E402

VARIANTS = {"last_hidden": False, "attn_hidden": True}
STATIC_OPSET = 12  # AttentionFusion matches Add-7, MatMul-9, Reshape-5, Transpose-1, Unsqueeze-11, Softmax-11 only


class Encoder(torch.nn.Module):
    """pytorch_bert.forward as a module: weights as buffers (exported as initializers), the mask
    added to the attention scores around the module's call of torch.softmax (see above)."""

    def __init__(self, cfg, w, all_outputs):
        super().__init__()
        self.cfg, self.names, self.all_outputs = cfg, list(w), all_outputs
        for i, name in enumerate(self.names):
            self.register_buffer(f"w{i}", w[name])

    def forward(self, input_ids, attention_mask, token_type_ids):
        w = {name: getattr(self, f"w{i}") for i, name in enumerate(self.names)}
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        softmax = torch.softmax
        torch.softmax = lambda scores, dim: softmax(scores + bias, dim=dim)
        try:
            attentions, hidden_states = pytorch_bert.forward(self.cfg, w, input_ids, token_type_ids)
        finally:
            torch.softmax = softmax
        if not self.all_outputs:
            return hidden_states[-1]
        return (hidden_states[-1], *attentions, *hidden_states[:-1])


def output_names(cfg, all_outputs):
    names = ["last_hidden_state"]
    if all_outputs:
        layers = cfg["num_hidden_layers"]
        names += [f"attn_probs.{l}" for l in range(layers)] + [f"hidden_states.{i}" for i in range(layers)]
    return names


def inputs(cfg, batch, seq, seed, pad=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, cfg["vocab_size"], (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.int64)
    if pad:
        mask[-1, seq - pad:] = 0
    types = torch.zeros(batch, seq, dtype=torch.int64)
    types[:, seq // 2:] = 1
    return ids, mask, types


def export(cfg, w, path, all_outputs):
    module = Encoder(cfg, w, all_outputs).eval()
    names = output_names(cfg, all_outputs)
    axes = {n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")}
    for n in names:
        axes[n] = {0: "batch", 2: "seq", 3: "seq"} if n.startswith("attn_probs") else {0: "batch", 1: "seq"}
    tmp = path + ".part"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes read as Python numbers
        torch.onnx.export(module, inputs(cfg, 2, 16, 0), tmp, input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=names, dynamic_axes=axes, opset_version=17, do_constant_folding=True)
    os.replace(tmp, path)


class _Reshape(torch.autograd.Function):
    """x.reshape(shape), exported as Reshape with the constant onnx_shape (0 = keep that dim,
    -1 = the rest): the form AttentionFusion checks for."""

    @staticmethod
    def forward(ctx, x, shape, onnx_shape):
        return x.reshape(shape)

    @staticmethod
    def symbolic(g, x, shape, onnx_shape):
        return g.op("Reshape", x, g.op("Constant", value_t=torch.tensor(onnx_shape, dtype=torch.int64)))


class _LayerNorm(torch.autograd.Function):
    """F.layer_norm over the last dim, exported as one LayerNormalization node of the onnx domain
    (at opset 12 ONNX Runtime resolves it to its own LayerNormalization-1; the ONNX checker knows
    no such op before opset 17, see export_static)."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)

    @staticmethod
    def symbolic(g, x, weight, bias, eps):
        y = g.op("LayerNormalization", x, weight, bias, axis_i=-1, epsilon_f=eps)
        y.setType(x.type())
        return y


class StaticEncoder(torch.nn.Module):
    """pytorch_bert.forward's arithmetic for fixed batch x seq, written the way ORT's fusions
    expect it (see the module's docstring). The same operations on the same values except the
    order of the three embedding terms and the mask constant."""

    def __init__(self, cfg, w, batch, seq, all_outputs):
        super().__init__()
        self.cfg, self.names, self.all_outputs, self.batch, self.seq = cfg, list(w), all_outputs, batch, seq
        for i, name in enumerate(self.names):
            self.register_buffer(f"w{i}", w[name])

    def forward(self, input_ids, attention_mask, token_type_ids):
        w = {name: getattr(self, f"w{i}") for i, name in enumerate(self.names)}
        cfg, b, t = self.cfg, self.batch, self.seq
        hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
        d = hidden // heads
        eps = cfg.get("layer_norm_eps", 1e-12)

        def ln(y, name):
            return _LayerNorm.apply(y, w[name + ".weight"], w[name + ".bias"], eps)
        pos = torch.arange(t).unsqueeze(0).expand(b, t)  # [B, S]: folded into a [B, S, hidden] constant
        x = w["bert.embeddings.word_embeddings.weight"][input_ids] + w["bert.embeddings.position_embeddings.weight"][pos]
        x = ln(x + w["bert.embeddings.token_type_embeddings.weight"][token_type_ids], "bert.embeddings.LayerNorm")
        bias = (1.0 - attention_mask.unsqueeze(1).unsqueeze(2).to(torch.float32)) * -10000.0
        attentions, hidden_states = [], [x]
        for l in range(cfg["num_hidden_layers"]):
            p = f"bert.encoder.layer.{l}."

            def lin(y, name):  # MatMul + Add (F.linear's Gemm only takes 2-d inputs)
                return torch.matmul(y, w[p + name + ".weight"].t()) + w[p + name + ".bias"]

            def split(y):
                return _Reshape.apply(y, (b, t, heads, d), (0, -1, heads, d))
            q = split(lin(x, "attention.self.query")).permute(0, 2, 1, 3)
            k = split(lin(x, "attention.self.key")).permute(0, 2, 3, 1)
            v = split(lin(x, "attention.self.value")).permute(0, 2, 1, 3)
            probs = torch.softmax(torch.matmul(q, k) / math.sqrt(d) + bias, dim=-1)
            ctx = _Reshape.apply(torch.matmul(probs, v).permute(0, 2, 1, 3), (b, t, hidden), (0, 0, -1))
            u = ln(lin(ctx, "attention.output.dense") + x, p + "attention.output.LayerNorm")
            x = ln(lin(F.gelu(lin(u, "intermediate.dense")), "output.dense") + u, p + "output.LayerNorm")
            attentions.append(probs)
            hidden_states.append(x)
        if not self.all_outputs:
            return x
        return (x, *attentions, *hidden_states[:-1])


def parse_shape(text):
    try:
        batch, seq = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a shape BxS: {text}")
    if batch < 1 or seq < 1:
        raise argparse.ArgumentTypeError(f"not a shape BxS: {text}")
    return batch, seq


def static_name(variant, batch, seq):
    return f"{variant}.{batch}x{seq}.onnx"


def export_static(cfg, w, path, batch, seq, all_outputs):
    module = StaticEncoder(cfg, w, batch, seq, all_outputs).eval()
    tmp = path + ".part"
    ids = torch.randint(1000, cfg["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(0))
    types = torch.zeros(batch, seq, dtype=torch.int64)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (ids, torch.ones_like(ids), types), tmp,
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=output_names(cfg, all_outputs), opset_version=STATIC_OPSET,
                              do_constant_folding=True)
        except torch.onnx.errors.CheckerError as e:
            # torch checks the file after writing it; its checker knows LayerNormalization from
            # opset 17 only, ONNX Runtime (the only reader) has it at opset 1. Anything else fails.
            if "No Op registered for LayerNormalization" not in str(e) or not os.path.exists(tmp):
                raise
    os.replace(tmp, path)


def stale(path, sources):
    return not os.path.exists(path) or os.path.getmtime(path) < max(os.path.getmtime(s) for s in sources)


def check_file(node, path, cfg, names, ids, mask, types, ref):
    """Runs PATH in ONNX Runtime on the given inputs: the maximum absolute difference of each
    output from ref (tensors in the order of names), and ORT's version."""
    batch, seq = ids.shape
    with tempfile.TemporaryDirectory() as d:
        for name, t in (("input_ids", ids), ("attention_mask", mask), ("token_type_ids", types)):
            t.numpy().tofile(os.path.join(d, name + ".bin"))
        for name, t in zip(names, ref):
            t.contiguous().numpy().tofile(os.path.join(d, name + ".expected.bin"))
        with open(os.path.join(d, "check.json"), "w") as f:
            json.dump({"batch": batch, "seq": seq, "outputs": {n: list(t.shape) for n, t in zip(names, ref)}}, f)
        r = subprocess.run([node, os.path.join(HERE, "onnx_bert.mjs"), "--model", path, "--check", d],
                           stdout=subprocess.PIPE, check=True, text=True)
    j = json.loads(r.stdout)
    return j["max_abs_diff"], j["ort_version"]


def check(cfg, w, out, tolerance, shapes):
    """ONNX Runtime against the PyTorch forward (Encoder: pytorch_bert.forward plus the mask):
    the dynamic files on batch 3 x 21 tokens (the third input's last 5 keys masked), each static
    file on its own shape (the last input's last 5 keys masked, when it has more than 5 tokens);
    the maximum absolute difference of each output, per file."""
    node = shutil.which("node")
    if node is None:
        sys.exit("onnx_export.py: node is missing (Debian: apt-get install nodejs)")
    ids, mask, types = inputs(cfg, 3, 21, 7, pad=5)
    worst = {}

    def report(file, diffs, version, what):
        worst[file] = max(diffs.values())
        groups = {}
        for name, v in diffs.items():
            key = name.split(".")[0]
            groups[key] = max(groups.get(key, 0.0), v)
        print(f"check {file} (ORT {version}) vs PyTorch, {what}: "
              + ", ".join(f"{k} max |diff| {v:.2e}" for k, v in groups.items()), file=sys.stderr)

    with torch.no_grad():
        plain = pytorch_bert.forward(cfg, w, ids[:2], types[:2])
        for variant, all_outputs in VARIANTS.items():
            ref = Encoder(cfg, w, all_outputs)(ids, mask, types)
            ref = ref if isinstance(ref, tuple) else (ref,)
            # With an all-ones mask the module is pytorch_bert.forward itself.
            ones = Encoder(cfg, w, all_outputs)(ids[:2], torch.ones_like(ids[:2]), types[:2])
            assert torch.equal(ones if torch.is_tensor(ones) else ones[0], plain[1][-1]), \
                "the masked module differs from pytorch_bert.forward"
            diffs, version = check_file(node, os.path.join(out, variant + ".onnx"), cfg, output_names(cfg, all_outputs),
                                        ids, mask, types, ref)
            report(variant + ".onnx", diffs, version, "3x21 tokens, one input padded")
        for batch, seq in shapes:
            pad = 5 if seq > 5 else 0
            s_ids, s_mask, s_types = inputs(cfg, batch, seq, 11, pad=pad)
            refs = {}
            for variant, all_outputs in VARIANTS.items():
                if all_outputs or "attn_hidden" not in refs:
                    r = Encoder(cfg, w, True)(s_ids, s_mask, s_types)  # all outputs; last_hidden uses the first
                    refs["attn_hidden"] = r
                ref = refs["attn_hidden"] if all_outputs else refs["attn_hidden"][:1]
                file = static_name(variant, batch, seq)
                diffs, version = check_file(node, os.path.join(out, file), cfg, output_names(cfg, all_outputs),
                                            s_ids, s_mask, s_types, ref)
                report(file, diffs, version, f"{batch}x{seq} tokens" + (", one input padded" if pad else ""))
    bad = {k: v for k, v in worst.items() if not v <= tolerance}
    if bad:
        sys.exit(f"onnx_export.py: ONNX Runtime differs from PyTorch by more than {tolerance}: {bad}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--out", help="folder for the .onnx files (default MODEL.onnx)")
    ap.add_argument("--static", nargs="+", type=parse_shape, default=[], metavar="BxS",
                    help="also export VARIANT.BxS.onnx with fixed batch B and sequence S, for ORT's fusions")
    ap.add_argument("--check", action="store_true", help="compare ONNX Runtime's outputs with PyTorch's")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--force", action="store_true", help="export even when the files are newer than the model")
    args = ap.parse_args()
    model = args.model.rstrip("/")
    out = args.out or model + ".onnx"
    shapes = list(dict.fromkeys(args.static))
    cfg = w = None
    sources = [os.path.join(model, "config.json"), os.path.join(model, "model.safetensors"), __file__,
               os.path.join(HERE, "pytorch_bert.py")]
    os.makedirs(out, exist_ok=True)
    todo = [(os.path.join(out, v + ".onnx"), a, None) for v, a in VARIANTS.items()]
    todo += [(os.path.join(out, static_name(v, b, t)), a, (b, t)) for b, t in shapes for v, a in VARIANTS.items()]
    for path, all_outputs, shape in todo:
        if args.force or stale(path, sources):
            if w is None:
                cfg, w = pytorch_bert.load(model)
            print(f"exporting {path}", file=sys.stderr)
            if shape is None:
                export(cfg, w, path, all_outputs)
            else:
                export_static(cfg, w, path, *shape, all_outputs)
    if w is None:
        with open(os.path.join(model, "config.json")) as f:
            cfg = json.load(f)
    meta_file = os.path.join(out, "meta.json")
    static = {}
    if os.path.exists(meta_file):  # keep the shapes exported before
        with open(meta_file) as f:
            static = json.load(f).get("static", {})
    static.update({f"{b}x{t}": [static_name(v, b, t) for v in VARIANTS] for b, t in shapes})
    static = {k: v for k, v in static.items() if all(os.path.exists(os.path.join(out, f)) for f in v)}
    with open(meta_file, "w") as f:
        json.dump({"model": os.path.abspath(model), "vocab_size": cfg["vocab_size"], "layers": cfg["num_hidden_layers"],
                   "torch": torch.__version__, "opset": 17, "static_opset": STATIC_OPSET,
                   "variants": {v: output_names(cfg, a) for v, a in VARIANTS.items()}, "static": static}, f, indent=1)
    if args.check:
        if w is None:
            cfg, w = pytorch_bert.load(model)
        check(cfg, w, out, args.tolerance, shapes)


if __name__ == "__main__":
    main()
