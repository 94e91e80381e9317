// The studio's document model: a Project with its media bin, references bin, style and one Timeline
// (video tracks of clips, mask tracks bound to clips, in/out range, markers, keyframe marks).
//
// Units: every timeline position and every clip/mask frame is an integer frame index. Timeline frames are at
// the project's rational fps (mf::project::Rational); source frames (Clip::source_in/out, mask keyframes,
// keyframe marks) index the clip's own media, played 1:1 on the timeline (the media layer conforms a source
// whose fps differs). Ranges are half-open [start, end).
//
// Anchoring: mask tracks, first/last frame marks and first/last clip marks are anchored to a clip by id and a
// *source* frame, so they travel with the clip when it is moved; commands that trim, split or delete a clip
// keep these consistent (see commands.h). The invariants are spelled out in invariants.h.
//
// Ids are "<kind>-<n>" with n drawn from Project::next_id, which is part of the document so that an undo
// restores it exactly and redo re-creates the same ids.
//
// Threading: plain values; the document is owned by one thread (the UI thread in the studio). No locks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mf/project/rational.h"

namespace mf::project {

// Version of project.json this build writes and reads (older versions are migrated on open, see persistence.h).
inline constexpr int kSchemaVersion = 1;

// Half-open frame range [start, end).
struct FrameRange {
  std::int64_t start = 0;
  std::int64_t end = 0;

  std::int64_t length() const { return end - start; }
  bool empty() const { return end <= start; }
  bool contains(std::int64_t frame) const { return frame >= start && frame < end; }
  bool contains(const FrameRange& r) const { return r.start >= start && r.end <= end; }
  bool overlaps(const FrameRange& r) const { return start < r.end && r.start < end; }
  friend bool operator==(const FrameRange& a, const FrameRange& b) { return a.start == b.start && a.end == b.end; }
  friend bool operator!=(const FrameRange& a, const FrameRange& b) { return !(a == b); }
};

struct Resolution {
  int width = 0;
  int height = 0;
  friend bool operator==(const Resolution& a, const Resolution& b) { return a.width == b.width && a.height == b.height; }
  friend bool operator!=(const Resolution& a, const Resolution& b) { return !(a == b); }
};

enum class MediaKind { Video, Image };
const char* to_string(MediaKind kind);

// An item in the media bin. The file lives inside the project folder (usually media/ or renders/);
// `path` is relative to the folder with '/' separators so that a project folder can be moved or copied.
struct MediaItem {
  std::string id;
  std::string name;
  std::string path;
  MediaKind kind = MediaKind::Video;
  std::int64_t frame_count = 1;  // images: 1
  Rational fps{24};
  Resolution size;
  nlohmann::json recipe;  // null unless Manyfold generated this file (the take's TaskSpec and seed)
};

// An item in the references bin: a reference image for the model, pointing at a media item.
struct ReferenceItem {
  std::string id;
  std::string media_id;
  std::string label;
};

// A clip on a video track. Source frames [source_in, source_out) of the media play from timeline_start.
// For image media the source range only measures the duration (any in < out is allowed).
struct Clip {
  std::string id;
  std::string media_id;
  std::string name;
  std::int64_t source_in = 0;
  std::int64_t source_out = 1;
  std::int64_t timeline_start = 0;
  // Generated takes and their source share a take group id; empty when the clip has no takes.
  std::string take_group;
  nlohmann::json recipe;  // null for imported footage; the job recipe (TaskSpec JSON, seed, model) for a take

  std::int64_t duration() const { return source_out - source_in; }
  std::int64_t timeline_end() const { return timeline_start + duration(); }
  FrameRange timeline_range() const { return {timeline_start, timeline_end()}; }
  FrameRange source_range() const { return {source_in, source_out}; }
  std::int64_t source_frame_at(std::int64_t timeline_frame) const { return timeline_frame - timeline_start + source_in; }
  std::int64_t timeline_frame_of(std::int64_t source_frame) const { return source_frame - source_in + timeline_start; }
};

// A video track: clips sorted by timeline_start, never overlapping. Tracks are ordered bottom to top
// (a higher index draws over a lower one).
struct Track {
  std::string id;
  std::string name;
  bool hidden = false;
  bool locked = false;
  std::vector<Clip> clips;
};

// How a mask track fills the frames between painted keyframes (outside hold ranges):
//   None: only painted frames have a mask; Hold: the latest painted mask carries forward (the first one
//   carries backward); Flow: masks are propagated between the two neighbouring painted frames with optical flow.
enum class MaskInterpolation { None, Hold, Flow };
const char* to_string(MaskInterpolation mode);

// A painted mask on one source frame of the bound clip; `path` is a greyscale PNG under masks/
// (white keeps, black regenerates).
struct MaskKeyframe {
  std::int64_t frame = 0;
  std::string path;
};

// A mask track bound to one clip. Keyframes are sorted by frame (unique); hold ranges are sorted, disjoint,
// source-frame ranges inside which the mask does not interpolate (the latest painted mask at or before the
// frame is held; before any, the first painted one inside the range).
struct MaskTrack {
  std::string id;
  std::string name;
  std::string clip_id;
  MaskInterpolation interpolation = MaskInterpolation::Hold;
  std::vector<MaskKeyframe> keyframes;
  std::vector<FrameRange> holds;

