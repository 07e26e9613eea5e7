#include "analysis/probe.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <random>

#include <fmt/format.h>
#include <utf8proc.h>

#include "analysis/blocks.hpp"
#include "analysis/heads.hpp"
#include "dist/pack.hpp"
#include "dist/processes.hpp"
#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::analysis::probe {

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::attn: return "attn";
    case Kind::attn_words: return "attn_words";
    case Kind::distances: return "distances";
  }
  return "?";
}

Kind parse_kind(std::string_view name) {
  if (name == "attn") return Kind::attn;
  if (name == "attn_words" || name == "attn+words" || name == "attn-words") return Kind::attn_words;
  if (name == "distances") return Kind::distances;
  fail(ErrorKind::input, "probe \"{}\": expected attn, attn_words or distances", name);
}

bool uses_words(Kind kind) { return kind != Kind::attn; }
bool uses_attention(Kind kind) { return kind != Kind::distances; }

// ---------------------------------------------------------------------------------------------
// Word vectors.

std::string lowercase(std::string_view word) {
  // Python's str.lower(), which GloVe lookups use, lower-cases every script, not only ASCII.
  std::string out;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(word.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(word.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    const auto n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) return std::string(word);  // not UTF-8: leave it alone
    utf8proc_uint8_t buf[4];
    const auto m = utf8proc_encode_char(utf8proc_tolower(cp), buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(m));
    p += n;
    left -= n;
  }
  return out;
}

std::set<std::string> lowercase_words(const std::vector<io::ConlluSentence>& sentences) {
  std::set<std::string> out;
  for (const auto& s : sentences)
    for (const auto& w : s.words) out.insert(lowercase(w.form));
  return out;
}

const float* WordVectors::find(const std::string& w) const {
  const auto it = vectors.find(w);
  return it == vectors.end() ? nullptr : it->second.data();
}

WordVectors read_word_vectors(const std::filesystem::path& path, const std::set<std::string>& wanted) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::io, "{}: cannot open the word-vector file", path.string());
  WordVectors wv;
  std::string line;
  std::vector<std::string_view> fields;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (number == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
    if (line.empty()) continue;
    fields.clear();
    for (std::size_t i = 0; i < line.size();) {
      const auto j = std::min(line.find(' ', i), line.size());
      if (j > i) fields.emplace_back(line.data() + i, j - i);
      i = j + 1;
    }
    auto is_int = [](std::string_view f) {
      return !f.empty() && std::all_of(f.begin(), f.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (number == 1 && fields.size() == 2 && is_int(fields[0]) && is_int(fields[1])) continue;  // word2vec header
    if (wv.dim == 0) {
      if (fields.size() < 2) fail(ErrorKind::format, "{}:{}: expected a word and its vector, found {} field(s)", path.string(), number, fields.size());
      wv.dim = fields.size() - 1;
    }
    if (fields.size() < wv.dim + 1)
      fail(ErrorKind::format, "{}:{}: expected a word and {} numbers (the first vector's size), found {} fields", path.string(),
           number, wv.dim, fields.size());
    ++wv.lines;
    // Words may contain spaces (GloVe 840B has some): the vector is the last `dim` fields.
    const auto first_number = fields.size() - wv.dim;
    const std::string_view word(line.data(), static_cast<std::size_t>(fields[first_number - 1].data() + fields[first_number - 1].size() - line.data()));
    const std::string key(word);
    if (!wanted.count(key) || wv.vectors.count(key)) continue;
    std::vector<float> v(wv.dim);
    for (std::size_t d = 0; d < wv.dim; ++d) {
      const auto f = fields[first_number + d];
      const auto res = std::from_chars(f.data(), f.data() + f.size(), v[d]);
      if (res.ec != std::errc() || res.ptr != f.data() + f.size() || !std::isfinite(v[d]))
        fail(ErrorKind::format, "{}:{}: {} is not a number (component {} of {})", path.string(), number, io::quote(f), d + 1,
             io::quote(word));
    }
    wv.vectors.emplace(key, std::move(v));
  }
  if (in.bad()) fail(ErrorKind::io, "{}: read error", path.string());
  if (wv.dim == 0) fail(ErrorKind::format, "{}: no word vectors in the file", path.string());
  return wv;
}

// ---------------------------------------------------------------------------------------------
// Examples.

Example make_example(const core::Tensor& maps, const io::ConlluSentence& s, const WordVectors* vectors) {
  Example e;
  e.words = static_cast<std::int64_t>(s.words.size());
  const auto m = e.words, u = m + 2;
  for (const auto& w : s.words) {
    e.heads.push_back(w.head);
    e.punct.push_back(io::universal_relation(w.deprel) == "punct");
    e.vectors.push_back(vectors ? vectors->find(lowercase(w.form)) : nullptr);
  }
  if (maps.data.empty()) return e;
  if (maps.shape.size() != 4 || maps.dim(2) != u || maps.dim(3) != u)
    fail(ErrorKind::internal, "probe: word maps are {}, expected [layers, heads, {}, {}]", core::shape_string(maps.shape), u, u);
  const auto lh = maps.dim(0) * maps.dim(1);
  e.maps = 2 * lh;
  e.features.resize(static_cast<std::size_t>(m * u * e.maps));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < u; ++j) {
      float* f = e.features.data() + (i * u + j) * e.maps;
      for (std::int64_t k = 0; k < lh; ++k) {
        const float* b = maps.ptr() + k * u * u;
        f[k] = b[(i + 1) * u + j];
        f[lh + k] = b[j * u + i + 1];
      }
    }
  return e;
}

