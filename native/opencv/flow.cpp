// Dense optical flow: DIS (presets, optional variational refinement), Farneback, and from
// contrib optflow DeepFlow and Dual TV-L1, behind one handle type.
#include <opencv2/optflow.hpp>
#include <opencv2/video/tracking.hpp>

#include "gid_cv.h"

// Keep in sync with FlowParams in dataprep/OpenCv/OpticalFlow.cs. Negative = algorithm default.
struct gid_flow_params {
    int method;  // 0 DIS, 1 Farneback, 2 DeepFlow, 3 Dual TV-L1
    int dis_preset;  // 0 ultrafast, 1 fast, 2 medium
    int dis_finest_scale;
    int dis_vr_iterations;
    int dis_patch_size;
    int dis_patch_stride;
    int dis_gd_iterations;
    double fb_pyr_scale;
    int fb_levels;
    int fb_winsize;
    int fb_iterations;
    int fb_poly_n;
    double fb_poly_sigma;
};

namespace {
struct flow_engine {
    gid_flow_params p{};
    cv::Ptr<cv::DenseOpticalFlow> algo;  // null for Farneback (a free function)
};
}  // namespace

GID_EXPORT int gid_cv_flow_new(const gid_flow_params* p, void** out) {
    GID_CV_GUARD({
        if (p == nullptr || out == nullptr) throw gid::argument_error("null argument");
        auto e = std::make_unique<flow_engine>();
        e->p = *p;
        switch (p->method) {
            case 0: {
                if (p->dis_preset < 0 || p->dis_preset > 2) throw gid::argument_error("DIS preset must be 0..2");
                auto dis = cv::DISOpticalFlow::create(p->dis_preset);
                if (p->dis_finest_scale >= 0) dis->setFinestScale(p->dis_finest_scale);
                if (p->dis_vr_iterations >= 0) dis->setVariationalRefinementIterations(p->dis_vr_iterations);
                if (p->dis_patch_size > 0) dis->setPatchSize(p->dis_patch_size);
                if (p->dis_patch_stride > 0) dis->setPatchStride(p->dis_patch_stride);
                if (p->dis_gd_iterations > 0) dis->setGradientDescentIterations(p->dis_gd_iterations);
                e->algo = dis;
                break;
            }
            case 1:
                if (p->fb_levels < 0 || p->fb_winsize <= 0 || p->fb_iterations <= 0 || (p->fb_poly_n != 5 && p->fb_poly_n != 7))
                    throw gid::argument_error("Farneback parameters out of range (poly_n must be 5 or 7)");
                break;
            case 2: e->algo = cv::optflow::createOptFlow_DeepFlow(); break;
            case 3: e->algo = cv::optflow::createOptFlow_DualTVL1(); break;
            default: throw gid::argument_error("unknown flow method " + std::to_string(p->method));
        }
        *out = e.release();
    });
}

GID_EXPORT void gid_cv_flow_free(void* h) { delete static_cast<flow_engine*>(h); }

// Flow from `prev` to `next` (8-bit single channel, same size) into `flow` (CV_32FC2). DIS in
// 4.6 treats a pre-sized output as its initial guess, so a reused buffer would make successive
// results drift (NATIVE-NOTES.md): for DIS the output is released first (no guess, as cv2's
// calc(a, b, None)); the others get a zeroed buffer.
GID_EXPORT int gid_cv_flow_calc(void* h, void* prev, void* next, void* flow) {
    GID_CV_GUARD({
        if (h == nullptr || prev == nullptr || next == nullptr || flow == nullptr) throw gid::argument_error("null argument");
        auto& e = *static_cast<flow_engine*>(h);
        auto& a = *static_cast<cv::Mat*>(prev);
        auto& b = *static_cast<cv::Mat*>(next);
        auto& f = *static_cast<cv::Mat*>(flow);
        if (a.type() != CV_8UC1 || b.type() != CV_8UC1) throw gid::argument_error("flow inputs must be 8-bit grayscale");
        if (a.size() != b.size()) throw gid::argument_error("flow inputs differ in size");
        if (e.p.method == 0) {
            f.release();  // DIS: no initial guess at all, exactly as cv2's calc(a, b, None)
        } else {
            f.create(a.size(), CV_32FC2);
            f.setTo(cv::Scalar::all(0));
        }
        if (e.algo) {
            e.algo->calc(a, b, f);
        } else {
            const auto& p = e.p;
            cv::calcOpticalFlowFarneback(a, b, f, p.fb_pyr_scale, p.fb_levels, p.fb_winsize, p.fb_iterations, p.fb_poly_n, p.fb_poly_sigma, 0);
        }
    });
}

GID_EXPORT int gid_cv_get_num_threads(int* threads) {
    GID_CV_GUARD({ *threads = cv::getNumThreads(); });
}
