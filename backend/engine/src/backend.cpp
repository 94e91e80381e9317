#include "mf/engine/backend.h"

#include "mf/core/error.h"
#include "mf/engine/pipeline_backend.h"
#include "mf/engine/test_backend.h"

namespace mf::engine {

bool have_pipeline_backend() {
#ifdef MF_ENGINE_HAVE_PIPELINE
  return true;
#else
  return false;
#endif
}

std::shared_ptr<ModelBackend> load_default_backend(const ModelKey& key) {
  if (key.model.rfind("test:", 0) == 0) {
    // A test fixture (tiny random linear denoiser): lets the CLI queue and the studio be exercised without weights.
    return std::make_shared<TestBackend>(key.model);
  }
  check(!key.model.empty(), ErrorCode::MissingModel,
        "the job names no model: set \"model\" in the job (or pass --model DIR) to an MfM pipeline folder");
#ifdef MF_ENGINE_HAVE_PIPELINE
  pipeline::LoadOptions lo;
  lo.device = torch::Device(key.device);
  lo.dtype = key.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  return std::make_shared<PipelineBackend>(key.model, lo);
#else
  throw Error(ErrorCode::Unsupported,
              "this build of Manyfold has no MfM pipeline (backend/pipeline was not built), so it cannot run " +
                  key.model + "; rebuild with the pipeline library");
#endif
}

}  // namespace mf::engine