// ---------------------------------------------------------------------------------------------
// The probes.

namespace {

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
constexpr std::size_t kDistanceFeatures = 8;

// Uniform doubles in [0, 1) from a 64-bit Mersenne Twister, bit for bit the same everywhere
// (std::uniform_real_distribution is not specified exactly).
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Clark's make_distance_features for dependent i and word column j (0-based word), m words.
void distance_features(std::int64_t i, std::int64_t j, std::int64_t m, double* f) {
  const double md = static_cast<double>(m);
  f[0] = j > i ? static_cast<double>(j - i) / md : 0.0;
  f[1] = i > j ? static_cast<double>(i - j) / md : 0.0;
  f[2] = j == i;
  f[3] = j == i - 1;
  f[4] = j == i + 1;
  f[5] = j == i - 2;
  f[6] = j == i + 2;
  f[7] = 0.0;  // the ROOT indicator
}

}  // namespace

Probe::Probe(Kind kind, std::int64_t layers, std::int64_t heads, std::size_t word_dim, const Options& options)
    : kind_(kind), layers_(layers), heads_(heads), k_(2 * layers * heads), dim_(word_dim), hidden_(options.hidden), options_(options) {
  if (uses_words(kind) && word_dim == 0)
    fail(ErrorKind::input, "the {} probe needs word vectors (--word-vectors)", kind_name(kind));
  std::mt19937_64 rng(options.seed * 1000003ull + static_cast<std::uint64_t>(kind));
  // Glorot-uniform, TensorFlow's default initialiser: U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
  auto glorot = [&](std::size_t count, double fan_in, double fan_out) {
    const double limit = std::sqrt(6.0 / (fan_in + fan_out));
    for (std::size_t i = 0; i < count; ++i) params_.push_back((2.0 * uniform01(rng) - 1.0) * limit);
  };
  auto zeros = [&](std::size_t count) { params_.insert(params_.end(), count, 0.0); };
  const auto k = static_cast<std::size_t>(k_);
  switch (kind) {
    case Kind::attn:
      glorot(k, static_cast<double>(k), static_cast<double>(k));  // a vector: fan_in = fan_out = its size
      glorot(2, 1, 1);                                            // ROOT_start, ROOT_end (scalars)
      break;
    case Kind::attn_words:
      glorot(k * 2 * dim_, static_cast<double>(2 * dim_), static_cast<double>(k));
      zeros(k);
      glorot(2, 1, 1);
      break;
    case Kind::distances:
      // Clark's MLP also sees an all-zero dummy attention channel (fan_in 1 + 8 + 2d); it never
      // changes a score, so it is left out, but the initial scale keeps it.
      glorot(hidden_ * (kDistanceFeatures + 2 * dim_), static_cast<double>(1 + kDistanceFeatures + 2 * dim_), static_cast<double>(hidden_));
      zeros(hidden_);
      glorot(hidden_, static_cast<double>(hidden_), 1);
      zeros(1);
      break;
  }
  adam_m_.assign(params_.size(), 0.0);
  adam_v_.assign(params_.size(), 0.0);
}

std::size_t Probe::column_vector(std::size_t column, std::size_t m) const {
  if (options_.shifted_words) return column < m ? column : kNone;
  return column == 0 ? kNone : column - 1;
}

