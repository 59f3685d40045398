// figs data layer: datasets, transforms, the loader (docs/data.md). Depends on core/ only.
#pragma once

#include "data/cifar_format.h"
#include "data/dataset.h"
#include "data/file.h"
#include "data/gzip.h"
#include "data/idx_format.h"
#include "data/image_codec.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/readers.h"
#include "data/resample.h"
#include "data/sampler.h"
#include "data/synthetic.h"
#include "data/transforms.h"
