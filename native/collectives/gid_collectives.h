// libgid_collectives: a thin C ABI over Gloo (CPU, TCP transport) for data-parallel training next
// to TorchSharp, which has no torch.distributed. It works on raw data pointers (a tensor's CPU
// memory), never on libtorch types: the shim must not link libtorch, whose own copy of Gloo
// exports the same symbols in another version (both coexist because .NET loads native
// libraries RTLD_LOCAL).
#pragma once

#include "gid_native.h"

struct gid_coll_tag {};

GID_EXPORT int gid_coll_last_error(char* buffer, int capacity);
GID_EXPORT const char* gid_coll_gloo_version();

// Rendezvous: kind 0 = file store (address = a directory path shared by the ranks),
// kind 1 = TCP store served by rank 0 (address = host, port = its port).
// `interface_host` is the address this rank's Gloo pairs bind to (e.g. 127.0.0.1).
// Every later operation fails with a clear error after `timeout_ms` instead of hanging.
GID_EXPORT int gid_coll_init(int kind, const char* address, int port, const char* interface_host, int rank, int size,
                             int timeout_ms, void** group);
GID_EXPORT int gid_coll_free(void* group);

// dtype: 0 float32, 1 float64, 2 int32, 3 int64. op: 0 sum, 1 max, 2 min.
// In place on `data` (count elements).
GID_EXPORT int gid_coll_allreduce(void* group, void* data, long long count, int dtype, int op);
GID_EXPORT int gid_coll_broadcast(void* group, void* data, long long bytes, int root);
GID_EXPORT int gid_coll_barrier(void* group);
