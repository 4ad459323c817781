// Private header of libgid_cv: the error guard bound to OpenCV's exception type.
#pragma once

#include <opencv2/core.hpp>

#include "gid_native.h"

namespace gid {
struct cv_tag {};
}  // namespace gid

#define GID_CV_GUARD(...) GID_GUARD(gid::cv_tag, cv::Exception, __VA_ARGS__)