void Probe::scores(const Example& e, std::vector<double>& out) const {
  const auto m = static_cast<std::size_t>(e.words), c_count = m + 1, u = m + 2;
  const auto k = static_cast<std::size_t>(k_);
  out.assign(m * c_count, 0.0);
  const double* p = params_.data();
  auto feat = [&](std::size_t i, std::size_t j) { return e.features.data() + (i * u + j) * k; };
  if (uses_attention(kind_) && static_cast<std::int64_t>(k) != e.maps)
    fail(ErrorKind::internal, "probe: example has {} maps, the probe {}", e.maps, k);
  switch (kind_) {
    case Kind::attn: {
      const double a = p[k], b = p[k + 1];
      for (std::size_t i = 0; i < m; ++i) {
        double dc = 0, ds = 0;
        for (std::size_t q = 0; q < k; ++q) {
          dc += p[q] * feat(i, 0)[q];
          ds += p[q] * feat(i, u - 1)[q];
        }
        out[i * c_count] = a * dc + b * ds;
        for (std::size_t c = 1; c <= m; ++c) {
          const float* f = feat(i, c);
          double s = 0;
          for (std::size_t q = 0; q < k; ++q) s += p[q] * f[q];
          out[i * c_count + c] = s;
        }
      }
      break;
    }
    case Kind::attn_words: {
      const double* W = p;
      const double* bias = p + k * 2 * dim_;
      const double a = bias[k], b = bias[k + 1];
      std::vector<double> a1(m * k, 0.0), a2(m * k, 0.0);
      for (std::size_t i = 0; i < m; ++i) {
        if (!e.vectors[i]) continue;
        for (std::size_t q = 0; q < k; ++q) {
          double s1 = 0, s2 = 0;
          for (std::size_t d = 0; d < dim_; ++d) {
            s1 += W[q * 2 * dim_ + d] * e.vectors[i][d];
            s2 += W[q * 2 * dim_ + dim_ + d] * e.vectors[i][d];
          }
          a1[i * k + q] = s1;
          a2[i * k + q] = s2;
        }
      }
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t c = 0; c < c_count; ++c) {
          const auto j = column_vector(c, m);
          double s = 0;
          for (std::size_t q = 0; q < k; ++q) {
            const double g = bias[q] + a1[i * k + q] + (j == kNone ? 0.0 : a2[j * k + q]);
            const double f = c == 0 ? a * feat(i, 0)[q] + b * feat(i, u - 1)[q] : feat(i, c)[q];
            s += g * f;
          }
          out[i * c_count + c] = s;
        }
      break;
    }
    case Kind::distances: {
      const auto nf = kDistanceFeatures + 2 * dim_;
      const double* W1 = p;
      const double* b1 = p + hidden_ * nf;
      const double* w2 = b1 + hidden_;
      const double b2 = w2[hidden_];
      std::vector<double> pa(m * hidden_, 0.0), pb(m * hidden_, 0.0);
      for (std::size_t i = 0; i < m; ++i) {
        if (!e.vectors[i]) continue;
        for (std::size_t h = 0; h < hidden_; ++h) {
          double s1 = 0, s2 = 0;
          for (std::size_t d = 0; d < dim_; ++d) {
            s1 += W1[h * nf + kDistanceFeatures + d] * e.vectors[i][d];
            s2 += W1[h * nf + kDistanceFeatures + dim_ + d] * e.vectors[i][d];
          }
          pa[i * hidden_ + h] = s1;
          pb[i * hidden_ + h] = s2;
        }
      }
      double df[kDistanceFeatures];
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t c = 0; c < c_count; ++c) {
          if (c == 0) {
            std::fill(df, df + kDistanceFeatures, 0.0);
            df[7] = 1.0;
          } else {
            distance_features(static_cast<std::int64_t>(i), static_cast<std::int64_t>(c - 1), static_cast<std::int64_t>(m), df);
          }
          const auto j = column_vector(c, m);
          double s = b2;
          for (std::size_t h = 0; h < hidden_; ++h) {
            double pre = b1[h] + pa[i * hidden_ + h] + (j == kNone ? 0.0 : pb[j * hidden_ + h]);
            for (std::size_t f = 0; f < kDistanceFeatures; ++f) pre += W1[h * nf + f] * df[f];
            s += w2[h] * std::tanh(pre);
          }
          out[i * c_count + c] = s;
        }
      break;
    }
  }
}

