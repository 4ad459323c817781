// Tensors, ops with autograd, and the optimizer kernels of libgid_torch (C ABI).
// A tensor handle is a heap-allocated at::Tensor (a reference-counted pointer to the
// TensorImpl); gid_t_free drops that reference. Every op returns a fresh handle through its
// last argument. Only ATen + autograd headers: this unit compiles in ~10 s instead of ~25 s.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <vector>

#include "gid_torch.h"

namespace {

using th = void*;

inline at::Tensor& T(th h) {
    if (h == nullptr) throw gid::argument_error("tensor handle is null");
    return *static_cast<at::Tensor*>(h);
}

inline th wrap(at::Tensor t) { return new at::Tensor(std::move(t)); }

inline at::IntArrayRef dims(const int64_t* p, int n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }

inline std::vector<at::Tensor> list(const th* p, int n) {
    std::vector<at::Tensor> v;
    v.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) v.push_back(T(p[i]));
    return v;
}

// Many outputs (split, chunk): the caller passes capacity; count tells how many were produced.
inline void emit(const std::vector<at::Tensor>& v, th* out, int capacity, int* count) {
    *count = static_cast<int>(v.size());
    if (static_cast<int>(v.size()) > capacity)
        throw gid::argument_error("result has " + std::to_string(v.size()) + " tensors but the buffer holds " +
                                  std::to_string(capacity));
    for (size_t i = 0; i < v.size(); i++) out[i] = wrap(v[i]);
}

inline at::TensorOptions opts(int dtype, int device_type, int device_index) {
    return at::TensorOptions()
        .dtype(static_cast<at::ScalarType>(dtype))
        .device(at::Device(static_cast<at::DeviceType>(device_type), static_cast<c10::DeviceIndex>(device_index)));
}

inline c10::optional<at::Generator> gen(void* g) {
    if (g == nullptr) return c10::nullopt;
    return *static_cast<at::Generator*>(g);
}

inline c10::optional<at::Tensor> opt(th h) {
    if (h == nullptr) return c10::nullopt;
    return T(h);
}

}  // namespace

// ---- lifetime and metadata --------------------------------------------------------------

GID_EXPORT void gid_t_free(th h) { delete static_cast<at::Tensor*>(h); }

GID_EXPORT int gid_t_from_data(const void* data, int64_t nbytes, const int64_t* shape, int ndim, int dtype,
                               th* out) {
    GID_TORCH_GUARD({
        auto type = static_cast<at::ScalarType>(dtype);
        int64_t numel = 1;
        for (int i = 0; i < ndim; i++) {
            if (shape[i] < 0) throw gid::argument_error("shape has a negative size");
            numel *= shape[i];
        }
        const int64_t need = numel * static_cast<int64_t>(c10::elementSize(type));
        if (need != nbytes)
            throw gid::argument_error("data holds " + std::to_string(nbytes) + " bytes but shape and dtype need " +
                                      std::to_string(need));
        auto t = at::empty(dims(shape, ndim), at::TensorOptions().dtype(type));
        if (need > 0) std::memcpy(t.data_ptr(), data, static_cast<size_t>(need));
        *out = wrap(std::move(t));
    });
}

GID_EXPORT int gid_t_copy_to(th h, void* data, int64_t nbytes) {
    GID_TORCH_GUARD({
        auto t = T(h).detach().to(at::kCPU).contiguous();
        const int64_t have = t.numel() * static_cast<int64_t>(t.element_size());
        if (have != nbytes)
            throw gid::argument_error("tensor holds " + std::to_string(have) + " bytes but the buffer has " +
                                      std::to_string(nbytes));
        if (have > 0) std::memcpy(data, t.data_ptr(), static_cast<size_t>(have));
    });
}

GID_EXPORT int gid_t_ndim(th h, int* n) { GID_TORCH_GUARD(*n = static_cast<int>(T(h).dim())); }

GID_EXPORT int gid_t_shape(th h, int64_t* shape, int capacity) {
    GID_TORCH_GUARD({
        auto s = T(h).sizes();
        if (static_cast<int>(s.size()) > capacity) throw gid::argument_error("shape buffer too small");
        for (size_t i = 0; i < s.size(); i++) shape[i] = s[i];
    });
}

