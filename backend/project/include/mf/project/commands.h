// Every edit of the document as an undoable command (see undo.h for the contract). Push them on the
// session's UndoStack: `stack.push(std::make_unique<MoveClip>(clip_id, track_id, new_start))`.
//
// Commands validate on their first redo() and throw mf::Error(BadInput) with a message for the user
// ("clip-4 would overlap clip-2 on track-1") without touching the document. Commands that create objects
// allocate their ids from Project::next_id on the first redo (any id in the given struct is ignored) and expose
// it afterwards (AddClip::clip_id()). Edits of clips on a locked track are refused.
//
// Cascades that keep the invariants (invariants.h):
//   - RemoveClip removes the mask tracks bound to the clip and clears keyframe marks anchored to it.
//   - TrimClip drops first/last frame marks that leave the trimmed range and clamps first/last clip marks
//     (dropping them when nothing is left). Mask keyframes outside the trim are kept (trimming back shows them).
//   - SplitClip re-anchors marks that fall in the right half to the new clip and copies the bound mask tracks
//     to it (the right half keeps its masks).
//   - RemoveTrack removes its clips with the same cascade as RemoveClip.
//
// Threading: same as the document (one owner thread).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mf/project/undo.h"

namespace mf::project {

// --- bins and settings ------------------------------------------------------------------------------------------

class AddMedia : public Command {
 public:
  explicit AddMedia(MediaItem item) : item_(std::move(item)) {}
  std::string text() const override { return "Import media"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  const std::string& media_id() const { return item_.id; }

 private:
  MediaItem item_;
  bool applied_ = false;
  std::int64_t next_before_ = 0, next_after_ = 0;
};

// Refused while a clip, reference or still keyframe uses the item.
class RemoveMedia : public Command {
 public:
  explicit RemoveMedia(std::string media_id) : id_(std::move(media_id)) {}
  std::string text() const override { return "Remove media"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_;
  std::size_t index_ = 0;
  MediaItem removed_;
};

class AddReference : public Command {
 public:
  AddReference(std::string media_id, std::string label) : media_id_(std::move(media_id)), label_(std::move(label)) {}
  std::string text() const override { return "Add reference"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  const std::string& reference_id() const { return id_; }

 private:
  std::string media_id_, label_, id_;
  std::int64_t next_before_ = 0, next_after_ = 0;
};

class RemoveReference : public Command {
 public:
  explicit RemoveReference(std::string reference_id) : id_(std::move(reference_id)) {}
  std::string text() const override { return "Remove reference"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_;
  std::size_t index_ = 0;
  ReferenceItem removed_;
};

// Name, style preset and/or output resolution (fields left empty are unchanged).
struct ProjectSettings {
  std::optional<std::string> name;
  std::optional<std::string> style_preset;
  std::optional<Resolution> resolution;
};

class SetProjectSettings : public Command {
 public:
  explicit SetProjectSettings(ProjectSettings settings) : new_(std::move(settings)) {}
  std::string text() const override { return "Change project settings"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  ProjectSettings new_, old_;
};

// --- tracks -------------------------------------------------------------------------------------------------

class AddTrack : public Command {
 public:
  // index: position from the bottom (default: on top).
  explicit AddTrack(std::string name, std::optional<std::size_t> index = std::nullopt)
      : name_(std::move(name)), index_(index) {}
  std::string text() const override { return "Add track"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  const std::string& track_id() const { return id_; }

 private:
  std::string name_, id_;
  std::optional<std::size_t> index_;
  std::size_t at_ = 0;
  std::int64_t next_before_ = 0, next_after_ = 0;
};

// Base for commands whose cascades are easiest to restore from a copy of the parts they touch: the first redo
// records the touched parts before and after apply(); undo and later redos restore those copies.
class SnapshotCommand : public Command {
 public:
  void redo(Project& doc) final;
  void undo(Project& doc) final;

 protected:
  struct Parts {
    std::vector<std::pair<std::size_t, Track>> tracks;  // touched tracks by index (structure unchanged)
    std::optional<std::vector<Track>> all_tracks;       // when tracks are added or removed
    std::vector<MaskTrack> mask_tracks;
    KeyframeMarks keyframes;
    std::int64_t next_id = 0;
  };
  // Validates (throwing before any change) and edits. Called once, on the first redo.
  virtual void apply(Project& doc) = 0;
  // Indices of the tracks apply() may change, or nullopt when it changes the track list itself.
  virtual std::optional<std::vector<std::size_t>> touched_tracks(const Project& doc) const = 0;

