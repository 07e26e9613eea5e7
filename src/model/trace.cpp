#include "model/trace.hpp"

#include <charconv>

#include <fmt/format.h>

#include "io/error.hpp"

namespace bertscope::model {

const std::array<SiteInfo, kSiteCount>& site_table() {
  static const std::array<SiteInfo, kSiteCount> table{{
      {Site::embed_out, "embed.out", false, "[tok, hidden]"},
      {Site::attn_query, "attn.query", true, "[head, tok, head_dim]"},
      {Site::attn_key, "attn.key", true, "[head, tok, head_dim]"},
      {Site::attn_value, "attn.value", true, "[head, tok, head_dim]"},
      {Site::attn_scores, "attn.scores", true, "[head, q, k]"},
      {Site::attn_probs, "attn.probs", true, "[head, q, k]"},
      {Site::attn_context, "attn.context", true, "[head, q, head_dim]"},
      {Site::attn_out, "attn.out", true, "[tok, hidden]"},
      {Site::resid_mid, "resid_mid", true, "[tok, hidden]"},
      {Site::ffn_act, "ffn.act", true, "[tok, intermediate]"},
      {Site::ffn_out, "ffn.out", true, "[tok, hidden]"},
      {Site::layer_out, "out", true, "[tok, hidden]"},
      {Site::pooler_out, "pooler.out", false, "[hidden]"},
      {Site::attn_residual, "attn.residual", true, "[tok, hidden]"},
      {Site::attn_scores_c2c, "attn.scores.c2c", true, "[head, q, k]"},
      {Site::attn_scores_c2p, "attn.scores.c2p", true, "[head, q, k]"},
      {Site::attn_scores_p2c, "attn.scores.p2c", true, "[head, q, k]"},
      // The same values as embed.out where the embeddings are not mapped (all but ALBERT, ELECTRA with E != H).
      {Site::embed_norm, "embed.norm", false, "[tok, embedding]"},
      {Site::final_norm_in, "final_norm.in", false, "[tok, hidden]"},
  }};
  return table;
}

const SiteInfo& site_info(Site site) { return site_table()[static_cast<std::size_t>(site)]; }

std::string site_name(Site site, std::int64_t layer) {
  const auto& info = site_info(site);
  return info.per_layer ? fmt::format("layer.{}.{}", layer, info.suffix) : std::string(info.suffix);
}

namespace {

// Splits "layer.{l}.{suffix}" into its layer part ("3" or "*") and suffix.
bool split_layer_name(std::string_view name, std::string_view& layer, std::string_view& suffix) {
  if (!name.starts_with("layer.")) return false;
  auto rest = name.substr(6);
  auto dot = rest.find('.');
  if (dot == std::string_view::npos) return false;
  layer = rest.substr(0, dot);
  suffix = rest.substr(dot + 1);
  return true;
}

std::string known_names() {
  std::string s;
  for (const auto& info : site_table()) {
    if (!s.empty()) s += ", ";
    s += info.per_layer ? "layer.{l}." + std::string(info.suffix) : std::string(info.suffix);
  }
  return s + ", hidden, all";
}

}  // namespace

SiteSet SiteSet::parse(std::string_view patterns, std::int64_t layers) {
  SiteSet set(layers);
  std::size_t start = 0;
  while (start <= patterns.size()) {
    auto end = patterns.find(',', start);
    if (end == std::string_view::npos) end = patterns.size();
    auto item = patterns.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    start = end + 1;
    if (item.empty()) continue;
    if (item == "all") {
      for (const auto& info : site_table()) set.add(info.site);
      continue;
    }
    if (item == "hidden") {
      set.add(Site::embed_out);
      set.add(Site::layer_out);
      continue;
    }
    std::string_view layer_part, suffix = item;
    const bool has_layer = split_layer_name(item, layer_part, suffix);
    const SiteInfo* found = nullptr;
    for (const auto& info : site_table())
      if (info.suffix == suffix) found = &info;
    if (!found || (has_layer && !found->per_layer))
      fail(ErrorKind::input, "unknown trace site \"{}\" (known: {})", item, known_names());
    if (!has_layer || layer_part == "*") {
      set.add(found->site);
      continue;
    }
    std::int64_t layer = -1;
    auto [ptr, ec] = std::from_chars(layer_part.data(), layer_part.data() + layer_part.size(), layer);
    if (ec != std::errc() || ptr != layer_part.data() + layer_part.size() || layer < 0 || layer >= layers)
      fail(ErrorKind::input, "trace site \"{}\": layer must be 0..{} or *", item, layers - 1);
    set.add(found->site, layer);
  }
  return set;
}

void SiteSet::add(Site site, std::optional<std::int64_t> layer) {
  const auto stride = static_cast<std::size_t>(layers_ + 1);
  if (bits_.empty()) bits_.assign(kSiteCount * stride, false);
  const auto base = static_cast<std::size_t>(site) * stride;
  if (!site_info(site).per_layer) {
    bits_[base] = true;
  } else if (layer) {
    bits_[base + static_cast<std::size_t>(*layer)] = true;
  } else {
    for (std::int64_t l = 0; l < layers_; ++l) bits_[base + static_cast<std::size_t>(l)] = true;
  }
}

void SiteSet::add(const SiteSet& other) {
  if (other.bits_.empty()) return;
  if (bits_.empty()) {
    *this = other;
    return;
  }
  if (other.layers_ != layers_) fail(ErrorKind::internal, "SiteSet::add: layer counts differ");
  for (std::size_t i = 0; i < bits_.size(); ++i) bits_[i] = bits_[i] || other.bits_[i];
}

bool SiteSet::contains(Site site, std::int64_t layer) const {
  if (bits_.empty()) return false;
  const auto stride = static_cast<std::size_t>(layers_ + 1);
  const auto l = site_info(site).per_layer ? static_cast<std::size_t>(layer) : 0;
  return bits_[static_cast<std::size_t>(site) * stride + l];
}

bool SiteSet::any(Site site) const {
  if (bits_.empty()) return false;
  const auto stride = static_cast<std::size_t>(layers_ + 1);
  for (std::size_t l = 0; l < stride; ++l)
    if (bits_[static_cast<std::size_t>(site) * stride + l]) return true;
  return false;
}

std::size_t Trace::index(Site site, std::int64_t layer) const {
  const auto l = site_info(site).per_layer ? layer : 0;
  if (l < 0 || l >= layers_ + 1) fail(ErrorKind::internal, "trace layer {} out of range", layer);
  return static_cast<std::size_t>(site) * static_cast<std::size_t>(layers_ + 1) + static_cast<std::size_t>(l);
}

core::Tensor& Trace::emplace(Site site, std::int64_t layer, core::Shape shape, bool zero) {
  auto& slot = slots_.at(index(site, layer));
  if (!slot) slot.emplace(zero ? core::Tensor(std::move(shape)) : core::Tensor::uninitialized(std::move(shape)));
  return *slot;
}

float* Trace::write(Site site, std::int64_t layer, const core::Shape& shape, bool zero) {
  const auto i = index(site, layer);
  if (stacked_at_.empty() || stacked_at_[i].first < 0) return emplace(site, layer, shape, zero).ptr();
  auto& stack = stacks_[static_cast<std::size_t>(stacked_at_[i].first)];
  core::Shape whole{static_cast<std::int64_t>(stack.sites.size())};
  whole.insert(whole.end(), shape.begin(), shape.end());
  // Zero-filled once: a site never written (a skipped layer's attention) reads as zeros.
  if (!stack.values) stack.values.emplace(whole);
  if (stack.values->shape != whole)
    fail(ErrorKind::internal, "trace stack '{}': {} written as {}, the stack holds {}", stack.name, site_name(site, layer),
         core::shape_string(shape), core::shape_string(stack.values->shape));
  return stack.values->ptr() + stacked_at_[i].second * core::numel(shape);
}

const core::Tensor* Trace::find(Site site, std::int64_t layer) const {
  if (slots_.empty()) return nullptr;
  const auto i = index(site, layer);
  if (!stacked_at_.empty() && stacked_at_[i].first >= 0)
    fail(ErrorKind::internal, "trace site {} is stacked: read it from take_stacks()", site_name(site, layer));
  const auto& slot = slots_[i];
  return slot ? &*slot : nullptr;
}

core::Tensor* Trace::find(Site site, std::int64_t layer) {
  return const_cast<core::Tensor*>(static_cast<const Trace&>(*this).find(site, layer));
}

void Trace::stack_complete_groups(const SiteSet& record) {
  std::vector<Stack> groups(2);
  groups[0].name = "attentions";
  groups[1].name = "hidden_states";
  groups[1].sites.push_back({Site::embed_out, 0});
  for (std::int64_t l = 0; l < layers_; ++l) {
    groups[0].sites.push_back({Site::attn_probs, l});
    groups[1].sites.push_back({Site::layer_out, l});
  }
  stacked_at_.assign(slots_.size(), {-1, -1});
  for (auto& g : groups) {
    bool complete = layers_ > 0;
    for (const auto& [site, layer] : g.sites) complete = complete && record.contains(site, layer);
    if (!complete) continue;
    const int at = static_cast<int>(stacks_.size());
    for (std::size_t k = 0; k < g.sites.size(); ++k)
      stacked_at_[index(g.sites[k].first, g.sites[k].second)] = {at, static_cast<int>(k)};
    stacks_.push_back(std::move(g));
  }
}

std::vector<Trace::Stack> Trace::take_stacks() {
  stacked_at_.clear();
  return std::move(stacks_);
}

const core::Tensor& Trace::at(std::string_view name) const {
  std::string_view layer_part, suffix = name;
  const bool has_layer = split_layer_name(name, layer_part, suffix);
  for (const auto& info : site_table()) {
    if (info.suffix != suffix || info.per_layer != has_layer) continue;
    std::int64_t layer = 0;
    if (has_layer) {
      auto [ptr, ec] = std::from_chars(layer_part.data(), layer_part.data() + layer_part.size(), layer);
      if (ec != std::errc() || layer < 0 || layer >= layers_) break;
    }
    if (const auto* t = find(info.site, layer)) return *t;
    fail(ErrorKind::input, "trace site \"{}\" was not recorded", name);
  }
  fail(ErrorKind::input, "unknown trace site \"{}\"", name);
}

std::vector<std::string> Trace::names() const {
  std::vector<std::string> out;
  for (const auto& info : site_table()) {
    const std::int64_t n = info.per_layer ? layers_ : 1;
    for (std::int64_t l = 0; l < n; ++l) {
      const auto i = index(info.site, l);
      const bool stacked = !stacked_at_.empty() && stacked_at_[i].first >= 0 &&
                           stacks_[static_cast<std::size_t>(stacked_at_[i].first)].values.has_value();
      if (stacked || (!slots_.empty() && slots_[i])) out.push_back(site_name(info.site, l));
    }
  }
  return out;
}

}  // namespace bertscope::model