GID_EXPORT int gid_t_info(th h, int* dtype, int* device_type, int* device_index, int* requires_grad) {
    GID_TORCH_GUARD({
        auto& t = T(h);
        *dtype = static_cast<int>(t.scalar_type());
        *device_type = static_cast<int>(t.device().type());
        *device_index = t.device().index();
        *requires_grad = t.requires_grad() ? 1 : 0;
    });
}

GID_EXPORT int gid_t_item(th h, double* value) { GID_TORCH_GUARD(*value = T(h).item<double>()); }

GID_EXPORT int gid_t_set_requires_grad(th h, int on) { GID_TORCH_GUARD(T(h).set_requires_grad(on != 0)); }

// The gradient accumulated in .grad, or null when there is none.
GID_EXPORT int gid_t_grad(th h, th* out) {
    GID_TORCH_GUARD({
        auto g = T(h).grad();
        *out = g.defined() ? wrap(g) : nullptr;
    });
}

GID_EXPORT int gid_t_set_grad(th h, th g) {
    GID_TORCH_GUARD(T(h).mutable_grad() = g == nullptr ? at::Tensor() : T(g));
}

GID_EXPORT int gid_t_backward(th h, th grad, int retain_graph) {
    GID_TORCH_GUARD({
        T(h).backward(grad == nullptr ? at::Tensor() : T(grad), retain_graph != 0 ? c10::optional<bool>(true)
                                                                                  : c10::nullopt);
    });
}

GID_EXPORT int gid_grad_mode(int* enabled) { GID_TORCH_GUARD(*enabled = at::GradMode::is_enabled() ? 1 : 0); }
GID_EXPORT int gid_set_grad_mode(int enabled) { GID_TORCH_GUARD(at::GradMode::set_enabled(enabled != 0)); }

GID_EXPORT int gid_manual_seed(uint64_t seed) { GID_TORCH_GUARD(at::manual_seed(seed)); }

GID_EXPORT int gid_generator_new(uint64_t seed, void** out) {
    GID_TORCH_GUARD(*out = new at::Generator(at::make_generator<at::CPUGeneratorImpl>(seed)));
}
GID_EXPORT void gid_generator_free(void* g) { delete static_cast<at::Generator*>(g); }

// ---- creation ---------------------------------------------------------------------------

GID_EXPORT int gid_t_full(const int64_t* shape, int ndim, double value, int dtype, int dt, int di, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::full(dims(shape, ndim), value, opts(dtype, dt, di))));
}
GID_EXPORT int gid_t_empty(const int64_t* shape, int ndim, int dtype, int dt, int di, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::empty(dims(shape, ndim), opts(dtype, dt, di))));
}
GID_EXPORT int gid_t_arange(double start, double end, double step, int dtype, int dt, int di, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::arange(start, end, step, opts(dtype, dt, di))));
}
GID_EXPORT int gid_t_linspace(double start, double end, int64_t steps, int dtype, int dt, int di, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::linspace(start, end, steps, opts(dtype, dt, di))));
}
// kind: 0 rand (uniform [0,1)), 1 randn, 2 randint [low, high)
GID_EXPORT int gid_t_random(int kind, const int64_t* shape, int ndim, int64_t low, int64_t high, void* g, int dtype,
                            int dt, int di, th* out) {
    GID_TORCH_GUARD({
        auto o = opts(dtype, dt, di);
        auto s = dims(shape, ndim);
        switch (kind) {
            case 0: *out = wrap(at::rand(s, gen(g), o)); break;
            case 1: *out = wrap(at::randn(s, gen(g), o)); break;
            case 2: *out = wrap(at::randint(low, high, s, gen(g), o)); break;
            default: throw gid::argument_error("unknown random kind");
        }
    });
}
GID_EXPORT int gid_t_randperm(int64_t n, void* g, int dtype, int dt, int di, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::randperm(n, gen(g), opts(dtype, dt, di))));
}
// In place, like torch.nn.init: uniform_(a, b) and normal_(mean, std).
GID_EXPORT int gid_t_uniform_(th h, double a, double b, void* g) { GID_TORCH_GUARD(T(h).uniform_(a, b, gen(g))); }
GID_EXPORT int gid_t_normal_(th h, double mean, double std, void* g) {
    GID_TORCH_GUARD(T(h).normal_(mean, std, gen(g)));
}