double Probe::loss_and_gradient(const Example& e, std::vector<double>& grad) const {
  const auto m = static_cast<std::size_t>(e.words), c_count = m + 1, u = m + 2;
  const auto k = static_cast<std::size_t>(k_);
  grad.resize(params_.size(), 0.0);
  std::vector<double> s;
  scores(e, s);
  // G = softmax - one-hot, per word.
  double loss = 0;
  std::vector<double> g(s.size());
  for (std::size_t i = 0; i < m; ++i) {
    const double* row = s.data() + i * c_count;
    const double mx = *std::max_element(row, row + c_count);
    double z = 0;
    for (std::size_t c = 0; c < c_count; ++c) z += std::exp(row[c] - mx);
    const double lse = mx + std::log(z);
    const auto gold = static_cast<std::size_t>(e.heads[i]);
    loss += lse - row[gold];
    for (std::size_t c = 0; c < c_count; ++c) g[i * c_count + c] = std::exp(row[c] - lse) - (c == gold ? 1.0 : 0.0);
  }
  const double* p = params_.data();
  double* dp = grad.data();
  auto feat = [&](std::size_t i, std::size_t j) { return e.features.data() + (i * u + j) * k; };
  switch (kind_) {
    case Kind::attn: {
      const double a = p[k], b = p[k + 1];
      for (std::size_t i = 0; i < m; ++i) {
        const double g0 = g[i * c_count];
        double dc = 0, ds = 0;
        for (std::size_t q = 0; q < k; ++q) {
          dc += p[q] * feat(i, 0)[q];
          ds += p[q] * feat(i, u - 1)[q];
          dp[q] += g0 * (a * feat(i, 0)[q] + b * feat(i, u - 1)[q]);
        }
        dp[k] += g0 * dc;
        dp[k + 1] += g0 * ds;
        for (std::size_t c = 1; c <= m; ++c) {
          const double gc = g[i * c_count + c];
          const float* f = feat(i, c);
          for (std::size_t q = 0; q < k; ++q) dp[q] += gc * f[q];
        }
      }
      break;
    }
    case Kind::attn_words: {
      const double* W = p;
      const double* bias = p + k * 2 * dim_;
      const double a = bias[k], b = bias[k + 1];
      double* dW = dp;
      double* dbias = dp + k * 2 * dim_;
      std::vector<double> a1(m * k, 0.0), a2(m * k, 0.0), r1(m * k, 0.0), r2(m * k, 0.0);
      for (std::size_t i = 0; i < m; ++i) {
        if (!e.vectors[i]) continue;
        for (std::size_t q = 0; q < k; ++q) {
          double s1 = 0, s2 = 0;
          for (std::size_t d = 0; d < dim_; ++d) {
            s1 += W[q * 2 * dim_ + d] * e.vectors[i][d];
            s2 += W[q * 2 * dim_ + dim_ + d] * e.vectors[i][d];
          }
          a1[i * k + q] = s1;
          a2[i * k + q] = s2;
        }
      }
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t c = 0; c < c_count; ++c) {
          const double gc = g[i * c_count + c];
          const auto j = column_vector(c, m);
          double root_a = 0, root_b = 0;
          for (std::size_t q = 0; q < k; ++q) {
            const double gate = bias[q] + a1[i * k + q] + (j == kNone ? 0.0 : a2[j * k + q]);
            const double f = c == 0 ? a * feat(i, 0)[q] + b * feat(i, u - 1)[q] : feat(i, c)[q];
            const double qv = gc * f;  // d loss / d gate
            dbias[q] += qv;
            r1[i * k + q] += qv;
            if (j != kNone) r2[j * k + q] += qv;
            if (c == 0) {
              root_a += gate * feat(i, 0)[q];
              root_b += gate * feat(i, u - 1)[q];
            }
          }
          if (c == 0) {
            dbias[k] += gc * root_a;
            dbias[k + 1] += gc * root_b;
          }
        }
      for (std::size_t i = 0; i < m; ++i) {
        if (!e.vectors[i]) continue;
        for (std::size_t q = 0; q < k; ++q)
          for (std::size_t d = 0; d < dim_; ++d) {
            dW[q * 2 * dim_ + d] += r1[i * k + q] * e.vectors[i][d];
            dW[q * 2 * dim_ + dim_ + d] += r2[i * k + q] * e.vectors[i][d];
          }
      }
      break;
    }
    case Kind::distances: {
      const auto nf = kDistanceFeatures + 2 * dim_;
      const double* W1 = p;
      const double* b1 = p + hidden_ * nf;
      const double* w2 = b1 + hidden_;
      double* dW1 = dp;
      double* db1 = dp + hidden_ * nf;
      double* dw2 = db1 + hidden_;
      double* db2 = dw2 + hidden_;
      std::vector<double> pa(m * hidden_, 0.0), pb(m * hidden_, 0.0), ra(m * hidden_, 0.0), rb(m * hidden_, 0.0);
      for (std::size_t i = 0; i < m; ++i) {
        if (!e.vectors[i]) continue;
        for (std::size_t h = 0; h < hidden_; ++h) {
          double s1 = 0, s2 = 0;
          for (std::size_t d = 0; d < dim_; ++d) {
            s1 += W1[h * nf + kDistanceFeatures + d] * e.vectors[i][d];
            s2 += W1[h * nf + kDistanceFeatures + dim_ + d] * e.vectors[i][d];
          }
          pa[i * hidden_ + h] = s1;
          pb[i * hidden_ + h] = s2;
        }
      }
      double df[kDistanceFeatures];
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t c = 0; c < c_count; ++c) {
          const double gc = g[i * c_count + c];
          if (c == 0) {
            std::fill(df, df + kDistanceFeatures, 0.0);
            df[7] = 1.0;
          } else {
            distance_features(static_cast<std::int64_t>(i), static_cast<std::int64_t>(c - 1), static_cast<std::int64_t>(m), df);
          }
          const auto j = column_vector(c, m);
          *db2 += gc;
          for (std::size_t h = 0; h < hidden_; ++h) {
            double pre = b1[h] + pa[i * hidden_ + h] + (j == kNone ? 0.0 : pb[j * hidden_ + h]);
            for (std::size_t f = 0; f < kDistanceFeatures; ++f) pre += W1[h * nf + f] * df[f];
            const double t = std::tanh(pre);
            dw2[h] += gc * t;
            const double dpre = gc * w2[h] * (1.0 - t * t);
            db1[h] += dpre;
            for (std::size_t f = 0; f < kDistanceFeatures; ++f) dW1[h * nf + f] += dpre * df[f];
            ra[i * hidden_ + h] += dpre;
            if (j != kNone) rb[j * hidden_ + h] += dpre;
          }
        }
      for (std::size_t i = 0; i < m; ++i) {
        if (!e.vectors[i]) continue;
        for (std::size_t h = 0; h < hidden_; ++h)
          for (std::size_t d = 0; d < dim_; ++d) {
            dW1[h * nf + kDistanceFeatures + d] += ra[i * hidden_ + h] * e.vectors[i][d];
            dW1[h * nf + kDistanceFeatures + dim_ + d] += rb[i * hidden_ + h] * e.vectors[i][d];
          }
      }
      break;
    }
  }
  return loss;
}

