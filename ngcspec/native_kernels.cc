// CPU kernels for ngcspec's event-driven paths, called from JAX through the XLA FFI.
//
// Built on first use by ngcspec/native.py (one shared library, cached per source, jaxlib and
// CPU) and used only when a program is lowered for the CPU; every kernel has an XLA twin in
// ngcspec/components/events.py that GPUs/TPUs (and CPUs without a compiler) run, with the
// same results up to the order of float sums.
//
// Why: on XLA:CPU a spike step is a chain of small operations (compaction by top_k, gathers,
// scatters, dynamic slices), each a few microseconds however few spikes there are. Here a
// kernel scans the spike flags and touches only the rows, columns or connection lists of
// the units that spiked, in one call.
//
// Layouts are row-major: spikes and factors (B, n), dense weights (n_in, n_out), connection
// lists (n_in, slots). A spike is any nonzero entry (graded values scale their rows).
//
// Members (jax.vmap, e.g. a sweep): every argument may carry the same leading axes in front
// of these (native.py declares vmap_method="broadcast_all"); a kernel runs once per member
// on that member's slices, in one call.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

template <ffi::DataType T>
using Native = ffi::NativeType<T>;

ffi::Error Bad(const char* what) { return ffi::Error::InvalidArgument(what); }

// Members of an argument whose own layout has `rank` axes: the product of the axes before
// them (1 without any), or -1 when it has fewer axes than that.
template <class Dims>
int64_t Members(const Dims& d, size_t rank) {
  if (d.size() < rank) return -1;
  int64_t m = 1;
  for (size_t i = 0; i + rank < d.size(); ++i) m *= d[i];
  return m;
}

// The trailing `rank` axes of d (its per-member layout).
template <class Dims>
int64_t Axis(const Dims& d, size_t rank, size_t i) { return d[d.size() - rank + i]; }

// Appends to `ids` the indices of the nonzero entries of x[0 .. n). Blocks of 64 entries are
// first tested as a whole, in a loop that vectorises (an OR of the bits without the sign, so
// -0 is zero and NaN is an event, as with != 0); a step has few spikes, so most blocks are
// skipped after that test. (A scalar compare per entry took 30% of a 100,000-unit scatter.)
template <typename F>
void NonzeroIndices(const F* x, int64_t n, std::vector<int64_t>& ids) {
  using Bits = std::conditional_t<sizeof(F) == 4, uint32_t, uint64_t>;
  constexpr int64_t kBlock = 64;
  int64_t i0 = 0;
  for (; i0 + kBlock <= n; i0 += kBlock) {
    Bits any = 0;
    for (int64_t i = i0; i < i0 + kBlock; ++i) {
      Bits b;
      std::memcpy(&b, x + i, sizeof b);
      any |= b << 1;
    }
    if (any == 0) continue;
    for (int64_t i = i0; i < i0 + kBlock; ++i)
      if (x[i] != F(0)) ids.push_back(i);
  }
  for (int64_t i = i0; i < n; ++i)
    if (x[i] != F(0)) ids.push_back(i);
}

// fn(b, i, x[b, i]) for every nonzero entry of x (batch, n), sample by sample
template <typename F, typename Fn>
inline void ForEachEvent(const F* x, int64_t batch, int64_t n, Fn&& fn) {
  std::vector<int64_t> ids;
  for (int64_t b = 0; b < batch; ++b) {
    ids.clear();
    NonzeroIndices(x + b * n, n, ids);
    for (int64_t i : ids) fn(b, i, x[b * n + i]);
  }
}

// out[b, :] = sum over i with x[b, i] != 0 of x[b, i] * w[i, :]
template <ffi::DataType T>
ffi::Error SpikeRows(ffi::Buffer<T> x, ffi::Buffer<T> w, ffi::ResultBuffer<T> out) {
  using F = Native<T>;
  auto xd = x.dimensions();
  auto wd = w.dimensions();
  const int64_t members = Members(xd, 2);
  if (members < 0 || Members(wd, 2) != members || xd.size() != wd.size() ||
      Axis(xd, 2, 1) != Axis(wd, 2, 0))
    return Bad("spike_rows: shapes");
  const int64_t batch = Axis(xd, 2, 0), n_in = Axis(xd, 2, 1), n_out = Axis(wd, 2, 1);
  for (int64_t m = 0; m < members; ++m) {
    const F* wp = w.typed_data() + m * n_in * n_out;
    F* op = out->typed_data() + m * batch * n_out;
    std::fill(op, op + batch * n_out, F(0));
    ForEachEvent(x.typed_data() + m * batch * n_in, batch, n_in, [&](int64_t b, int64_t i, F v) {
      F* orow = op + b * n_out;
      const F* wr = wp + i * n_out;
      for (int64_t j = 0; j < n_out; ++j) orow[j] += v * wr[j];
    });
  }
  return ffi::Error::Success();
}

