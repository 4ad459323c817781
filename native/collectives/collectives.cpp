// Gloo behind the C ABI of gid_collectives.h. One context per group (full mesh of TCP pairs);
// every collective is synchronous and bounded by the group's timeout.
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

#include "gid_collectives.h"
#include "tcp_store.h"

#define COLL_GUARD(...) GID_GUARD(gid_coll_tag, gloo::Exception, __VA_ARGS__)

namespace {

struct group {
    std::shared_ptr<gloo::rendezvous::Store> store;
    std::shared_ptr<gloo::rendezvous::Context> context;
    std::chrono::milliseconds timeout;
};

group& G(void* h) {
    if (h == nullptr) throw gid::argument_error("process group handle is null (already destroyed?)");
    return *static_cast<group*>(h);
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

}  // namespace

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
        if (size < 1) throw gid::argument_error("world size must be >= 1, got " + std::to_string(size));
        if (rank < 0 || rank >= size)
            throw gid::argument_error("rank " + std::to_string(rank) + " is outside 0.." + std::to_string(size - 1));
        if (timeout_ms <= 0) throw gid::argument_error("timeout must be positive");
        if (address == nullptr || *address == '\0') throw gid::argument_error("rendezvous address is empty");
        auto g = std::make_unique<group>();
        g->timeout = std::chrono::milliseconds(timeout_ms);
        if (kind == 0) {
            g->store = std::make_shared<gloo::rendezvous::FileStore>(address);
        } else if (kind == 1) {
            if (port <= 0 || port > 65535) throw gid::argument_error("port " + std::to_string(port) + " is not a TCP port");
            g->store = std::make_shared<gid::tcp_store>(address, port, rank == 0, g->timeout);
        } else {
            throw gid::argument_error("unknown rendezvous kind " + std::to_string(kind));
        }
        gloo::transport::tcp::attr attr;
        attr.hostname = interface_host != nullptr && *interface_host != '\0' ? interface_host : "127.0.0.1";
        auto device = gloo::transport::tcp::CreateDevice(attr);
        g->context = std::make_shared<gloo::rendezvous::Context>(rank, size);
        g->context->setTimeout(g->timeout);
        g->context->connectFullMesh(*g->store, device);
        *out = g.release();
    })
}

GID_EXPORT int gid_coll_free(void* h) {
    COLL_GUARD(delete static_cast<group*>(h))
}

GID_EXPORT int gid_coll_allreduce(void* h, void* data, long long count, int dtype, int op) {
    COLL_GUARD({
        auto& g = G(h);
        if (count < 0) throw gid::argument_error("negative element count");
        if (count == 0) return GID_OK;
        if (data == nullptr) throw gid::argument_error("data pointer is null");
        gloo::AllreduceOptions o(g.context);
        o.setTimeout(g.timeout);
        const auto n = static_cast<size_t>(count);
        switch (dtype) {
            case 0: reduce_with(o, static_cast<float*>(data), n, op); break;
            case 1: reduce_with(o, static_cast<double*>(data), n, op); break;
            case 2: reduce_with(o, static_cast<int32_t*>(data), n, op); break;
            case 3: reduce_with(o, static_cast<int64_t*>(data), n, op); break;
            default: throw gid::argument_error("unsupported dtype code " + std::to_string(dtype));
        }
        gloo::allreduce(o);
    })
}

GID_EXPORT int gid_coll_broadcast(void* h, void* data, long long bytes, int root) {
    COLL_GUARD({
        auto& g = G(h);
        if (root < 0 || root >= g.context->size) throw gid::argument_error("broadcast root " + std::to_string(root) + " is not a rank");
        if (bytes < 0) throw gid::argument_error("negative byte count");
        if (bytes == 0) return GID_OK;
        if (data == nullptr) throw gid::argument_error("data pointer is null");
        gloo::BroadcastOptions o(g.context);
        o.setTimeout(g.timeout);
        o.setOutput(static_cast<uint8_t*>(data), static_cast<size_t>(bytes));
        o.setRoot(root);
        gloo::broadcast(o);
    })
}

GID_EXPORT int gid_coll_barrier(void* h) {
    COLL_GUARD({
        auto& g = G(h);
        gloo::BarrierOptions o(g.context);
        o.setTimeout(g.timeout);
        gloo::barrier(o);
    })
}
