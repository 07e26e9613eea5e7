"""Models, encodings, runs, zero-copy arrays, inputs from other frameworks, errors."""

import gc
import os
import subprocess
import sys

import numpy as np
import pytest

import bertscope
from conftest import VOCAB, cli, make_model

TEXT = "The keys to the cabinet are on the table."


def test_load_and_info(mlm, clf, folders):
    i = mlm.info
    assert (i.family, i.layers, i.heads, i.hidden, i.intermediate, i.head_dim) == ("bert", 2, 2, 32, 40, 16)
    assert i.vocab == 30522 and i.has_tokenizer and i.has_mlm_head and not i.has_classifier and i.labels == 0
    assert i.folder == folders["mlm"]
    assert clf.info.has_classifier and clf.info.labels == 3
    assert "bert" in repr(mlm)


def test_encode(mlm):
    e = mlm.encode(TEXT)
    assert e.tokens[0] == "[CLS]" and e.tokens[-1] == "[SEP]" and e.tokens[1] == "the"
    assert len(e) == len(e.ids) == len(e.roles) == len(e.word_ids) == len(e.offsets)
    assert e.roles[0] == "cls_or_bos" and e.roles[1] == "ordinary" and e.word_ids[0] == -1
    assert e.offsets[1] == (0, 3)
    p = mlm.encode("who is there ?", pair="nobody .")
    assert 1 in p.sequence_ids and 1 in p.type_ids
    assert p.tokens.count("[SEP]") == 2


def test_run_arrays_are_read_only_views_of_the_engine_memory(mlm):
    t = mlm.run(TEXT, record="attn.probs")
    a = t.attention(1)
    T = len(t.encoding)
    assert a.shape == (2, T, T) and a.dtype == np.float32
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-5)
    # Zero copy: the array's base is the engine's buffer (bertscope.Buffer holding owner()).
    assert isinstance(a.base, bertscope.Buffer)
    assert a.__array_interface__["data"][0] == a.base.address
    assert not a.flags.owndata and not a.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0, 0] = 1.0
    assert t.site("layer.1.attn.probs") is a and t["layer.1.attn.probs"] is a
    # attentions [layers, heads, T, T] is the buffer the engine recorded every layer into, and
    # each layer's array is a view at its place in it.
    stacked = t.attentions
    assert stacked.shape == (2, 2, T, T) and not stacked.flags.owndata and isinstance(stacked.base, bertscope.Buffer)
    assert a.__array_interface__["data"][0] == stacked.__array_interface__["data"][0] + stacked[0].nbytes
    np.testing.assert_array_equal(stacked[1], a)
    assert t.attentions is stacked
    # The memory outlives the trace and the model.
    expected = a.copy()
    del t
    gc.collect()
    np.testing.assert_array_equal(a, expected)


def test_run_many_inputs_batches_and_outputs(mlm, clf):
    texts = [TEXT, "who is there ?", ("a question", "an answer"), "short"]
    one = mlm.run(texts, record=["attn.probs", "hidden"], batch_size=1, logits=True)
    many = mlm.run([mlm.encode(x) if isinstance(x, str) else x for x in texts], record="attn.probs,hidden", batch_size=3,
                   mlm_logits=True)
    assert len(one) == len(many) == 4
    for a, b in zip(one, many):
        T = len(a.encoding)
        assert a.hidden_states.shape == (3, T, 32)
        np.testing.assert_allclose(a.attentions, b.attentions, atol=1e-6)
        np.testing.assert_allclose(a.hidden_states, b.hidden_states, atol=1e-5)
        assert a.logits.shape == (T, 30522)
        np.testing.assert_allclose(a.mlm_logits, b.mlm_logits, atol=1e-4)
        np.testing.assert_allclose(a.last_hidden, a.hidden_states[-1], atol=1e-6)
    c = clf.run(TEXT, logits=True, pooled=True)
    assert c.logits.shape == (3,) and c.pooled.shape == (32,) and c.mlm_logits is None
    assert c.sites == {}


def test_run_equals_the_command(mlm, tmp_path):
    out = tmp_path / "t.npz"
    cli("run", "--model", mlm.folder, "--text", TEXT, "--out", out, "--mask-head", "1:0")
    npz = np.load(out)
    mask = np.ones((2, 2), np.float32)
    mask[1, 0] = 0
    t = mlm.run(TEXT, record="attn.probs,hidden", head_mask=mask, logits=True)
    assert list(npz["input_ids"]) == list(t.encoding.ids)
    np.testing.assert_allclose(t.attentions, npz["attentions"], atol=1e-6)
    np.testing.assert_allclose(t.hidden_states, npz["hidden_states"], atol=1e-5)


def test_interventions(mlm):
    base = mlm.run(TEXT, record="attn.probs")
    u = mlm.run(TEXT, record="attn.probs", uniform_heads=[(0, 1)])
    T = len(u.encoding)
    np.testing.assert_allclose(u.attention(0)[1], np.full((T, T), 1.0 / T), rtol=1e-6)
    np.testing.assert_array_equal(u.attention(0)[0], base.attention(0)[0])
    s = mlm.run(TEXT, record="hidden", skip_layers=[1])
    np.testing.assert_array_equal(s.site("layer.1.out"), s.site("layer.0.out"))


class FrameworkArray:
    """An array of another framework: only __array__."""

    def __init__(self, values):
        self.values = values

    def __array__(self, dtype=None):
        return np.asarray(self.values, dtype=dtype)


