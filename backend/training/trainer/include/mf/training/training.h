// Everything of Manyfold's trainer: config, dataset, train state, checkpoints, progress, the loop and the stages.
#pragma once

#include "mf/training/checkpoint.h"
#include "mf/training/config.h"
#include "mf/training/dataset.h"
#include "mf/training/progress.h"
#include "mf/training/toy_eval.h"
#include "mf/training/train_state.h"
#include "mf/training/trainer.h"
#include "mf/training/depth_stage.h"
#include "mf/training/mfm_stage.h"
#include "mf/training/vae_stage.h"
