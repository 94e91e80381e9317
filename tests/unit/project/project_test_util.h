// Shared helpers for the mf_project tests: an editor harness whose undo stack checks the invariants after
// every command, undo and redo, and small builders for media and clips.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "mf/project/commands.h"
#include "mf/project/invariants.h"
#include "mf/project/undo.h"

namespace mf::project::testing {

inline std::string dump(const Project& p) { return to_json(p).dump(); }

inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

// A document + undo stack; every change through the stack is followed by an invariant check.
struct Editor {
  Project doc;
  UndoStack stack{doc};
  int checks = 0;

  Editor() {
    doc.name = "test";
    doc.fps = Rational(24);
    stack.set_on_changed([this] {
      ++checks;
      const auto problems = check_invariants(doc);
      if (!problems.empty()) ADD_FAILURE() << "invariants broken after '" << stack.undo_text() << "':\n" << join(problems);
    });
  }

  template <class C>
  C& push(std::unique_ptr<C> c) {
    return stack.push(std::move(c));
  }

  std::string add_video(const std::string& path, std::int64_t frames, Resolution size = {64, 48}) {
    MediaItem m;
    m.name = path;
    m.path = path;
    m.kind = MediaKind::Video;
    m.frame_count = frames;
    m.fps = Rational(24);
    m.size = size;
    return push(std::make_unique<AddMedia>(m)).media_id();
  }

  std::string add_image(const std::string& path) {
    MediaItem m;
    m.name = path;
    m.path = path;
    m.kind = MediaKind::Image;
    m.frame_count = 1;
    m.size = {64, 48};
    return push(std::make_unique<AddMedia>(m)).media_id();
  }

  std::string add_track(const std::string& name = "V") { return push(std::make_unique<AddTrack>(name)).track_id(); }

  std::string add_clip(const std::string& track, const std::string& media, FrameRange source, std::int64_t start) {
    ClipPlacement p;
    p.track_id = track;
    p.media_id = media;
    p.source = source;
    p.timeline_start = start;
    return push(std::make_unique<AddClip>(p)).clip_id();
  }

  const Clip& clip(const std::string& id) const { return require_clip(doc, id); }
};

// A document that uses every field.
inline Project rich_project() {
  Editor e;
  const auto media = e.add_video("media/a.mp4", 120);
  const auto still = e.add_image("media/s.png");
  const auto v1 = e.add_track("V1");
  const auto a = e.add_clip(v1, media, {10, 60}, 0);
  const auto b = e.add_clip(v1, media, {60, 100}, 70);
  e.push(std::make_unique<AddReference>(still, "hero"));
  e.push(std::make_unique<SetProjectSettings>(ProjectSettings{"Rich", "ghibli", Resolution{832, 480}}));
  e.push(std::make_unique<SetInOut>(FrameRange{5, 90}));
  e.push(std::make_unique<AddMarker>(12, "beat", "#00ff00"));
  const auto mask = e.push(std::make_unique<AddMaskTrack>(a, "sky", MaskInterpolation::Flow)).mask_track_id();
  e.push(std::make_unique<SetMaskKeyframe>(mask, 20, "masks/sky/f20.png"));
  e.push(std::make_unique<SetMaskHold>(mask, FrameRange{25, 30}));
  e.push(std::make_unique<SetFrameMark>(MarkSlot::First, FrameMark{a, 59}));
  e.push(std::make_unique<SetFrameMark>(MarkSlot::Last, FrameMark{b, 60}));
  e.push(std::make_unique<SetClipMark>(MarkSlot::First, ClipRangeMark{a, {40, 60}}));
  e.push(std::make_unique<SetClipMark>(MarkSlot::Last, ClipRangeMark{b, {60, 68}}));
  e.push(std::make_unique<AddStillKeyframe>(still, 65));
  TakeRequest take;
  take.source_clip_id = b;
  take.media.path = "renders/take.mp4";
  take.media.frame_count = 33;
  take.media.fps = Rational(30000, 1001);
  take.recipe = {{"task", "vexd"}, {"seed", 7}, {"prompt", "a cat \"quoted\" \u00e9"}};
  e.push(std::make_unique<AddTake>(take));
  e.push(std::make_unique<SetTrackSettings>(v1, TrackSettings{std::nullopt, true, true}));
  return e.doc;
}

}  // namespace mf::project::testing
