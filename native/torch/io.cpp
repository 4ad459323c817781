// Checkpoint writing of libgid_torch: a small IValue tree API (none, tensor, int, double, bool,
// string, list, tuple, dict) plus torch::jit::pickle_save, which writes the zip format of Python's
// torch.save. Reading is managed (training/Torch/Unpickler.cs): torch::jit::pickle_load in 1.13
// rejects common opcodes of Python's pickler (SETITEM, APPEND) and OrderedDict state.
#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <fstream>
#include <vector>

#include "gid_torch.h"

namespace {

using iv = void*;

inline c10::IValue& V(iv h) {
    if (h == nullptr) throw gid::argument_error("value handle is null");
    return *static_cast<c10::IValue*>(h);
}

inline iv box(c10::IValue v) { return new c10::IValue(std::move(v)); }

}  // namespace

GID_EXPORT void gid_iv_free(iv h) { delete static_cast<c10::IValue*>(h); }

GID_EXPORT int gid_iv_none(iv* out) { GID_TORCH_GUARD(*out = box(c10::IValue())); }
GID_EXPORT int gid_iv_tensor(void* t, iv* out) {
    GID_TORCH_GUARD({
        if (t == nullptr) throw gid::argument_error("tensor handle is null");
        *out = box(*static_cast<at::Tensor*>(t));
    });
}
GID_EXPORT int gid_iv_int(int64_t v, iv* out) { GID_TORCH_GUARD(*out = box(v)); }
GID_EXPORT int gid_iv_double(double v, iv* out) { GID_TORCH_GUARD(*out = box(v)); }
GID_EXPORT int gid_iv_bool(int v, iv* out) { GID_TORCH_GUARD(*out = box(v != 0)); }
GID_EXPORT int gid_iv_string(const char* s, iv* out) { GID_TORCH_GUARD(*out = box(std::string(s))); }

// Containers are built from item handles in one call; the items are copied (handles stay owned by the caller).
GID_EXPORT int gid_iv_list(const iv* items, int n, int tuple, iv* out) {
    GID_TORCH_GUARD({
        std::vector<c10::IValue> v;
        v.reserve(static_cast<size_t>(n));
        for (int i = 0; i < n; i++) v.push_back(V(items[i]));
        if (tuple) {
            *out = box(c10::ivalue::Tuple::create(std::move(v)));
        } else {
            c10::impl::GenericList list(c10::AnyType::get());
            for (auto& x : v) list.push_back(std::move(x));
            *out = box(std::move(list));
        }
    });
}
GID_EXPORT int gid_iv_dict(const iv* keys, const iv* values, int n, iv* out) {
    GID_TORCH_GUARD({
        // Key type from the first key keeps dicts typed (Dict[str, Tensor] for state dicts).
        c10::TypePtr key_type = c10::StringType::get();
        if (n > 0 && V(keys[0]).isInt()) key_type = c10::IntType::get();
        c10::impl::GenericDict dict(key_type, c10::AnyType::get());
        for (int i = 0; i < n; i++) {
            auto& k = V(keys[i]);
            if (!(k.isString() || k.isInt())) throw gid::argument_error("dict keys must be strings or ints");
            if (k.isInt() != (key_type == c10::IntType::get())) throw gid::argument_error("dict keys must all have one type");
            dict.insert_or_assign(k, V(values[i]));
        }
        *out = box(std::move(dict));
    });
}

GID_EXPORT int gid_pickle_save(iv h, const char* path) {
    GID_TORCH_GUARD({
        auto bytes = torch::jit::pickle_save(V(h));
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        if (!f) throw gid::argument_error(std::string("cannot open for writing: ") + path);
        f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!f) throw gid::argument_error(std::string("write failed: ") + path);
    });
}
