#include "mf/jobs/clip_job.h"

#include "mf/core/error.h"
#include "mf/jobs/task_job.h"
#include "mf/project/selection.h"
#include "mf/project/session.h"

namespace mf::jobs {

namespace fs = std::filesystem;
namespace proj = mf::project;
using mf::ErrorCode;
using mf::tasks::TaskId;

bool is_clip_task(TaskId task) {
  switch (task) {
    case TaskId::VInp:
    case TaskId::VOutp:
    case TaskId::VColor:
    case TaskId::VSR:
    case TaskId::VEdit:
    case TaskId::VExd:
      return true;
    default:
      return false;
  }
}

ClipJob export_clip_job(const proj::ProjectSession& session, const ClipJobRequest& request) {
  const proj::Project& doc = session.document();
  const auto& facts = mf::tasks::task_facts(request.task);
  check(is_clip_task(request.task), ErrorCode::BadInput,
        std::string("task ") + facts.key + " does not take a clip from the timeline; choose one of vinp, voutp, "
                                           "vcolor, vsr, vedit, vexd");
  const proj::Clip* clip = doc.find_clip(request.clip_id);
  check(clip != nullptr, ErrorCode::BadInput, "no clip is selected: click a clip on the timeline first");
  const proj::MediaItem& media_item = proj::require_media(doc, clip->media_id);
  check(media_item.kind == proj::MediaKind::Video, ErrorCode::BadInput,
        "the clip '" + clip->name + "' is a still image; " + facts.key +
            " edits a video. Use a video clip (or the image tasks for stills)");
  proj::Selection selection;
  selection.clip_ids = {clip->id};
  const proj::TaskInputs inputs = proj::gather_task_inputs(doc, selection);
  TaskJobRequest q;
  q.task = request.task;
  q.prompt = request.prompt;
  q.model = request.model;
  q.max_frames = request.max_frames;
  q.steps = request.steps;
  q.guidance = request.guidance;
  q.seed = request.seed;
  const TaskJob t = export_task_job(session, inputs, q);

  ClipJob job;
  job.spec = t.spec;
  job.input_folder = t.input_folder;
  job.output = t.output;
  job.source_clip_id = clip->id;
  return job;
}

}  // namespace mf::jobs