// ---- conversion -------------------------------------------------------------------------

GID_EXPORT int gid_t_to(th h, int dtype, int dt, int di, int copy, th* out) {
    GID_TORCH_GUARD({
        auto& t = T(h);
        auto type = dtype < 0 ? t.scalar_type() : static_cast<at::ScalarType>(dtype);
        auto device = dt < 0 ? t.device() : at::Device(static_cast<at::DeviceType>(dt), static_cast<c10::DeviceIndex>(di));
        *out = wrap(t.to(device, type, false, copy != 0));
    });
}
GID_EXPORT int gid_t_detach(th h, th* out) { GID_TORCH_GUARD(*out = wrap(T(h).detach())); }
GID_EXPORT int gid_t_clone(th h, th* out) { GID_TORCH_GUARD(*out = wrap(T(h).clone())); }
GID_EXPORT int gid_t_contiguous(th h, th* out) { GID_TORCH_GUARD(*out = wrap(T(h).contiguous())); }
GID_EXPORT int gid_t_alias(th h, th* out) { GID_TORCH_GUARD(*out = wrap(T(h))); }

// ---- in place (optimizers, EMA, init; under no_grad on the managed side) -------------------

// Replaces the data of dst keeping its identity (Parameter objects survive Module.to).
GID_EXPORT int gid_t_set_data(th dst, th src) { GID_TORCH_GUARD(T(dst).set_data(T(src))); }
GID_EXPORT int gid_t_copy_(th dst, th src) { GID_TORCH_GUARD(T(dst).copy_(T(src))); }
GID_EXPORT int gid_t_fill_(th h, double v) { GID_TORCH_GUARD(T(h).fill_(v)); }
GID_EXPORT int gid_t_zero_(th h) { GID_TORCH_GUARD(T(h).zero_()); }
GID_EXPORT int gid_t_mul_s_(th h, double v) { GID_TORCH_GUARD(T(h).mul_(v)); }
GID_EXPORT int gid_t_add_(th h, th other, double alpha) { GID_TORCH_GUARD(T(h).add_(T(other), alpha)); }
GID_EXPORT int gid_t_lerp_(th h, th end, double weight) { GID_TORCH_GUARD(T(h).lerp_(T(end), weight)); }

// ---- op table ---------------------------------------------------------------------------
// Unary and binary ops are generated from these lists; the managed side mirrors them in
// training/Torch/Ops.cs.
#define GID_UNARY(X)                                                                                        \
    X(neg) X(exp) X(log) X(sqrt) X(rsqrt) X(abs) X(sin) X(cos) X(tanh) X(sigmoid) X(relu) X(silu) X(floor) \
    X(ceil) X(round) X(sign) X(logical_not) X(square) X(log1p) X(expm1) X(erf) X(reciprocal) X(isnan)      \
    X(isfinite) X(real) X(imag) X(angle) X(conj) X(view_as_real) X(view_as_complex) X(t)

#define GID_BINARY(X)                                                                                      \
    X(add) X(sub) X(mul) X(div) X(pow) X(maximum) X(minimum) X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(matmul) \
    X(bmm) X(atan2) X(logical_and) X(logical_or) X(remainder) X(complex) X(mm) X(polar)

#define GID_SCALAR(X) X(add) X(sub) X(mul) X(div) X(pow) X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(remainder)

#define GID_DEF_UNARY(name) \
    GID_EXPORT int gid_t_##name(th a, th* out) { GID_TORCH_GUARD(*out = wrap(at::name(T(a)))); }
#define GID_DEF_BINARY(name) \
    GID_EXPORT int gid_t_##name(th a, th b, th* out) { GID_TORCH_GUARD(*out = wrap(at::name(T(a), T(b)))); }
#define GID_DEF_SCALAR(name)                                          \
    GID_EXPORT int gid_t_##name##_s(th a, double s, th* out) {          \
        GID_TORCH_GUARD(*out = wrap(at::name(T(a), at::Scalar(s)))); \
    }

GID_UNARY(GID_DEF_UNARY)
GID_BINARY(GID_DEF_BINARY)
GID_SCALAR(GID_DEF_SCALAR)

