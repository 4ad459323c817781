// Image operations the pipeline needs: resize, colour conversion, drawing and encoding (plots).
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "gid_cv.h"

namespace {
cv::Mat& mat(void* h) {
    if (h == nullptr) throw gid::argument_error("null Mat handle");
    return *static_cast<cv::Mat*>(h);
}
}  // namespace

GID_EXPORT int gid_cv_resize(void* src, void* dst, int width, int height, int interpolation) {
    GID_CV_GUARD({
        if (width <= 0 || height <= 0) throw gid::argument_error("resize target must be positive");
        cv::resize(mat(src), mat(dst), cv::Size(width, height), 0, 0, interpolation);
    });
}

GID_EXPORT int gid_cv_cvt_color(void* src, void* dst, int code) {
    GID_CV_GUARD({ cv::cvtColor(mat(src), mat(dst), code); });
}

GID_EXPORT int gid_cv_line(void* img, int x1, int y1, int x2, int y2, double b, double g, double r, int thickness, int line_type) {
    GID_CV_GUARD({ cv::line(mat(img), {x1, y1}, {x2, y2}, cv::Scalar(b, g, r), thickness, line_type); });
}

GID_EXPORT int gid_cv_rectangle(void* img, int x1, int y1, int x2, int y2, double b, double g, double r, int thickness) {
    GID_CV_GUARD({ cv::rectangle(mat(img), cv::Point(x1, y1), cv::Point(x2, y2), cv::Scalar(b, g, r), thickness); });
}

GID_EXPORT int gid_cv_circle(void* img, int x, int y, int radius, double b, double g, double r, int thickness, int line_type) {
    GID_CV_GUARD({ cv::circle(mat(img), {x, y}, radius, cv::Scalar(b, g, r), thickness, line_type); });
}

GID_EXPORT int gid_cv_put_text(void* img, const char* text, int x, int y, double scale, double b, double g, double r, int thickness) {
    GID_CV_GUARD({
        if (text == nullptr) throw gid::argument_error("null text");
        cv::putText(mat(img), text, {x, y}, cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(b, g, r), thickness, cv::LINE_AA);
    });
}

GID_EXPORT int gid_cv_get_text_size(const char* text, double scale, int thickness, int* width, int* height) {
    GID_CV_GUARD({
        int baseline = 0;
        auto s = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &baseline);
        *width = s.width;
        *height = s.height;
    });
}

GID_EXPORT int gid_cv_imwrite(const char* path, void* img, int* written) {
    GID_CV_GUARD({ *written = cv::imwrite(path, mat(img)) ? 1 : 0; });
}

// Encodes into a buffer owned by the shim; the caller copies it out and frees it.
GID_EXPORT int gid_cv_imencode(const char* ext, void* img, void** buffer, uint8_t** data, int64_t* length) {
    GID_CV_GUARD({
        auto* bytes = new std::vector<uchar>();
        if (!cv::imencode(ext, mat(img), *bytes)) {
            delete bytes;
            throw gid::argument_error(std::string("imencode could not encode as ") + ext);
        }
        *buffer = bytes;
        *data = bytes->data();
        *length = static_cast<int64_t>(bytes->size());
    });
}

GID_EXPORT void gid_cv_buffer_free(void* buffer) { delete static_cast<std::vector<uchar>*>(buffer); }

GID_EXPORT int gid_cv_imread(const char* path, int flags, void* dst) {
    GID_CV_GUARD({
        auto m = cv::imread(path, flags);
        if (m.empty()) throw gid::argument_error(std::string("cannot read image ") + path);
        mat(dst) = m;
    });
}
