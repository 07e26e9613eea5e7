"""Python hooks at named sites, gradients against finite differences, Ctrl-C."""

import os
import signal

import numpy as np
import pytest

import bertscope
from conftest import cli

TEXT = "The keys to the cabinet are on the table."


def zero_head(h):
    def hook(values, point):  # [head, tok, head_dim], the pass's own memory
        values[h] = 0.0
    return hook


def test_zeroing_a_heads_context_is_the_head_mask(mlm, tmp_path):
    mask = np.ones((2, 2), np.float32)
    mask[1, 1] = 0
    by_mask = mlm.run(TEXT, record="hidden", head_mask=mask)
    by_hook = mlm.run(TEXT, record="hidden", hooks={"layer.1.attn.context": zero_head(1)})
    np.testing.assert_allclose(by_hook.last_hidden, by_mask.last_hidden, atol=1e-6)
    assert not np.allclose(by_hook.last_hidden, mlm.run(TEXT).last_hidden, atol=1e-3)
    # ... and the command's intervention.
    cli("run", "--model", mlm.folder, "--text", TEXT, "--out", tmp_path / "m.npz", "--mask-head", "1:1")
    np.testing.assert_allclose(by_hook.hidden_states, np.load(tmp_path / "m.npz")["hidden_states"], atol=1e-5)


def test_a_returned_array_replaces_the_values(mlm):
    mask = np.ones((2, 2), np.float32)
    mask[0] = 0
    by_mask = mlm.run([TEXT, "who is there ?"], head_mask=mask)
    by_return = mlm.run([TEXT, "who is there ?"], hooks=[("layer.0.attn.context", lambda v, p: np.zeros_like(v))])
    for a, b in zip(by_return, by_mask):
        np.testing.assert_allclose(a.last_hidden, b.last_hidden, atol=1e-6)
    with pytest.raises(ValueError):
        mlm.run(TEXT, hooks={"layer.0.attn.context": lambda v, p: np.zeros((3, 3))})


def test_observing_hooks_see_every_input_and_layer(mlm):
    texts = [TEXT, "who is there ?", "a", "b c", "the end ."]
    seen = []

    def look(values, point):
        seen.append((point.name, point.input, point.pass_, point.tokens, values.copy()))

    traces = mlm.run(texts, record="attn.context,attn.probs", batch_size=2,
                     hooks={"layer.1.attn.context": bertscope.observe(look), "attn.probs": bertscope.observe(look)})
    ctx = [s for s in seen if s[0] == "layer.1.attn.context"]
    assert [s[1] for s in ctx] == [0, 1, 2, 3, 4]
    for (_, i, p, tokens, v) in ctx:
        assert p == "forward" and tokens == len(traces[i].encoding)
        np.testing.assert_array_equal(v, traces[i].site("layer.1.attn.context"))
    probs = [s for s in seen if s[0].endswith("attn.probs")]
    assert sorted({s[0] for s in probs}) == ["layer.0.attn.probs", "layer.1.attn.probs"] and len(probs) == 10
    for (name, i, _, _, v) in probs:
        np.testing.assert_array_equal(v, traces[i].site(name))

    def write(values, point):
        values[:] = 0

    with pytest.raises(ValueError):  # observers get read-only views
        mlm.run(TEXT, hooks={"layer.0.out": bertscope.observe(write)})
    with pytest.raises(ValueError, match="observes only"):
        mlm.run(TEXT, hooks={"layer.0.out": bertscope.observe(lambda v, p: v * 2)})


def test_a_hooks_exception_reaches_the_caller(mlm):
    def fail(values, point):
        raise ZeroDivisionError("from the hook")

    with pytest.raises(ZeroDivisionError, match="from the hook"):
        mlm.run([TEXT] * 3, hooks={"embed.out": fail}, batch_size=1)
    assert mlm.run(TEXT).last_hidden.shape[1] == 32


def test_ctrl_c_stops_a_run_between_batches(mlm):
    calls = []

    def interrupt(values, point):
        calls.append(point.input)
        if point.input == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        mlm.run([TEXT] * 20, batch_size=1, hooks={"embed.out": bertscope.observe(interrupt)})
    assert calls == [0, 1, 2]
    assert mlm.run(TEXT).last_hidden is not None


def logit(model, label, **kw):
    return float(model.run(TEXT, classifier_logits=True, **kw).classifier_logits[label])


