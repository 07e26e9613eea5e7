// bertscope._core: the Python bindings, over the public API (include/bertscope) only.
//
// Arrays the engine produced come back as read-only NumPy arrays over the engine's own memory:
// the array's base is a Buffer holding the bertscope::Array's owner(), so the memory lives as
// long as any view of it (no copy). Hooks call Python callables on the pass's own buffers
// (writable NumPy views valid during the call). The GIL is released while the engine computes
// and taken again inside hooks and progress callbacks; runs go batch by batch and check for
// signals between batches, so Ctrl-C raises KeyboardInterrupt after the current batch.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <bertscope/bertscope.hpp>

namespace py = pybind11;

namespace {

// Keeps an engine buffer alive as a NumPy array's base.
struct Buffer {
  std::shared_ptr<const float> owner;
  std::vector<std::int64_t> shape;
  std::uintptr_t address() const { return reinterpret_cast<std::uintptr_t>(owner.get()); }
};

void clear_writeable(py::array& a) {
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
}

// The Array as a read-only NumPy view (None when empty).
py::object to_numpy(const bertscope::Array& a) {
  if (a.empty()) return py::none();
  py::object base = py::cast(Buffer{a.owner(), a.shape()});
  std::vector<py::ssize_t> shape(a.shape().begin(), a.shape().end());
  py::array arr(py::dtype::of<float>(), shape, {}, a.data(), base);
  clear_writeable(arr);
  return arr;
}

py::dict sites_to_dict(const std::map<std::string, bertscope::Array>& sites) {
  py::dict d;
  for (const auto& [name, a] : sites) d[py::str(name)] = to_numpy(a);
  return d;
}

// Any array-like (NumPy, anything with __array__, anything with __dlpack__ such as a torch or
// JAX tensor on the CPU) as a new bertscope::Array (an input: copied once, into the engine).
bertscope::Array from_numpy(const py::handle& obj) {
  py::object source = py::reinterpret_borrow<py::object>(obj);
  if (!py::isinstance<py::array>(obj) && py::hasattr(obj, "__dlpack__")) {
    // NumPy reads the producer's memory in place (no copy of its own); a tensor that does
    // not live on the CPU raises, and falls back to __array__ below.
    try {
      source = py::module_::import("numpy").attr("from_dlpack")(obj);
    } catch (const py::error_already_set&) {
    }
  }
  auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(source);
  if (!arr) {
    // Objects with __array__ that NumPy's converter did not take directly.
    py::module_ np = py::module_::import("numpy");
    arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(np.attr("asarray")(obj, "float32"));
    if (!arr) throw py::type_error("expected an array (NumPy or anything with __array__)");
  }
  std::vector<std::int64_t> shape(arr.shape(), arr.shape() + arr.ndim());
  std::vector<float> values(arr.data(), arr.data() + arr.size());
  return bertscope::Array::from_values(std::move(shape), values);
}

// Raised inside the engine (from a hook or progress callback) to unwind after a Python error or
// a signal; translated back to the Python exception that is pending.
struct PythonAbort {
  py::error_already_set error;
};

// One Python callable at a site: called per input with a NumPy view of that input's values in
// the recorded layout ([head, tok, head_dim] for attn.query/key/value/context, a strided view
// over the pass's [tok, head, head_dim] memory) and a HookPoint describing where it is.
struct PyHook final : bertscope::Hook {
  std::string site;      // "attn.context"
  std::int64_t layer;    // -1: every layer
  bertscope::Pass pass;
  py::object fn;
  bool writable;
  std::int64_t input_offset = 0;  // index of the chunk's first input in the whole run
  py::object hook_point_class;

  bool wants(std::string_view s, std::int64_t l, bertscope::Pass p) const override {
    return p == pass && s == site && (layer < 0 || l == layer);
  }
  bool replaces() const override { return writable && pass == bertscope::Pass::forward; }

