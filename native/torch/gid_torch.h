// Private header of libgid_torch: the error guard bound to libtorch's exception type.
#pragma once

#include <c10/util/Exception.h>

#include "gid_native.h"

namespace gid {
struct torch_tag {};

// libtorch's message without the C++ backtrace that c10::Error::what() appends.
struct torch_error : std::exception {
    std::string message;
    explicit torch_error(std::string m) : message(std::move(m)) {}
    const char* what() const noexcept override { return message.c_str(); }
};
}  // namespace gid

#define GID_TORCH_GUARD(...)                                       \
    GID_GUARD(gid::torch_tag, gid::torch_error, try { __VA_ARGS__; } \
              catch (const c10::Error& e) { throw gid::torch_error(e.what_without_backtrace()); })
