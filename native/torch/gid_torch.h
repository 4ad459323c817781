// Private header of libgid_torch: the error guard bound to libtorch's exception type.
#pragma once

#include <c10/util/Exception.h>

#include "gid_native.h"

namespace gid {
struct torch_tag {};
}  // namespace gid

#define GID_TORCH_GUARD(...) GID_GUARD(gid::torch_tag, c10::Error, __VA_ARGS__)
