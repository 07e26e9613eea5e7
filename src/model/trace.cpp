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

const core::Tensor* Trace::find(Site site, std::int64_t layer) const {
  if (slots_.empty()) return nullptr;
  const auto& slot = slots_[index(site, layer)];
  return slot ? &*slot : nullptr;
}

core::Tensor* Trace::find(Site site, std::int64_t layer) {
  if (slots_.empty()) return nullptr;
  auto& slot = slots_[index(site, layer)];
  return slot ? &*slot : nullptr;
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
    for (std::int64_t l = 0; l < n; ++l)
      if (find(info.site, l)) out.push_back(site_name(info.site, l));
  }
  return out;
}

}  // namespace bertscope::model
