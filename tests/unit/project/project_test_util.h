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

}  // namespace mf::project::testing
