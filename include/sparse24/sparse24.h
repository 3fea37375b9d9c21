// sparse24 — the whole public API.
#pragma once

#include "sparse24/dtype.h"
#include "sparse24/format.h"
#include "sparse24/io.h"
#include "sparse24/ops.h"
#include "sparse24/prune.h"
#include "sparse24/sparse_weight.h"
#include "sparse24/status.h"
#include "sparse24/tensor.h"
#include "sparse24/version.h"
