#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "api/hooks_impl.hpp"
#include "api/model_impl.hpp"
#include "io/error.hpp"
#include "model/autodiff.hpp"

namespace bertscope {

namespace api {

Array share(core::Tensor&& tensor) {
  if (tensor.data.empty() && tensor.shape.empty()) return {};
  auto holder = std::make_shared<core::Tensor>(std::move(tensor));
  const float* data = holder->ptr();
  return Array(holder->shape, std::shared_ptr<const float>(holder, data));
}

core::Tensor copy_tensor(const Array& array) {
  core::Tensor t = core::Tensor::uninitialized(array.shape());
  if (t.size() > 0) std::copy(array.data(), array.data() + t.size(), t.ptr());
  return t;
}

Output output_of(model::ForwardResult&& result, std::int64_t layers) {
  Output out;
  // A stack and its sites share one buffer: each site is a view at its place in the stack.
  for (auto& stack : result.trace.take_stacks()) {
    if (!stack.values) continue;
    Array whole = share(std::move(*stack.values));
    std::vector<std::int64_t> site_shape(whole.shape().begin() + 1, whole.shape().end());
    const std::int64_t step = whole.size() / whole.dim(0);
    for (std::size_t k = 0; k < stack.sites.size(); ++k) {
      const auto& [site, layer] = stack.sites[k];
      out.sites.emplace(model::site_name(site, layer),
                        Array(site_shape, std::shared_ptr<const float>(whole.owner(), whole.data() + static_cast<std::int64_t>(k) * step)));
    }
    out.stacks.emplace(stack.name, std::move(whole));
  }
  for (const auto& info : model::site_table()) {
    const std::int64_t count = info.per_layer ? layers : 1;
    for (std::int64_t l = 0; l < count; ++l)
      if (auto* t = result.trace.find(info.site, l)) out.sites.emplace(model::site_name(info.site, l), share(std::move(*t)));
  }
  out.last_hidden = share(std::move(result.last_hidden));
  out.mlm_logits = share(std::move(result.mlm_logits));
  out.classifier_logits = share(std::move(result.classifier_logits));
  out.pooled = share(std::move(result.pooled));
  return out;
}

}  // namespace api

namespace {

model::RunOptions engine_options(const model::Model& m, const RunOptions& o) {
  model::RunOptions r;
  if (!o.record.empty()) r.record = model::SiteSet::parse(o.record, m.layers());
  r.stack = true;  // Output::stacks
  r.mlm_logits = o.mlm_logits;
  r.classifier_logits = o.classifier_logits;
  r.pooled = o.pooled;
  if (!o.head_mask.empty()) {
    if (o.head_mask.shape() != std::vector<std::int64_t>{m.layers(), m.heads()})
      fail(ErrorKind::input, "head mask {} for a model of {} layers and {} heads: expected [{}, {}]", o.head_mask.shape_string(),
           m.layers(), m.heads(), m.layers(), m.heads());
    r.head_mask = api::copy_tensor(o.head_mask);
  }
  for (const auto& h : o.uniform_heads) {
    if (h.layer < 0 || h.layer >= m.layers() || h.head < 0 || h.head >= m.heads())
      fail(ErrorKind::input, "uniform head (layer {}, head {}) outside a model of {} layers and {} heads", h.layer, h.head,
           m.layers(), m.heads());
    r.uniform_heads.insert({h.layer, h.head});
  }
  for (auto l : o.skip_layers) {
    if (l < 0 || l >= m.layers()) fail(ErrorKind::input, "skipped layer {} outside a model of {} layers", l, m.layers());
    r.skip_layers.insert(l);
  }
  return r;
}

model::ModelInput engine_input(const Input& in) {
  model::ModelInput mi;
  mi.ids = in.encoding.ids;
  mi.type_ids = in.encoding.type_ids;
  for (const auto& r : in.replaced_attention) mi.attention_overrides.push_back({r.layer, r.head, api::copy_tensor(r.probs)});
  return mi;
}

Encoding public_encoding(const model::Encoding& e) {
  Encoding out;
  out.ids = e.ids;
  out.type_ids = e.type_ids;
  out.tokens = e.tokens;
  for (auto r : e.roles) out.roles.emplace_back(tokenizer::role_name(r));
  out.word_ids = e.word_ids;
  out.sequence_ids = e.sequence_ids;
  out.offsets = e.char_offsets;
  return out;
}

}  // namespace

const Array& Output::site(const std::string& name) const {
  const auto it = sites.find(name);
  if (it != sites.end()) return it->second;
  std::vector<std::string> names;
  for (const auto& [n, a] : sites) names.push_back(n);
  fail(ErrorKind::input, "site '{}' was not recorded (recorded: {})", name, names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")));
}

Target Target::class_logit(std::int64_t label) {
  Target t;
  t.kind = Kind::class_logit;
  t.label = label;
  return t;
}
Target Target::mlm_logit(std::int64_t position, std::int32_t token) {
  Target t;
  t.kind = Kind::mlm_logit;
  t.position = position;
  t.token = token;
  return t;
}
Target Target::class_loss(std::int64_t label) {
  Target t;
  t.kind = Kind::class_loss;
  t.label = label;
  return t;
}
Target Target::mlm_loss(std::vector<std::int32_t> labels) {
  Target t;
  t.kind = Kind::mlm_loss;
  t.labels = std::move(labels);
  return t;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

Model Model::load(const std::string& folder) {
  return Model(std::make_unique<Impl>(Impl{model::Model::load(folder), folder}));
}

ModelInfo Model::info() const {
  const auto& m = impl_->model;
  const auto& c = m.config();
  ModelInfo i;
  i.folder = impl_->folder;
  i.family = c.model_type;
  i.layers = c.num_hidden_layers;
  i.heads = c.num_attention_heads;
  i.hidden = c.hidden_size;
  i.intermediate = c.intermediate_size;
  i.head_dim = c.head_dim();
  i.vocab = c.vocab_size;
  i.max_tokens = static_cast<std::int64_t>(m.max_length());
  i.has_tokenizer = m.has_tokenizer();
  i.has_mlm_head = m.params().has_mlm_head();
  i.has_pooler = m.params().has_pooler();
  i.has_classifier = m.params().has_classifier();
  i.labels = i.has_classifier ? c.num_labels : 0;
  return i;
}

Encoding Model::encode(const std::string& text, const std::optional<std::string>& pair, bool truncate) const {
  std::optional<std::string_view> p;
  if (pair) p = *pair;
  return public_encoding(impl_->model.encode(text, p, truncate));
}

std::vector<Output> Model::run(const std::vector<Input>& inputs, const RunOptions& options) const {
  const auto& m = impl_->model;
  auto run = engine_options(m, options);
  const api::HookAdapters hooks(options.hooks, m.config().head_dim());
  run.hooks = hooks.hooks();
  const std::size_t batch = std::max<std::size_t>(1, options.batch_size);
  std::vector<Output> out;
  out.reserve(inputs.size());
  for (std::size_t start = 0; start < inputs.size(); start += batch) {
    std::vector<model::ModelInput> chunk;
    for (std::size_t i = start; i < std::min(inputs.size(), start + batch); ++i) chunk.push_back(engine_input(inputs[i]));
    for (auto& r : m.forward(chunk, run)) out.push_back(api::output_of(std::move(r), m.layers()));
  }
  return out;
}

Output Model::run(const Encoding& encoding, const RunOptions& options) const {
  auto out = run(std::vector<Input>{Input{encoding, {}}}, options);
  return std::move(out.front());
}

Gradients Model::gradient(const Input& input, const Target& target, const GradientRequest& request,
                          const RunOptions& options) const {
  const auto& m = impl_->model;
  const bool mlm = target.kind == Target::Kind::mlm_logit || target.kind == Target::Kind::mlm_loss;
  model::TapeOptions tape_options;
  tape_options.mlm_logits = mlm;
  tape_options.classifier_logits = !mlm;
  auto run = engine_options(m, options);
  run.mlm_logits = run.classifier_logits = false;  // the tape's options decide the heads
  // Differentiable hooks of the forward pass run again in the backward pass: kept until then.
  const api::HookAdapters forward_hooks(options.hooks, m.config().head_dim());
  const api::HookAdapters backward_hooks(request.hooks, m.config().head_dim());
  run.hooks = forward_hooks.hooks();
  const std::vector<model::ModelInput> inputs{engine_input(input)};
  model::ForwardTape tape;
  auto results = model::forward_with_tape(m, inputs, run, tape_options, tape);
  auto& r = results.front();

  Gradients g;
  model::OutputGrad seed;
  switch (target.kind) {
    case Target::Kind::class_logit:
    case Target::Kind::class_loss: {
      const auto& logits = r.classifier_logits;
      if (logits.shape.size() != 1)
        fail(ErrorKind::input, "class target on {}: its classifier gives logits {} per input, not one vector of labels",
             impl_->folder, core::shape_string(logits.shape));
      if (target.label < 0 || target.label >= logits.dim(0))
        fail(ErrorKind::input, "class {} outside the {} labels of {}", target.label, logits.dim(0), impl_->folder);
      if (target.kind == Target::Kind::class_logit) {
        g.value = logits.data[static_cast<std::size_t>(target.label)];
        seed.classifier_logits = core::Tensor(logits.shape);
        seed.classifier_logits.data[static_cast<std::size_t>(target.label)] = 1.0f;
      } else {
        auto loss = model::class_cross_entropy(logits, static_cast<std::int32_t>(target.label));
        g.value = loss.loss;
        seed.classifier_logits = std::move(loss.grad);
      }
      break;
    }
    case Target::Kind::mlm_logit: {
      const auto& logits = r.mlm_logits;  // [tok, vocab]
      if (target.position < 0 || target.position >= logits.dim(0))
        fail(ErrorKind::input, "MLM position {} outside an input of {} tokens", target.position, logits.dim(0));
      if (target.token < 0 || target.token >= logits.dim(1))
        fail(ErrorKind::input, "MLM token id {} outside the vocabulary of {} ({})", target.token, logits.dim(1), impl_->folder);
      const auto at = static_cast<std::size_t>(target.position * logits.dim(1) + target.token);
      g.value = logits.data[at];
      seed.mlm_logits = core::Tensor(logits.shape);
      seed.mlm_logits.data[at] = 1.0f;
      break;
    }
    case Target::Kind::mlm_loss: {
      const auto& logits = r.mlm_logits;
      if (static_cast<std::int64_t>(target.labels.size()) != logits.dim(0))
        fail(ErrorKind::input, "MLM loss with {} labels for an input of {} tokens", target.labels.size(), logits.dim(0));
      auto loss = model::mlm_cross_entropy(logits, target.labels);
      g.value = loss.loss;
      seed.mlm_logits = std::move(loss.grad);
      break;
    }
  }
  model::GradRequest req;
  req.head_mask = request.head_mask;
  req.hooks = backward_hooks.hooks();
  if (!request.sites.empty()) req.sites = model::SiteSet::parse(request.sites, m.layers());
  auto b = model::backward(m, tape, std::span<const model::OutputGrad>(&seed, 1), req);
  if (request.head_mask) g.head_mask = api::share(std::move(b.head_mask_grad));
  if (!request.sites.empty()) {
    model::ForwardResult holder;
    holder.trace = std::move(b.site_grads.front());
    g.sites = api::output_of(std::move(holder), m.layers()).sites;
  }
  g.output = api::output_of(std::move(r), m.layers());
  return g;
}

}  // namespace bertscope
