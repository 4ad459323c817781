// Streaming decode through cv::VideoCapture (FFmpeg backend): one frame at a time into a
// caller-owned Mat, so memory does not grow with video length.
#include <opencv2/videoio.hpp>

#include "gid_cv.h"

namespace {
cv::VideoCapture& cap(void* h) {
    if (h == nullptr) throw gid::argument_error("null VideoCapture handle");
    return *static_cast<cv::VideoCapture*>(h);
}
}  // namespace

// Opens `path` with the FFmpeg backend; *opened = 0 when FFmpeg cannot read it (not an error:
// the caller names the file in its own message).
GID_EXPORT int gid_cv_capture_open(const char* path, void** out, int* opened) {
    GID_CV_GUARD({
        if (path == nullptr || out == nullptr || opened == nullptr) throw gid::argument_error("null argument");
        auto* c = new cv::VideoCapture();
        try {
            *opened = c->open(path, cv::CAP_FFMPEG) ? 1 : 0;
        } catch (...) {
            delete c;
            throw;
        }
        *out = c;
    });
}

GID_EXPORT void gid_cv_capture_free(void* h) { delete static_cast<cv::VideoCapture*>(h); }

GID_EXPORT int gid_cv_capture_get(void* h, int prop, double* value) {
    GID_CV_GUARD({ *value = cap(h).get(prop); });
}

GID_EXPORT int gid_cv_capture_set(void* h, int prop, double value, int* accepted) {
    GID_CV_GUARD({ *accepted = cap(h).set(prop, value) ? 1 : 0; });
}

// Reads the next frame into `frame` (reusing its buffer); *ok = 0 at the end of the stream.
// *pos_msec is the frame's presentation time as FFmpeg reports it.
GID_EXPORT int gid_cv_capture_read(void* h, void* frame, int* ok, double* pos_msec) {
    GID_CV_GUARD({
        if (frame == nullptr) throw gid::argument_error("null Mat handle");
        auto& c = cap(h);
        *ok = c.read(*static_cast<cv::Mat*>(frame)) ? 1 : 0;
        *pos_msec = *ok ? c.get(cv::CAP_PROP_POS_MSEC) : 0.0;
    });
}