  void at(const bertscope::SiteView& v) override {
    py::gil_scoped_acquire gil;
    try {
      const bool per_head = site == "attn.query" || site == "attn.key" || site == "attn.value" || site == "attn.context";
      const std::string layer_name = (site == "embed.out" || site == "pooler.out") ? site : "layer." + std::to_string(v.layer()) + "." + site;
      for (std::int64_t b = 0; b < v.inputs(); ++b) {
        const auto shape = v.shape(b);
        std::vector<py::ssize_t> dims, strides;
        const py::ssize_t f = sizeof(float);
        if (per_head && shape.size() == 3) {  // memory [tok, head, hd] shown as [head, tok, hd]
          dims = {shape[1], shape[0], shape[2]};
          strides = {shape[2] * f, shape[1] * shape[2] * f, f};
        } else {
          dims.assign(shape.begin(), shape.end());
          py::ssize_t s = f;
          strides.resize(dims.size());
          for (std::size_t i = dims.size(); i-- > 0;) {
            strides[i] = s;
            s *= dims[i];
          }
        }
        // A view over the pass's memory, valid only during the call (a base that owns nothing:
        // without a base pybind11 would copy).
        py::array view(py::dtype::of<float>(), dims, strides, v.data(b), py::capsule(v.data(b), [](void*) {}));
        if (!writable) clear_writeable(view);
        py::object point = hook_point_class(layer_name, v.layer(), input_offset + b,
                                             v.pass() == bertscope::Pass::forward ? "forward" : "backward", v.tokens(b));
        py::object result = fn(view, point);
        if (!result.is_none()) {
          if (!writable)
            throw py::value_error("hook at " + layer_name + " observes only (bertscope.observe): it returned a value");
          py::module_::import("numpy").attr("copyto")(view, result, "same_kind");
        }
        result = py::object();
        point = py::object();
        // The pass reuses this memory: a view (or a view of it) kept past the call would read
        // other values later, or freed memory.
        if (view.ref_count() > 1 &&
            PyErr_WarnEx(PyExc_RuntimeWarning,
                         ("a hook at " + layer_name + " kept its view of the pass's values, which is valid only during the call: "
                          "keep values.copy()").c_str(), 1) != 0)
          throw py::error_already_set();
      }
    } catch (py::error_already_set& e) {
      throw PythonAbort{std::move(e)};
    }
  }
};

struct HookSpec {
  std::string site;
  std::int64_t layer;
  py::object fn;
  bool writable;
};

std::vector<std::unique_ptr<PyHook>> make_hooks(const std::vector<HookSpec>& specs, bertscope::Pass pass,
                                                const py::object& hook_point_class) {
  std::vector<std::unique_ptr<PyHook>> hooks;
  for (const auto& s : specs) {
    auto h = std::make_unique<PyHook>();
    h->site = s.site;
    h->layer = s.layer;
    h->pass = pass;
    h->fn = s.fn;
    h->writable = s.writable;
    h->hook_point_class = hook_point_class;
    hooks.push_back(std::move(h));
  }
  return hooks;
}

std::vector<bertscope::Hook*> pointers(const std::vector<std::unique_ptr<PyHook>>& hooks, std::int64_t offset) {
  std::vector<bertscope::Hook*> out;
  for (const auto& h : hooks) {
    h->input_offset = offset;
    out.push_back(h.get());
  }
  return out;
}

// Python objects held by C++ objects must be released with the GIL held.
void release_hooks(std::vector<std::unique_ptr<PyHook>>& hooks) { hooks.clear(); }

// Runs `f` with the GIL released; a PythonAbort from a hook becomes the Python error again.
template <class F>
auto without_gil(F&& f) {
  std::optional<PythonAbort> abort;
  try {
    py::gil_scoped_release release;
    return f();
  } catch (PythonAbort& a) {
    abort.emplace(std::move(a));
  }
  throw std::move(abort->error);
}

void check_signals() {
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

struct RunArgs {
  std::string record;
  bool mlm_logits = false, classifier_logits = false, pooled = false;
  py::object head_mask = py::none();
  std::vector<std::pair<std::int64_t, std::int64_t>> uniform_heads;
  std::vector<std::int64_t> skip_layers;
  std::size_t batch_size = 16;
};

bertscope::RunOptions run_options(const RunArgs& a) {
  bertscope::RunOptions o;
  o.record = a.record;
  o.mlm_logits = a.mlm_logits;
  o.classifier_logits = a.classifier_logits;
  o.pooled = a.pooled;
  if (!a.head_mask.is_none()) o.head_mask = from_numpy(a.head_mask);
  for (const auto& [l, h] : a.uniform_heads) o.uniform_heads.push_back({l, h});
  o.skip_layers = a.skip_layers;
  o.batch_size = a.batch_size == 0 ? 1 : a.batch_size;
  return o;
}

// Per input, heads whose attention is replaced: (layer, head, [T, T] array).
using Replaced = std::vector<std::vector<std::tuple<std::int64_t, std::int64_t, py::object>>>;

std::vector<bertscope::Output> run(const bertscope::Model& m, const std::vector<bertscope::Encoding>& encodings,
                                   const RunArgs& args, const std::vector<HookSpec>& hook_specs,
                                   const py::object& hook_point_class, const Replaced& replaced,
                                   const py::object& progress) {
  if (!replaced.empty() && replaced.size() != encodings.size())
    throw py::value_error("replace_attention: " + std::to_string(replaced.size()) + " entries for " +
                          std::to_string(encodings.size()) + " inputs");
  auto options = run_options(args);
  auto hooks = make_hooks(hook_specs, bertscope::Pass::forward, hook_point_class);
  std::vector<bertscope::Output> out;
  out.reserve(encodings.size());
  try {
    for (std::size_t start = 0; start < encodings.size(); start += options.batch_size) {
      check_signals();
      std::vector<bertscope::Input> chunk;
      for (std::size_t i = start; i < std::min(encodings.size(), start + options.batch_size); ++i) {
        chunk.push_back(bertscope::Input{encodings[i], {}});
        if (!replaced.empty())
          for (const auto& [l, h, a] : replaced[i]) chunk.back().replaced_attention.push_back({l, h, from_numpy(a)});
      }
      options.hooks = pointers(hooks, static_cast<std::int64_t>(start));
      auto outputs = without_gil([&] { return m.run(chunk, options); });
      for (auto& o : outputs) out.push_back(std::move(o));
      if (!progress.is_none()) progress(out.size(), encodings.size());
    }
    check_signals();
  } catch (...) {
    release_hooks(hooks);
    throw;
  }
  release_hooks(hooks);
  return out;
}

bertscope::Gradients gradient(const bertscope::Model& m, const bertscope::Encoding& encoding, const bertscope::Target& target,
                              bool head_mask, const std::string& sites, const RunArgs& args,
                              const std::vector<HookSpec>& forward_specs, const std::vector<HookSpec>& backward_specs,
                              const py::object& hook_point_class) {
  auto options = run_options(args);
  auto forward = make_hooks(forward_specs, bertscope::Pass::forward, hook_point_class);
  auto backward = make_hooks(backward_specs, bertscope::Pass::backward, hook_point_class);
  options.hooks = pointers(forward, 0);
  bertscope::GradientRequest request{.head_mask = head_mask, .sites = sites, .hooks = pointers(backward, 0)};
  try {
    check_signals();
    auto g = without_gil([&] { return m.gradient(bertscope::Input{encoding, {}}, target, request, options); });
    release_hooks(forward);
    release_hooks(backward);
    return g;
  } catch (...) {
    release_hooks(forward);
    release_hooks(backward);
    throw;
  }
}

bertscope::Options to_options(const py::dict& d) {
  bertscope::Options o;
  for (const auto& [k, v] : d) {
    const auto key = py::cast<std::string>(k);
    if (py::isinstance<py::bool_>(v)) o[key] = py::cast<bool>(v);
    else if (py::isinstance<py::int_>(v)) o[key] = py::cast<std::int64_t>(v);
    else if (py::isinstance<py::float_>(v)) o[key] = py::cast<double>(v);
    else if (py::isinstance<py::str>(v)) o[key] = py::cast<std::string>(v);
    else if (py::hasattr(v, "__fspath__")) o[key] = py::cast<std::string>(py::module_::import("os").attr("fspath")(v));
    else
      throw py::type_error("option '" + key + "': expected bool, int, float or str, got " +
                           py::cast<std::string>(py::str(py::type::of(v).attr("__name__"))));
  }
  return o;
}

// Progress: the user's callable (if any) with the GIL held, and a check for signals, so a long
// analysis stops at its next progress report after Ctrl-C.
bertscope::ProgressCallback progress_of(const py::object& fn) {
  return [fn](std::size_t done, std::size_t total) {
    py::gil_scoped_acquire gil;
    try {
      if (!fn.is_none()) fn(done, total);
      check_signals();
    } catch (py::error_already_set& e) {
      throw PythonAbort{std::move(e)};
    }
  };
}

template <class F>
bertscope::Document document_of(const py::object& progress, F&& f) {
  // The callback holds a Python object: created and destroyed with the GIL held.
  auto callback = std::make_unique<bertscope::ProgressCallback>(progress_of(progress));
  try {
    check_signals();
    return without_gil([&] { return f(*callback); });
  } catch (...) {
    callback.reset();
    throw;
  }
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "bertscope's C++ core (use the bertscope package)";
  bertscope::init();

  // Never destroyed: a Python object must not outlive the interpreter's finalization.
  static auto& error = *new py::exception<bertscope::Error>(m, "Error", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const bertscope::Error& e) {
      static const char* kinds[] = {"io", "format", "model", "input", "internal"};
      py::object exc = py::reinterpret_borrow<py::object>(error.ptr())(e.what());
      exc.attr("kind") = kinds[static_cast<int>(e.kind())];
      PyErr_SetObject(error.ptr(), exc.ptr());
    } catch (PythonAbort& a) {
      a.error.restore();
    }
  });

