// The document's invariants, checked by tests after every command and every undo/redo, and by open() on
// every loaded project.json. A violation after a command is a bug in that command; in a loaded file it means
// the file was damaged or edited by hand.
//
//   - schema_version is current; fps > 0; resolution > 0; next_id is above every numeric id suffix
//   - ids are non-empty and unique across the whole document (media, references, tracks, clips, mask tracks,
//     markers, stills)
//   - media: path is relative, inside the project folder ('/' separators, no '..'), frame_count >= 1, fps > 0
//   - references and stills resolve to media items
//   - clips: media resolves; source_in < source_out; video sources stay inside [0, frame_count);
//     timeline_start >= 0; clips on a track are sorted by start and never overlap; recipe is null or an object
//   - in/out range ordered (0 <= in < out); markers sorted by (frame, id), frame >= 0
//   - first/last frame marks: clip resolves and the source frame lies inside the clip's trimmed range
//   - first/last clip marks: clip resolves, range ordered and inside the clip's trimmed range
//   - stills: sorted by frame, unique frame, frame >= 0
//   - mask tracks: bound to an existing clip; keyframes sorted with unique frames inside the media (video);
//     paths relative under masks/; holds ordered (start < end), sorted and disjoint
//
// Threading: pure function of the document.
#pragma once

#include <string>
#include <vector>

#include "mf/core/error.h"
#include "mf/project/document.h"

namespace mf::project {

// Every violation found, each a sentence naming the object ("clip clip-7 on track track-2 overlaps clip-3").
std::vector<std::string> check_invariants(const Project& project);

// Throws mf::Error(code, "<context>: <violations>") when check_invariants finds anything.
void require_invariants(const Project& project, const std::string& context, ErrorCode code = ErrorCode::Internal);

// True when `path` is a safe project-relative path: not empty, not absolute, '/' separators, no '.'/'..' parts.
bool is_project_relative_path(const std::string& path);

}  // namespace mf::project
