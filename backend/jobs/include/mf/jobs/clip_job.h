// Turning a clip on the timeline into a generation job: the clip's source frames (and, for mask tasks, its
// painted mask track) are written under <project>/jobs/inputs/<name>/ as files the pipeline reads, and a
// TaskSpec is filled in for them. Torch-free and Qt-free (mf_project + mf_media + mf_tasks): the studio and the
// command line (`manyfold demo`) share it.
//
// Frames: the clip's source range from source_in, cut to the largest 4k+1 count that fits (at most
// `max_frames`); written as a lossless FFV1 .mkv (the pipeline reads it like any video). Size: the media's,
// rounded down to multiples of 16 with crop mode keep_res, so nothing is letterboxed.
// Masks (vinp/voutp): for every written frame, the painted keyframe at that frame, else the latest one before it,
// else the first one after it (hold; with interpolation None only painted frames are masked; with flow
// interpolation the frames between two painted ones get masks propagated along the optical flow), as a lossless FFV1 mask video
// with one frame per input frame (white = keep, black = regenerate). No painted mask is an error that says to paint one.
//
// A thin wrapper over export_task_job (task_job.h) for the clip tasks.
//
// Thread-safety: call on the thread that owns the session (reads the document, writes files only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "mf/tasks/task_spec.h"

namespace mf::project {
class ProjectSession;
}

namespace mf::jobs {

struct ClipJobRequest {
  std::string clip_id;
  mf::tasks::TaskId task = mf::tasks::TaskId::VInp;
  std::string prompt;
  std::string model;               // "" = the service's model
  int max_frames = 49;             // frames of the clip used (4k+1 at most this)
  int steps = 0;                   // 0 = the task's default
  std::optional<double> guidance;  // absent = the task's default
  std::optional<uint64_t> seed;    // absent = random
};

struct ClipJob {
  mf::tasks::TaskSpec spec;
  std::filesystem::path input_folder;  // where the input files were written
  std::filesystem::path output;        // suggested output file under <project>/renders/
  std::string source_clip_id;
};

// Throws mf::Error(BadInput) with what to do: unknown clip, an image clip for a video task, a clip shorter than
// one frame, a task that is not a clip task, no painted mask for a mask task, a mask PNG of another size.
ClipJob export_clip_job(const mf::project::ProjectSession& session, const ClipJobRequest& request);

// The tasks a video clip can drive from the studio (video editing tasks of the official 15).
bool is_clip_task(mf::tasks::TaskId task);

}  // namespace mf::jobs