 private:
  Parts capture(const Project& doc, const std::optional<std::vector<std::size_t>>& tracks) const;
  static void restore(Project& doc, const Parts& parts);

  std::optional<Parts> before_, after_;
};

class RemoveTrack : public SnapshotCommand {
 public:
  explicit RemoveTrack(std::string track_id) : id_(std::move(track_id)) {}
  std::string text() const override { return "Remove track"; }

 protected:
  void apply(Project& doc) override;
  std::optional<std::vector<std::size_t>> touched_tracks(const Project&) const override { return std::nullopt; }

 private:
  std::string id_;
};

// Name, hidden and/or locked (fields left empty are unchanged). Allowed on locked tracks (to unlock them).
struct TrackSettings {
  std::optional<std::string> name;
  std::optional<bool> hidden;
  std::optional<bool> locked;
};

class SetTrackSettings : public Command {
 public:
  SetTrackSettings(std::string track_id, TrackSettings settings) : id_(std::move(track_id)), new_(settings) {}
  std::string text() const override { return "Change track"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_;
  TrackSettings new_, old_;
};

// --- clips --------------------------------------------------------------------------------------------------

struct ClipPlacement {
  std::string track_id;
  std::string media_id;
  FrameRange source;            // source frames of the media
  std::int64_t timeline_start = 0;
  std::string name;
  std::string take_group;       // usually empty; AddTake fills it
  nlohmann::json recipe;        // null for footage
};

class AddClip : public Command {
 public:
  explicit AddClip(ClipPlacement placement) : placement_(std::move(placement)) {}
  std::string text() const override { return "Add clip"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  const std::string& clip_id() const { return id_; }

 private:
  ClipPlacement placement_;
  std::string id_;
  std::int64_t next_before_ = 0, next_after_ = 0;
};

class RemoveClip : public SnapshotCommand {
 public:
  explicit RemoveClip(std::string clip_id) : id_(std::move(clip_id)) {}
  std::string text() const override { return "Delete clip"; }

 protected:
  void apply(Project& doc) override;
  std::optional<std::vector<std::size_t>> touched_tracks(const Project& doc) const override;

 private:
  std::string id_;
};

// Moves a clip to `track_id` starting at `timeline_start`. Consecutive moves of the same clip merge (a drag).
class MoveClip : public Command {
 public:
  MoveClip(std::string clip_id, std::string track_id, std::int64_t timeline_start)
      : id_(std::move(clip_id)), to_track_(std::move(track_id)), to_start_(timeline_start) {}
  std::string text() const override { return "Move clip"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  int merge_id() const override { return 1; }
  bool merge_with(const Command& next) override;

 private:
  std::string id_;
  std::string to_track_;
  std::int64_t to_start_;
  std::string from_track_;
  std::int64_t from_start_ = 0;
  bool applied_ = false;
};

enum class ClipEdge { Start, End };

// Moves one edge of a clip to timeline frame `edge_frame`, changing the source range with it (a start trim
// moves source_in and timeline_start together). Consecutive trims of the same edge of the same clip merge.
class TrimClip : public Command {
 public:
  TrimClip(std::string clip_id, ClipEdge edge, std::int64_t edge_frame)
      : id_(std::move(clip_id)), edge_(edge), edge_frame_(edge_frame) {}
  std::string text() const override { return "Trim clip"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  int merge_id() const override { return 2; }
  bool merge_with(const Command& next) override;

 private:
  struct State {
    std::int64_t source_in = 0, source_out = 0, timeline_start = 0;
    KeyframeMarks keyframes;
  };
  static void set_state(Project& doc, const std::string& id, const State& s);

  std::string id_;
  ClipEdge edge_;
  std::int64_t edge_frame_;
  std::optional<State> before_, after_;
};

// Splits a clip at a timeline frame strictly inside it; the right half is a new clip (right_clip_id()).
class SplitClip : public SnapshotCommand {
 public:
  SplitClip(std::string clip_id, std::int64_t timeline_frame) : id_(std::move(clip_id)), frame_(timeline_frame) {}
  std::string text() const override { return "Split clip"; }
  const std::string& right_clip_id() const { return right_id_; }

