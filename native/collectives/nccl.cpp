// NCCL behind the same C ABI as Gloo, for CUDA tensors. NCCL and the CUDA runtime are opened with
// dlopen at run time instead of being linked, so this compiles (and the Gloo path runs) on machines
// without the CUDA toolkit; asking for NCCL where it is absent is a clear error, not a load failure
// of the whole shim. The few ABI types below are declared from NCCL's public API documentation
// (docs.nvidia.com/deeplearning/nccl, "Types" and "Collective Communication Functions"); nccl.h is
// not used. RTLD_LOCAL keeps these symbols away from the NCCL a CUDA build of libtorch may carry.
#include <dlfcn.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "coll_group.h"
#include "gid_collectives.h"

namespace {

// ncclResult_t: 0 ncclSuccess ... 7 ncclInProgress; the enums are C ints.
constexpr int nccl_success = 0;
constexpr int nccl_in_progress = 7;
// ncclDataType_t: ncclInt32 2, ncclInt64 4, ncclFloat32 7, ncclFloat64 8.
// ncclRedOp_t: ncclSum 0, ncclProd 1, ncclMax 2, ncclMin 3.
constexpr int nccl_float32 = 7, nccl_float64 = 8, nccl_int32 = 2, nccl_int64 = 4;
constexpr int nccl_sum = 0, nccl_max = 2, nccl_min = 3;
// cudaError_t: 0 cudaSuccess, 600 cudaErrorNotReady.
constexpr int cuda_success = 0;
constexpr int cuda_not_ready = 600;

// ncclUniqueId: an opaque struct of NCCL_UNIQUE_ID_BYTES (128) bytes, passed by value.
struct nccl_unique_id {
    char internal[128];
};
using nccl_comm = void*;
// The legacy default stream: TorchSharp has no stream API and never changes the current stream,
// so libtorch's kernels on a CUDA tensor run there; the NULL handle through the (non-_ptsz)
// runtime entry points means that stream.
using cuda_stream = void*;
constexpr cuda_stream legacy_stream = nullptr;

struct api {
    std::string nccl_path;
    int (*get_unique_id)(nccl_unique_id*) = nullptr;
    int (*comm_init_rank)(nccl_comm*, int, nccl_unique_id, int) = nullptr;
    int (*all_reduce)(const void*, void*, size_t, int, int, nccl_comm, cuda_stream) = nullptr;
    int (*broadcast)(const void*, void*, size_t, int, int, nccl_comm, cuda_stream) = nullptr;
    int (*comm_destroy)(nccl_comm) = nullptr;
    int (*comm_abort)(nccl_comm) = nullptr;
    int (*comm_get_async_error)(nccl_comm, int*) = nullptr;
    const char* (*get_error_string)(int) = nullptr;
    int (*get_version)(int*) = nullptr;
    int (*cuda_set_device)(int) = nullptr;
    int (*cuda_stream_query)(cuda_stream) = nullptr;
    int (*cuda_malloc)(void**, size_t) = nullptr;
    int (*cuda_free)(void*) = nullptr;
    const char* (*cuda_get_error_string)(int) = nullptr;
};

std::string dl_error() {
    const char* e = dlerror();
    return e != nullptr ? e : "no reason given";
}

void* open_library(const std::string& path, const char* what) {
    dlerror();
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr)
        throw std::runtime_error("the NCCL backend is unavailable: cannot load " + path + " (" + what + "): " + dl_error() +
                                 ". It needs NVIDIA's NCCL 2 and the CUDA 12 runtime on a GPU machine; use the gloo "
                                 "backend for CPU tensors");
    return h;
}

template <typename F>
void resolve(void* library, const std::string& path, const char* name, F& slot) {
    dlerror();
    void* s = dlsym(library, name);
    if (s == nullptr) throw std::runtime_error(path + " has no symbol " + name + " (" + dl_error() + "): not a usable NCCL/CUDA runtime");
    slot = reinterpret_cast<F>(s);
}

