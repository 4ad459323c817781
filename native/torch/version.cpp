// Library identity and the error channel of libgid_torch.
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "gid_torch.h"

GID_EXPORT int gid_torch_version(char* buffer, int capacity) {
    return gid::copy_out(TORCH_VERSION, buffer, capacity);
}

GID_EXPORT int gid_torch_last_error(char* buffer, int capacity) {
    return gid::copy_out(gid::last_error<gid::torch_tag>::slot(), buffer, capacity);
}

GID_EXPORT int gid_torch_cuda_compiled() {
#ifdef GID_WITH_CUDA
    return 1;
#else
    return 0;
#endif
}

GID_EXPORT int gid_torch_set_num_threads(int threads) {
    GID_TORCH_GUARD({
        if (threads < 1) throw gid::argument_error("threads must be >= 1");
        at::set_num_threads(threads);
    });
}

GID_EXPORT int gid_torch_get_num_threads(int* threads) {
    GID_TORCH_GUARD({ *threads = at::get_num_threads(); });
}
