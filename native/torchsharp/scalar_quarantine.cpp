// Deferred freeing of TorchSharp Scalars.
//
// TorchSharp 0.107 wraps a c10::Scalar* in a managed `Scalar` with a finalizer, and passes the raw
// pointer into native calls without keeping the managed object alive. Implicit conversions
// (`tensor * 0.5`, `a + b`'s alpha of 1, its own optimizers' `mul_(beta1)`) leave the object to
// the finalizer, and a garbage collection triggered by another thread while the call runs can
// finalize it, so libtorch reads freed memory ("Unknown scalar type", or a silently wrong value).
// Every Scalar is freed here instead: THSTorch_dispose_scalar holds the pointer for a grace period
// (GID_SCALAR_GRACE_MS, default 10 s; far longer than one elementwise op reads its scalar) and
// frees older ones through the real function as new ones arrive.
#include <dlfcn.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "gid_native.h"

namespace {

using dispose_fn = void (*)(void*);

struct held_scalar {
    void* pointer;
    int64_t released_at_ns;  // monotonic clock
};

int64_t now_ns() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

int64_t grace_ns() {
    static const int64_t grace = [] {
        const char* text = std::getenv("GID_SCALAR_GRACE_MS");
        long ms = text != nullptr ? std::strtol(text, nullptr, 10) : 10'000;
        if (ms < 0) ms = 0;
        return static_cast<int64_t>(ms) * 1'000'000;
    }();
    return grace;
}

dispose_fn real_dispose() {
    // The next definition after this library in the lookup order: libLibTorchSharp.so's.
    static const dispose_fn fn = reinterpret_cast<dispose_fn>(dlsym(RTLD_NEXT, "THSTorch_dispose_scalar"));
    return fn;
}

std::mutex gate;
std::deque<held_scalar> held;  // oldest first
std::atomic<int64_t> freed{0};

}  // namespace

GID_EXPORT void THSTorch_dispose_scalar(void* scalar) {
    if (scalar == nullptr) return;
    const dispose_fn dispose = real_dispose();
    if (dispose == nullptr) return;  // cannot happen while libLibTorchSharp.so is our dependency; leaking beats crashing
    const int64_t now = now_ns();
    std::vector<void*> due;
    {
        std::lock_guard<std::mutex> lock(gate);
        held.push_back({scalar, now});
        while (!held.empty() && now - held.front().released_at_ns >= grace_ns()) {
            due.push_back(held.front().pointer);
            held.pop_front();
        }
    }
    for (void* p : due) dispose(p);
    freed.fetch_add(static_cast<int64_t>(due.size()), std::memory_order_relaxed);
}

// How many disposed Scalars are still held, and how many were freed so far (for tests and logs).
GID_EXPORT void gid_scalar_quarantine_stats(int64_t* held_now, int64_t* freed_so_far) {
    std::lock_guard<std::mutex> lock(gate);
    if (held_now != nullptr) *held_now = static_cast<int64_t>(held.size());
    if (freed_so_far != nullptr) *freed_so_far = freed.load(std::memory_order_relaxed);
}