GID_EXPORT int gid_t_rsub_s(th a, double s, th* out) { GID_TORCH_GUARD(*out = wrap(at::rsub(T(a), s))); }
GID_EXPORT int gid_t_rdiv_s(th a, double s, th* out) { GID_TORCH_GUARD(*out = wrap(at::reciprocal(T(a)) * s)); }
GID_EXPORT int gid_t_gelu(th a, int tanh_approx, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::gelu(T(a), tanh_approx ? "tanh" : "none")));
}
GID_EXPORT int gid_t_where(th c, th a, th b, th* out) { GID_TORCH_GUARD(*out = wrap(at::where(T(c), T(a), T(b)))); }
GID_EXPORT int gid_t_clamp(th a, int has_min, double min, int has_max, double max, th* out) {
    GID_TORCH_GUARD({
        c10::optional<at::Scalar> lo, hi;
        if (has_min) lo = min;
        if (has_max) hi = max;
        *out = wrap(at::clamp(T(a), lo, hi));
    });
}
GID_EXPORT int gid_t_lerp(th a, th b, double w, th* out) { GID_TORCH_GUARD(*out = wrap(at::lerp(T(a), T(b), w))); }
GID_EXPORT int gid_t_baddbmm(th self, th b1, th b2, double beta, double alpha, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::baddbmm(T(self), T(b1), T(b2), beta, alpha)));
}
GID_EXPORT int gid_t_einsum(const char* eq, const th* ts, int n, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::einsum(eq, list(ts, n))));
}

// ---- reductions -------------------------------------------------------------------------
// kind: 0 sum, 1 mean, 2 amax, 3 amin, 4 logsumexp, 5 prod (single dim or all)
GID_EXPORT int gid_t_reduce(th a, int kind, const int64_t* d, int nd, int keepdim, th* out) {
    GID_TORCH_GUARD({
        auto& t = T(a);
        const bool all = nd == 0;
        const bool k = keepdim != 0;
        switch (kind) {
            case 0: *out = wrap(all ? at::sum(t) : at::sum(t, dims(d, nd), k)); break;
            case 1: *out = wrap(all ? at::mean(t) : at::mean(t, dims(d, nd), k)); break;
            case 2: *out = wrap(at::amax(t, dims(d, nd), k)); break;
            case 3: *out = wrap(at::amin(t, dims(d, nd), k)); break;
            case 4: *out = wrap(at::logsumexp(t, all ? at::IntArrayRef() : dims(d, nd), k)); break;
            case 5:
                if (nd > 1) throw gid::argument_error("prod reduces over one dim or all");
                *out = wrap(all ? at::prod(t) : at::prod(t, d[0], k));
                break;
            default: throw gid::argument_error("unknown reduction");
        }
    });
}
// var/std with correction (1 = unbiased, as torch's default).
GID_EXPORT int gid_t_var(th a, int stddev, const int64_t* d, int nd, int64_t correction, int keepdim, th* out) {
    GID_TORCH_GUARD({
        c10::optional<at::IntArrayRef> ds;
        if (nd > 0) ds = dims(d, nd);
        *out = wrap(stddev ? at::std(T(a), ds, correction, keepdim != 0) : at::var(T(a), ds, correction, keepdim != 0));
    });
}
GID_EXPORT int gid_t_norm(th a, double p, const int64_t* d, int nd, int keepdim, th* out) {
    GID_TORCH_GUARD({
        *out = wrap(nd == 0 ? at::norm(T(a), p) : at::norm(T(a), p, dims(d, nd), keepdim != 0));
    });
}
// max/min along a dim: values and indices.
GID_EXPORT int gid_t_max_dim(th a, int64_t dim, int keepdim, int is_min, th* values, th* indices) {
    GID_TORCH_GUARD({
        auto r = is_min ? at::min(T(a), dim, keepdim != 0) : at::max(T(a), dim, keepdim != 0);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    });
}
GID_EXPORT int gid_t_argmax(th a, int64_t dim, int has_dim, int keepdim, int is_min, th* out) {
    GID_TORCH_GUARD({
        c10::optional<int64_t> d;
        if (has_dim) d = dim;
        *out = wrap(is_min ? at::argmin(T(a), d, keepdim != 0) : at::argmax(T(a), d, keepdim != 0));
    });
}
GID_EXPORT int gid_t_cumsum(th a, int64_t dim, th* out) { GID_TORCH_GUARD(*out = wrap(at::cumsum(T(a), dim))); }

