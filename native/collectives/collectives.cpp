// Gloo behind the C ABI of gid_collectives.h (NCCL is nccl.cpp). One context per group (full mesh
// of TCP pairs); every collective is synchronous and bounded by the group's timeout.
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/config.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>

#include <chrono>
#include <memory>
#include <string>

#include "coll_group.h"
#include "gid_collectives.h"
#include "tcp_store.h"

namespace {

using gid::coll_group;

coll_group& G(void* h) {
    if (h == nullptr) throw gid::argument_error("process group handle is null (already destroyed?)");
    return *static_cast<coll_group*>(h);
}

template <typename T>
void reduce_with(gloo::AllreduceOptions& o, T* data, size_t count, int op) {
    o.setOutput(data, count);
    using fn = void (*)(void*, const void*, const void*, size_t);
    switch (op) {
        case 0: o.setReduceFunction(static_cast<fn>(&gloo::sum<T>)); break;
        case 1: o.setReduceFunction(static_cast<fn>(&gloo::max<T>)); break;
        case 2: o.setReduceFunction(static_cast<fn>(&gloo::min<T>)); break;
        default: throw gid::argument_error("unknown reduce op " + std::to_string(op));
    }
}

struct gloo_group final : coll_group {
    std::shared_ptr<gloo::rendezvous::Store> store;
    std::shared_ptr<gloo::rendezvous::Context> context;
    std::chrono::milliseconds timeout{};

    int size() const override { return context->size; }

    void allreduce(void* data, size_t count, int dtype, int op) override {
        gloo::AllreduceOptions o(context);
        o.setTimeout(timeout);
        switch (dtype) {
            case 0: reduce_with(o, static_cast<float*>(data), count, op); break;
            case 1: reduce_with(o, static_cast<double*>(data), count, op); break;
            case 2: reduce_with(o, static_cast<int32_t*>(data), count, op); break;
            case 3: reduce_with(o, static_cast<int64_t*>(data), count, op); break;
            default: throw gid::argument_error("unsupported dtype code " + std::to_string(dtype));
        }
        gloo::allreduce(o);
    }

    void broadcast(void* data, size_t bytes, int root) override {
        gloo::BroadcastOptions o(context);
        o.setTimeout(timeout);
        o.setOutput(static_cast<uint8_t*>(data), bytes);
        o.setRoot(root);
        gloo::broadcast(o);
    }

    void barrier() override {
        gloo::BarrierOptions o(context);
        o.setTimeout(timeout);
        gloo::barrier(o);
    }
};

}  // namespace

std::shared_ptr<gloo::rendezvous::Store> gid::make_store(int kind, const char* address, int port, int rank,
                                                        std::chrono::milliseconds timeout) {
    if (kind == 0) return std::make_shared<gloo::rendezvous::FileStore>(address);
    if (kind == 1) {
        if (port <= 0 || port > 65535) throw gid::argument_error("port " + std::to_string(port) + " is not a TCP port");
        return std::make_shared<gid::tcp_store>(address, port, rank == 0, timeout);
    }
    throw gid::argument_error("unknown rendezvous kind " + std::to_string(kind));
}

void gid::check_init_arguments(int rank, int size, int timeout_ms, const char* address) {
    if (size < 1) throw gid::argument_error("world size must be >= 1, got " + std::to_string(size));
    if (rank < 0 || rank >= size)
        throw gid::argument_error("rank " + std::to_string(rank) + " is outside 0.." + std::to_string(size - 1));
    if (timeout_ms <= 0) throw gid::argument_error("timeout must be positive");
    if (address == nullptr || *address == '\0') throw gid::argument_error("rendezvous address is empty");
}

GID_EXPORT int gid_coll_last_error(char* buffer, int capacity) {
    return gid::copy_out(gid::last_error<gid_coll_tag>::slot(), buffer, capacity);
}

GID_EXPORT const char* gid_coll_gloo_version() {
    static const std::string v = std::to_string(GLOO_VERSION_MAJOR) + "." + std::to_string(GLOO_VERSION_MINOR) + "." +
                                 std::to_string(GLOO_VERSION_PATCH);
    return v.c_str();
}

GID_EXPORT int gid_coll_init(int kind, const char* address, int port, const char* interface_host, int rank, int size,
                             int timeout_ms, void** out) {
    COLL_GUARD({
        if (out == nullptr) throw gid::argument_error("output handle pointer is null");
        *out = nullptr;
        gid::check_init_arguments(rank, size, timeout_ms, address);
        auto g = std::make_unique<gloo_group>();
        g->timeout = std::chrono::milliseconds(timeout_ms);
        g->store = gid::make_store(kind, address, port, rank, g->timeout);
        gloo::transport::tcp::attr attr;
        attr.hostname = interface_host != nullptr && *interface_host != '\0' ? interface_host : "127.0.0.1";
        auto device = gloo::transport::tcp::CreateDevice(attr);
        g->context = std::make_shared<gloo::rendezvous::Context>(rank, size);
        g->context->setTimeout(g->timeout);
        g->context->connectFullMesh(*g->store, device);
        *out = static_cast<coll_group*>(g.release());
    })
}

GID_EXPORT int gid_coll_free(void* h) {
    COLL_GUARD(delete static_cast<coll_group*>(h))
}

GID_EXPORT int gid_coll_allreduce(void* h, void* data, long long count, int dtype, int op) {
    COLL_GUARD({
        auto& g = G(h);
        if (count < 0) throw gid::argument_error("negative element count");
        if (count == 0) return GID_OK;
        if (data == nullptr) throw gid::argument_error("data pointer is null");
        if (op < 0 || op > 2) throw gid::argument_error("unknown reduce op " + std::to_string(op));
        g.allreduce(data, static_cast<size_t>(count), dtype, op);
    })
}

GID_EXPORT int gid_coll_broadcast(void* h, void* data, long long bytes, int root) {
    COLL_GUARD({
        auto& g = G(h);
        if (root < 0 || root >= g.size()) throw gid::argument_error("broadcast root " + std::to_string(root) + " is not a rank");
        if (bytes < 0) throw gid::argument_error("negative byte count");
        if (bytes == 0) return GID_OK;
        if (data == nullptr) throw gid::argument_error("data pointer is null");
        g.broadcast(data, static_cast<size_t>(bytes), root);
    })
}

GID_EXPORT int gid_coll_barrier(void* h) {
    COLL_GUARD(G(h).barrier())
}