def test_head_mask_gradient_equals_finite_differences(clf):
    g = clf.gradient(TEXT, bertscope.Target.class_logit(1), wrt="head_mask")
    assert g.head_mask.shape == (2, 2) and g.sites == {}
    assert g.value == pytest.approx(logit(clf, 1), abs=1e-5)
    eps = 1e-2
    for l in range(2):
        for h in range(2):
            up, down = np.ones((2, 2)), np.ones((2, 2))
            up[l, h] += eps
            down[l, h] -= eps
            fd = (logit(clf, 1, head_mask=up) - logit(clf, 1, head_mask=down)) / (2 * eps)
            assert g.head_mask[l, h] == pytest.approx(fd, rel=2e-2, abs=2e-3), (l, h)


def test_site_gradient_equals_finite_differences(clf, mlm):
    g = clf.gradient(TEXT, bertscope.Target.class_logit(2), wrt=["head_mask", "layer.0.attn.context"])
    d = g["layer.0.attn.context"]
    T = len(clf.encode(TEXT))
    assert d.shape == (2, T, 16) and isinstance(d.base, bertscope.Buffer)
    eps = 1e-2
    rng = np.random.default_rng(0)
    for _ in range(6):
        h, i, k = int(rng.integers(2)), int(rng.integers(T)), int(rng.integers(16))

        def nudge(delta):
            def hook(values, point):
                values[h, i, k] += delta
            return logit(clf, 2, hooks={"layer.0.attn.context": hook})

        fd = (nudge(eps) - nudge(-eps)) / (2 * eps)
        assert d[h, i, k] == pytest.approx(fd, rel=3e-2, abs=2e-3), (h, i, k)
    # An MLM logit, and the loss of a class.
    e = mlm.encode("the cat [MASK] on the mat .")
    gm = mlm.gradient(e, bertscope.Target.mlm_logit(3, 2938), wrt="head_mask")
    assert gm.value == pytest.approx(float(mlm.run(e, mlm_logits=True).mlm_logits[3, 2938]), abs=1e-4)
    loss = clf.gradient(TEXT, bertscope.Target.class_loss(0))
    z = clf.run(TEXT, classifier_logits=True).classifier_logits.astype(np.float64)
    assert loss.value == pytest.approx(float(np.log(np.exp(z).sum()) - z[0]), abs=1e-5)


def test_gradient_hooks(clf):
    target = bertscope.Target.class_logit(0)
    plain = clf.gradient(TEXT, target, wrt=["head_mask", "layer.1.out"])
    seen = []
    observed = clf.gradient(TEXT, target, hooks={"layer.0.attn.probs": bertscope.observe(lambda v, p: seen.append(p.name))})
    assert seen == ["layer.0.attn.probs"]
    np.testing.assert_allclose(observed.head_mask, plain.head_mask, atol=1e-6)
    with pytest.raises(bertscope.Error):  # a forward hook that may replace values (not at attn.probs)
        clf.gradient(TEXT, target, hooks={"layer.0.out": lambda v, p: None})
    # A backward hook that stops the gradient at the last layer's output.
    stopped = clf.gradient(TEXT, target, wrt=["head_mask", "layer.1.out"], backward_hooks={"layer.1.out": lambda g, p: np.zeros_like(g)})
    np.testing.assert_array_equal(stopped.head_mask, np.zeros((2, 2)))
    np.testing.assert_allclose(stopped["layer.1.out"], plain["layer.1.out"], atol=1e-6)
    assert np.abs(plain.head_mask).sum() > 0


def test_a_hook_that_keeps_its_view_is_warned(mlm):
    kept = []
    with pytest.warns(RuntimeWarning, match="valid only during the call"):
        mlm.run(TEXT, hooks={"layer.0.out": bertscope.observe(lambda v, p: kept.append(v[0]))})
    kept.clear()


def test_gradient_errors(mlm, clf):
    with pytest.raises(bertscope.Error, match="no pooler"):
        mlm.gradient(TEXT, bertscope.Target.class_logit(0))
    with pytest.raises(bertscope.Error, match="outside"):
        mlm.gradient(TEXT, bertscope.Target.mlm_logit(99, 5))
    g = clf.gradient(TEXT, bertscope.Target.class_logit(0), wrt="head_mask")
    with pytest.raises(bertscope.Error, match="no gradient with respect to 'layer.0.out'"):
        g["layer.0.out"]
    with pytest.raises(TypeError):
        clf.gradient(TEXT, "class_logit")