// Loaded once per process; a failed attempt closes what it opened and leaves nothing behind.
std::mutex api_mutex;
std::unique_ptr<api> loaded;

const api& load(const char* nccl_path, const char* cudart_path) {
    std::lock_guard lock(api_mutex);
    if (loaded) return *loaded;
    const std::string nccl = nccl_path != nullptr && *nccl_path != '\0' ? nccl_path : "libnccl.so.2";
    const std::string cudart = cudart_path != nullptr && *cudart_path != '\0' ? cudart_path : "libcudart.so.12";
    void* n = open_library(nccl, "NCCL");
    void* c = nullptr;
    try {
        c = open_library(cudart, "CUDA runtime");
        auto a = std::make_unique<api>();
        a->nccl_path = nccl;
        resolve(n, nccl, "ncclGetUniqueId", a->get_unique_id);
        resolve(n, nccl, "ncclCommInitRank", a->comm_init_rank);
        resolve(n, nccl, "ncclAllReduce", a->all_reduce);
        resolve(n, nccl, "ncclBroadcast", a->broadcast);
        resolve(n, nccl, "ncclCommDestroy", a->comm_destroy);
        resolve(n, nccl, "ncclCommAbort", a->comm_abort);
        resolve(n, nccl, "ncclCommGetAsyncError", a->comm_get_async_error);
        resolve(n, nccl, "ncclGetErrorString", a->get_error_string);
        resolve(n, nccl, "ncclGetVersion", a->get_version);
        resolve(c, cudart, "cudaSetDevice", a->cuda_set_device);
        resolve(c, cudart, "cudaStreamQuery", a->cuda_stream_query);
        resolve(c, cudart, "cudaMalloc", a->cuda_malloc);
        resolve(c, cudart, "cudaFree", a->cuda_free);
        resolve(c, cudart, "cudaGetErrorString", a->cuda_get_error_string);
        loaded = std::move(a);  // the libraries stay open for the life of the process
        return *loaded;
    } catch (...) {
        if (c != nullptr) dlclose(c);
        dlclose(n);
        throw;
    }
}

void check_nccl(const api& a, int r, const char* call) {
    if (r != nccl_success && r != nccl_in_progress)
        throw std::runtime_error(std::string(call) + " failed: " + a.get_error_string(r));
}

void check_cuda(const api& a, int r, const char* call) {
    if (r != cuda_success) throw std::runtime_error(std::string(call) + " failed: " + a.cuda_get_error_string(r));
}

int nccl_dtype(int code) {
    switch (code) {
        case 0: return nccl_float32;
        case 1: return nccl_float64;
        case 2: return nccl_int32;
        case 3: return nccl_int64;
        default: throw gid::argument_error("unsupported dtype code " + std::to_string(code));
    }
}

struct nccl_group final : gid::coll_group {
    const api& a;
    std::shared_ptr<gloo::rendezvous::Store> store;
    nccl_comm comm = nullptr;
    int ranks = 0;
    int device = 0;
    std::chrono::milliseconds timeout{};
    void* barrier_word = nullptr;  // one float on the device, all-reduced by barrier()
    bool aborted = false;

    explicit nccl_group(const api& api) : a(api) {}

    ~nccl_group() override {
        if (comm != nullptr && !aborted) a.comm_destroy(comm);
        if (barrier_word != nullptr) a.cuda_free(barrier_word);
    }

    int size() const override { return ranks; }

    // The CUDA runtime's current device is per host thread and .NET may call from any thread.
    void enter() {
        if (aborted) throw std::runtime_error("the NCCL communicator was aborted by an earlier failure or timeout");
        check_cuda(a, a.cuda_set_device(device), "cudaSetDevice");
    }

