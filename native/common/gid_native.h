// Shared conventions of the native shims: every exported function returns an int status
// (0 = ok) and, on failure, leaves a message in a thread-local buffer that the managed side
// reads right after the call. No C++ exception ever crosses the C ABI.
#pragma once

#include <cstring>
#include <exception>
#include <string>

#define GID_EXPORT extern "C" __attribute__((visibility("default")))

enum gid_status : int {
    GID_OK = 0,
    GID_ERR_ENGINE = 1,    // the engine (libtorch, OpenCV) threw
    GID_ERR_ARGUMENT = 2,  // the shim rejected an argument before calling the engine
    GID_ERR_UNKNOWN = 3,   // anything else that was thrown
};

namespace gid {

// One error slot per library and thread; `Tag` keeps the two libraries' slots apart.
template <typename Tag>
struct last_error {
    static std::string& slot() {
        thread_local std::string message;
        return message;
    }
};

struct argument_error : std::exception {
    std::string message;
    explicit argument_error(std::string m) : message(std::move(m)) {}
    const char* what() const noexcept override { return message.c_str(); }
};

// Copies `text` into a caller buffer, always NUL-terminated; returns the full length.
inline int copy_out(const std::string& text, char* buffer, int capacity) {
    if (buffer != nullptr && capacity > 0) {
        const size_t n = std::min(text.size(), static_cast<size_t>(capacity - 1));
        std::memcpy(buffer, text.data(), n);
        buffer[n] = '\0';
    }
    return static_cast<int>(text.size());
}

}  // namespace gid

// Wraps a shim body (variadic, so bodies may contain commas): catches everything, records the message for the calling thread.
// ENGINE_ERROR is the engine's own exception type (c10::Error, cv::Exception), caught first
// so its message is kept verbatim.
#define GID_GUARD(TAG, ENGINE_ERROR, ...)                                          \
    try {                                                                           \
        gid::last_error<TAG>::slot().clear();                                       \
        __VA_ARGS__;                                                                \
        return GID_OK;                                                              \
    } catch (const gid::argument_error& e) {                                        \
        gid::last_error<TAG>::slot() = e.what();                                    \
        return GID_ERR_ARGUMENT;                                                    \
    } catch (const ENGINE_ERROR& e) {                                               \
        gid::last_error<TAG>::slot() = e.what();                                    \
        return GID_ERR_ENGINE;                                                      \
    } catch (const std::exception& e) {                                             \
        gid::last_error<TAG>::slot() = e.what();                                    \
        return GID_ERR_UNKNOWN;                                                     \
    } catch (...) {                                                                 \
        gid::last_error<TAG>::slot() = "unknown native exception";                  \
        return GID_ERR_UNKNOWN;                                                     \
    }