// Asks for the first n entries at p (the start of a row of a connection list) ahead of use.
template <typename T>
inline void PrefetchRow(const T* p, int64_t n) {
  for (int64_t o = 0; o < n; o += 64 / static_cast<int64_t>(sizeof(T))) __builtin_prefetch(p + o);
}

// out[b, targets[i, s]] += x[b, row_start + i] * weights[i, s] for x[b, row_start + i] != 0
// (unit weights without `weights`). A row's connections fill its first slots: the first
// target outside [0, n_out) is an empty slot and ends the row (lists are drawn that way and
// files are checked for it), so a spike reads its ~mean connections, not all max_out slots.
// x may hold more units than the lists have rows (a population of a larger cell: pre_range),
// so no slice of it is copied.
//
// The spiking rows are found first (NonzeroIndices); while a row is added, the row kAhead
// spikes later is fetched: rows of a large network are scattered over memory that no cache
// holds (108 MB at 100,000 neurons), and the hardware prefetcher cannot guess the next. It
// fetches as many slots as the rows so far used on average (plus a cache line), the row
// lengths being unknown until read: fetching every slot cost 8% of a 100,000-neuron step.
template <typename F, bool Unit>
void ScatterMember(const F* x, const int32_t* tp, const F* wp, F* op, int64_t batch,
                   int64_t n_x, int64_t row_start, int64_t n_in, int64_t slots, int64_t n_out) {
  constexpr size_t kAhead = 8;
  constexpr int64_t kLine = 64 / sizeof(int32_t);
  std::fill(op, op + batch * n_out, F(0));
  std::vector<int64_t> ids;
  int64_t rows_seen = 0, used = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const F* xb = x + b * n_x + row_start;
    F* orow = op + b * n_out;
    ids.clear();
    NonzeroIndices(xb, n_in, ids);
    for (size_t e = 0; e < ids.size(); ++e) {
      if (e + kAhead < ids.size()) {
        const int64_t ahead = std::min(slots, rows_seen ? used / rows_seen + kLine : slots);
        PrefetchRow(tp + ids[e + kAhead] * slots, ahead);
        if (!Unit) PrefetchRow(wp + ids[e + kAhead] * slots, ahead);
      }
      const int64_t i = ids[e];
      const F v = xb[i];
      const int32_t* t = tp + i * slots;
      const F* wr = Unit ? nullptr : wp + i * slots;
      int64_t s = 0;
      for (; s < slots; ++s) {
        const uint32_t j = static_cast<uint32_t>(t[s]);
        if (j >= static_cast<uint64_t>(n_out)) break;
        orow[j] += Unit ? v : v * wr[s];
      }
      ++rows_seen;
      used += s;
    }
  }
}

// Shapes (per member): x (B, n_x), targets and weights (n_in, slots), out (B, n_out), with
// row_start + n_in <= n_x.
template <ffi::DataType T, bool Unit>
ffi::Error Scatter(ffi::Buffer<T> x, ffi::Buffer<ffi::S32> targets, const Native<T>* weights,
                   int64_t weight_count, ffi::ResultBuffer<T> out, int64_t row_start) {
  auto xd = x.dimensions();
  auto td = targets.dimensions();
  auto od = out->dimensions();
  const int64_t members = Members(xd, 2);
  if (members < 0 || Members(td, 2) != members || Members(od, 2) != members ||
      row_start < 0 || row_start + Axis(td, 2, 0) > Axis(xd, 2, 1) ||
      (!Unit && weight_count != targets.element_count()) || Axis(od, 2, 0) != Axis(xd, 2, 0))
    return Bad("spike_scatter: shapes");
  const int64_t batch = Axis(xd, 2, 0), n_x = Axis(xd, 2, 1), n_in = Axis(td, 2, 0),
                slots = Axis(td, 2, 1), n_out = Axis(od, 2, 1);
  for (int64_t m = 0; m < members; ++m)
    ScatterMember<Native<T>, Unit>(x.typed_data() + m * batch * n_x,
                                   targets.typed_data() + m * n_in * slots,
                                   Unit ? nullptr : weights + m * n_in * slots,
                                   out->typed_data() + m * batch * n_out, batch, n_x, row_start,
                                   n_in, slots, n_out);
  return ffi::Error::Success();
}

