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

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

template <ffi::DataType T>
using Native = ffi::NativeType<T>;

ffi::Error Bad(const char* what) { return ffi::Error::InvalidArgument(what); }

// fn(b, i, x[b, i]) for every nonzero entry of x (batch, n), sample by sample
template <typename F, typename Fn>
inline void ForEachEvent(const F* x, int64_t batch, int64_t n, Fn&& fn) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < n; ++i)
      if (x[b * n + i] != F(0)) fn(b, i, x[b * n + i]);
}

// out[b, :] = sum over i with x[b, i] != 0 of x[b, i] * w[i, :]
template <ffi::DataType T>
ffi::Error SpikeRows(ffi::Buffer<T> x, ffi::Buffer<T> w, ffi::ResultBuffer<T> out) {
  using F = Native<T>;
  auto xd = x.dimensions();
  auto wd = w.dimensions();
  if (xd.size() != 2 || wd.size() != 2 || xd[1] != wd[0]) return Bad("spike_rows: shapes");
  const int64_t batch = xd[0], n_in = xd[1], n_out = wd[1];
  const F* wp = w.typed_data();
  F* op = out->typed_data();
  std::fill(op, op + batch * n_out, F(0));
  ForEachEvent(x.typed_data(), batch, n_in, [&](int64_t b, int64_t i, F v) {
    F* orow = op + b * n_out;
    const F* wr = wp + i * n_out;
    for (int64_t j = 0; j < n_out; ++j) orow[j] += v * wr[j];
  });
  return ffi::Error::Success();
}

// out[b, targets[i, s]] += x[b, i] * weights[i, s] for x[b, i] != 0; targets outside
// [0, n_out) are empty slots.
template <ffi::DataType T>
ffi::Error SpikeScatter(ffi::Buffer<T> x, ffi::Buffer<ffi::S32> targets,
                        ffi::Buffer<T> weights, ffi::ResultBuffer<T> out) {
  using F = Native<T>;
  auto xd = x.dimensions();
  auto td = targets.dimensions();
  auto od = out->dimensions();
  if (xd.size() != 2 || td.size() != 2 || od.size() != 2 || xd[1] != td[0] ||
      weights.element_count() != targets.element_count() || od[0] != xd[0])
    return Bad("spike_scatter: shapes");
  const int64_t batch = xd[0], n_in = xd[1], slots = td[1], n_out = od[1];
  const int32_t* tp = targets.typed_data();
  const F* wp = weights.typed_data();
  F* op = out->typed_data();
  std::fill(op, op + batch * n_out, F(0));
  ForEachEvent(x.typed_data(), batch, n_in, [&](int64_t b, int64_t i, F v) {
    F* orow = op + b * n_out;
    const int32_t* t = tp + i * slots;
    const F* wr = wp + i * slots;
    for (int64_t s = 0; s < slots; ++s) {
      const uint32_t j = static_cast<uint32_t>(t[s]);
      if (j < static_cast<uint64_t>(n_out)) orow[j] += v * wr[s];
    }
  });
  return ffi::Error::Success();
}

// Trace STDP (TraceSTDPSynapse.rule), rewriting only the rows of pre-synaptic spikes and the
// columns of post-synaptic spikes (every weight while the decay tau_w > 0 is on):
//   ltp = A_plus sum_b (x_pre[b, i] - x_tar) s_post[b, j]   [* max(w_bound - W, 0)^mu]
//   ltd = A_minus sum_b s_pre[b, i] x_post[b, j]           [* max(W, 0)^mu]
//   W <- clip(W + eta (ltp - ltd) - W / tau_w [tau_w > 0], 0, w_bound), 0 where mask == 0
// coef = (A_plus, max(A_minus, 0), eta, mu, x_tar, w_bound, tau_w, power_law 0/1).
// The result aliases the weights (updated in place); unvisited weights keep their values.
template <typename F>
struct TraceRule {
  F a_plus, a_minus, eta, mu, x_tar, w_bound, tau_w;
};