  py::class_<Buffer>(m, "Buffer", "Keeps an engine buffer alive while NumPy arrays view it")
      .def_property_readonly("address", &Buffer::address)
      .def_property_readonly("shape", [](const Buffer& b) { return b.shape; })
      .def("__repr__", [](const Buffer& b) { return "<bertscope engine buffer at 0x" + [](std::uintptr_t a) {
                                                      char s[32];
                                                      std::snprintf(s, sizeof s, "%lx", static_cast<unsigned long>(a));
                                                      return std::string(s);
                                                    }(b.address()) + ">"; });

  py::class_<bertscope::ModelInfo>(m, "ModelInfo")
      .def_readonly("folder", &bertscope::ModelInfo::folder)
      .def_readonly("family", &bertscope::ModelInfo::family)
      .def_readonly("layers", &bertscope::ModelInfo::layers)
      .def_readonly("heads", &bertscope::ModelInfo::heads)
      .def_readonly("hidden", &bertscope::ModelInfo::hidden)
      .def_readonly("intermediate", &bertscope::ModelInfo::intermediate)
      .def_readonly("head_dim", &bertscope::ModelInfo::head_dim)
      .def_readonly("vocab", &bertscope::ModelInfo::vocab)
      .def_readonly("max_tokens", &bertscope::ModelInfo::max_tokens)
      .def_readonly("labels", &bertscope::ModelInfo::labels)
      .def_readonly("has_tokenizer", &bertscope::ModelInfo::has_tokenizer)
      .def_readonly("has_mlm_head", &bertscope::ModelInfo::has_mlm_head)
      .def_readonly("has_pooler", &bertscope::ModelInfo::has_pooler)
      .def_readonly("has_classifier", &bertscope::ModelInfo::has_classifier)
      .def("__repr__", [](const bertscope::ModelInfo& i) {
        return "<bertscope.ModelInfo " + i.family + ": " + std::to_string(i.layers) + " layers x " + std::to_string(i.heads) +
               " heads, hidden " + std::to_string(i.hidden) + ", vocab " + std::to_string(i.vocab) +
               (i.has_mlm_head ? ", MLM head" : "") + (i.has_classifier ? ", classifier of " + std::to_string(i.labels) + " labels" : "") +
               ">";
      });