def test_arrays_of_other_frameworks_are_inputs(mlm):
    mask = [[1.0, 0.0], [1.0, 1.0]]
    ref = mlm.run(TEXT, head_mask=np.array(mask, np.float64)).last_hidden
    np.testing.assert_array_equal(mlm.run(TEXT, head_mask=mask).last_hidden, ref)
    np.testing.assert_array_equal(mlm.run(TEXT, head_mask=FrameworkArray(mask)).last_hidden, ref)
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(mlm.run(TEXT, head_mask=torch.tensor(mask)).last_hidden, ref)


def test_errors_are_python_exceptions_with_the_librarys_message(mlm, tmp_path):
    with pytest.raises(bertscope.Error) as e:
        bertscope.load(tmp_path / "nothing-here")
    assert "nothing-here" in str(e.value) and isinstance(e.value, RuntimeError) and e.value.kind in ("io", "model")
    with pytest.raises(bertscope.Error, match="attn.prob"):
        mlm.run(TEXT, record="layer.0.attn.prob")
    t = mlm.run(TEXT, record="layer.0.attn.probs")
    with pytest.raises(bertscope.Error, match="layer.1.attn.probs"):
        t.site("layer.1.attn.probs")
    with pytest.raises(bertscope.Error, match=r"\[2, 3\]|2, 3"):
        mlm.run(TEXT, head_mask=np.ones((2, 3)))
    with pytest.raises(bertscope.Error, match="unknown hook site 'layer.0.attn.contxt'"):
        mlm.run(TEXT, hooks={"layer.0.attn.contxt": lambda v, h: None})
    with pytest.raises(bertscope.Error, match="layer 5"):
        mlm.run(TEXT, hooks={"layer.5.attn.context": lambda v, h: None})
    with pytest.raises(TypeError):
        mlm.run(12)
    # The model still works.
    assert mlm.run(TEXT, record="layer.0.attn.probs").attention(0).shape[0] == 2


def test_replaced_attention_equals_the_command(mlm, tmp_path):
    T = len(mlm.encode(TEXT))
    a = np.tril(np.ones((T, T), np.float32))
    a /= a.sum(-1, keepdims=True)
    np.save(tmp_path / "a.npy", a)
    cli("run", "--model", mlm.folder, "--text", TEXT, "--out", tmp_path / "r.npz", "--replace-attention", f"1:0={tmp_path / 'a.npy'}")
    t = mlm.run(TEXT, record="attn.probs,hidden", replace_attention={(1, 0): a})
    np.testing.assert_allclose(t.attention(1)[0], a, atol=1e-7)
    np.testing.assert_allclose(t.hidden_states, np.load(tmp_path / "r.npz")["hidden_states"], atol=1e-5)
    two = mlm.run([TEXT, "who is there ?"], record="layer.1.attn.probs", replace_attention=[{(1, 0): a}, None])
    np.testing.assert_allclose(two[0].attention(1)[0], a, atol=1e-7)
    with pytest.raises(bertscope.Error):
        mlm.run(TEXT, replace_attention={(1, 0): np.ones((3, 3))})


def test_runs_from_threads_run_side_by_side(mlm):
    import threading
    texts = [TEXT, "who is there ?", "a b c d e f g"] * 4
    expected = [t.last_hidden for t in mlm.run(texts, batch_size=2)]
    results = {}

    def work(k):
        results[k] = [t.last_hidden for t in mlm.run(texts, batch_size=2)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k in range(3):
        for a, b in zip(results[k], expected):
            np.testing.assert_array_equal(a, b)


def test_arrays_through_dlpack(mlm):
    """Array inputs are read through DLPack when the object has no __array__ (torch, JAX, ...)."""
    torch = pytest.importorskip("torch")

    class OnlyDlpack:  # exposes nothing but the DLPack protocol
        def __init__(self, t):
            self.t = t

        def __dlpack__(self, stream=None):
            return self.t.__dlpack__()

        def __dlpack_device__(self):
            return self.t.__dlpack_device__()

    mask = torch.ones(mlm.info.layers, mlm.info.heads)
    mask[1, 0] = 0
    via_numpy = mlm.run("the cat sat", head_mask=mask.numpy(), logits=True).mlm_logits
    via_dlpack = mlm.run("the cat sat", head_mask=OnlyDlpack(mask), logits=True).mlm_logits
    assert np.array_equal(via_numpy, via_dlpack)
    assert not np.array_equal(via_numpy, mlm.run("the cat sat", logits=True).mlm_logits)


PEAK_SCRIPT = """
import resource, sys, bertscope
m = bertscope.load(sys.argv[1])
e = bertscope.Encoding()
T = int(sys.argv[2])
e.ids = [101] + [1000 + (7 * i) % 20000 for i in range(T - 2)] + [102]
e.type_ids = [0] * T
warm = m.run(e)  # the engine's workspace, sized for T tokens
del warm
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = m.run(e, record=sys.argv[3])
a = t.attentions if sys.argv[3] == "attn.probs" else t.hidden_states
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, a.nbytes)
"""


def test_recording_attention_does_not_double_peak_memory(tmp_path):
    # 12 layers x 12 heads x 512 x 512 floats (151 MB): the run's peak grows by the trace, not
    # by twice the trace, and t.attentions adds nothing.
    folder = make_model(tmp_path / "deep", "--vocab", VOCAB, "--layers", "12", "--hidden", "48", "--heads", "12",
                        "--intermediate", "64", "--seed", "3")
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, folder, "512", "attn.probs"], capture_output=True,
                         text=True, env=os.environ)
    assert out.returncode == 0, out.stderr
    grown, trace_bytes = map(int, out.stdout.split())
    assert trace_bytes == 12 * 12 * 512 * 512 * 4
    assert grown < 1.25 * trace_bytes, f"peak grew by {grown / 2**20:.0f} MiB for a {trace_bytes / 2**20:.0f} MiB trace"