// ---- shape ------------------------------------------------------------------------------

GID_EXPORT int gid_t_reshape(th a, const int64_t* s, int n, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::reshape(T(a), dims(s, n))));
}
GID_EXPORT int gid_t_view(th a, const int64_t* s, int n, th* out) { GID_TORCH_GUARD(*out = wrap(T(a).view(dims(s, n)))); }
GID_EXPORT int gid_t_expand(th a, const int64_t* s, int n, th* out) {
    GID_TORCH_GUARD(*out = wrap(T(a).expand(dims(s, n))));
}
GID_EXPORT int gid_t_repeat(th a, const int64_t* s, int n, th* out) {
    GID_TORCH_GUARD(*out = wrap(T(a).repeat(dims(s, n))));
}
GID_EXPORT int gid_t_permute(th a, const int64_t* s, int n, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::permute(T(a), dims(s, n))));
}
GID_EXPORT int gid_t_flip(th a, const int64_t* s, int n, th* out) { GID_TORCH_GUARD(*out = wrap(at::flip(T(a), dims(s, n)))); }
GID_EXPORT int gid_t_roll(th a, const int64_t* shifts, const int64_t* d, int n, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::roll(T(a), dims(shifts, n), dims(d, n))));
}
GID_EXPORT int gid_t_as_strided(th a, const int64_t* size, const int64_t* stride, int n, int64_t offset, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::as_strided(T(a), dims(size, n), dims(stride, n), offset)));
}
GID_EXPORT int gid_t_transpose(th a, int64_t d0, int64_t d1, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::transpose(T(a), d0, d1)));
}
GID_EXPORT int gid_t_unsqueeze(th a, int64_t d, th* out) { GID_TORCH_GUARD(*out = wrap(at::unsqueeze(T(a), d))); }
GID_EXPORT int gid_t_squeeze(th a, int64_t d, int has_dim, th* out) {
    GID_TORCH_GUARD(*out = wrap(has_dim ? at::squeeze(T(a), d) : at::squeeze(T(a))));
}
GID_EXPORT int gid_t_flatten(th a, int64_t start, int64_t end, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::flatten(T(a), start, end)));
}
GID_EXPORT int gid_t_narrow(th a, int64_t dim, int64_t start, int64_t length, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::narrow(T(a), dim, start, length)));
}
GID_EXPORT int gid_t_slice(th a, int64_t dim, int64_t start, int64_t end, int64_t step, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::slice(T(a), dim, start, end, step)));
}
GID_EXPORT int gid_t_select(th a, int64_t dim, int64_t index, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::select(T(a), dim, index)));
}
GID_EXPORT int gid_t_index_select(th a, int64_t dim, th index, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::index_select(T(a), dim, T(index))));
}
GID_EXPORT int gid_t_gather(th a, int64_t dim, th index, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::gather(T(a), dim, T(index))));
}
GID_EXPORT int gid_t_scatter_add(th a, int64_t dim, th index, th src, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::scatter_add(T(a), dim, T(index), T(src))));
}
GID_EXPORT int gid_t_index_add(th a, int64_t dim, th index, th src, double alpha, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::index_add(T(a), dim, T(index), T(src), alpha)));
}
// Boolean-mask or integer-tensor indexing along the first dim (x[mask], x[idx]).
GID_EXPORT int gid_t_index(th a, th index, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::index(T(a), c10::List<c10::optional<at::Tensor>>({T(index)}))));
}
GID_EXPORT int gid_t_masked_fill(th a, th mask, double v, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::masked_fill(T(a), T(mask), v)));
}
GID_EXPORT int gid_t_cat(const th* ts, int n, int64_t dim, th* out) { GID_TORCH_GUARD(*out = wrap(at::cat(list(ts, n), dim))); }
GID_EXPORT int gid_t_stack(const th* ts, int n, int64_t dim, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::stack(list(ts, n), dim)));
}
GID_EXPORT int gid_t_split(th a, const int64_t* sizes, int n, int64_t dim, th* out, int capacity, int* count) {
    GID_TORCH_GUARD(emit(at::split_with_sizes(T(a), dims(sizes, n), dim), out, capacity, count));
}
GID_EXPORT int gid_t_chunk(th a, int64_t chunks, int64_t dim, th* out, int capacity, int* count) {
    GID_TORCH_GUARD(emit(at::chunk(T(a), chunks, dim), out, capacity, count));
}
GID_EXPORT int gid_t_unbind(th a, int64_t dim, th* out, int capacity, int* count) {
    GID_TORCH_GUARD(emit(at::unbind(T(a), dim), out, capacity, count));
}