  py::class_<bertscope::Encoding>(m, "Encoding", "One tokenized input")
      .def(py::init<>())
      .def_readwrite("ids", &bertscope::Encoding::ids)
      .def_readwrite("type_ids", &bertscope::Encoding::type_ids)
      .def_readwrite("tokens", &bertscope::Encoding::tokens)
      .def_readwrite("roles", &bertscope::Encoding::roles)
      .def_readwrite("word_ids", &bertscope::Encoding::word_ids)
      .def_readwrite("sequence_ids", &bertscope::Encoding::sequence_ids)
      .def_readwrite("offsets", &bertscope::Encoding::offsets)
      .def("__len__", &bertscope::Encoding::size)
      .def("__repr__", [](const bertscope::Encoding& e) {
        std::string s = "<bertscope.Encoding of " + std::to_string(e.size()) + " tokens";
        for (std::size_t i = 0; i < e.tokens.size() && i < 12; ++i) s += (i ? " " : ": ") + e.tokens[i];
        return s + (e.tokens.size() > 12 ? " ...>" : ">");
      });

  py::class_<bertscope::Output>(m, "Output")
      .def("sites", [](const bertscope::Output& o) { return sites_to_dict(o.sites); })
      .def("stacks", [](const bertscope::Output& o) { return sites_to_dict(o.stacks); })
      .def("site", [](const bertscope::Output& o, const std::string& name) { return to_numpy(o.site(name)); })
      .def("last_hidden", [](const bertscope::Output& o) { return to_numpy(o.last_hidden); })
      .def("mlm_logits", [](const bertscope::Output& o) { return to_numpy(o.mlm_logits); })
      .def("classifier_logits", [](const bertscope::Output& o) { return to_numpy(o.classifier_logits); })
      .def("pooled", [](const bertscope::Output& o) { return to_numpy(o.pooled); });

