// Library identity and the error channel of libgid_cv.
#include <opencv2/core.hpp>

#include "gid_cv.h"

GID_EXPORT int gid_cv_version(char* buffer, int capacity) {
    return gid::copy_out(CV_VERSION, buffer, capacity);
}

GID_EXPORT int gid_cv_last_error(char* buffer, int capacity) {
    return gid::copy_out(gid::last_error<gid::cv_tag>::slot(), buffer, capacity);
}

GID_EXPORT int gid_cv_set_num_threads(int threads) {
    GID_CV_GUARD({
        if (threads < 0) throw gid::argument_error("threads must be >= 0");
        cv::setNumThreads(threads);
    });
}

// Exercises the error path end to end: OpenCV throws, the managed side gets its message.
GID_EXPORT int gid_cv_self_test_error() {
    GID_CV_GUARD({ CV_Error(cv::Error::StsBadArg, "gid self-test error"); });
}