double Probe::train_step(const Example& e) {
  std::vector<double> grad(params_.size(), 0.0);
  const double loss = loss_and_gradient(e, grad);
  // Adam as TensorFlow's AdamOptimizer writes it: the bias corrections fold into the step size.
  constexpr double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  ++step_;
  const double lr_t = options_.learning_rate * std::sqrt(1.0 - std::pow(beta2, static_cast<double>(step_))) /
                      (1.0 - std::pow(beta1, static_cast<double>(step_)));
  for (std::size_t i = 0; i < params_.size(); ++i) {
    adam_m_[i] = beta1 * adam_m_[i] + (1.0 - beta1) * grad[i];
    adam_v_[i] = beta2 * adam_v_[i] + (1.0 - beta2) * grad[i] * grad[i];
    params_[i] -= lr_t * adam_m_[i] / (std::sqrt(adam_v_[i]) + epsilon);
  }
  return loss;
}

nlohmann::json Probe::head_weights() const {
  if (!uses_attention(kind_)) return nullptr;
  const auto lh = static_cast<std::size_t>(layers_ * heads_), k = static_cast<std::size_t>(k_);
  nlohmann::json heads = nlohmann::json::array();
  for (std::size_t q = 0; q < lh; ++q) {
    auto j = head_json(static_cast<std::int64_t>(q) / heads_, static_cast<std::int64_t>(q) % heads_);
    if (kind_ == Kind::attn) {
      j["dep_to_head"] = params_[q];
      j["head_to_dep"] = params_[lh + q];
    } else {
      // g_k(i, c) = bias_k + W_k . [v_i ; v_c]: report the word-independent part and the size of
      // the word-dependent one.
      const double* bias = params_.data() + k * 2 * dim_;
      auto norm = [&](std::size_t row) {
        double s = 0;
        for (std::size_t d = 0; d < 2 * dim_; ++d) s += params_[row * 2 * dim_ + d] * params_[row * 2 * dim_ + d];
        return std::sqrt(s);
      };
      j["dep_to_head"] = {{"bias", bias[q]}, {"word_weight_norm", norm(q)}};
      j["head_to_dep"] = {{"bias", bias[lh + q]}, {"word_weight_norm", norm(lh + q)}};
    }
    heads.push_back(j);
  }
  const double* root = params_.data() + (kind_ == Kind::attn ? k : k * 2 * dim_ + k);
  return {{"heads", heads}, {"root_cls", root[0]}, {"root_sep", root[1]}};
}