template <ffi::DataType T>
ffi::Error SpikeScatter(ffi::Buffer<T> x, ffi::Buffer<ffi::S32> targets,
                        ffi::Buffer<T> weights, ffi::ResultBuffer<T> out, int64_t row_start) {
  return Scatter<T, false>(x, targets, weights.typed_data(), weights.element_count(), out,
                           row_start);
}

// Every stored connection of weight 1 (no weights read: half the memory a spike touches).
template <ffi::DataType T>
ffi::Error SpikeScatterUnit(ffi::Buffer<T> x, ffi::Buffer<ffi::S32> targets,
                            ffi::ResultBuffer<T> out, int64_t row_start) {
  return Scatter<T, true>(x, targets, nullptr, 0, out, row_start);
}

// ---------------------------------------------------------------------------------------------
// STDP in place. The rules here change W[i, j] only where pre-synaptic unit i or
// post-synaptic unit j spiked (in some sample), unless a decay touches every weight; the
// kernel rewrites those rows and columns and leaves the rest. Per weight a rule reads
// three sums over the batch,
//   ltp   = sum_b f_pre[b, i] s_post[b, j]     the pre factor at the post spikes
//   posts = sum_b s_post[b, j]                 the post spikes of the column
//   ltd   = sum_b s_pre[b, i] f_post[b, j]     the post factor at the pre spikes
// and maps (w, mask, ltp, posts, ltd) to the new weight (0 where mask == 0). A rule's
// switches are template parameters so that its row loop vectorises.

template <typename F>
inline F Clip(F x, F lo, F hi) { return std::min(std::max(x, lo), hi); }