// ---- neural-network functions -----------------------------------------------------------

GID_EXPORT int gid_t_linear(th x, th w, th b, th* out) { GID_TORCH_GUARD(*out = wrap(at::linear(T(x), T(w), opt(b)))); }
GID_EXPORT int gid_t_conv2d(th x, th w, th b, const int64_t* stride, const int64_t* padding, const int64_t* dilation,
                            int64_t groups, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::conv2d(T(x), T(w), opt(b), dims(stride, 2), dims(padding, 2), dims(dilation, 2), groups)));
}
GID_EXPORT int gid_t_conv_transpose2d(th x, th w, th b, const int64_t* stride, const int64_t* padding,
                                      const int64_t* output_padding, const int64_t* dilation, int64_t groups, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::conv_transpose2d(T(x), T(w), opt(b), dims(stride, 2), dims(padding, 2),
                                                     dims(output_padding, 2), groups, dims(dilation, 2))));
}
GID_EXPORT int gid_t_group_norm(th x, int64_t groups, th w, th b, double eps, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::group_norm(T(x), groups, opt(w), opt(b), eps)));
}
GID_EXPORT int gid_t_layer_norm(th x, const int64_t* shape, int n, th w, th b, double eps, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::layer_norm(T(x), dims(shape, n), opt(w), opt(b), eps)));
}
GID_EXPORT int gid_t_softmax(th x, int64_t dim, int log, th* out) {
    GID_TORCH_GUARD(*out = wrap(log ? at::log_softmax(T(x), dim) : at::softmax(T(x), dim)));
}
GID_EXPORT int gid_t_dropout(th x, double p, int train, th* out) { GID_TORCH_GUARD(*out = wrap(at::dropout(T(x), p, train != 0))); }
GID_EXPORT int gid_t_embedding(th w, th idx, th* out) { GID_TORCH_GUARD(*out = wrap(at::embedding(T(w), T(idx)))); }
// mode: 0 nearest, 1 bilinear. Either size (oh, ow > 0) or scale factors.
GID_EXPORT int gid_t_interpolate(th x, int mode, int64_t oh, int64_t ow, double sh, double sw, int align_corners,
                                 th* out) {
    GID_TORCH_GUARD({
        c10::optional<at::IntArrayRef> size;
        std::vector<int64_t> sz{oh, ow};
        c10::optional<at::ArrayRef<double>> scales;
        std::vector<double> sc{sh, sw};
        if (oh > 0) size = at::IntArrayRef(sz); else scales = at::ArrayRef<double>(sc);
        if (mode == 0) *out = wrap(at::upsample_nearest2d(T(x), size, scales));
        else if (mode == 1) *out = wrap(at::upsample_bilinear2d(T(x), size, align_corners != 0, scales));
        else throw gid::argument_error("interpolate mode must be nearest or bilinear");
    });
}
GID_EXPORT int gid_t_avg_pool2d(th x, const int64_t* k, const int64_t* s, const int64_t* p, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::avg_pool2d(T(x), dims(k, 2), dims(s, 2), dims(p, 2))));
}
GID_EXPORT int gid_t_max_pool2d(th x, const int64_t* k, const int64_t* s, const int64_t* p, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::max_pool2d(T(x), dims(k, 2), dims(s, 2), dims(p, 2))));
}
// mode: "constant", "reflect", "replicate", "circular" (as torch.nn.functional.pad)
GID_EXPORT int gid_t_pad(th x, const int64_t* p, int n, const char* mode, double value, th* out) {
    GID_TORCH_GUARD({
        c10::optional<double> v;
        if (std::string(mode) == "constant") v = value;
        *out = wrap(at::pad(T(x), dims(p, n), mode, v));
    });
}
// reduction: 0 none, 1 mean, 2 sum
GID_EXPORT int gid_t_mse_loss(th a, th b, int reduction, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::mse_loss(T(a), T(b), reduction)));
}
GID_EXPORT int gid_t_l1_loss(th a, th b, int reduction, th* out) { GID_TORCH_GUARD(*out = wrap(at::l1_loss(T(a), T(b), reduction))); }
GID_EXPORT int gid_t_cross_entropy(th logits, th target, int reduction, th* out) {
    GID_TORCH_GUARD(*out = wrap(at::cross_entropy_loss(T(logits), T(target), c10::nullopt, reduction)));
}
// kind: 0 fft, 1 ifft, 2 rfft, 3 irfft along one dim; n <= 0 means the input's size; norm "backward"/"forward"/"ortho".
GID_EXPORT int gid_t_fft(th x, int kind, int64_t n, int64_t dim, const char* norm, th* out) {
    GID_TORCH_GUARD({
        c10::optional<int64_t> len;
        if (n > 0) len = n;
        c10::optional<c10::string_view> nm;
        if (norm != nullptr && norm[0] != '\0') nm = c10::string_view(norm);
        switch (kind) {
            case 0: *out = wrap(at::fft_fft(T(x), len, dim, nm)); break;
            case 1: *out = wrap(at::fft_ifft(T(x), len, dim, nm)); break;
            case 2: *out = wrap(at::fft_rfft(T(x), len, dim, nm)); break;
            case 3: *out = wrap(at::fft_irfft(T(x), len, dim, nm)); break;
            default: throw gid::argument_error("unknown fft kind");
        }
    });
}