  const MaskKeyframe* keyframe_at(std::int64_t frame) const;
};

// A named marker on the timeline ruler (timeline frame).
struct Marker {
  std::string id;
  std::int64_t frame = 0;
  std::string label;
  std::string color;  // "#rrggbb" or empty for the default
};

// A frame of a clip marked as first or last frame (itrans, i2v): clip id + source frame.
struct FrameMark {
  std::string clip_id;
  std::int64_t source_frame = 0;
  friend bool operator==(const FrameMark& a, const FrameMark& b) {
    return a.clip_id == b.clip_id && a.source_frame == b.source_frame;
  }
};

// A range of a clip marked as first or last clip (vtrans, vexd): clip id + source range.
struct ClipRangeMark {
  std::string clip_id;
  FrameRange source;
  friend bool operator==(const ClipRangeMark& a, const ClipRangeMark& b) {
    return a.clip_id == b.clip_id && a.source == b.source;
  }
};

// A still from the bin dropped on the timeline as a keyframe at a timeline frame (i2v first frame,
// hierarchical long video). At most one still per frame.
struct StillKeyframe {
  std::string id;
  std::string media_id;
  std::int64_t frame = 0;
};

struct KeyframeMarks {
  std::optional<FrameMark> first_frame;
  std::optional<FrameMark> last_frame;
  std::optional<ClipRangeMark> first_clip;
  std::optional<ClipRangeMark> last_clip;
  std::vector<StillKeyframe> stills;  // sorted by frame
};

struct Timeline {
  std::vector<Track> tracks;          // bottom to top
  std::vector<MaskTrack> mask_tracks;
  std::optional<FrameRange> in_out;   // the work range (export, generation)
  std::vector<Marker> markers;        // sorted by frame, then id
  KeyframeMarks keyframes;

  // One past the last frame of the last clip (0 for an empty timeline).
  std::int64_t end_frame() const;
};

struct ClipLocation {
  std::size_t track = 0;
  std::size_t index = 0;
};

struct Project {
  int schema_version = kSchemaVersion;
  std::string name;
  Rational fps{24};
  Resolution resolution{1280, 720};
  std::vector<MediaItem> media;
  std::vector<ReferenceItem> references;
  std::string style_preset;  // id of a preset in resources/styles, empty for none
  Timeline timeline;
  std::int64_t next_id = 1;   // source of fresh ids; see make_id

  // "<prefix>-<next_id>" and advances next_id. Only commands call this (so that undo can restore next_id).
  std::string make_id(const std::string& prefix);

  const MediaItem* find_media(const std::string& id) const;
  MediaItem* find_media(const std::string& id);
  const ReferenceItem* find_reference(const std::string& id) const;
  const Track* find_track(const std::string& id) const;
  Track* find_track(const std::string& id);
  std::optional<std::size_t> track_index(const std::string& id) const;
  std::optional<ClipLocation> locate_clip(const std::string& id) const;
  const Clip* find_clip(const std::string& id) const;
  Clip* find_clip(const std::string& id);
  const MaskTrack* find_mask_track(const std::string& id) const;
  MaskTrack* find_mask_track(const std::string& id);
  std::optional<std::size_t> mask_track_index(const std::string& id) const;

  // Clips sharing a take group, in timeline order (track, then start).
  std::vector<const Clip*> take_group_clips(const std::string& group) const;
  // Mask tracks bound to a clip.
  std::vector<const MaskTrack*> mask_tracks_for_clip(const std::string& clip_id) const;
};

// Throws mf::Error(BadInput) naming the missing id.
const MediaItem& require_media(const Project& p, const std::string& id);
const Clip& require_clip(const Project& p, const std::string& id);
const Track& require_track(const Project& p, const std::string& id);
const MaskTrack& require_mask_track(const Project& p, const std::string& id);

// --- JSON ---------------------------------------------------------------------------------------------------
// The JSON form is documented by projects/schema/project.schema.json. Serialisation is deterministic (object keys
// sorted), so two equal documents dump to the same text; tests compare documents through it.
nlohmann::json to_json(const Project& project);
// Reads a document of the current schema version (migrate first; see persistence.h). Every error is
// mf::Error(BadFile) naming `source` and the JSON path of the bad field ("timeline.tracks[1].clips[0].source_in").
Project project_from_json(const nlohmann::json& json, const std::string& source = "project.json");

}  // namespace mf::project
