// cuBLAS, loaded when the first CUDA matmul needs it rather than when figs is loaded.
//
// Linking libcublas makes the dynamic loader map cuBLAS and cuBLASLt and run their start-up
// relocations: 217 MiB of resident memory in every process that loads figs (measured: an empty
// program linked with -lcublas -lcublasLt peaks at 218 MB RSS, 1.5 MB with -lcudart alone), on a
// CPU-only run too. figs calls eight cuBLAS functions, so it resolves them with dlopen/dlsym on
// first use instead, and a process that never runs a matmul on a GPU never pays for cuBLAS.
#pragma once

#include <cublas_v2.h>

namespace figs::cuda {

// The cuBLAS entry points figs calls (the _v2 symbols that cublas_v2.h's macros name).
struct CublasLibrary {
  decltype(&cublasCreate_v2) create;
  decltype(&cublasSetStream_v2) set_stream;
  decltype(&cublasSetWorkspace_v2) set_workspace;
  decltype(&cublasSetMathMode) set_math_mode;
  decltype(&cublasSgemm_v2) sgemm;
  decltype(&cublasDgemm_v2) dgemm;
  decltype(&cublasGetStatusName) status_name;
  decltype(&cublasGetStatusString) status_string;
};

// Loads libcublas.so.<major of the headers built against> on the first call (thread-safe) and
// resolves every entry point; throws figs::Error naming the library and the loader's message when
// it cannot be loaded or lacks a symbol. The library stays loaded for the life of the process.
const CublasLibrary& cublas_library();

// Whether cuBLAS is mapped into this process now (read from /proc/self/maps; false where that
// cannot be read): the tests' check that loading figs did not load it.
bool cublas_is_loaded();

}  // namespace figs::cuda
