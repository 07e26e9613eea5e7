#include "core/matmul.hpp"

#include <atomic>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/gemm.hpp"
#include "core/tensor.hpp"
#include "io/error.hpp"

#if defined(BERTSCOPE_GEMM_DNNL)
#include <sys/mman.h>
#include <unistd.h>

#include <omp.h>

#include <cstdint>
#include <exception>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/parallel.hpp"
#endif

namespace bertscope::core {

#if defined(BERTSCOPE_GEMM_DNNL)

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// Drops the whole pages of [p, p + bytes) from this process's memory. Only for read-only
// file-backed mappings: their pages come back from the file when read again.
void release_pages(const void* p, std::size_t bytes) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + page - 1) / page * page;
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

std::atomic<LinearSplit> linear_split{LinearSplit::automatic};

// Primitives run with a user scratchpad so concurrent calls never share oneDNN's global one.
struct Cached {
  dnnl::matmul primitive;
  memory::desc scratch;
  memory::desc weights;  // the layout the primitive reads its weights in
  bool brgemm;           // oneDNN chose its brgemm kernels (else gemm:jit or a reference)
};

enum class Kind { linear, linear_packed, linear_row_slice, linear_column_slice };

using Key = std::tuple<Kind, dt, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, int, bool>;

template <class K>
std::shared_ptr<Cached> cached(const K& key, const std::function<dnnl::matmul::primitive_desc()>& make) {
  static std::mutex mutex;
  static std::map<K, std::shared_ptr<Cached>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  // Shapes vary with batch composition; a bound keeps the cache from growing without limit.
  if (cache.size() > 512) cache.clear();
  auto pd = make();
  auto entry = std::make_shared<Cached>(
      Cached{dnnl::matmul(pd), pd.scratchpad_desc(), pd.weights_desc(), std::string_view(pd.impl_info_str()).starts_with("brg")});
  cache.emplace(key, entry);
  return entry;
}

void execute(const Cached& c, std::unordered_map<int, memory> args) {
  thread_local dnnl::stream stream(engine());
  thread_local std::vector<std::uint8_t> scratch;
  if (scratch.size() < c.scratch.get_size()) scratch.resize(c.scratch.get_size());
  args.insert({DNNL_ARG_SCRATCHPAD, memory(c.scratch, engine(), scratch.data())});
  c.primitive.execute(stream, args);
  stream.wait();
}

dnnl::algorithm algorithm_of(Activation a) {
  switch (a) {
    case Activation::gelu_erf: return dnnl::algorithm::eltwise_gelu_erf;
    case Activation::gelu_tanh: return dnnl::algorithm::eltwise_gelu_tanh;
    case Activation::relu: return dnnl::algorithm::eltwise_relu;
    case Activation::silu: return dnnl::algorithm::eltwise_swish;
    case Activation::gelu_quick: return dnnl::algorithm::eltwise_swish;
  }
  return dnnl::algorithm::eltwise_relu;
}

float alpha_of(Activation a) { return a == Activation::silu ? 1.0f : a == Activation::gelu_quick ? 1.702f : 0.0f; }

// y = post(x W^T + bias); `packed` given: W in the layout the primitive prefers (packed once).
void linear_any(dt type, const void* x, std::int64_t m, std::int64_t k, const void* w, PackedWeight::Impl* packed,
                const float* bias, std::int64_t n, void* y, dt y_type, const Activation* post);

}  // namespace

struct PackedWeight::Impl {
  dt type;
  const void* source;
  std::int64_t n, k;
  bool release_source = false;
  std::mutex mutex;
  struct Variant {
    memory::desc desc;
    FloatBuffer bytes;  // 64-byte aligned
  };
  std::vector<std::unique_ptr<Variant>> variants;  // usually one; another only if a shape's kernel wants another layout
  std::size_t packed_bytes = 0;

