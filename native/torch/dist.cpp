// c10d for libgid_torch: rendezvous stores (FileStore, TCPStore), process groups (Gloo on CPU;
// NCCL only when built against a CUDA libtorch), the collectives, and the two data-parallel
// kernels (broadcast of rank 0's parameters, bucketed gradient all-reduce). Every collective
// waits for completion, bounded by the group's timeout.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef GID_WITH_CUDA
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <vector>

#include "gid_torch.h"

namespace {

using store_ptr = c10::intrusive_ptr<c10d::Store>;
using pg_ptr = c10::intrusive_ptr<c10d::ProcessGroup>;

struct group {
    pg_ptr pg;
    int rank;
    int size;
};

inline store_ptr& S(void* h) {
    if (h == nullptr) throw gid::argument_error("store handle is null");
    return *static_cast<store_ptr*>(h);
}
inline group& G(void* h) {
    if (h == nullptr) throw gid::argument_error("process group handle is null");
    return *static_cast<group*>(h);
}
inline at::Tensor& T(void* h) {
    if (h == nullptr) throw gid::argument_error("tensor handle is null");
    return *static_cast<at::Tensor*>(h);
}

// op: 0 sum, 1 avg (sum then divide: Gloo has no AVG), 2 product, 3 min, 4 max
c10d::ReduceOp reduce_op(int op) {
    switch (op) {
        case 0:
        case 1: return c10d::ReduceOp::SUM;
        case 2: return c10d::ReduceOp::PRODUCT;
        case 3: return c10d::ReduceOp::MIN;
        case 4: return c10d::ReduceOp::MAX;
        default: throw gid::argument_error("unknown reduce op");
    }
}

void all_reduce(group& g, std::vector<at::Tensor>& ts, int op) {
    c10d::AllreduceOptions o;
    o.reduceOp = reduce_op(op);
    g.pg->allreduce(ts, o)->wait();
    if (op == 1)
        for (auto& t : ts) t.div_(g.size);
}

// Flat buckets of same-dtype tensors of at most `cap` bytes (a tensor larger than cap gets its own).
std::vector<std::vector<size_t>> buckets(const std::vector<at::Tensor>& ts, int64_t cap) {
    std::vector<std::vector<size_t>> out;
    int64_t bytes = 0;
    for (size_t i = 0; i < ts.size(); i++) {
        const int64_t b = ts[i].numel() * static_cast<int64_t>(ts[i].element_size());
        if (out.empty() || bytes + b > cap || ts[out.back().front()].scalar_type() != ts[i].scalar_type()) {
            out.emplace_back();
            bytes = 0;
        }
        out.back().push_back(i);
        bytes += b;
    }
    return out;
}

}  // namespace

GID_EXPORT int gid_store_file(const char* path, int world_size, void** out) {
    GID_TORCH_GUARD(*out = new store_ptr(c10::make_intrusive<c10d::FileStore>(path, world_size)));
}

GID_EXPORT int gid_store_tcp(const char* host, int port, int world_size, int is_master, int64_t timeout_ms, void** out) {
    GID_TORCH_GUARD({
        if (port <= 0 || port > 65535) throw gid::argument_error("port must be in 1..65535");
        c10d::TCPStoreOptions o;
        o.port = static_cast<std::uint16_t>(port);
        o.isServer = is_master != 0;
        o.numWorkers = static_cast<size_t>(world_size);
        o.timeout = std::chrono::milliseconds(timeout_ms);
        *out = new store_ptr(c10::make_intrusive<c10d::TCPStore>(host, o));
    });
}

GID_EXPORT void gid_store_free(void* h) { delete static_cast<store_ptr*>(h); }

