// figs: everything a program embedding the engine needs, in one include.
//   #include <figs/figs.h>     (installed)   — link figs::figs via find_package(figs)
// The ONNX exporter is a library of its own: #include <figs/deploy/onnx_export.h>, link figs::onnx.
#pragma once

#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/atomic_file.h"
#include "core/autograd_meta.h"
#include "core/backend.h"
#include "core/build_info.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "core/view.h"
#include "cuda/cuda.h"
#include "data/data.h"
#include "nas/nas.h"
#include "nn/nn.h"