  py::class_<bertscope::Target>(m, "Target", "The scalar whose gradient is taken")
      .def_static("class_logit", &bertscope::Target::class_logit, py::arg("label"))
      .def_static("mlm_logit", &bertscope::Target::mlm_logit, py::arg("position"), py::arg("token"))
      .def_static("class_loss", &bertscope::Target::class_loss, py::arg("label"))
      .def_static("mlm_loss", &bertscope::Target::mlm_loss, py::arg("labels"))
      .def_property_readonly("kind", [](const bertscope::Target& t) {
        switch (t.kind) {
          case bertscope::Target::Kind::class_logit: return "class_logit";
          case bertscope::Target::Kind::mlm_logit: return "mlm_logit";
          case bertscope::Target::Kind::class_loss: return "class_loss";
          case bertscope::Target::Kind::mlm_loss: return "mlm_loss";
        }
        return "";
      })
      .def_readonly("label", &bertscope::Target::label)
      .def_readonly("position", &bertscope::Target::position)
      .def_readonly("token", &bertscope::Target::token)
      .def_readonly("labels", &bertscope::Target::labels);

  py::class_<bertscope::Gradients>(m, "Gradients")
      .def_readonly("value", &bertscope::Gradients::value)
      .def("head_mask", [](const bertscope::Gradients& g) { return to_numpy(g.head_mask); })
      .def("sites", [](const bertscope::Gradients& g) { return sites_to_dict(g.sites); })
      .def_readonly("output", &bertscope::Gradients::output);

  py::class_<RunArgs>(m, "RunArgs")
      .def(py::init<>())
      .def_readwrite("record", &RunArgs::record)
      .def_readwrite("mlm_logits", &RunArgs::mlm_logits)
      .def_readwrite("classifier_logits", &RunArgs::classifier_logits)
      .def_readwrite("pooled", &RunArgs::pooled)
      .def_readwrite("head_mask", &RunArgs::head_mask)
      .def_readwrite("uniform_heads", &RunArgs::uniform_heads)
      .def_readwrite("skip_layers", &RunArgs::skip_layers)
      .def_readwrite("batch_size", &RunArgs::batch_size);

  py::class_<HookSpec>(m, "HookSpec")
      .def(py::init([](std::string site, std::int64_t layer, py::object fn, bool writable) {
             return HookSpec{std::move(site), layer, std::move(fn), writable};
           }),
           py::arg("site"), py::arg("layer"), py::arg("fn"), py::arg("writable"));

  py::class_<bertscope::Model>(m, "Model")
      .def_static("load", [](const std::string& folder) { return without_gil([&] { return bertscope::Model::load(folder); }); })
      .def_property_readonly("info", &bertscope::Model::info)
      .def("encode", &bertscope::Model::encode, py::arg("text"), py::arg("pair") = py::none(), py::arg("truncate") = false)
      .def("run", &run, py::arg("encodings"), py::arg("args"), py::arg("hooks"), py::arg("hook_point"),
           py::arg("replaced"), py::arg("progress") = py::none())
      .def("gradient", &gradient, py::arg("encoding"), py::arg("target"), py::arg("head_mask"), py::arg("sites"),
           py::arg("args"), py::arg("hooks"), py::arg("backward_hooks"), py::arg("hook_point"));