// backend: "gloo" (bind_address: the address Gloo pairs listen on, e.g. 127.0.0.1; empty = this
// host's name) or "nccl" (CUDA builds only).
GID_EXPORT int gid_pg_new(void* store, const char* backend, int rank, int size, int64_t timeout_ms,
                          const char* bind_address, void** out) {
    GID_TORCH_GUARD({
        if (size < 1 || rank < 0 || rank >= size)
            throw gid::argument_error("rank " + std::to_string(rank) + " is not in a world of " + std::to_string(size));
        const std::string b(backend);
        auto prefixed = c10::make_intrusive<c10d::PrefixStore>(b, S(store));
        const auto timeout = std::chrono::milliseconds(timeout_ms);
        pg_ptr pg;
        if (b == "gloo") {
            auto o = c10d::ProcessGroupGloo::Options::create(timeout);
            const std::string addr(bind_address);
            o->devices.push_back(addr.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                              : c10d::ProcessGroupGloo::createDeviceForHostname(addr));
            pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, size, o);
        } else if (b == "nccl") {
#ifdef GID_WITH_CUDA
            auto o = c10d::ProcessGroupNCCL::Options::create();
            o->timeout = timeout;
            pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, size, o);
#else
            throw gid::argument_error("the nccl backend needs a CUDA build of libtorch; this shim was built without CUDA");
#endif
        } else {
            throw gid::argument_error("unknown backend '" + b + "' (gloo or nccl)");
        }
        *out = new group{pg, rank, size};
    });
}

GID_EXPORT void gid_pg_free(void* h) { delete static_cast<group*>(h); }

GID_EXPORT int gid_pg_all_reduce(void* h, void* t, int op) {
    GID_TORCH_GUARD({
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> ts{T(t)};
        all_reduce(G(h), ts, op);
    });
}

GID_EXPORT int gid_pg_broadcast(void* h, void* t, int root) {
    GID_TORCH_GUARD({
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> ts{T(t)};
        c10d::BroadcastOptions o;
        o.rootRank = root;
        G(h).pg->broadcast(ts, o)->wait();
    });
}

GID_EXPORT int gid_pg_barrier(void* h) { GID_TORCH_GUARD(G(h).pg->barrier()->wait()); }

// outputs: world-size tensors shaped like input.
GID_EXPORT int gid_pg_all_gather(void* h, void* input, void* const* outputs, int n) {
    GID_TORCH_GUARD({
        at::NoGradGuard no_grad;
        auto& g = G(h);
        if (n != g.size) throw gid::argument_error("all_gather needs one output tensor per rank");
        std::vector<std::vector<at::Tensor>> outs(1);
        for (int i = 0; i < n; i++) outs[0].push_back(T(outputs[i]));
        std::vector<at::Tensor> in{T(input)};
        g.pg->allgather(outs, in)->wait();
    });
}

// Rank 0's values into every rank's tensors (parameters and buffers), bucketed.
GID_EXPORT int gid_ddp_broadcast(void* h, void* const* tensors, int n, int64_t bucket_bytes) {
    GID_TORCH_GUARD({
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> ts;
        for (int i = 0; i < n; i++) ts.push_back(T(tensors[i]));
        for (auto& bucket : buckets(ts, bucket_bytes)) {
            std::vector<at::Tensor> parts;
            for (auto i : bucket) parts.push_back(ts[i].reshape(-1));
            std::vector<at::Tensor> flat{at::cat(parts)};
            c10d::BroadcastOptions o;
            o.rootRank = 0;
            G(h).pg->broadcast(flat, o)->wait();
            int64_t at_ = 0;
            for (auto i : bucket) {
                ts[i].copy_(flat[0].narrow(0, at_, ts[i].numel()).view_as(ts[i]));
                at_ += ts[i].numel();
            }
        }
    });
}

// Averages the gradients of `params` over all ranks in flat buckets (a missing gradient counts as
// zeros, so every rank runs the same collectives).
GID_EXPORT int gid_ddp_average_gradients(void* h, void* const* params, int n, int64_t bucket_bytes) {
    GID_TORCH_GUARD({
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> grads;
        for (int i = 0; i < n; i++) {
            auto& p = T(params[i]);
            if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
            grads.push_back(p.grad());
        }
        auto& g = G(h);
        for (auto& bucket : buckets(grads, bucket_bytes)) {
            std::vector<at::Tensor> parts;
            for (auto i : bucket) parts.push_back(grads[i].reshape(-1));
            std::vector<at::Tensor> flat{at::cat(parts)};
            all_reduce(g, flat, 1);
            int64_t at_ = 0;
            for (auto i : bucket) {
                grads[i].copy_(flat[0].narrow(0, at_, grads[i].numel()).view_as(grads[i]));
                at_ += grads[i].numel();
            }
        }
    });
}
