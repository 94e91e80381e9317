// Everything of the toy world: scenes, sampler, captions, rendering.
#pragma once

#include "mf/toyworld/caption.h"
#include "mf/toyworld/render.h"
#include "mf/toyworld/rng.h"
#include "mf/toyworld/sampler.h"
#include "mf/toyworld/scene.h"