// One weight; PowerLaw and Decay are compile-time so that row loops vectorise.
template <bool PowerLaw, bool Decay, typename F>
inline F TraceWeight(const TraceRule<F>& r, F w, F m, F ltp, F ltd) {
  if (PowerLaw) {
    ltp *= std::pow(std::max(r.w_bound - w, F(0)), r.mu);
    ltd *= std::pow(std::max(w, F(0)), r.mu);
  }
  F nw = w + r.eta * (r.a_plus * ltp - r.a_minus * ltd);
  if (Decay) nw -= w / r.tau_w;
  nw = std::min(std::max(nw, F(0)), r.w_bound);
  return m != F(0) ? nw : F(0);
}

// A row of weights. Compiled on its own (noinline) with restrict pointers and the rule by
// value: inlined into the kernel, GCC kept it scalar, reloading pointers at every weight.
template <bool PowerLaw, bool Decay, typename F>
__attribute__((noinline)) void TraceRow(const TraceRule<F> r, F* __restrict w, const F* __restrict m,
              const F* __restrict ltp, const F* __restrict ltd, int64_t n) {
  for (int64_t j = 0; j < n; ++j) w[j] = TraceWeight<PowerLaw, Decay>(r, w[j], m[j], ltp[j], ltd[j]);
}

// A column of weights (stride `stride`), skipping the rows marked in `skip`; no LTD.
template <bool PowerLaw, typename F>
__attribute__((noinline)) void TraceColumn(const TraceRule<F> r, F* __restrict w,
                                           const F* __restrict m, int64_t stride,
                                           const F* __restrict ltp,
                                           const char* __restrict skip, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!skip[i])
      w[i * stride] = TraceWeight<PowerLaw, false>(r, w[i * stride], m[i * stride], ltp[i], F(0));
}

template <typename F>
void TraceColumn(bool power_law, const TraceRule<F> r, F* w, const F* m, int64_t stride,
                 const F* ltp, const char* skip, int64_t n) {
  power_law ? TraceColumn<true>(r, w, m, stride, ltp, skip, n)
            : TraceColumn<false>(r, w, m, stride, ltp, skip, n);
}

template <typename F>
void TraceRow(bool power_law, bool decay, const TraceRule<F> r, F* w, const F* m, const F* ltp,
              const F* ltd, int64_t n) {
  if (power_law)
    decay ? TraceRow<true, true>(r, w, m, ltp, ltd, n) : TraceRow<true, false>(r, w, m, ltp, ltd, n);
  else
    decay ? TraceRow<false, true>(r, w, m, ltp, ltd, n) : TraceRow<false, false>(r, w, m, ltp, ltd, n);
}

