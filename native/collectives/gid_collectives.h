// libgid_collectives: a thin C ABI over Gloo (CPU, TCP transport) and NCCL (CUDA, opened at run
// time) for data-parallel training next to TorchSharp, which has no torch.distributed. It works on raw data pointers (a tensor's CPU
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

// NCCL: opens `nccl_path` (NULL = libnccl.so.2) and `cudart_path` (NULL = libcudart.so.12) with
// dlopen and resolves NCCL's C API; fails with a message naming the library or symbol. `version`
// (may be NULL) receives ncclGetVersion's code.
GID_EXPORT int gid_coll_nccl_load(const char* nccl_path, const char* cudart_path, int* version);
// An NCCL group on CUDA device `device` (LOCAL_RANK): the libraries are loaded first, then rank 0
// publishes ncclGetUniqueId's id in the rendezvous above and the others read it. The returned handle
// takes the same allreduce/broadcast/barrier/free calls; data pointers are device memory, and work
// runs on the legacy default stream (TorchSharp exposes no stream API).
GID_EXPORT int gid_coll_init_nccl(int kind, const char* address, int port, int rank, int size, int device, int timeout_ms,
                                  const char* nccl_path, const char* cudart_path, void** group);

// dtype: 0 float32, 1 float64, 2 int32, 3 int64. op: 0 sum, 1 max, 2 min.
// In place on `data` (count elements); a group of either backend.
GID_EXPORT int gid_coll_allreduce(void* group, void* data, long long count, int dtype, int op);
GID_EXPORT int gid_coll_broadcast(void* group, void* data, long long bytes, int root);
GID_EXPORT int gid_coll_barrier(void* group);
