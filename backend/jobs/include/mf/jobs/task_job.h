// Any of the 15 MfM tasks from a timeline selection: what the task inspector shows for a task (`task_form`),
// which selected things a task would use and what is still missing (`resolve_task_inputs`, for the inspector's
// inline messages), and the job itself (`export_task_job`): the inputs written under
// <project>/jobs/inputs/<task>_<time>/ as files the pipeline reads, and the TaskSpec for them.
//
// What each task takes from the selection (mf::project::TaskInputs):
//   t2v, t2i            nothing (prompt only)
//   i2v                 the first frame (first-frame mark, still at the range start), else the frame at the playhead
//   itrans              the first and the last frame (both needed)
//   isr, icolor         the frame at the playhead, else the first-frame mark
//   iinp, ioutp         as isr, plus the mask painted (or held / propagated) on that frame (needed)
//   vexd                the selected clip (its last 8 frames condition the extension; all of it is kept)
//   vtrans              the first and the last clip (marks, else the two selected clips)
//   vinp, voutp         the selected clip and its mask track (needed)
//   vcolor, vsr, vedit  the selected clip (its mask track is used when one has painted masks)
// Frames of a clip (editing tasks): from the span's start, the largest 4k+1 count up to `max_frames`; vexd and
// vtrans write the span (vtrans: the first clip's tail and the second clip's head, at most `max_frames` each).
// Masks follow the mask track's rules (mf::project::sample_mask: painted, held, none, or propagated between two
// painted frames with optical flow), one mask frame per input frame, white = keep, black = regenerate.
// Size: image/clip tasks generate at the input's size rounded down to 16 (crop keep_res) unless the request
// gives a box; t2v/t2i use the request's box (default 352x640 / 1024x1024, snapped to 16).
//
// Thread-safety: call on the thread that owns the session (reads the document, writes files only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mf/project/selection.h"
#include "mf/tasks/style_preset.h"
#include "mf/tasks/task_spec.h"

namespace mf::project {
class ProjectSession;
}

namespace mf::jobs {

// What the inspector's form shows for a task.
struct TaskForm {
  enum class Frames {
    Single,    // an image (1 frame)
    Choose,    // the user picks a duration (t2v; i2v, itrans, vexd, vtrans from `default_frames`)
    FromClip,  // as many as the clip gives (editing tasks), up to a limit the user sets
  };
  enum class Size {
    Choose,     // the user picks the box (t2v, t2i)
    FromInput,  // the input's size by default; the user may give a box the input is fitted into
  };
  mf::tasks::TaskId task = mf::tasks::TaskId::T2V;
  std::vector<std::string> inputs;  // labels of the inputs in order: "First frame", "Clip", "Last clip", ...
  mf::tasks::MaskUse mask = mf::tasks::MaskUse::Forbidden;
  Frames frames = Frames::Choose;
  int default_frames = 0;  // Choose: the length a task starts at (97 for the generation tasks, as the official
                           // pipeline always makes); 0 = whatever the form holds (t2v)
  Size size = Size::Choose;
  bool upscale = false;           // isr: the upscale factor
  bool motion = true;             // the motion score is used (video outputs)
  std::string hint;               // one sentence on what the task does with its inputs
};
TaskForm task_form(mf::tasks::TaskId task);

// The selected things a task uses, in the order of TaskForm::inputs, and sentences for what is missing.
struct ResolvedInputs {
  std::vector<mf::project::FrameRef> images;
  std::vector<mf::project::ClipSpan> clips;
  std::optional<mf::project::MaskFrames> mask;      // video tasks: over clips[0]
  std::optional<mf::project::MaskSample> image_mask;  // image tasks: the mask on images[0]'s frame
  std::vector<std::string> missing;                 // what to select, mark or paint before submitting
  std::vector<std::string> notes;                   // what is used in a way worth saying (not errors)
  bool ready() const { return missing.empty(); }
};
ResolvedInputs resolve_task_inputs(mf::tasks::TaskId task, const mf::project::TaskInputs& inputs);

struct TaskJobRequest {
  mf::tasks::TaskId task = mf::tasks::TaskId::T2V;
  std::string prompt;                           // the user's text (before the style preset's template)
  std::optional<std::string> negative_prompt;   // absent = the preset's, else the task's
  std::string model;                            // "" = the service's model
  int num_frames = 0;                           // TaskForm::Frames::Choose tasks: 4k+1 (0 = the form's default)
  int max_frames = 49;                          // editing tasks: frames of the clip used (4k+1 at most this)
  int height = 0, width = 0;                    // 0 = the input's size / the task's default box
  int steps = 0;                                // 0 = the preset's, else the task's default
  std::optional<double> guidance;               // absent = the preset's, else the task's default
  std::optional<double> motion_score;           // absent = the preset's, else the task's default
  std::optional<uint64_t> seed;                 // absent = random at run time
  int upscale = 0;                              // isr: 0 = the task's default (4)
  std::optional<mf::tasks::StylePreset> style;  // applied before the explicit settings above
  std::vector<mf::tasks::LoraRef> loras;
  bool keep_known_pixels = false;  // vinp/iinp/voutp/ioutp: keep the input outside the mask (TaskSpec's option)
};

// The TaskSpec the request would submit, before any file is written: the inputs are named by what they will be
// ("<clip name> frames 0-48"), so the inspector can validate it and estimate memory. Never throws for missing
// inputs (they are in `resolved.missing`).
mf::tasks::TaskSpec preview_task_spec(const mf::project::Project& project, const mf::project::TaskInputs& inputs,
                                      const ResolvedInputs& resolved, const TaskJobRequest& request);

struct TaskJob {
  mf::tasks::TaskSpec spec;
  std::filesystem::path input_folder;  // where the input files were written ("" for t2v/t2i)
  std::filesystem::path output;        // suggested output file under <project>/renders/
  std::string source_clip_id;          // the clip the result is a take of ("" when there is none)
};

// Writes the inputs and returns the job. Throws mf::Error(BadInput) with what to do: anything in
// resolve_task_inputs' `missing`, a still image where a video is needed, missing media or mask files, masks of
// another size than the clip, a TaskSpec that does not validate.
TaskJob export_task_job(const mf::project::ProjectSession& session, const mf::project::TaskInputs& inputs,
                        const TaskJobRequest& request);

}  // namespace mf::jobs