template <ffi::DataType T>
ffi::Error TraceStdp(ffi::Buffer<T> w, ffi::Buffer<T> mask, ffi::Buffer<T> pre_s,
                     ffi::Buffer<T> pre_x, ffi::Buffer<T> post_s, ffi::Buffer<T> post_x,
                     ffi::Buffer<T> coef, ffi::ResultBuffer<T> out) {
  using F = Native<T>;
  auto wd = w.dimensions();
  auto pd = pre_s.dimensions();
  auto qd = post_s.dimensions();
  if (wd.size() != 2 || pd.size() != 2 || qd.size() != 2 || pd[1] != wd[0] ||
      qd[1] != wd[1] || pd[0] != qd[0] || coef.element_count() != 8 ||
      mask.element_count() != w.element_count() ||
      pre_x.element_count() != pre_s.element_count() ||
      post_x.element_count() != post_s.element_count())
    return Bad("trace_stdp: shapes");
  const int64_t batch = pd[0], n_in = wd[0], n_out = wd[1];
  const F* c = coef.typed_data();
  const TraceRule<F> rule{c[0], c[1], c[2], c[3], c[4], c[5], c[6]};
  const bool power_law = c[7] != F(0), decay = c[6] > F(0);
  const F* mp = mask.typed_data();
  const F* ps = pre_s.typed_data();
  const F* px = pre_x.typed_data();
  const F* qs = post_s.typed_data();
  const F* qx = post_x.typed_data();
  F* wp = out->typed_data();
  if (wp != w.typed_data()) std::memcpy(wp, w.typed_data(), sizeof(F) * n_in * n_out);

  // rows of pre spikes and columns of post spikes (flag loops vectorise), then the samples
  // that spiked in each column: columns cols[c], samples post_b[starts[c] .. starts[c + 1])
  std::vector<char> row_on(n_in, 0), col_on(n_out, 0);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < n_in; ++i) row_on[i] |= ps[b * n_in + i] != F(0);
    for (int64_t j = 0; j < n_out; ++j) col_on[j] |= qs[b * n_out + j] != F(0);
  }
  std::vector<int64_t> cols, starts, post_b;
  for (int64_t j = 0; j < n_out; ++j) {
    if (!col_on[j]) continue;
    cols.push_back(j);
    starts.push_back(static_cast<int64_t>(post_b.size()));
    for (int64_t b = 0; b < batch; ++b)
      if (qs[b * n_out + j] != F(0)) post_b.push_back(b);
  }
  starts.push_back(static_cast<int64_t>(post_b.size()));

  std::vector<F> ltp(n_out), ltd(n_out);
  for (int64_t i = 0; i < n_in; ++i) {
    if (!row_on[i] && !decay) continue;
    std::fill(ltd.begin(), ltd.end(), F(0));
    std::fill(ltp.begin(), ltp.end(), F(0));
    for (int64_t b = 0; b < batch; ++b) {
      const F s = ps[b * n_in + i];
      if (s == F(0)) continue;
      const F* xr = qx + b * n_out;
      for (int64_t j = 0; j < n_out; ++j) ltd[j] += s * xr[j];
    }
    for (size_t c = 0; c < cols.size(); ++c) {
      const int64_t j = cols[c];
      for (int64_t e = starts[c]; e < starts[c + 1]; ++e) {
        const int64_t b = post_b[e];
        ltp[j] += (px[b * n_in + i] - rule.x_tar) * qs[b * n_out + j];
      }
    }
    TraceRow(power_law, decay, rule, wp + i * n_out, mp + i * n_out, ltp.data(), ltd.data(),
             n_out);
  }
  if (decay) return ffi::Error::Success();   // every row is done
  // columns of post spikes, in the rows no pre spike touched (there ltd = 0): per column,
  // its LTP factor for every row (a vector loop), then the column's weights, a constant
  // stride that the hardware prefetcher follows
  std::vector<F> col_ltp(n_in);
  for (size_t c = 0; c < cols.size(); ++c) {
    const int64_t j = cols[c];
    std::fill(col_ltp.begin(), col_ltp.end(), F(0));
    for (int64_t e = starts[c]; e < starts[c + 1]; ++e) {
      const int64_t b = post_b[e];
      const F s = qs[b * n_out + j];
      const F* xr = px + b * n_in;
      for (int64_t i = 0; i < n_in; ++i) col_ltp[i] += (xr[i] - rule.x_tar) * s;
    }
    TraceColumn(power_law, rule, wp + j, mp + j, n_out, col_ltp.data(), row_on.data(), n_in);
  }
  return ffi::Error::Success();
}

}  // namespace

#define NGC_BUF(T) ffi::Buffer<ffi::T>

#define NGC_KERNELS(T, suffix)                                                              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(                                                            \
      ngc_spike_rows_##suffix, SpikeRows<ffi::T>,                                           \
      ffi::Ffi::Bind().Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>().Ret<NGC_BUF(T)>());              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(                                                            \
      ngc_spike_scatter_##suffix, SpikeScatter<ffi::T>,                                     \
      ffi::Ffi::Bind().Arg<NGC_BUF(T)>().Arg<NGC_BUF(S32)>().Arg<NGC_BUF(T)>()              \
          .Ret<NGC_BUF(T)>());                                                              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(                                                            \
      ngc_trace_stdp_##suffix, TraceStdp<ffi::T>,                                           \
      ffi::Ffi::Bind().Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>()                \
          .Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>().Arg<NGC_BUF(T)>()          \
          .Ret<NGC_BUF(T)>());

NGC_KERNELS(F32, f32)
NGC_KERNELS(F64, f64)