// exp for the exponential rule: a degree-6 polynomial after range reduction (within 2 ulp
// of expf) that vectorises, where a call to expf keeps the loop scalar. float64 uses exp.
inline float Exp(float x) {
  x = Clip(x, -87.0f, 88.0f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
inline double Exp(double x) { return std::exp(x); }

// TraceSTDPSynapse: ltp' = A+ (ltp - x_tar posts), ltd' = A- ltd   [* power-law factors]
//   W <- clip(W + eta (ltp' - ltd') - W / tau_w [Decay], 0, w_bound)
// coef = (A_plus, max(A_minus, 0), eta, mu, x_tar, w_bound, tau_w, power_law 0/1)
template <typename F, bool PowerLaw, bool Decay>
struct TraceRule {
  F a_plus, a_minus, eta, mu, x_tar, w_bound, tau_w;
  F operator()(F w, F m, F ltp, F posts, F ltd) const {
    F up = a_plus * (ltp - x_tar * posts), down = a_minus * ltd;
    if (PowerLaw) {
      up *= std::pow(std::max(w_bound - w, F(0)), mu);
      down *= std::pow(std::max(w, F(0)), mu);
    }
    F nw = w + eta * (up - down);
    if (Decay) nw -= w / tau_w;
    return m != F(0) ? Clip(nw, F(0), w_bound) : F(0);
  }
};

// ExpSTDPSynapse: dW = A+ [e^(-beta W) ltp - e^(-beta (w_bound - W)) x_tar posts]
//                      - A- e^(-beta W) ltd
//   W <- clip(W + eta dW - W / tau_w [Decay], 0.01, w_bound - 0.01)
// coef = (A_plus, max(A_minus, 0), eta, beta, x_tar, w_bound, tau_w)
template <typename F, bool Decay>
struct ExpRule {
  F a_plus, a_minus, eta, beta, x_tar, w_bound, tau_w;
  F operator()(F w, F m, F ltp, F posts, F ltd) const {
    const F soft = Exp(-beta * w);
    const F up = soft * ltp - Exp(-beta * (w_bound - w)) * (x_tar * posts);
    F nw = w + eta * (a_plus * up - a_minus * soft * ltd);
    if (Decay) nw -= w / tau_w;
    return m != F(0) ? Clip(nw, F(0.01), w_bound - F(0.01)) : F(0);
  }
};

// EventSTDPSynapse, with f_pre = 1 where the pre unit spiked recently (no pre events):
//   dW = A+ (w_bound - (1 + lmbda) W) ltp - A- (1 + lmbda) W (posts - ltp)
//   W <- clip(W + eta dW, 0.01, w_bound)
// coef = (A_plus, A_minus, eta, lmbda, w_bound)
template <typename F>
struct EventRule {
  F a_plus, a_minus, eta, lmbda, w_bound;
  F operator()(F w, F m, F ltp, F posts, F /*ltd*/) const {
    const F shrink = (F(1) + lmbda) * w;
    const F nw = w + eta * (a_plus * (w_bound - shrink) * ltp - a_minus * shrink * (posts - ltp));
    return m != F(0) ? Clip(nw, F(0.01), w_bound) : F(0);
  }
};

// A row of weights, compiled on its own (noinline) with restrict pointers and the rule by
// value: inlined into the kernel, GCC kept the loop scalar, reloading pointers every weight.
template <class Rule, typename F>
__attribute__((noinline)) void RuleRow(const Rule r, F* __restrict w, const F* __restrict m,
                                       const F* __restrict ltp, const F* __restrict posts,
                                       const F* __restrict ltd, int64_t n) {
  for (int64_t j = 0; j < n; ++j) w[j] = r(w[j], m[j], ltp[j], posts[j], ltd[j]);
}

// A column of weights (stride `stride`), skipping the rows marked in `skip`; no LTD there.
template <class Rule, typename F>
__attribute__((noinline)) void RuleColumn(const Rule r, F* __restrict w, const F* __restrict m,
                                          int64_t stride, const F* __restrict ltp, F posts,
                                          const char* __restrict skip, int64_t n) {
  constexpr int64_t kAhead = 16;   // rows: a column's weights are a cache line per row
  for (int64_t i = 0; i < n; ++i) {
    if (i + kAhead < n) {
      __builtin_prefetch(w + (i + kAhead) * stride, 1);
      __builtin_prefetch(m + (i + kAhead) * stride, 0);
    }
    if (!skip[i]) w[i * stride] = r(w[i * stride], m[i * stride], ltp[i], posts, F(0));
  }
}

// Asks for the next row of weights and of the mask while this one is computed: the rows of
// pre spikes are scattered over W, too far apart for the hardware prefetcher (4% at batch 16).
template <typename F>
inline void Prefetch(const F* w, const F* m, int64_t n) {
  for (int64_t o = 0; o < n; o += 64 / static_cast<int64_t>(sizeof(F))) {
    __builtin_prefetch(w + o, 1);
    __builtin_prefetch(m + o, 0);
  }
}

template <typename F>
struct StdpArgs {
  F* w;                          // (n_in, n_out), updated in place
  const F *m, *ps, *pf, *qs, *qf, *coef;
  int64_t batch, n_in, n_out;
};

// Applies `rule` to the rows of pre spikes (all rows if `every`) and then to the columns of
// post spikes in the other rows.
template <class Rule, typename F>
void StdpInPlace(const Rule& rule, bool every, const StdpArgs<F>& a) {
  const int64_t batch = a.batch, n_in = a.n_in, n_out = a.n_out;
  // rows of pre spikes and columns of post spikes (flag loops vectorise), then the samples
  // that spiked in each column: columns cols[c], samples post_b[starts[c] .. starts[c + 1])
  std::vector<char> row_on(n_in, 0), col_on(n_out, 0);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < n_in; ++i) row_on[i] |= a.ps[b * n_in + i] != F(0);
    for (int64_t j = 0; j < n_out; ++j) col_on[j] |= a.qs[b * n_out + j] != F(0);
  }
  std::vector<int64_t> cols, starts, post_b;
  std::vector<F> posts(n_out, F(0));
  for (int64_t j = 0; j < n_out; ++j) {
    if (!col_on[j]) continue;
    cols.push_back(j);
    starts.push_back(static_cast<int64_t>(post_b.size()));
    for (int64_t b = 0; b < batch; ++b)
      if (a.qs[b * n_out + j] != F(0)) {
        post_b.push_back(b);
        posts[j] += a.qs[b * n_out + j];
      }
  }
  starts.push_back(static_cast<int64_t>(post_b.size()));

  std::vector<F> ltp(n_out), ltd(n_out);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < n_in; ++i)
    if (row_on[i] || every) rows.push_back(i);
  for (size_t k = 0; k < rows.size(); ++k) {
    const int64_t i = rows[k];
    if (k + 1 < rows.size()) Prefetch(a.w + rows[k + 1] * n_out, a.m + rows[k + 1] * n_out, n_out);
    std::fill(ltd.begin(), ltd.end(), F(0));
    std::fill(ltp.begin(), ltp.end(), F(0));
    for (int64_t b = 0; b < batch; ++b) {
      const F s = a.ps[b * n_in + i];
      if (s == F(0)) continue;
      const F* fr = a.qf + b * n_out;
      for (int64_t j = 0; j < n_out; ++j) ltd[j] += s * fr[j];
    }
    for (size_t c = 0; c < cols.size(); ++c) {
      const int64_t j = cols[c];
      for (int64_t e = starts[c]; e < starts[c + 1]; ++e) {
        const int64_t b = post_b[e];
        ltp[j] += a.pf[b * n_in + i] * a.qs[b * n_out + j];
      }
    }
    RuleRow(rule, a.w + i * n_out, a.m + i * n_out, ltp.data(), posts.data(), ltd.data(), n_out);
  }
  if (every) return;
  // columns of post spikes, in the rows no pre spike touched (there ltd = 0): per column,
  // its LTP sum for every row (a vector loop), then the column's weights
  std::vector<F> col_ltp(n_in);
  for (size_t c = 0; c < cols.size(); ++c) {
    const int64_t j = cols[c];
    std::fill(col_ltp.begin(), col_ltp.end(), F(0));
    for (int64_t e = starts[c]; e < starts[c + 1]; ++e) {
      const int64_t b = post_b[e];
      const F s = a.qs[b * n_out + j];
      const F* fr = a.pf + b * n_in;
      for (int64_t i = 0; i < n_in; ++i) col_ltp[i] += fr[i] * s;
    }
    RuleColumn(rule, a.w + j, a.m + j, n_out, col_ltp.data(), posts[j], row_on.data(), n_in);
  }
}

