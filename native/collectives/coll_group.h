// The backend-neutral side of libgid_collectives: every group (Gloo or NCCL) sits behind one
// handle type, so the C ABI's allreduce/broadcast/barrier dispatch on it and the managed side
// needs one set of imports. Both backends rendezvous through the same stores.
#pragma once

#include <gloo/common/error.h>
#include <gloo/rendezvous/store.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include "gid_collectives.h"

#define COLL_GUARD(...) GID_GUARD(gid_coll_tag, gloo::Exception, __VA_ARGS__)

namespace gid {

// dtype codes of the C ABI: 0 float32, 1 float64, 2 int32, 3 int64; op codes: 0 sum, 1 max, 2 min.
struct coll_group {
    virtual ~coll_group() = default;
    virtual int size() const = 0;
    virtual void allreduce(void* data, size_t count, int dtype, int op) = 0;
    virtual void broadcast(void* data, size_t bytes, int root) = 0;
    virtual void barrier() = 0;
};

// kind 0 = file store (address = a shared directory), 1 = TCP store served by rank 0.
std::shared_ptr<gloo::rendezvous::Store> make_store(int kind, const char* address, int port, int rank,
                                                   std::chrono::milliseconds timeout);

// Checks the arguments every init shares (before any socket or library is touched).
void check_init_arguments(int rank, int size, int timeout_ms, const char* address);

}  // namespace gid