 protected:
  void apply(Project& doc) override;
  std::optional<std::vector<std::size_t>> touched_tracks(const Project& doc) const override;

 private:
  std::string id_;
  std::int64_t frame_;
  std::string right_id_;
};

class SetClipTakeGroup : public Command {
 public:
  SetClipTakeGroup(std::string clip_id, std::string group) : id_(std::move(clip_id)), new_(std::move(group)) {}
  std::string text() const override { return "Group takes"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_, new_, old_;
};

// A finished job lands as a take: its file joins the media bin (the recipe on the media item and the clip),
// and a clip is placed at the source clip's start on the first visible, unlocked track above the source that
// has room (a new "Takes" track right above it when none has). The take and its source share a take group.
struct TakeRequest {
  std::string source_clip_id;
  MediaItem media;                       // the rendered file (path relative to the project, e.g. renders/...)
  nlohmann::json recipe;                 // the job's recipe (TaskSpec JSON, seed, model)
  std::optional<FrameRange> source;      // default: the whole file (video) or the source clip's length (image)
};

class AddTake : public Command {
 public:
  explicit AddTake(TakeRequest request) : request_(std::move(request)) {}
  std::string text() const override { return "Add take"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  const std::string& clip_id() const { return clip_id_; }
  const std::string& media_id() const { return media_id_; }
  const std::string& take_group() const { return group_; }

 private:
  TakeRequest request_;
  std::unique_ptr<MacroCommand> steps_;
  std::string clip_id_, media_id_, group_;
  std::int64_t next_before_ = 0, next_after_ = 0;
};

// --- timeline ranges and markers -----------------------------------------------------------------------------

class SetInOut : public Command {
 public:
  explicit SetInOut(std::optional<FrameRange> range) : new_(range) {}
  std::string text() const override { return new_ ? "Set in/out" : "Clear in/out"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::optional<FrameRange> new_, old_;
};

class AddMarker : public Command {
 public:
  AddMarker(std::int64_t frame, std::string label, std::string color = {})
      : frame_(frame), label_(std::move(label)), color_(std::move(color)) {}
  std::string text() const override { return "Add marker"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  const std::string& marker_id() const { return id_; }

 private:
  std::int64_t frame_;
  std::string label_, color_, id_;
  std::int64_t next_before_ = 0, next_after_ = 0;
};

class RemoveMarker : public Command {
 public:
  explicit RemoveMarker(std::string marker_id) : id_(std::move(marker_id)) {}
  std::string text() const override { return "Remove marker"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_;
  std::size_t index_ = 0;
  Marker removed_;
};

// Moves a marker to another frame; consecutive moves of the same marker merge (a drag on the ruler).
class MoveMarker : public Command {
 public:
  MoveMarker(std::string marker_id, std::int64_t frame) : id_(std::move(marker_id)), to_(frame) {}
  std::string text() const override { return "Move marker"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  int merge_id() const override { return 3; }
  bool merge_with(const Command& next) override;

 private:
  std::string id_;
  std::int64_t to_, from_ = 0;
  bool applied_ = false;
};

// --- keyframe marks -------------------------------------------------------------------------------------------

enum class MarkSlot { First, Last };

// Marks (or clears, with nullopt) the first/last frame: a source frame inside a clip's trimmed range.
class SetFrameMark : public Command {
 public:
  SetFrameMark(MarkSlot slot, std::optional<FrameMark> mark) : slot_(slot), new_(std::move(mark)) {}
  std::string text() const override;
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  MarkSlot slot_;
  std::optional<FrameMark> new_, old_;
};

// Marks (or clears) the first/last clip: a source range inside a clip's trimmed range.
class SetClipMark : public Command {
 public:
  SetClipMark(MarkSlot slot, std::optional<ClipRangeMark> mark) : slot_(slot), new_(std::move(mark)) {}
  std::string text() const override;
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  MarkSlot slot_;
  std::optional<ClipRangeMark> new_, old_;
};

// Drops a still from the bin on the timeline as a keyframe. Refused when another still sits on that frame.
class AddStillKeyframe : public Command {
 public:
  AddStillKeyframe(std::string media_id, std::int64_t frame) : media_id_(std::move(media_id)), frame_(frame) {}
  std::string text() const override { return "Add keyframe"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  const std::string& still_id() const { return id_; }

 private:
  std::string media_id_;
  std::int64_t frame_;
  std::string id_;
  std::int64_t next_before_ = 0, next_after_ = 0;
};

class RemoveStillKeyframe : public Command {
 public:
  explicit RemoveStillKeyframe(std::string still_id) : id_(std::move(still_id)) {}
  std::string text() const override { return "Remove keyframe"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_;
  std::size_t index_ = 0;
  StillKeyframe removed_;
};

// Moves a still keyframe to another timeline frame (refused when another still sits there); consecutive moves
// of the same keyframe merge.
class MoveStillKeyframe : public Command {
 public:
  MoveStillKeyframe(std::string still_id, std::int64_t frame) : id_(std::move(still_id)), to_(frame) {}
  std::string text() const override { return "Move keyframe"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  int merge_id() const override { return 4; }
  bool merge_with(const Command& next) override;

 private:
  std::string id_;
  std::int64_t to_, from_ = 0;
  bool applied_ = false;
};

// --- mask tracks ---------------------------------------------------------------------------------------------

class AddMaskTrack : public Command {
 public:
  AddMaskTrack(std::string clip_id, std::string name, MaskInterpolation mode = MaskInterpolation::Hold)
      : clip_id_(std::move(clip_id)), name_(std::move(name)), mode_(mode) {}
  std::string text() const override { return "Add mask track"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;
  const std::string& mask_track_id() const { return id_; }

 private:
  std::string clip_id_, name_;
  MaskInterpolation mode_;
  std::string id_;
  std::int64_t next_before_ = 0, next_after_ = 0;
};

class RemoveMaskTrack : public Command {
 public:
  explicit RemoveMaskTrack(std::string mask_track_id) : id_(std::move(mask_track_id)) {}
  std::string text() const override { return "Remove mask track"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_;
  std::size_t index_ = 0;
  MaskTrack removed_;
};

class SetMaskInterpolation : public Command {
 public:
  SetMaskInterpolation(std::string mask_track_id, MaskInterpolation mode) : id_(std::move(mask_track_id)), new_(mode) {}
  std::string text() const override { return "Change mask interpolation"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_;
  MaskInterpolation new_, old_ = MaskInterpolation::Hold;
};

// Sets the painted mask on a source frame of the bound clip (replacing one already there). `path` is
// project-relative under masks/ (the canvas writes the PNG first, then pushes this command).
class SetMaskKeyframe : public Command {
 public:
  SetMaskKeyframe(std::string mask_track_id, std::int64_t frame, std::string path)
      : id_(std::move(mask_track_id)), frame_(frame), path_(std::move(path)) {}
  std::string text() const override { return "Paint mask"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_;
  std::int64_t frame_;
  std::string path_;
  std::optional<std::string> old_path_;
};

class RemoveMaskKeyframe : public Command {
 public:
  RemoveMaskKeyframe(std::string mask_track_id, std::int64_t frame) : id_(std::move(mask_track_id)), frame_(frame) {}
  std::string text() const override { return "Remove mask keyframe"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_;
  std::int64_t frame_;
  std::size_t index_ = 0;
  std::string old_path_;
};

// hold = true: the range joins the hold ranges (merging with overlapping or touching ones);
// hold = false: the range is cut out of them.
class SetMaskHold : public Command {
 public:
  SetMaskHold(std::string mask_track_id, FrameRange range, bool hold = true)
      : id_(std::move(mask_track_id)), range_(range), hold_(hold) {}
  std::string text() const override { return hold_ ? "Hold mask" : "Release mask hold"; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string id_;
  FrameRange range_;
  bool hold_;
  std::vector<FrameRange> old_, new_;
  bool applied_ = false;
};

// Pure helper behind SetMaskHold (exposed for tests): union or difference of sorted disjoint ranges.
std::vector<FrameRange> apply_hold(const std::vector<FrameRange>& holds, FrameRange range, bool hold);

}  // namespace mf::project