// The arguments every STDP kernel takes: weights, mask, pre spikes and factor (B, n_in),
// post spikes and factor (B, n_out), `n_coef` coefficients; the result aliases the weights.
// Member m's arguments (all with the same leading axes) are *a advanced by m (see Member).
template <ffi::DataType T>
const char* Decode(ffi::Buffer<T> w, ffi::Buffer<T> mask, ffi::Buffer<T> pre_s,
                   ffi::Buffer<T> pre_f, ffi::Buffer<T> post_s, ffi::Buffer<T> post_f,
                   ffi::Buffer<T> coef, ffi::ResultBuffer<T>& out, size_t n_coef,
                   StdpArgs<Native<T>>* a, int64_t* members) {
  auto wd = w.dimensions();
  auto pd = pre_s.dimensions();
  auto qd = post_s.dimensions();
  *members = Members(wd, 2);
  if (*members < 0 || Members(pd, 2) != *members || Members(qd, 2) != *members ||
      Members(coef.dimensions(), 1) != *members || Axis(pd, 2, 1) != Axis(wd, 2, 0) ||
      Axis(qd, 2, 1) != Axis(wd, 2, 1) || Axis(pd, 2, 0) != Axis(qd, 2, 0) ||
      coef.element_count() != n_coef * *members || mask.element_count() != w.element_count() ||
      pre_f.element_count() != pre_s.element_count() ||
      post_f.element_count() != post_s.element_count())
    return "stdp: shapes";
  *a = {out->typed_data(), mask.typed_data(), pre_s.typed_data(), pre_f.typed_data(),
        post_s.typed_data(), post_f.typed_data(), coef.typed_data(), Axis(pd, 2, 0),
        Axis(wd, 2, 0), Axis(wd, 2, 1)};
  if (a->w != w.typed_data())
    std::memcpy(a->w, w.typed_data(), sizeof(Native<T>) * w.element_count());
  return nullptr;
}

// Member m's slices of the arguments of all members.
template <typename F>
StdpArgs<F> Member(const StdpArgs<F>& a, int64_t m, size_t n_coef) {
  const int64_t ww = a.n_in * a.n_out, pre = a.batch * a.n_in, post = a.batch * a.n_out;
  return {a.w + m * ww, a.m + m * ww, a.ps + m * pre, a.pf + m * pre, a.qs + m * post,
          a.qf + m * post, a.coef + m * static_cast<int64_t>(n_coef), a.batch, a.n_in, a.n_out};
}

#define NGC_STDP_ARGS                                                                       \
  ffi::Buffer<T> w, ffi::Buffer<T> mask, ffi::Buffer<T> pre_s, ffi::Buffer<T> pre_f,        \
      ffi::Buffer<T> post_s, ffi::Buffer<T> post_f, ffi::Buffer<T> coef,                    \
      ffi::ResultBuffer<T> out