void Probe::save(io::NpzWriter& npz) const {
  const std::string name(kind_name(kind_));
  auto add = [&](const std::string& member, std::vector<std::int64_t> shape, std::size_t offset, std::size_t count) {
    std::vector<float> v(params_.begin() + static_cast<std::ptrdiff_t>(offset), params_.begin() + static_cast<std::ptrdiff_t>(offset + count));
    npz.add_f32(name + "." + member, shape, v);
  };
  const auto k = static_cast<std::size_t>(k_);
  switch (kind_) {
    case Kind::attn:
      add("head_weights", {2, layers_, heads_}, 0, k);
      add("root", {2}, k, 2);
      break;
    case Kind::attn_words:
      add("kernel", {2, layers_, heads_, static_cast<std::int64_t>(2 * dim_)}, 0, k * 2 * dim_);
      add("bias", {2, layers_, heads_}, k * 2 * dim_, k);
      add("root", {2}, k * 2 * dim_ + k, 2);
      break;
    case Kind::distances: {
      const auto nf = kDistanceFeatures + 2 * dim_;
      add("hidden_kernel", {static_cast<std::int64_t>(hidden_), static_cast<std::int64_t>(nf)}, 0, hidden_ * nf);
      add("hidden_bias", {static_cast<std::int64_t>(hidden_)}, hidden_ * nf, hidden_);
      add("output_kernel", {static_cast<std::int64_t>(hidden_)}, hidden_ * nf + hidden_, hidden_);
      add("output_bias", {1}, hidden_ * nf + 2 * hidden_, 1);
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Training and evaluation.

namespace {

// Blocks per process in one window of the attention passes: a window's word-level maps are held
// by every process at once, so this bounds memory (a window of 16-sentence blocks of EWT on
// bert-base is about 50 MB per process); each window ends with every process waiting for the
// slowest block, so it must not be too small either.
constexpr std::size_t kWindowBlocks = 8;

// Streams the examples of a treebank, in sentence order, on every process: through the attention
// source when a probe needs attention, straight from the sentences otherwise. The attention passes
// are spread over the run's processes (analysis/blocks.hpp) a window of blocks at a time; each
// block's word-level maps travel to every process, and every process trains (or scores) on them
// alike, so the probes are those of a one-process run. Training is sequential (one Adam step per
// sentence), hence windows rather than one pass that would hold a whole treebank's maps.
void for_each_example(AttentionSource& source, const std::vector<io::ConlluSentence>& sentences, const std::string& file,
                      const SourceOptions& so, const Options& options, bool need_attention, const WordVectors* vectors,
                      dist::Runner& runner, const std::string& stage, Result& r,
                      const std::function<void(const Example&)>& fn) {
  if (!need_attention) {
    for (const auto& s : sentences) fn(make_example({}, s, vectors));
    return;
  }
  std::vector<AnalysisInput> inputs;
  inputs.reserve(sentences.size());
  for (const auto& s : sentences) {
    AnalysisInput in;
    for (const auto& w : s.words) in.words.push_back(w.form);
    inputs.push_back(std::move(in));
  }
  SourceOptions o = so;
  o.skip_too_long = true;  // a probe needs every word of a sentence: over-long ones are skipped
  o.truncate = false;
  const auto window = std::max<std::size_t>(o.batch_size, 1) * kWindowBlocks * static_cast<std::size_t>(dist::size());
  for (std::size_t start = 0; start < inputs.size(); start += window) {
    const auto end = std::min(inputs.size(), start + window);
    // A block's bytes: its examples' count, then per example its sentence, whether it was kept
    // (0: a word without tokens) and its word-level maps.
    auto summarize = [&](const ExampleVisitor& visit) {
      dist::Packer body;
      std::uint64_t count = 0;
      visit([&](AttentionExample& ex) {
        ++count;
        const auto& s = sentences[ex.index];
        const auto a = align_sentence(ex.encoding, s.words.size(), false, example_source(source, ex.index),
                                      fmt::format("{}:{}", file, s.line));
        body.put<std::uint64_t>(ex.index);
        body.put<std::uint8_t>(a.words_without_tokens == 0);
        if (a.words_without_tokens > 0) return;
        const auto maps = word_level_attention(ex.attentions, a.units, options.from);
        body.put(maps.shape);
        body.put(maps.data);
      });
      dist::Packer head;
      head.put(count);
      return head.take() + body.take();
    };
    auto fold = [&](std::size_t b, std::string_view bytes) {
      dist::Unpacker u(bytes, fmt::format("probe: the word-level attention of {}, block {} of {}", file, b, stage));
      const auto count = u.get<std::uint64_t>();
      for (std::uint64_t e = 0; e < count; ++e) {
        const auto index = u.get<std::uint64_t>();
        const bool kept = u.get<std::uint8_t>() != 0;
        if (index < start || index >= end)
          fail(ErrorKind::format, "probe: block {} of {} names sentence {}, outside its window", b, stage, index);
        if (!kept) {
          ++r.skipped_words_without_tokens;
          continue;
        }
        core::Tensor maps;
        maps.shape = u.get_vector<std::int64_t>();
        maps.data = u.get_vector<float, core::FloatBuffer::allocator_type>();
        if (core::numel(maps.shape) != static_cast<std::int64_t>(maps.data.size()))
          fail(ErrorKind::format, "probe: block {} of {}: maps of shape {} hold {} values", b, stage,
               core::shape_string(maps.shape), maps.data.size());
        fn(make_example(maps, sentences[index], vectors));
      }
      u.done();
    };
    r.skipped_too_long += run_blocks(source, inputs, start, end, o, &runner,
                                     fmt::format("{}.{}", stage, start / window), summarize, fold);
  }
}

}  // namespace

Result run(AttentionSource& train_source, const std::vector<io::ConlluSentence>& train, const std::string& train_file,
           AttentionSource& dev_source, const std::vector<io::ConlluSentence>& dev, const std::string& dev_file,
           const WordVectors* vectors, const SourceOptions& so, const Options& options,
           const std::filesystem::path& weights_out) {
  if (options.kinds.empty()) fail(ErrorKind::input, "no probe to train");
  if (options.epochs == 0) fail(ErrorKind::input, "--epochs must be at least 1");
  if (train_source.layers() != dev_source.layers() || train_source.heads() != dev_source.heads())
    fail(ErrorKind::input, "training attention has {} x {} heads, dev attention {} x {}", train_source.layers(),
         train_source.heads(), dev_source.layers(), dev_source.heads());
  Result r;
  r.layers = train_source.layers();
  r.heads = train_source.heads();
  r.options = options;
  bool need_attention = false, need_words = false;
  for (auto k : options.kinds) {
    need_attention |= uses_attention(k);
    need_words |= uses_words(k);
  }
  if (need_words && !vectors) fail(ErrorKind::input, "the attn_words and distances probes need --word-vectors");
  if (vectors) {
    std::set<std::string> seen;
    for (const auto* set : {&train, &dev})
      for (const auto& w : lowercase_words(*set))
        if (seen.insert(w).second) ++(vectors->find(w) ? r.word_vectors_found : r.word_vectors_missing);
  }
  dist::Runner runner;  // no checkpoint: a probe's state after a window is not kept (see the header)
  std::vector<Probe> probes;
  for (auto k : options.kinds) probes.emplace_back(k, r.layers, r.heads, vectors ? vectors->dim : 0, options);
  std::vector<double> loss(probes.size(), 0.0);
  for (std::size_t epoch = 0; epoch < options.epochs; ++epoch) {
    std::fill(loss.begin(), loss.end(), 0.0);
    r.train_sentences = r.train_words = 0;
    r.skipped_too_long = r.skipped_words_without_tokens = 0;
    for_each_example(train_source, train, train_file, so, options, need_attention, vectors, runner,
                     fmt::format("probe.train.{}", epoch), r, [&](const Example& e) {
      for (std::size_t p = 0; p < probes.size(); ++p) loss[p] += probes[p].train_step(e);
      ++r.train_sentences;
      r.train_words += static_cast<std::size_t>(e.words);
    });
  }
  std::vector<std::size_t> correct(probes.size(), 0), correct_all(probes.size(), 0);
  std::size_t words_all = 0, right_branching = 0;
  std::vector<double> s;
  for_each_example(dev_source, dev, dev_file, so, options, need_attention, vectors, runner, "probe.dev", r,
                   [&](const Example& e) {
    const auto m = static_cast<std::size_t>(e.words);
    for (std::size_t p = 0; p < probes.size(); ++p) {
      probes[p].scores(e, s);
      for (std::size_t i = 0; i < m; ++i) {
        const double* row = s.data() + i * (m + 1);
        const auto pred = static_cast<int>(std::max_element(row, row + m + 1) - row);
        const bool ok = pred == e.heads[i];
        correct_all[p] += ok;
        if (!e.punct[i]) correct[p] += ok;
      }
    }
    for (std::size_t i = 0; i < m; ++i) {
      ++words_all;
      if (e.punct[i]) continue;
      ++r.dev_words;
      right_branching += static_cast<int>(std::min(i + 2, m)) == e.heads[i];
    }
    ++r.dev_sentences;
  });
  auto frac = [](std::size_t a, std::size_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };
  r.right_branching_uas = frac(right_branching, r.dev_words);
  for (std::size_t p = 0; p < probes.size(); ++p) {
    ProbeResult pr;
    pr.kind = probes[p].kind();
    pr.uas = frac(correct[p], r.dev_words);
    pr.uas_with_punct = frac(correct_all[p], words_all);
    pr.train_loss = r.train_words ? loss[p] / static_cast<double>(r.train_words) : 0.0;
    pr.head_weights = probes[p].head_weights();
    r.probes.push_back(std::move(pr));
  }
  if (!weights_out.empty() && dist::writer()) {  // every process holds the same probes: process 0 writes them
    io::NpzWriter npz(weights_out);
    for (const auto& p : probes) p.save(npz);
    npz.commit();
  }
  return r;
}

nlohmann::json to_json(const Result& r) {
  nlohmann::json probes = nlohmann::json::object();
  for (const auto& p : r.probes)
    probes[std::string(kind_name(p.kind))] = {{"uas", p.uas},
                                              {"uas_with_punct", p.uas_with_punct},
                                              {"train_loss_per_word", p.train_loss},
                                              {"weights", p.head_weights}};
  return {{"probes", probes},
          {"baselines", {{"right_branching", {{"uas", r.right_branching_uas}}}}},
          {"train", {{"sentences", r.train_sentences}, {"words", r.train_words}}},
          {"dev", {{"sentences", r.dev_sentences}, {"scored_words", r.dev_words}}},
          {"word_vectors", {{"found", r.word_vectors_found}, {"missing", r.word_vectors_missing}}},
          {"skipped", {{"too_long", r.skipped_too_long}, {"words_without_tokens", r.skipped_words_without_tokens}}}};
}

std::string table(const Result& r) {
  std::string out = fmt::format("trained on {} sentences ({} words), evaluated on {} sentences ({} words, punct excluded)\n",
                                r.train_sentences, r.train_words, r.dev_sentences, r.dev_words);
  if (r.skipped_too_long || r.skipped_words_without_tokens)
    out += fmt::format("skipped: {} too long, {} with words without tokens\n", r.skipped_too_long, r.skipped_words_without_tokens);
  if (r.word_vectors_found + r.word_vectors_missing)
    out += fmt::format("word vectors for {} of {} distinct words\n", r.word_vectors_found,
                       r.word_vectors_found + r.word_vectors_missing);
  out += fmt::format("\n{:<16} {:>6} {:>14}\n", "probe", "UAS", "loss/word");
  out += fmt::format("{:<16} {:6.1f} {:>14}\n", "right-branching", 100 * r.right_branching_uas, "-");
  for (const auto& p : r.probes)
    out += fmt::format("{:<16} {:6.1f} {:14.4f}\n", kind_name(p.kind), 100 * p.uas, p.train_loss);
  return out;
}

nlohmann::json params_json(const Options& options, const std::string& word_vectors) {
  nlohmann::json kinds = nlohmann::json::array();
  for (auto k : options.kinds) kinds.push_back(kind_name(k));
  return {{"probes", kinds},
          {"from_word", from_word_name(options.from)},
          {"epochs", options.epochs},
          {"learning_rate", options.learning_rate},
          {"optimizer", "Adam (beta1 0.9, beta2 0.999, epsilon 1e-8), one sentence per step"},
          {"seed", options.seed},
          {"hidden", options.hidden},
          {"word_vectors", word_vectors.empty() ? nlohmann::json(nullptr) : nlohmann::json(word_vectors)},
          {"word_vector_alignment", options.shifted_words ? "shifted (Clark's code)" : "aligned (the paper)"},
          {"uas", "non-punct words, argmax per word, no tree constraint"}};
}

}  // namespace bertscope::analysis::probe

namespace bertscope::analysis::probe {

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

// Clark et al. Table 3: each probe's UAS against the right-branching baseline.
std::vector<Figure> figures(const nlohmann::json& results) {
  std::vector<Figure> out;
  out.push_back({.id = "probe.uas",
                 .kind = "bars",
                 .title = "Unlabeled attachment score of each attention probe",
                 .caption = "UAS on the dev set (punctuation excluded) of each probe; the dashed line is the right-branching "
                            "baseline. Clark et al. (2019), Table 3 (docs/methods.md 1.7, 1.10): right-branching 26, Attn 61, "
                            "Attn+GloVe 77.",
                 .rows = "probes",
                 .x = FigureField{"@key", "probe", Unit::label},
                 .x_axis = "probe",
                 .values = {FigureField{"uas", "UAS", Unit::accuracy}},
                 .axis = "UAS (proportion of words)",
                 .range = std::array<double, 2>{0, 1},
                 .references = {FigureField{"baselines.right_branching.uas", "right-branching", Unit::accuracy}}});
  (void)results;
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::probe
