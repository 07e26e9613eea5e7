"""bertscope: run BERT-family encoders, record and intervene on every internal, take gradients,
and run the analyses of the bertscope command, from Python.

    import bertscope
    m = bertscope.load("models/bertscope-mini")
    t = m.run("The keys to the cabinet are on the table.", record="attn.probs")
    t.attention(3)                      # [heads, T, T], a view of the engine's memory
    r = bertscope.analyze.surface(m, "data.txt", broad_entropy=3.5)
    r.document["results"]; r.save("surface.json")
    t                                   # in Jupyter: the viewer, inline; t.show(), t.save_html(p)
    r.figure("heatmap", "surface.png")  # one view, drawn by the viewer (needs chromium)
"""

import os

# libgomp reads its wait policy once, when it loads (with _core below): idle OpenMP threads
# that spin would slow every pass 2-7x on a busy machine. bertscope::init() cannot re-start a
# Python process, so the package sets the policy here unless the user chose one.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import _core  # noqa: E402
from ._core import Buffer, Encoding, Error, ModelInfo, Target, analysis_methods, set_threads  # noqa: E402
from ._display import AttentionMaps  # noqa: E402
from ._model import Gradients, HookPoint, Model, Trace, load, observe  # noqa: E402
Error.__module__ = "bertscope"  # shown as bertscope.Error in tracebacks
from . import analyze  # noqa: E402
from .analyze import Result, compare  # noqa: E402

__all__ = [
    "AttentionMaps", "Buffer", "Encoding", "Error", "Gradients", "HookPoint", "Model", "ModelInfo", "Result", "Target", "Trace",
    "analysis_methods", "analyze", "compare", "load", "observe", "set_threads",
]