#define NGC_STDP_PASS w, mask, pre_s, pre_f, post_s, post_f, coef, out

// Decodes the arguments (n_coef coefficients), then apply(coefficients, arguments).
template <ffi::DataType T, class Apply>
ffi::Error RunStdp(size_t n_coef, Apply apply, NGC_STDP_ARGS) {
  StdpArgs<Native<T>> all;
  int64_t members = 0;
  if (const char* bad = Decode(NGC_STDP_PASS, n_coef, &all, &members)) return Bad(bad);
  for (int64_t m = 0; m < members; ++m) {
    const StdpArgs<Native<T>> a = Member(all, m, n_coef);
    apply(a.coef, a);
  }
  return ffi::Error::Success();
}

template <ffi::DataType T>
ffi::Error TraceStdp(NGC_STDP_ARGS) {
  using F = Native<T>;
  return RunStdp<T>(8, [](const F* c, const StdpArgs<F>& a) {
    const bool power_law = c[7] != F(0), decay = c[6] > F(0);
    auto run = [&](auto rule) { StdpInPlace(rule, decay, a); };
    if (power_law && decay) run(TraceRule<F, true, true>{c[0], c[1], c[2], c[3], c[4], c[5], c[6]});
    else if (power_law) run(TraceRule<F, true, false>{c[0], c[1], c[2], c[3], c[4], c[5], c[6]});
    else if (decay) run(TraceRule<F, false, true>{c[0], c[1], c[2], c[3], c[4], c[5], c[6]});
    else run(TraceRule<F, false, false>{c[0], c[1], c[2], c[3], c[4], c[5], c[6]});
  }, NGC_STDP_PASS);
}

template <ffi::DataType T>
ffi::Error ExpStdp(NGC_STDP_ARGS) {
  using F = Native<T>;
  return RunStdp<T>(7, [](const F* c, const StdpArgs<F>& a) {
    if (c[6] > F(0))
      StdpInPlace(ExpRule<F, true>{c[0], c[1], c[2], c[3], c[4], c[5], c[6]}, true, a);
    else
      StdpInPlace(ExpRule<F, false>{c[0], c[1], c[2], c[3], c[4], c[5], c[6]}, false, a);
  }, NGC_STDP_PASS);
}

template <ffi::DataType T>
ffi::Error EventStdp(NGC_STDP_ARGS) {
  using F = Native<T>;
  return RunStdp<T>(5, [](const F* c, const StdpArgs<F>& a) {
    StdpInPlace(EventRule<F>{c[0], c[1], c[2], c[3], c[4]}, false, a);
  }, NGC_STDP_PASS);
}

}  // namespace

#define NGC_BUF(T) ffi::Buffer<ffi::T>

#define NGC_STDP_BIND(T)                                                                    \
  ffi::Ffi::Bind().Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>()  \
      .Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>().Ret<NGC_BUF(T)>()

#define NGC_KERNELS(T, suffix)                                                              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(                                                            \
      ngc_spike_rows_##suffix, SpikeRows<ffi::T>,                                           \
      ffi::Ffi::Bind().Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>().Ret<NGC_BUF(T)>());              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(                                                            \
      ngc_spike_scatter_##suffix, SpikeScatter<ffi::T>,                                     \
      ffi::Ffi::Bind().Arg<NGC_BUF(T)>().Arg<NGC_BUF(S32)>().Arg<NGC_BUF(T)>()              \
          .Ret<NGC_BUF(T)>().Attr<int64_t>("row_start"));                                   \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(                                                            \
      ngc_spike_scatter_unit_##suffix, SpikeScatterUnit<ffi::T>,                            \
      ffi::Ffi::Bind().Arg<NGC_BUF(T)>().Arg<NGC_BUF(S32)>().Ret<NGC_BUF(T)>()              \
          .Attr<int64_t>("row_start"));                                                     \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(ngc_trace_stdp_##suffix, TraceStdp<ffi::T>,                 \
                                NGC_STDP_BIND(T));                                          \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(ngc_exp_stdp_##suffix, ExpStdp<ffi::T>, NGC_STDP_BIND(T));  \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(ngc_event_stdp_##suffix, EventStdp<ffi::T>,                 \
                                NGC_STDP_BIND(T));

NGC_KERNELS(F32, f32)
NGC_KERNELS(F64, f64)