  py::class_<bertscope::Document>(m, "Document")
      .def_property_readonly("method", &bertscope::Document::method)
      .def("json", &bertscope::Document::json, py::arg("indent") = -1)
      .def_property_readonly("table", &bertscope::Document::table)
      .def("save", &bertscope::Document::save, py::arg("path"), py::call_guard<py::gil_scoped_release>());

  m.def("analysis_methods", &bertscope::analysis_methods);
  m.def(
      "analyze",
      [](const bertscope::Model& model, const std::string& method, const std::vector<std::string>& data, const py::dict& options,
         const py::object& progress) {
        const auto o = to_options(options);
        return document_of(progress, [&](const bertscope::ProgressCallback& cb) { return bertscope::analyze(model, method, data, o, cb); });
      },
      py::arg("model"), py::arg("method"), py::arg("data"), py::arg("options"), py::arg("progress") = py::none());
  m.def(
      "analyze_traces",
      [](const std::string& folder, const std::string& method, const std::vector<std::string>& data, const py::dict& options,
         const py::object& progress) {
        const auto o = to_options(options);
        return document_of(progress,
                           [&](const bertscope::ProgressCallback& cb) { return bertscope::analyze_traces(folder, method, data, o, cb); });
      },
      py::arg("folder"), py::arg("method"), py::arg("data"), py::arg("options"), py::arg("progress") = py::none());
  m.def(
      "compare",
      [](const bertscope::Model& a, const bertscope::Model& b, const std::string& data, const py::dict& options,
         const py::object& progress) {
        const auto o = to_options(options);
        return document_of(progress, [&](const bertscope::ProgressCallback& cb) { return bertscope::compare(a, b, data, o, cb); });
      },
      py::arg("a"), py::arg("b"), py::arg("data"), py::arg("options"), py::arg("progress") = py::none());
  m.def("set_threads", &bertscope::set_threads, py::arg("threads"));

  m.def(
      "attention_document",
      [](const bertscope::Encoding& encoding, const py::list& maps, const std::string& text,
         const std::optional<std::string>& pair, const std::string& model_name, bool float32) {
        bertscope::AttentionView v{.encoding = encoding, .text = text, .pair = pair, .model_name = model_name, .float32 = float32};
        for (const auto& a : maps) v.attention.push_back(from_numpy(a));
        return without_gil([&] { return bertscope::attention_document(v); });
      },
      py::arg("encoding"), py::arg("maps"), py::arg("text") = "", py::arg("pair") = py::none(), py::arg("model_name") = "",
      py::arg("float32") = false);
  m.def(
      "analyze_attention",
      [](const py::list& inputs, const std::string& method, const std::vector<std::string>& data, const py::dict& options,
         const py::object& progress) {
        // Each input: (encoding, [arrays], text, pair).
        std::vector<bertscope::AttentionView> views;
        for (const auto& item : inputs) {
          const auto t = item.cast<py::tuple>();
          bertscope::AttentionView v{.encoding = t[0].cast<bertscope::Encoding>(), .text = t[2].cast<std::string>(),
                                     .pair = t[3].cast<std::optional<std::string>>()};
          for (const auto& a : t[1].cast<py::list>()) v.attention.push_back(from_numpy(a));
          views.push_back(std::move(v));
        }
        const auto o = to_options(options);
        return document_of(progress, [&](const bertscope::ProgressCallback& cb) {
          return bertscope::analyze_attention(views, method, data, o, cb);
        });
      },
      py::arg("inputs"), py::arg("method"), py::arg("data"), py::arg("options"), py::arg("progress") = py::none());
  m.def(
      "viewer_html",
      [](const std::vector<std::pair<std::string, std::string>>& documents, const std::string& title) {
        return without_gil([&] { return bertscope::viewer_html(documents, title); });
      },
      py::arg("documents"), py::arg("title"));
  m.def(
      "render_figure",
      [](const std::string& document, const std::string& view, const std::map<std::string, std::string>& settings,
         const std::string& format, double scale, const std::string& name) {
        bertscope::FigureOptions o{.view = view, .settings = settings, .format = format, .scale = scale};
        return py::bytes(without_gil([&] { return bertscope::render_figure(document, o, name); }));
      },
      py::arg("document"), py::arg("view"), py::arg("settings"), py::arg("format"), py::arg("scale"), py::arg("name"));
}