  // The weights in layout `want`: the source itself when it is stored that way already.
  const void* in_layout(const memory::desc& want) {
    const memory::desc plain({k, n}, type, tag::ba);
    if (want == plain) return source;
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& v : variants)
      if (v->desc == want) return v->bytes.data();
    auto v = std::make_unique<Variant>();
    v->desc = want;
    v->bytes.resize((want.get_size() + sizeof(float) - 1) / sizeof(float));
    dnnl::stream stream(engine());
    memory from(plain, engine(), const_cast<void*>(source)), to(want, engine(), v->bytes.data());
    dnnl::reorder(from, to).execute(stream, from, to);
    stream.wait();
    packed_bytes += want.get_size();
    variants.push_back(std::move(v));
    if (release_source) release_pages(source, static_cast<std::size_t>(n * k) * sizeof(float));
    return variants.back()->bytes.data();
  }
};

PackedWeight::PackedWeight(const float* w, std::int64_t n, std::int64_t k, bool release_source)
    : impl_(new Impl{dt::f32, w, n, k, release_source, {}, {}, 0}) {}
PackedWeight::PackedWeight(const bf16* w, std::int64_t n, std::int64_t k)
    : impl_(new Impl{dt::bf16, w, n, k, false, {}, {}, 0}) {}
PackedWeight::~PackedWeight() = default;
std::size_t PackedWeight::packed_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->packed_bytes;
}