// ---- optimizer kernels ------------------------------------------------------------------

// One AdamW step over all parameters, the arithmetic of torch.optim.AdamW (single-tensor path,
// 1.13): decoupled decay, moment updates, bias corrections in double. Parameters without a
// gradient are skipped and their step counters stay put.
GID_EXPORT int gid_optim_adamw_step(const th* params, const th* exp_avg, const th* exp_avg_sq, double* steps, int n,
                                    double lr, double beta1, double beta2, double eps, double weight_decay) {
    GID_TORCH_GUARD({
        at::NoGradGuard no_grad;
        for (int i = 0; i < n; i++) {
            auto& p = T(params[i]);
            const auto& g = p.grad();
            if (!g.defined()) continue;
            auto& m = T(exp_avg[i]);
            auto& v = T(exp_avg_sq[i]);
            const double step = steps[i] += 1.0;
            p.mul_(1 - lr * weight_decay);
            m.mul_(beta1).add_(g, 1 - beta1);
            v.mul_(beta2).addcmul_(g, g, 1 - beta2);
            const double bc1 = 1 - std::pow(beta1, step);
            const double bc2 = 1 - std::pow(beta2, step);
            const double step_size = lr / bc1;
            auto denom = (v.sqrt() / std::sqrt(bc2)).add_(eps);
            p.addcdiv_(m, denom, -step_size);
        }
    });
}

// torch.nn.utils.clip_grad_norm_ (finite p): returns the total norm before clipping.
GID_EXPORT int gid_optim_clip_grad_norm(const th* params, int n, double max_norm, double p, double* total) {
    GID_TORCH_GUARD({
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> grads, norms;
        for (int i = 0; i < n; i++) {
            const auto& g = T(params[i]).grad();
            if (g.defined()) {
                grads.push_back(g);
                norms.push_back(at::norm(g.detach(), p));
            }
        }
        if (grads.empty()) {
            *total = 0;
            return GID_OK;
        }
        auto total_norm = at::norm(at::stack(norms), p);
        auto coef = at::clamp(max_norm / (total_norm + 1e-6), c10::nullopt, 1.0);
        for (auto& g : grads) g.detach().mul_(coef);
        *total = total_norm.item<double>();
    });
}

// Zeroes (set_to_none) the gradients of all parameters at once.
GID_EXPORT int gid_optim_zero_grad(const th* params, int n) {
    GID_TORCH_GUARD({
        for (int i = 0; i < n; i++) T(params[i]).mutable_grad() = at::Tensor();
    });
}

// ema = decay * ema + (1 - decay) * param, for each pair (torch.lerp form of the EMA update).
GID_EXPORT int gid_optim_ema_update(const th* ema, const th* params, int n, double decay) {
    GID_TORCH_GUARD({
        at::NoGradGuard no_grad;
        for (int i = 0; i < n; i++) T(ema[i]).lerp_(T(params[i]), 1.0 - decay);
    });
}
