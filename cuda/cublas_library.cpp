// Loading cuBLAS on first use (cuda/cublas_library.h).
#include "cuda/cublas_library.h"

#include <dlfcn.h>

#include <fstream>
#include <string>

#include "core/error.h"

namespace figs::cuda {

namespace {

// Tries the soname first (LD_LIBRARY_PATH, libfigs's run path, the loader's cache), then the
// library CMake found at configure time (FIGS_CUBLAS_LIBRARY), for an installed figs whose run
// path no longer names the toolkit.
void* open_cublas(std::string& tried) {
  const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  for (const std::string& name : {soname, std::string(FIGS_CUBLAS_LIBRARY)}) {
    if (name.empty()) continue;
    if (void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
    const char* why = dlerror();
    tried += (tried.empty() ? "" : "; ") + name + ": " + (why != nullptr ? why : "not found");
  }
  return nullptr;
}

template <typename Fn>
void resolve(void* handle, const char* symbol, Fn& fn) {
  dlerror();
  fn = reinterpret_cast<Fn>(dlsym(handle, symbol));
  const char* why = dlerror();
  FIGS_CHECK(fn != nullptr && why == nullptr, "cuBLAS: the loaded library has no ", symbol, " (",
             why != nullptr ? why : "null symbol", "); figs was built against cuBLAS ", CUBLAS_VER_MAJOR, ".",
             CUBLAS_VER_MINOR);
}

CublasLibrary load() {
  std::string tried;
  void* handle = open_cublas(tried);
  FIGS_CHECK(handle != nullptr, "cuBLAS ", CUBLAS_VER_MAJOR, " could not be loaded, and the CUDA matmul needs it (",
             tried, "): install the CUDA toolkit's cuBLAS or add its folder to LD_LIBRARY_PATH");
  CublasLibrary lib{};
  try {
    resolve(handle, "cublasCreate_v2", lib.create);
    resolve(handle, "cublasSetStream_v2", lib.set_stream);
    resolve(handle, "cublasSetWorkspace_v2", lib.set_workspace);
    resolve(handle, "cublasSetMathMode", lib.set_math_mode);
    resolve(handle, "cublasSgemm_v2", lib.sgemm);
    resolve(handle, "cublasDgemm_v2", lib.dgemm);
    resolve(handle, "cublasGetStatusName", lib.status_name);
    resolve(handle, "cublasGetStatusString", lib.status_string);
  } catch (...) {
    dlclose(handle);  // a retry opens it again
    throw;
  }
  return lib;
}

}  // namespace

const CublasLibrary& cublas_library() {
  // A failed load throws out of the initialiser, so the next call tries again.
  static const CublasLibrary lib = load();
  return lib;
}

bool cublas_is_loaded() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.find("/libcublas.so") != std::string::npos) return true;
  return false;
}

}  // namespace figs::cuda
