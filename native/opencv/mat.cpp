// cv::Mat as an opaque handle: create, inspect, fill, copy in/out. The managed side reads pixel
// data through the pointer and step reported by gid_cv_mat_info (valid until the Mat changes).
#include <opencv2/core.hpp>

#include "gid_cv.h"

namespace {
cv::Mat& mat(void* h) {
    if (h == nullptr) throw gid::argument_error("null Mat handle");
    return *static_cast<cv::Mat*>(h);
}
}  // namespace

GID_EXPORT int gid_cv_mat_new(int rows, int cols, int type, void** out) {
    GID_CV_GUARD({
        if (out == nullptr) throw gid::argument_error("null output pointer");
        if (rows < 0 || cols < 0) throw gid::argument_error("Mat size must be >= 0");
        auto* m = rows == 0 || cols == 0 ? new cv::Mat() : new cv::Mat(rows, cols, type, cv::Scalar::all(0));
        *out = m;
    });
}

GID_EXPORT void gid_cv_mat_free(void* h) { delete static_cast<cv::Mat*>(h); }

GID_EXPORT int gid_cv_mat_info(void* h, int* rows, int* cols, int* type, void** data, int64_t* step) {
    GID_CV_GUARD({
        auto& m = mat(h);
        if (!m.empty() && !m.isContinuous()) m = m.clone();  // callers index rows by step, but keep it simple
        *rows = m.rows;
        *cols = m.cols;
        *type = m.type();
        *data = m.data;
        *step = static_cast<int64_t>(m.step[0]);
    });
}

GID_EXPORT int gid_cv_mat_set_zero(void* h) {
    GID_CV_GUARD({ mat(h).setTo(cv::Scalar::all(0)); });
}

GID_EXPORT int gid_cv_mat_set_scalar(void* h, double v0, double v1, double v2, double v3) {
    GID_CV_GUARD({ mat(h).setTo(cv::Scalar(v0, v1, v2, v3)); });
}

// (Re)allocates `h` to rows×cols×type (no-op when it already has that shape) and copies `bytes` in.
GID_EXPORT int gid_cv_mat_from_bytes(void* h, int rows, int cols, int type, const void* bytes, int64_t length) {
    GID_CV_GUARD({
        auto& m = mat(h);
        m.create(rows, cols, type);
        const auto need = static_cast<int64_t>(m.total() * m.elemSize());
        if (length != need) throw gid::argument_error("byte length " + std::to_string(length) + " does not match " + std::to_string(need));
        std::memcpy(m.data, bytes, static_cast<size_t>(need));
    });
}

GID_EXPORT int gid_cv_mat_copy_to(void* src, void* dst) {
    GID_CV_GUARD({ mat(src).copyTo(mat(dst)); });
}
