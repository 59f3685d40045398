// figs::nn: modules, layers, losses, metrics, optimizers, schedules, moving averages and
// checkpoints, in one include. docs/nn.md describes them.
#pragma once

#include "nn/checkpoint.h"
#include "nn/ema.h"
#include "nn/init.h"
#include "nn/layers/basic.h"
#include "nn/layers/conv.h"
#include "nn/layers/linear.h"
#include "nn/layers/norm.h"
#include "nn/layers/pool.h"
#include "nn/layers/sequential.h"
#include "nn/loss.h"
#include "nn/metrics.h"
#include "nn/model.h"
#include "nn/module.h"
#include "nn/optim/adam.h"
#include "nn/optim/optimizer.h"
#include "nn/optim/sgd.h"
#include "nn/schedule.h"
#include "nn/summary.h"