namespace {

void check_packed(const PackedWeight::Impl& w, dt type, std::int64_t n, std::int64_t k) {
  if (w.type != type || w.n != n || w.k != k)
    fail(ErrorKind::internal, "packed weight of {} x {} used as a {} {} x {}", w.n, w.k,
         type == dt::f32 ? "float32" : "bfloat16", n, k);
}

dnnl::primitive_attr linear_attr(const Activation* post) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (post) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, algorithm_of(*post), alpha_of(*post), 0.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

std::size_t element_size(dt type) { return type == dt::f32 ? 4 : 2; }

// The weights as a whole-matrix primitive reads them: the packed copy in its layout, else W as stored.
struct WeightsView {
  memory::desc desc;
  const void* data;
};

// The primitive for the whole of y = post(x W^T + bias). Packed: it chooses the weights' layout
// (tag::any); else it reads W^T as stored.
dnnl::matmul::primitive_desc whole_product(dt type, std::int64_t m, std::int64_t k, std::int64_t n, bool packed,
                                           bool bias, dt y_type, const Activation* post) {
  const memory::desc xd({m, k}, type, tag::ab), wd({k, n}, type, packed ? tag::any : tag::ba),
      yd({m, n}, y_type, tag::ab), bd({1, n}, dt::f32, tag::ab);
  auto desc = bias ? dnnl::matmul::desc(xd, wd, bd, yd) : dnnl::matmul::desc(xd, wd, yd);
  return dnnl::matmul::primitive_desc(desc, linear_attr(post), engine());
}

// A product of `width` consecutive outputs of y = post(x W^T + bias): rows of W when W is laid out
// as stored ([n,k], `rows_of_w`), else columns of W^T ([k,n]); y and the weights keep the whole
// matrix's strides. Run inside a parallel region, oneDNN multiplies on the calling thread only.
struct Slice {
  std::shared_ptr<Cached> c;
  memory::desc x, w, bias, y;
};

Slice output_slice(dt type, std::int64_t m, std::int64_t k, std::int64_t n, std::int64_t width, bool rows_of_w,
                   bool bias, dt y_type, const Activation* post) {
  const memory::desc xd({m, k}, type, tag::ab);
  const memory::desc wd({k, width}, type, rows_of_w ? memory::dims{1, k} : memory::dims{n, 1});
  const memory::desc bd({1, width}, dt::f32, tag::ab), yd({m, width}, y_type, memory::dims{n, 1});
  const Key key{rows_of_w ? Kind::linear_row_slice : Kind::linear_column_slice, type, m, width, k,
                static_cast<std::int64_t>(y_type), n, post ? static_cast<int>(*post) : -1, bias};
  auto c = cached(key, [&] {
    auto desc = bias ? dnnl::matmul::desc(xd, wd, bd, yd) : dnnl::matmul::desc(xd, wd, yd);
    return dnnl::matmul::primitive_desc(desc, linear_attr(post), engine());
  });
  return {c, xd, wd, bd, yd};
}

// Each thread multiplies its own block of output columns (whole 64-byte lines of y) instead of
// oneDNN splitting one product over the threads: each thread then packs only its share of the
// weights, which stays in its own L2 across the row blocks (the weights stream from memory once
// per forward pass). bert-base's products in the forward's order, 2 threads, AVX-512 (CPU family
// 25): 4-8% more GFLOP/s at 128 to 4,096 rows in float32, about 2% in bfloat16. Only for weights
// laid out as plain rows or columns (a blocked layout that a kernel prefers is left to oneDNN's
// own split); false when it does not apply. A block's product always runs gemm:jit (brgemm wants a
// dense y), so where oneDNN picks brgemm for the whole product (some family 25 VMs, for every
// shape, packed or not) its own split is faster: 3% at 8x128 and 5-15% at 1x128 with the weights
// as stored. `automatic` therefore slices only where the whole product would be gemm:jit too.
bool sliced_linear(dt type, const void* x, std::int64_t m, std::int64_t k, const WeightsView& w, const float* bias,
                   std::int64_t n, void* y, dt y_type, const Activation* post) {
  const int threads = num_threads();
  constexpr std::int64_t kLine = 16;  // outputs per 64-byte line of float32
  if (threads < 2 || omp_in_parallel() || n < 8 * kLine * threads) return false;
  const bool rows_of_w = w.desc == memory::desc({k, n}, type, tag::ba);
  if (!rows_of_w && w.desc != memory::desc({k, n}, type, tag::ab)) return false;
  const std::int64_t width = ((n + threads - 1) / threads + kLine - 1) / kLine * kLine;
  // The primitives are made here, outside the parallel region, where a failure can be thrown.
  const std::int64_t last = n - (threads - 1) * width;
  if (last <= 0) return false;
  const Slice full = output_slice(type, m, k, n, width, rows_of_w, bias, y_type, post);
  const Slice tail = output_slice(type, m, k, n, last, rows_of_w, bias, y_type, post);
  const auto y_size = element_size(y_type), w_size = element_size(type);
  std::exception_ptr error;
  // A loop over the slices, so that every slice is multiplied even if OpenMP gives fewer threads.
#pragma omp parallel for schedule(static, 1) num_threads(threads)
  for (int i = 0; i < threads; ++i) {
    const std::int64_t n0 = i * width;
    const Slice& s = i == threads - 1 ? tail : full;
    try {
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, memory(s.x, engine(), const_cast<void*>(x))},
          {DNNL_ARG_WEIGHTS, memory(s.w, engine(), const_cast<char*>(static_cast<const char*>(w.data)) +
                                                       (rows_of_w ? n0 * k : n0) * static_cast<std::int64_t>(w_size))},
          {DNNL_ARG_DST, memory(s.y, engine(), static_cast<char*>(y) + n0 * static_cast<std::int64_t>(y_size))}};
      if (bias) args.insert({DNNL_ARG_BIAS, memory(s.bias, engine(), const_cast<float*>(bias + n0))});
      execute(*s.c, std::move(args));
    } catch (...) {
#pragma omp critical(bertscope_sliced_linear)
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return true;
}

void linear_any(dt type, const void* x, std::int64_t m, std::int64_t k, const void* w, PackedWeight::Impl* packed,
                const float* bias, std::int64_t n, void* y, dt y_type, const Activation* post) {
  if (m == 0) return;
  const int post_id = post ? static_cast<int>(*post) : -1;
  const Key key{packed ? Kind::linear_packed : Kind::linear, type, m, n, k, static_cast<std::int64_t>(y_type), 0,
                post_id, bias != nullptr};
  auto c = cached(key, [&] { return whole_product(type, m, k, n, packed != nullptr, bias != nullptr, y_type, post); });
  const WeightsView weights = packed ? WeightsView{c->weights, packed->in_layout(c->weights)}
                                     : WeightsView{memory::desc({k, n}, type, tag::ba), w};
  const auto split = linear_split.load(std::memory_order_relaxed);
  const bool own_columns = split == LinearSplit::output_columns || (split == LinearSplit::automatic && !c->brgemm);
  if (own_columns && sliced_linear(type, x, m, k, weights, bias, n, y, y_type, post)) return;
  memory::desc xd({m, k}, type, tag::ab), yd({m, n}, y_type, tag::ab);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(xd, engine(), const_cast<void*>(x))},
                                       {DNNL_ARG_WEIGHTS, memory(weights.desc, engine(), const_cast<void*>(weights.data))},
                                       {DNNL_ARG_DST, memory(yd, engine(), y)}};
  if (bias) args.insert({DNNL_ARG_BIAS, memory(memory::desc({1, n}, dt::f32, tag::ab), engine(), const_cast<float*>(bias))});
  execute(*c, std::move(args));
}

}  // namespace

