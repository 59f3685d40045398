// nas/: the FiGS method and its search spaces, in one include (docs/architecture.md, nas/):
// spaces and their presets, the mask layer, channel groups and costs, the search driver, width
// export, the architecture file, target budgets and the baselines.
#pragma once

#include "nas/architecture.h"
#include "nas/budget.h"
#include "nas/budget_match.h"
#include "nas/channel_graph.h"
#include "nas/conv_unit.h"
#include "nas/mask.h"
#include "nas/mask_layer.h"
#include "nas/baselines/morphnet.h"
#include "nas/objective.h"
#include "nas/baselines/random_search.h"
#include "nas/recalibrate.h"
#include "nas/search.h"
#include "nas/space.h"
#include "nas/baselines/width_multiplier.h"