    // NCCL calls only enqueue work: wait for the stream, watching the communicator's asynchronous
    // error, and abort it at the deadline so a dead peer is an error, not a hang.
    void wait(const char* what) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const int q = a.cuda_stream_query(legacy_stream);
            if (q == cuda_success) return;
            if (q != cuda_not_ready) check_cuda(a, q, "cudaStreamQuery");
            int async = nccl_success;
            check_nccl(a, a.comm_get_async_error(comm, &async), "ncclCommGetAsyncError");
            if (async != nccl_success && async != nccl_in_progress) {
                abort();
                throw std::runtime_error(std::string(what) + " failed: " + a.get_error_string(async));
            }
            if (std::chrono::steady_clock::now() > deadline) {
                abort();
                throw std::runtime_error(std::string(what) + " timed out after " + std::to_string(timeout.count()) + " ms");
            }
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }

    void abort() {
        aborted = true;
        a.comm_abort(comm);
    }

    void allreduce(void* data, size_t count, int dtype, int op) override {
        const int t = nccl_dtype(dtype);
        const int o = op == 0 ? nccl_sum : op == 1 ? nccl_max : nccl_min;
        enter();
        check_nccl(a, a.all_reduce(data, data, count, t, o, comm, legacy_stream), "ncclAllReduce");
        wait("ncclAllReduce");
    }

    void broadcast(void* data, size_t bytes, int root) override {
        enter();
        // Bytes as ncclUint8 (1): a broadcast only moves memory.
        check_nccl(a, a.broadcast(data, data, bytes, 1, root, comm, legacy_stream), "ncclBroadcast");
        wait("ncclBroadcast");
    }

    void barrier() override { allreduce(barrier_word, 1, 0, 0); }
};

constexpr const char* unique_id_key = "gid_nccl_unique_id";

}  // namespace

GID_EXPORT int gid_coll_nccl_load(const char* nccl_path, const char* cudart_path, int* version) {
    COLL_GUARD({
        const auto& a = load(nccl_path, cudart_path);
        if (version != nullptr) check_nccl(a, a.get_version(version), "ncclGetVersion");
    })
}

GID_EXPORT int gid_coll_init_nccl(int kind, const char* address, int port, int rank, int size, int device, int timeout_ms,
                                  const char* nccl_path, const char* cudart_path, void** out) {
    COLL_GUARD({
        if (out == nullptr) throw gid::argument_error("output handle pointer is null");
        *out = nullptr;
        gid::check_init_arguments(rank, size, timeout_ms, address);
        if (device < 0) throw gid::argument_error("CUDA device " + std::to_string(device) + " is negative");
        // Libraries first: on a machine without NCCL this fails at once, before any rendezvous wait.
        const auto& a = load(nccl_path, cudart_path);
        auto g = std::make_unique<nccl_group>(a);
        g->ranks = size;
        g->device = device;
        g->timeout = std::chrono::milliseconds(timeout_ms);
        g->store = gid::make_store(kind, address, port, rank, g->timeout);
        // Rank 0 creates the id; the others read it from the same rendezvous Gloo uses.
        nccl_unique_id id{};
        if (rank == 0) {
            check_nccl(a, a.get_unique_id(&id), "ncclGetUniqueId");
            g->store->set(unique_id_key, std::vector<char>(id.internal, id.internal + sizeof id.internal));
        } else {
            g->store->wait({unique_id_key}, g->timeout);
            const auto bytes = g->store->get(unique_id_key);
            if (bytes.size() != sizeof id.internal)
                throw std::runtime_error("the NCCL unique id in the rendezvous has " + std::to_string(bytes.size()) + " bytes, not 128");
            std::memcpy(id.internal, bytes.data(), sizeof id.internal);
        }
        check_cuda(a, a.cuda_set_device(device), "cudaSetDevice");
        check_nccl(a, a.comm_init_rank(&g->comm, size, id, rank), "ncclCommInitRank");
        check_cuda(a, a.cuda_malloc(&g->barrier_word, sizeof(float)), "cudaMalloc");
        *out = static_cast<gid::coll_group*>(g.release());
    })
}