void set_linear_split(LinearSplit split) { linear_split.store(split, std::memory_order_relaxed); }

std::string linear_kernel_name(bool bf16, bool packed, std::int64_t m, std::int64_t k, std::int64_t n) {
  return whole_product(bf16 ? dt::bf16 : dt::f32, m, k, n, packed, true, dt::f32, nullptr).impl_info_str();
}

void linear(const float* x, std::int64_t m, std::int64_t k, const float* w, const float* bias, std::int64_t n,
            float* y, const Activation* post) {
  linear_any(dt::f32, x, m, k, w, nullptr, bias, n, y, dt::f32, post);
}

void linear_bf16(const bf16* x, std::int64_t m, std::int64_t k, const bf16* w, const float* bias, std::int64_t n,
                 float* y, const Activation* post) {
  linear_any(dt::bf16, x, m, k, w, nullptr, bias, n, y, dt::f32, post);
}

void linear_bf16(const bf16* x, std::int64_t m, std::int64_t k, const bf16* w, const float* bias, std::int64_t n,
                 bf16* y, const Activation* post) {
  linear_any(dt::bf16, x, m, k, w, nullptr, bias, n, y, dt::bf16, post);
}

void linear(const float* x, std::int64_t m, std::int64_t k, const PackedWeight& w, const float* bias, std::int64_t n,
            float* y, const Activation* post) {
  check_packed(*w.impl_, dt::f32, n, k);
  linear_any(dt::f32, x, m, k, w.impl_->source, w.impl_.get(), bias, n, y, dt::f32, post);
}

void linear_bf16(const bf16* x, std::int64_t m, std::int64_t k, const PackedWeight& w, const float* bias,
                 std::int64_t n, float* y, const Activation* post) {
  check_packed(*w.impl_, dt::bf16, n, k);
  linear_any(dt::bf16, x, m, k, w.impl_->source, w.impl_.get(), bias, n, y, dt::f32, post);
}

void linear_bf16(const bf16* x, std::int64_t m, std::int64_t k, const PackedWeight& w, const float* bias,
                 std::int64_t n, bf16* y, const Activation* post) {
  check_packed(*w.impl_, dt::bf16, n, k);
  linear_any(dt::bf16, x, m, k, w.impl_->source, w.impl_.get(), bias, n, y, dt::bf16, post);
}

bool bf16_supported() { return true; }

void gemm_bf16(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const bf16* a,
               std::int64_t lda, const bf16* b, std::int64_t ldb, bool accumulate, float* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  using GemmKey = std::tuple<bool, bool, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                             std::int64_t, bool>;
  // Transposes are strides of the same buffers: no copies.
  const memory::desc ad({m, k}, dt::bf16, trans_a ? memory::dims{1, lda} : memory::dims{lda, 1});
  const memory::desc bd({k, n}, dt::bf16, trans_b ? memory::dims{1, ldb} : memory::dims{ldb, 1});
  const memory::desc cd({m, n}, dt::f32, memory::dims{ldc, 1});
  auto p = cached(GemmKey{trans_a, trans_b, m, n, k, lda, ldb, ldc, accumulate}, [&] {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(ad, bd, cd), attr, engine());
  });
  execute(*p, {{DNNL_ARG_SRC, memory(ad, engine(), const_cast<bf16*>(a))},
               {DNNL_ARG_WEIGHTS, memory(bd, engine(), const_cast<bf16*>(b))},
               {DNNL_ARG_DST, memory(cd, engine(), c)}});
}

#else  // CBLAS fallback

void set_linear_split(LinearSplit) {}  // the BLAS library splits every product itself

std::string linear_kernel_name(bool, bool, std::int64_t, std::int64_t, std::int64_t) { return "cblas"; }

