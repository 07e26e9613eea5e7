#include <algorithm>
#include <chrono>
#include <memory>
#include <cmath>
#include <optional>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include "cli/commands.hpp"
#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "core/matmul.hpp"
#include "core/parallel.hpp"
#include "core/peak.hpp"
#include "core/profile.hpp"
#include "io/error.hpp"
#include "model/autodiff.hpp"
#include "model/model.hpp"
#include "model/optimizer.hpp"

namespace bertscope::cli {

namespace {

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// Floating-point operations of one forward pass over `batch` inputs of `seq` tokens: the
// projections, the feed-forward (3 h i for a gated one), scores and context over the keys each
// query sees (a sliding layer's window), and DeBERTa's c2p / p2c products over the relative
// rows the inputs use, with their projections.
double forward_flops(const model::ModelConfig& c, std::int64_t batch, std::int64_t seq) {
  const double h = static_cast<double>(c.hidden_size), i = static_cast<double>(c.intermediate_size);
  const double tokens = static_cast<double>(batch * seq);
  double total = 0;
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const auto half = c.window_half(l);
    const double keys = static_cast<double>(half >= 0 ? std::min<std::int64_t>(seq, 2 * half + 1) : seq);
    total += tokens * (2.0 * (4.0 * h * h + (c.gated_ffn ? 3.0 : 2.0) * h * i) + 2.0 * 2.0 * keys * h);
    if (c.relative.enabled) {
      const double rows = static_cast<double>(std::min<std::int64_t>(2 * c.relative.span(), 2 * seq - 1));
      const double terms = static_cast<double>(int(c.relative.c2p) + int(c.relative.p2c));
      total += terms * (tokens * 2.0 * rows * h + 2.0 * rows * h * h);
    }
  }
  return total;
}

// Seconds per call of `run`, repeated for at least half a second (and three times) after one
// warm-up call.
template <class Fn>
double seconds_per_call(Fn&& run) {
  run();
  int reps = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < 0.5 || reps < 3) {
    run();
    ++reps;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return elapsed / reps;
}

struct GemmCeiling {
  double model_order_gflops;  // the model's own weights, in the forward's order: the ceiling
  double hot_weight_gflops;   // one cache-resident weight per shape, repeated: an upper bound no forward sees
};

// GFLOP/s of the backend's matrix products on the encoder's linear layers, M = all tokens of the
// batch. The ceiling runs exactly the forward's products (every layer's Q, K, V, output and
// feed-forward weights, in order) and nothing else, so the weights stream through the caches as
// they do in a forward pass. The hot-weight figure repeats one weight per shape, which stays in
// cache; it is reported for comparison because it overstates what any forward pass can reach.
GemmCeiling gemm_ceiling(const model::Model& m, std::int64_t tokens, bool bf16, bool prepack) {
  const auto& c = m.config();
  const std::int64_t h = c.hidden_size, inter = c.intermediate_size, inter_in = c.gated_ffn ? 2 * inter : inter;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const auto width = std::max(h, inter_in);
  core::FloatBuffer x(static_cast<std::size_t>(tokens * width)), y(static_cast<std::size_t>(tokens * width));
  for (auto& v : x) v = uniform(rng);
  std::vector<core::bf16> x16(x.size());
  core::to_bf16(x.data(), static_cast<std::int64_t>(x.size()), x16.data());

  struct Product {
    const float* w;
    std::vector<core::bf16> w16;
    std::int64_t k, n;
    std::unique_ptr<core::PackedWeight> packed;  // as the forward multiplies them (packed unless --no-prepack)
  };
  std::vector<Product> products;
  for (const auto& lp : m.params().layers) {
    for (const auto* w : {&lp.query_w, &lp.key_w, &lp.value_w, &lp.attn_out_w}) products.push_back({w->data, {}, h, h});
    products.push_back({lp.ffn_in_w.data, {}, h, inter_in});
    products.push_back({lp.ffn_out_w.data, {}, inter, h});
  }
  for (auto& p : products) {
    if (bf16) {
      p.w16.resize(static_cast<std::size_t>(p.k * p.n));
      core::to_bf16(p.w, p.k * p.n, p.w16.data());
    }
    if (prepack)
      p.packed = bf16 ? std::make_unique<core::PackedWeight>(p.w16.data(), p.n, p.k)
                      : std::make_unique<core::PackedWeight>(p.w, p.n, p.k);
  }
  auto product = [&](const Product& p) {
    if (bf16 && p.packed) core::linear_bf16(x16.data(), tokens, p.k, *p.packed, nullptr, p.n, y.data());
    else if (bf16) core::linear_bf16(x16.data(), tokens, p.k, p.w16.data(), nullptr, p.n, y.data());
    else if (p.packed) core::linear(x.data(), tokens, p.k, *p.packed, nullptr, p.n, y.data());
    else core::linear(x.data(), tokens, p.k, p.w, nullptr, p.n, y.data());
  };
  auto flops_of = [&](const Product& p) { return 2.0 * static_cast<double>(tokens * p.k * p.n); };
  double flops = 0;
  for (const auto& p : products) flops += flops_of(p);
  const double model_order = flops / seconds_per_call([&] {
                               for (const auto& p : products) product(p);
                             }) / 1e9;

  // One layer's worth of products, each weight repeated in place (it stays in cache).
  double layer_flops = 0, layer_seconds = 0;
  for (std::size_t i = 0; i < 6 && i < products.size(); ++i) {
    layer_flops += flops_of(products[i]);
    layer_seconds += seconds_per_call([&] { product(products[i]); });
  }
  return {model_order, layer_flops / layer_seconds / 1e9};
}

// Largest and mean absolute difference between two runs' attention and last hidden states.
nlohmann::json precision_error(const std::vector<model::ForwardResult>& a, const std::vector<model::ForwardResult>& b,
                               std::int64_t layers) {
  double att_max = 0, att_sum = 0, hid_max = 0, hid_sum = 0;
  std::size_t att_n = 0, hid_n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (std::int64_t l = 0; l < layers; ++l) {
      const auto* x = a[i].trace.find(model::Site::attn_probs, l);
      const auto* y = b[i].trace.find(model::Site::attn_probs, l);
      if (!x || !y) continue;
      for (std::size_t k = 0; k < x->data.size(); ++k) {
        const double d = std::abs(static_cast<double>(x->data[k]) - y->data[k]);
        att_max = std::max(att_max, d);
        att_sum += d;
      }
      att_n += x->data.size();
    }
    for (std::size_t k = 0; k < a[i].last_hidden.data.size(); ++k) {
      const double d = std::abs(static_cast<double>(a[i].last_hidden.data[k]) - b[i].last_hidden.data[k]);
      hid_max = std::max(hid_max, d);
      hid_sum += d;
    }
    hid_n += a[i].last_hidden.data.size();
  }
  return {{"attention_max_abs", att_max},
          {"attention_mean_abs", att_n ? att_sum / static_cast<double>(att_n) : 0.0},
          {"hidden_max_abs", hid_max},
          {"hidden_mean_abs", hid_n ? hid_sum / static_cast<double>(hid_n) : 0.0}};
}

