// Intentionally empty: only its soname (libLibTorchSharp.so) matters; see CMakeLists.txt.