void linear(const float* x, std::int64_t m, std::int64_t k, const float* w, const float* bias, std::int64_t n,
            float* y, const Activation* post) {
  if (m == 0) return;
  if (bias)
    for (std::int64_t i = 0; i < m; ++i) std::memcpy(y + i * n, bias, static_cast<std::size_t>(n) * sizeof(float));
  gemm(false, true, m, n, k, 1.0f, x, k, w, k, bias ? 1.0f : 0.0f, y, n);
  if (post) activate(*post, y, m * n);
}

void linear_bf16(const bf16*, std::int64_t, std::int64_t, const bf16*, const float*, std::int64_t, float*,
                 const Activation*) {
  fail(ErrorKind::input, "--precision bf16 needs the oneDNN backend; this build uses CBLAS");
}

bool bf16_supported() { return false; }

struct PackedWeight::Impl {
  const void* source;
  bool is_bf16;
  std::int64_t n, k;
};
PackedWeight::PackedWeight(const float* w, std::int64_t n, std::int64_t k, bool) : impl_(new Impl{w, false, n, k}) {}
PackedWeight::PackedWeight(const bf16* w, std::int64_t n, std::int64_t k) : impl_(new Impl{w, true, n, k}) {}
PackedWeight::~PackedWeight() = default;
std::size_t PackedWeight::packed_bytes() const { return 0; }

void linear(const float* x, std::int64_t m, std::int64_t k, const PackedWeight& w, const float* bias, std::int64_t n,
            float* y, const Activation* post) {
  if (w.impl_->is_bf16 || w.impl_->n != n || w.impl_->k != k)
    fail(ErrorKind::internal, "packed weight of {} x {} used as a float32 {} x {}", w.impl_->n, w.impl_->k, n, k);
  linear(x, m, k, static_cast<const float*>(w.impl_->source), bias, n, y, post);
}

void linear_bf16(const bf16*, std::int64_t, std::int64_t, const PackedWeight&, const float*, std::int64_t, float*,
                 const Activation*) {
  fail(ErrorKind::input, "--precision bf16 needs the oneDNN backend; this build uses CBLAS");
}

void linear_bf16(const bf16*, std::int64_t, std::int64_t, const bf16*, const float*, std::int64_t, bf16*,
                 const Activation*) {
  fail(ErrorKind::input, "--precision bf16 needs the oneDNN backend; this build uses CBLAS");
}

void linear_bf16(const bf16*, std::int64_t, std::int64_t, const PackedWeight&, const float*, std::int64_t, bf16*,
                 const Activation*) {
  fail(ErrorKind::input, "--precision bf16 needs the oneDNN backend; this build uses CBLAS");
}

void gemm_bf16(bool, bool, std::int64_t, std::int64_t, std::int64_t, const bf16*, std::int64_t, const bf16*,
               std::int64_t, bool, float*, std::int64_t) {
  fail(ErrorKind::input, "bf16 products need the oneDNN backend; this build uses CBLAS");
}

#endif

void head_scores(const float* q, const float* k, std::int64_t t, std::int64_t d, std::int64_t ld, float scale,
                 float* scores) {
  gemm(false, true, t, t, d, scale, q, ld, k, ld, 0.0f, scores, t);
}

void head_context(const float* probs, const float* v, std::int64_t t, std::int64_t d, std::int64_t ld, float* ctx) {
  gemm(false, false, t, d, t, 1.0f, probs, t, v, ld, 0.0f, ctx, ld);
}

// One head's product per (input, head), the heads split over the threads.
void attention_scores(const float* q, const float* k, std::int64_t batch, std::int64_t heads, std::int64_t t,
                      std::int64_t d, std::int64_t ld, float scale, float* scores) {
#pragma omp parallel for schedule(static) collapse(2)
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t h = 0; h < heads; ++h)
      head_scores(q + b * t * ld + h * d, k + b * t * ld + h * d, t, d, ld, scale, scores + (b * heads + h) * t * t);
}

void attention_context(const float* probs, const float* v, std::int64_t batch, std::int64_t heads, std::int64_t t,
                       std::int64_t d, std::int64_t ld, float* ctx) {
#pragma omp parallel for schedule(static) collapse(2)
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t h = 0; h < heads; ++h)
      head_context(probs + (b * heads + h) * t * t, v + b * t * ld + h * d, t, d, ld, ctx + b * t * ld + h * d);
}

}  // namespace bertscope::core
