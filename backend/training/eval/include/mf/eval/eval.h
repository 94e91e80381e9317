// Everything of mf_eval: metrics, baselines, the caption-following detector and the report.
#pragma once

#include "mf/eval/baselines.h"
#include "mf/eval/caption_detector.h"
#include "mf/eval/metrics.h"
#include "mf/eval/report.h"