void add_bench_command(CLI::App& app) {
  struct Args {
    std::string model, record = "attn.probs,hidden", precision = "f32";
    std::int64_t batch = 8, seq = 128;
    int threads = 0, iterations = 0;
    double seconds = 3.0;
    bool json = false, ceiling = false, backward = false, train = false, no_prepack = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "bench",
      "Time the encoder forward pass on random inputs: tokens/s, GFLOP/s, peak memory and the share of time per "
      "op class.");
  cmd->add_option("--model", args->model, "Model folder")->required();
  cmd->add_option("--batch", args->batch, "Inputs per forward pass")->check(CLI::PositiveNumber);
  cmd->add_option("--seq", args->seq, "Tokens per input (including [CLS]/[SEP])")->check(CLI::PositiveNumber);
  cmd->add_option("--record", args->record, "Sites recorded (default attn.probs,hidden; \"none\" for nothing)");
  cmd->add_option("--precision", args->precision, "f32 (exact) or bf16 (fast path)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  cmd->add_option("--iterations", args->iterations, "Timed forward passes (default: as many as fit in --seconds)");
  cmd->add_option("--seconds", args->seconds, "Minimum timed duration when --iterations is not given");
  cmd->add_flag("--json", args->json, "Print one JSON object on stdout");
  cmd->add_flag("--gemm-ceiling", args->ceiling,
                "Also time the forward's own matrix products alone (the GEMM ceiling) and report the forward's share of it");
  auto* backward = cmd->add_flag("--backward", args->backward,
                "Time a training-style step instead: a forward pass that records a tape, then the gradients of "
                "sum(last_hidden * G) (G fixed random) with respect to every encoder parameter");
  cmd->add_flag("--train", args->train,
                "Time a whole masked-LM training step instead (as `train mlm` runs it): 15% of each input's tokens "
                "replaced by the mask token, dropout, a taped forward with the MLM head at the masked positions, "
                "cross-entropy, every parameter's gradient, an AdamW update (needs the MLM head)")
      ->excludes(backward);
  cmd->add_flag("--no-prepack", args->no_prepack,
                "Multiply the weights as stored instead of packed into the GEMM kernels' layout (the reference of a "
                "side-by-side comparison)");
  add_threads_option(*cmd, args->threads);
  cmd->callback([args] {
    apply_threads(args->threads);
    auto m = model::Model::load(args->model);
    m.set_prepack(!args->no_prepack);
    const auto& c = m.config();
    if (args->seq > c.max_tokens())
      fail(ErrorKind::input, "--seq {} exceeds the {} positions of the model", args->seq, c.max_tokens());
    std::mt19937 rng(42);
    std::uniform_int_distribution<std::int32_t> token(1000, static_cast<std::int32_t>(c.vocab_size) - 1);
    std::vector<model::ModelInput> inputs(static_cast<std::size_t>(args->batch));
    for (auto& in : inputs) {
      in.ids.resize(static_cast<std::size_t>(args->seq));
      for (auto& id : in.ids) id = token(rng);
      in.ids.front() = 101 < c.vocab_size ? 101 : 0;
      in.ids.back() = 102 < c.vocab_size ? 102 : 0;
    }
    model::RunOptions opt;
    opt.record = args->record == "none" ? model::SiteSet(c.num_hidden_layers)
                                        : model::SiteSet::parse(args->record, c.num_hidden_layers);
    nlohmann::json bf16_error;
    if (args->precision == "bf16") {
      opt.precision = model::Precision::bf16;
      auto exact = opt;
      exact.precision = model::Precision::f32;
      exact.record.add(model::Site::attn_probs);
      auto fast = opt;
      fast.record.add(model::Site::attn_probs);
      bf16_error = precision_error(m.forward(inputs, exact), m.forward(inputs, fast), c.num_hidden_layers);
    }
    std::vector<model::OutputGrad> seeds;
    if (args->backward) {
      std::normal_distribution<float> normal;
      for (const auto& in : inputs) {
        model::OutputGrad g;
        g.last_hidden = core::Tensor({static_cast<std::int64_t>(in.ids.size()), c.hidden_size});
        for (auto& v : g.last_hidden.data) v = normal(rng);
        seeds.push_back(std::move(g));
      }
    }
    model::GradRequest request;
    request.params = true;
    // --train: an owned copy of the weights that AdamW updates, and masked inputs.
    std::optional<model::Model> trained;
    std::optional<model::AdamW> adam;
    model::TapeOptions train_tape;
    std::vector<std::vector<std::int32_t>> labels;
    std::int64_t masked_total = 0;
    if (args->train) {
      trained.emplace(c, model::Weights::from_tensors(c, m.weights().to_tensors(c)), std::nullopt);
      if (!trained->params().has_mlm_head()) fail(ErrorKind::model, "{}: --train needs the MLM head", args->model);
      model::AdamWOptions ao;
      ao.lr = 1e-5;  // small: the timing must not depend on where the weights go
      adam.emplace(ao, trained->mutable_weights().owned_tensors());
      train_tape.train = true;
      train_tape.mlm_logits = true;
      const std::int32_t mask_id = 103 < c.vocab_size ? 103 : 1;
      std::uniform_real_distribution<double> pick(0.0, 1.0);
      for (auto& in : inputs) {
        std::vector<std::int32_t> positions, wanted;
        for (std::size_t i = 1; i + 1 < in.ids.size(); ++i)
          if (pick(rng) < 0.15) {
            positions.push_back(static_cast<std::int32_t>(i));
            wanted.push_back(in.ids[i]);
            in.ids[i] = mask_id;
          }
        if (positions.empty()) {  // at least one prediction per input, as the trainer makes
          positions.push_back(1);
          wanted.push_back(in.ids[1]);
          in.ids[1] = mask_id;
        }
        masked_total += static_cast<std::int64_t>(positions.size());
        train_tape.mlm_positions.push_back(std::move(positions));
        labels.push_back(std::move(wanted));
      }
    }
    std::int64_t train_step = 0;
    // One timed unit: a forward pass, with --backward a taped forward and the parameter
    // gradients, with --train a whole optimizer step.
    auto step = [&] {
      if (args->train) {
        auto& tm = *trained;
        train_tape.dropout_seed = static_cast<std::uint64_t>(++train_step);
        model::ForwardTape tape;
        const auto out = model::forward_with_tape(tm, inputs, opt, train_tape, tape);
        std::vector<model::OutputGrad> grads(inputs.size());
        for (std::size_t b = 0; b < inputs.size(); ++b) {
          const auto k = static_cast<double>(labels[b].size());
          grads[b].mlm_logits = model::mlm_cross_entropy(out[b].mlm_logits, labels[b], k / static_cast<double>(masked_total)).grad;
        }
        const auto g = model::backward(tm, std::move(tape), grads, request);
        (void)adam->step(tm.mutable_weights().owned_tensors(), g.param_grads);
        tm.weights_changed();
        return;
      }
      if (!args->backward) {
        (void)m.forward(inputs, opt);
        return;
      }
      model::ForwardTape tape;
      (void)model::forward_with_tape(m, inputs, opt, {}, tape);
      (void)model::backward(m, std::move(tape), seeds, request);  // used once: freed as the pass goes down
    };
    // Warm-up: pages the weights in, sizes the buffers, packs the weights (timed: the first pass's cost).
    const auto warm_start = std::chrono::steady_clock::now();
    step();
    const double first_pass_ms =
        1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - warm_start).count();
    // The machine's peak right before and right after the timing: the yardstick of the figure.
    const auto peak_before = core::measure_peak(core::num_threads());
    core::OpProfile profile;
    if (!args->backward && !args->train) opt.profile = &profile;
    int done = 0;
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    while (args->iterations > 0 ? done < args->iterations : (elapsed < args->seconds || done < 2)) {
      step();
      ++done;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const auto peak_after = core::measure_peak(core::num_threads());
    const double tokens = static_cast<double>(args->batch * args->seq) * done;
    // The backward pass costs two forward passes' products (input and weight gradients).
    // (--train adds the MLM head at the masked positions and the update, not counted here.)
    const double flops = forward_flops(c, args->batch, args->seq) * done * (args->backward || args->train ? 3.0 : 1.0);
    // The FFN's first product as this run multiplies it (taped passes read the weights as stored).
    const auto gemm_kernel =
        core::linear_kernel_name(args->precision == "bf16", !args->no_prepack && !args->backward && !args->train,
                                 args->batch * args->seq, c.hidden_size, c.intermediate_size);
    nlohmann::json shares = nlohmann::json::object();
    for (std::size_t i = 0; i < core::kOpClassCount; ++i)
      shares[std::string(core::op_class_name(static_cast<core::OpClass>(i)))] = profile.seconds[i] / elapsed;
    nlohmann::json j{{"model", args->model},
                     {"batch", args->batch},
                     {"seq", args->seq},
                     {"threads", core::num_threads()},
                     {"precision", args->precision},
                     {"mode", args->train ? "train" : args->backward ? "backward" : "forward"},
                     {"record", args->record},
                     {"gemm_backend", core::gemm_backend_name()},
                     {"gemm_kernel", gemm_kernel},
                     {"iterations", done},
                     {"seconds", elapsed},
                     {"tokens_per_s", tokens / elapsed},
                     {"gflops", flops / elapsed / 1e9},
                     {"peak_rss_mb", peak_rss_mb()},
                     {"peak_buffers_mb", static_cast<double>(core::buffer_bytes_peak()) / (1024.0 * 1024.0)},
                     {"prepacked", !args->no_prepack},
                     {"packed_weights_mb", static_cast<double>(m.packed_weight_bytes()) / (1024.0 * 1024.0)},
                     {"first_pass_ms", first_pass_ms},
                     {"op_share", shares}};
    if (!bf16_error.is_null()) j["bf16_vs_f32"] = bf16_error;
    {
      const bool bf16_run = args->precision == "bf16";
      auto peak_of = [&](const core::Peak& p) { return bf16_run && p.bf16_gflops > 0 ? p.bf16_gflops : p.f32_gflops; };
      const double lo = std::min(peak_of(peak_before), peak_of(peak_after)), hi = std::max(peak_of(peak_before), peak_of(peak_after));
      j["peak"] = {{"isa", peak_before.isa},
                   {"f32_gflops_before", peak_before.f32_gflops},
                   {"f32_gflops_after", peak_after.f32_gflops},
                   {"bf16_gflops_before", peak_before.bf16_gflops},
                   {"bf16_gflops_after", peak_after.bf16_gflops},
                   {"kind", bf16_run && peak_before.bf16_gflops > 0 ? "bf16" : "f32"},
                   // The machine gave this timing less than 90% of what it gave around it.
                   {"unsteady", lo < 0.9 * hi}};
      j["peak_fraction"] = hi > 0 ? flops / elapsed / 1e9 / hi : 0.0;
    }
    if (args->ceiling) {
      const auto ceiling = gemm_ceiling(m, args->batch * args->seq, args->precision == "bf16", !args->no_prepack);
      j["gemm_ceiling_gflops"] = ceiling.model_order_gflops;
      j["gemm_hot_weight_gflops"] = ceiling.hot_weight_gflops;
      j["ceiling_fraction"] = flops / elapsed / 1e9 / ceiling.model_order_gflops;
    }
    if (args->json) {
      fmt::print("{}\n", j.dump());
      return;
    }
    fmt::print("{} x {} tokens, {} threads, {}, {} backend ({}), recording {}\n", args->batch, args->seq,
               core::num_threads(), args->precision, core::gemm_backend_name(), gemm_kernel, args->record);
    fmt::print("{:.1f} tokens/s, {:.1f} GFLOP/s, {:.1f} ms per forward, peak RSS {:.0f} MB\n", tokens / elapsed,
               flops / elapsed / 1e9, 1e3 * elapsed / done, peak_rss_mb());
    fmt::print("machine peak ({}, {} threads): f32 {:.0f} / {:.0f} GFLOP/s before / after, bf16 {:.0f} / {:.0f}; this run "
               "reached {:.0f}% of the {} peak{}\n",
               peak_before.isa, core::num_threads(), peak_before.f32_gflops, peak_after.f32_gflops,
               peak_before.bf16_gflops, peak_after.bf16_gflops, 100.0 * j["peak_fraction"].get<double>(),
               j["peak"]["kind"].get<std::string>(),
               j["peak"]["unsteady"].get<bool>() ? " (UNSTEADY: the peak moved by more than 10% around the timing)" : "");
    if (args->ceiling)
      fmt::print(
          "GEMM ceiling (the forward's own products alone) {:.1f} GFLOP/s; the forward runs at {:.0f}% of it "
          "(one cache-resident weight per shape: {:.1f} GFLOP/s)\n",
          j["gemm_ceiling_gflops"].get<double>(), 100.0 * j["ceiling_fraction"].get<double>(),
          j["gemm_hot_weight_gflops"].get<double>());
    if (!bf16_error.is_null())
      fmt::print("bf16 vs f32: attention max |diff| {:.2e} (mean {:.2e}), last hidden max |diff| {:.2e} (mean {:.2e})\n",
                 bf16_error["attention_max_abs"].get<double>(), bf16_error["attention_mean_abs"].get<double>(),
                 bf16_error["hidden_max_abs"].get<double>(), bf16_error["hidden_mean_abs"].get<double>());
    for (std::size_t i = 0; i < core::kOpClassCount; ++i)
      if (profile.seconds[i] > 0)
        fmt::print("  {:<24} {:5.1f}%\n", core::op_class_name(static_cast<core::OpClass>(i)),
                   100.0 * profile.seconds[i] / elapsed);
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 80, add_bench_command);

}  // namespace bertscope::cli
