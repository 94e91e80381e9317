// Randomized editing: thousands of random commands (many of them impossible, which must be refused without
// any change), interleaved with undo, redo, drags that merge, and grouped macros. The Editor harness checks the
// invariants after every change. The test remembers the document at every undo position and checks that undo
// and redo land exactly on it (JSON equality), that undoing everything restores the initial document and that
// redoing everything restores the final one.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "mf/core/error.h"
#include "project_test_util.h"

using namespace mf::project;
using mf::project::testing::dump;
using mf::project::testing::Editor;

namespace {

class RandomEditor {
 public:
  explicit RandomEditor(unsigned seed) : rng_(seed) {}

  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {  // inclusive
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  double unit() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  template <class V, class F>
  std::string pick_id(const V& v, F get, const char* bogus) {
    if (v.empty() || chance(0.03)) return bogus;
    return get(v[static_cast<std::size_t>(uniform(0, static_cast<std::int64_t>(v.size()) - 1))]);
  }

  std::vector<const Clip*> clips(const Project& d) const {
    std::vector<const Clip*> out;
    for (const auto& t : d.timeline.tracks)
      for (const auto& c : t.clips) out.push_back(&c);
    return out;
  }

  const Clip* pick_clip(const Project& d) {
    auto cs = clips(d);
    if (cs.empty()) return nullptr;
    return cs[static_cast<std::size_t>(uniform(0, static_cast<std::int64_t>(cs.size()) - 1))];
  }

  std::string track_id(const Project& d) {
    return pick_id(d.timeline.tracks, [](const Track& t) { return t.id; }, "track-bogus");
  }
  std::string media_id(const Project& d) {
    return pick_id(d.media, [](const MediaItem& m) { return m.id; }, "media-bogus");
  }
  std::string mask_id(const Project& d) {
    return pick_id(d.timeline.mask_tracks, [](const MaskTrack& m) { return m.id; }, "mask-bogus");
  }

  // A random command and a short name for coverage counting.
  std::pair<std::unique_ptr<Command>, std::string> next(const Project& d) {
    const Clip* clip = pick_clip(d);
    const std::string cid = clip && !chance(0.03) ? clip->id : "clip-bogus";
    switch (uniform(0, 28)) {
      case 0:
      case 1:
      case 2: {
        ClipPlacement p;
        p.track_id = track_id(d);
        p.media_id = media_id(d);
        const auto* m = d.find_media(p.media_id);
        const std::int64_t fc = m && m->kind == MediaKind::Video ? m->frame_count : 200;
        p.source.start = uniform(-2, fc - 1);
        p.source.end = p.source.start + uniform(0, 60);
        p.timeline_start = uniform(-2, 400);
        return {std::make_unique<AddClip>(p), "AddClip"};
      }
      case 3: return {std::make_unique<RemoveClip>(cid), "RemoveClip"};
      case 4:
      case 5: {
        // Mostly small nudges of the same clip, so drags merge.
        if (clip && chance(0.7)) {
          const auto loc = d.locate_clip(clip->id);
          return {std::make_unique<MoveClip>(clip->id, d.timeline.tracks[loc->track].id,
                                             clip->timeline_start + uniform(-8, 8)),
                  "MoveClip"};
        }
        return {std::make_unique<MoveClip>(cid, track_id(d), uniform(-2, 400)), "MoveClip"};
      }
      case 6:
      case 7: {
        const ClipEdge edge = chance(0.5) ? ClipEdge::Start : ClipEdge::End;
        const std::int64_t at = clip ? (edge == ClipEdge::Start ? clip->timeline_start : clip->timeline_end()) : 0;
        return {std::make_unique<TrimClip>(cid, edge, at + uniform(-15, 15)), "TrimClip"};
      }
      case 8: {
        const std::int64_t at = clip ? clip->timeline_start + uniform(-1, clip->duration()) : 0;
        return {std::make_unique<SplitClip>(cid, at), "SplitClip"};
      }
      case 9: {
        const auto n = static_cast<std::int64_t>(d.timeline.tracks.size());
        if (n >= 6) return {std::make_unique<RemoveTrack>(track_id(d)), "RemoveTrack"};
        return {std::make_unique<AddTrack>("T", static_cast<std::size_t>(uniform(0, n + 1))), "AddTrack"};
      }
      case 10: {
        if (chance(0.3)) return {std::make_unique<RemoveTrack>(track_id(d)), "RemoveTrack"};
        TrackSettings s;
        if (chance(0.5)) s.name = "renamed";
        if (chance(0.5)) s.hidden = chance(0.5);
        if (chance(0.5)) s.locked = chance(0.2);  // mostly unlocking, so edits keep flowing
        return {std::make_unique<SetTrackSettings>(track_id(d), s), "SetTrackSettings"};
      }
      case 11: {
        if (chance(0.3)) return {std::make_unique<SetInOut>(std::nullopt), "SetInOut"};
        const std::int64_t a = uniform(-1, 300);
        return {std::make_unique<SetInOut>(FrameRange{a, a + uniform(-2, 100)}), "SetInOut"};
      }
      case 12: {
        if (!d.timeline.markers.empty() && chance(0.4))
          return {std::make_unique<RemoveMarker>(
                      pick_id(d.timeline.markers, [](const Marker& m) { return m.id; }, "marker-bogus")),
                  "RemoveMarker"};
        return {std::make_unique<AddMarker>(uniform(-1, 300), "m"), "AddMarker"};
      }
      case 13: {
        if (!d.timeline.mask_tracks.empty() && chance(0.3))
          return {std::make_unique<RemoveMaskTrack>(mask_id(d)), "RemoveMaskTrack"};
        return {std::make_unique<AddMaskTrack>(cid, "mask"), "AddMaskTrack"};
      }
      case 14:
      case 15: {
        const std::string id = mask_id(d);
        const MaskTrack* m = d.find_mask_track(id);
        const Clip* bound = m ? d.find_clip(m->clip_id) : nullptr;
        const std::int64_t f = bound ? bound->source_in + uniform(-3, bound->duration() + 3) : uniform(0, 50);
        const std::string path = chance(0.03) ? "elsewhere/x.png"
                                              : "masks/" + id + "/f" + std::to_string(f) + "-" +
                                                    std::to_string(uniform(1, 3)) + ".png";
        return {std::make_unique<SetMaskKeyframe>(id, f, path), "SetMaskKeyframe"};
      }
      case 16: {
        const std::string id = mask_id(d);
        const MaskTrack* m = d.find_mask_track(id);
        std::int64_t f = uniform(0, 100);
        if (m && !m->keyframes.empty() && chance(0.8))
          f = m->keyframes[static_cast<std::size_t>(uniform(0, static_cast<std::int64_t>(m->keyframes.size()) - 1))].frame;
        return {std::make_unique<RemoveMaskKeyframe>(id, f), "RemoveMaskKeyframe"};
      }
      case 17: {
        const std::int64_t a = uniform(-1, 150);
        return {std::make_unique<SetMaskHold>(mask_id(d), FrameRange{a, a + uniform(-1, 30)}, chance(0.6)),
                "SetMaskHold"};
      }
      case 18: {
        const MaskInterpolation modes[] = {MaskInterpolation::None, MaskInterpolation::Hold, MaskInterpolation::Flow};
        return {std::make_unique<SetMaskInterpolation>(mask_id(d), modes[uniform(0, 2)]), "SetMaskInterpolation"};
      }
      case 19: {
        const MarkSlot slot = chance(0.5) ? MarkSlot::First : MarkSlot::Last;
        if (chance(0.15)) return {std::make_unique<SetFrameMark>(slot, std::nullopt), "SetFrameMark"};
        const std::int64_t f = clip ? clip->source_in + uniform(-2, clip->duration() + 1) : 0;
        return {std::make_unique<SetFrameMark>(slot, FrameMark{cid, f}), "SetFrameMark"};
      }
      case 20: {
        const MarkSlot slot = chance(0.5) ? MarkSlot::First : MarkSlot::Last;
        if (chance(0.15)) return {std::make_unique<SetClipMark>(slot, std::nullopt), "SetClipMark"};
        const std::int64_t a = clip ? clip->source_in + uniform(-2, clip->duration()) : 0;
        return {std::make_unique<SetClipMark>(slot, ClipRangeMark{cid, {a, a + uniform(0, 20)}}), "SetClipMark"};
      }
      case 21: {
        if (!d.timeline.keyframes.stills.empty() && chance(0.4))
          return {std::make_unique<RemoveStillKeyframe>(pick_id(
                      d.timeline.keyframes.stills, [](const StillKeyframe& s) { return s.id; }, "still-bogus")),
                  "RemoveStillKeyframe"};
        std::vector<MediaItem> images;
        for (const auto& m : d.media)
          if (m.kind == MediaKind::Image) images.push_back(m);
        const std::string media = chance(0.8) ? pick_id(images, [](const MediaItem& m) { return m.id; }, "media-bogus")
                                              : media_id(d);
        return {std::make_unique<AddStillKeyframe>(media, uniform(-1, 300)), "AddStillKeyframe"};
      }
      case 22: {
        if (!d.references.empty() && chance(0.4))
          return {std::make_unique<RemoveReference>(
                      pick_id(d.references, [](const ReferenceItem& r) { return r.id; }, "ref-bogus")),
                  "RemoveReference"};
        return {std::make_unique<AddReference>(media_id(d), "ref"), "AddReference"};
      }
      case 23: {
        if (chance(0.6)) return {std::make_unique<RemoveMedia>(media_id(d)), "RemoveMedia"};
        MediaItem m;
        m.path = "media/new-" + std::to_string(uniform(0, 999)) + ".mp4";
        m.kind = chance(0.3) ? MediaKind::Image : MediaKind::Video;
        m.frame_count = m.kind == MediaKind::Image ? 1 : uniform(0, 150);
        return {std::make_unique<AddMedia>(m), "AddMedia"};
      }
      case 24: {
        ProjectSettings s;
        if (chance(0.5)) s.name = "name-" + std::to_string(uniform(0, 9));
        if (chance(0.5)) s.style_preset = chance(0.5) ? "ghibli" : "";
        if (chance(0.5)) s.resolution = Resolution{static_cast<int>(uniform(0, 4)) * 16, 480};
        return {std::make_unique<SetProjectSettings>(s), "SetProjectSettings"};
      }
      case 25: {
        TakeRequest t;
        t.source_clip_id = cid;
        t.media.path = "renders/take-" + std::to_string(uniform(0, 999)) + ".mp4";
        t.media.frame_count = uniform(1, 60);
        t.recipe = {{"seed", uniform(0, 1000)}, {"task", "vedit"}};
        return {std::make_unique<AddTake>(t), "AddTake"};
      }
      case 26:
        return {std::make_unique<MoveClip>(cid, track_id(d), uniform(0, 400)), "MoveClip"};
      case 27:
        if (chance(0.5))
          return {std::make_unique<MoveMarker>(
                      pick_id(d.timeline.markers, [](const Marker& m) { return m.id; }, "marker-bogus"),
                      uniform(-1, 300)),
                  "MoveMarker"};
        return {std::make_unique<MoveStillKeyframe>(
                    pick_id(d.timeline.keyframes.stills, [](const StillKeyframe& k) { return k.id; }, "still-bogus"),
                    uniform(-1, 300)),
                "MoveStillKeyframe"};
      default: {
        // A whole macro as one command.
        auto macro = std::make_unique<MacroCommand>("Macro");
        for (int i = 0, n = static_cast<int>(uniform(1, 3)); i < n; ++i)
          macro->add(std::make_unique<AddMarker>(uniform(0, 300), "in macro"));
        if (clip && chance(0.5)) macro->add(std::make_unique<MoveClip>(clip->id, track_id(d), uniform(0, 400)));
        return {std::move(macro), "MacroCommand"};
      }
    }
  }

 private:
  std::mt19937 rng_;
};

void seed_document(Editor& e) {
  const auto a = e.add_video("media/a.mp4", 200);
  const auto b = e.add_video("media/b.mp4", 120);
  e.add_image("media/still.png");
  const auto t1 = e.add_track("V1");
  e.add_track("V2");
  e.add_clip(t1, a, {0, 40}, 0);
  e.add_clip(t1, b, {10, 50}, 60);
  e.stack.clear();
}

void run_random_session(unsigned seed, int steps) {
  Editor e;
  seed_document(e);
  RandomEditor gen(seed);
  // states[i] = the document when the undo index is i.
  std::vector<std::string> states{dump(e.doc)};
  std::map<std::string, int> applied, refused;
  int undos = 0, redos = 0, merges = 0, macros = 0;

  for (int step = 0; step < steps; ++step) {
    const std::size_t index = e.stack.index();
    ASSERT_EQ(states.size(), e.stack.count() + 1);
    const double r = gen.unit();
    if (r < 0.12 && e.stack.can_undo()) {
      const int n = r < 0.02 ? 5 : 1;
      for (int i = 0; i < n && e.stack.can_undo(); ++i) {
        e.stack.undo();
        ++undos;
        ASSERT_EQ(dump(e.doc), states[e.stack.index()]) << "undo to " << e.stack.index() << " at step " << step;
      }
      continue;
    }
    if (r < 0.30 && e.stack.can_redo()) {
      e.stack.redo();
      ++redos;
      ASSERT_EQ(dump(e.doc), states[e.stack.index()]) << "redo to " << e.stack.index() << " at step " << step;
      continue;
    }
    if (r < 0.34) {
      // A drag: consecutive nudges of one clip's position or edge merge into one undo step.
      const Clip* c = gen.pick_clip(e.doc);
      if (!c) continue;
      const std::string id = c->id;
      const bool trim = gen.chance(0.4);
      const ClipEdge edge = gen.chance(0.5) ? ClipEdge::Start : ClipEdge::End;
      const std::size_t start_index = e.stack.index();
      bool first = true;
      e.stack.break_merge();  // a new drag starts
      for (int i = 0, n = static_cast<int>(gen.uniform(2, 8)); i < n; ++i) {
        const Clip* cur = e.doc.find_clip(id);
        const auto loc = e.doc.locate_clip(id);
        const std::string& before = states[e.stack.index()];  // the document is always at a known state
        try {
          if (trim)
            e.stack.push(std::make_unique<TrimClip>(
                id, edge, (edge == ClipEdge::Start ? cur->timeline_start : cur->timeline_end()) + gen.uniform(-3, 3)));
          else
            e.stack.push(std::make_unique<MoveClip>(id, e.doc.timeline.tracks[loc->track].id,
                                                    cur->timeline_start + gen.uniform(-4, 4)));
        } catch (const mf::Error&) {
          ASSERT_EQ(dump(e.doc), before);
          continue;
        }
        if (first) {
          ASSERT_EQ(e.stack.index(), start_index + 1);
          states.resize(start_index + 1);
          states.push_back(dump(e.doc));
          first = false;
        } else {
          ASSERT_EQ(e.stack.index(), start_index + 1) << "a drag step did not merge";
          states[start_index + 1] = dump(e.doc);
          ++merges;
        }
      }
      continue;
    }
    if (r > 0.985) {
      // An interactive grouped edit: several pushes, then end (or, sometimes, abort).
      e.stack.begin_macro("Group");
      std::string current = states[index];
      for (int i = 0; i < 4; ++i) {
        auto [cmd, name] = gen.next(e.doc);
        try {
          e.stack.push_command(std::move(cmd));
          current = dump(e.doc);
        } catch (const mf::Error&) {
          ASSERT_EQ(dump(e.doc), current) << name << " refused but changed the document";
        }
      }
      if (r > 0.997) {
        e.stack.abort_macro();
        ASSERT_EQ(dump(e.doc), states[index]);
      } else {
        e.stack.end_macro();
        if (e.stack.index() != index) {
          states.resize(index + 1);
          states.push_back(dump(e.doc));
          ++macros;
        }
      }
      continue;
    }
    auto [cmd, name] = gen.next(e.doc);
    const std::string& before = states[index];  // the document is always at a known state
    const std::size_t count = e.stack.count();
    try {
      e.stack.push_command(std::move(cmd));
    } catch (const mf::Error& err) {
      ASSERT_EQ(err.code(), mf::ErrorCode::BadInput) << name << ": " << err.what();
      ASSERT_EQ(dump(e.doc), before) << name << " refused but changed the document: " << err.what();
      ASSERT_EQ(e.stack.index(), index);
      ++refused[name];
      continue;
    }
    ++applied[name];
    if (e.stack.index() == index) {
      // Merged into the top command (a move right after a move of the same clip).
      ASSERT_GT(index, 0u);
      ASSERT_EQ(e.stack.count(), count);
      states[index] = dump(e.doc);
      ++merges;
    } else {
      ASSERT_EQ(e.stack.index(), index + 1);
      states.resize(index + 1);
      states.push_back(dump(e.doc));
    }
    if (step % 97 == 0) {
      // The document survives a JSON round trip at any point.
      ASSERT_EQ(to_json(project_from_json(to_json(e.doc))), to_json(e.doc));
    }
  }

  // Undo everything: every position is met exactly, ending at the initial document; then redo everything.
  const std::string final_state = dump(e.doc);
  const std::size_t final_index = e.stack.index();
  while (e.stack.can_undo()) {
    e.stack.undo();
    ASSERT_EQ(dump(e.doc), states[e.stack.index()]);
  }
  ASSERT_EQ(dump(e.doc), states[0]);
  while (e.stack.index() < final_index) {
    e.stack.redo();
    ASSERT_EQ(dump(e.doc), states[e.stack.index()]);
  }
  ASSERT_EQ(dump(e.doc), final_state);

  // The run must have been meaningful: every command kind applied at least once, and plenty of work done.
  int least = 1 << 30;
  for (const char* kind :
       {"AddClip", "RemoveClip", "MoveClip", "TrimClip", "SplitClip", "AddTrack", "RemoveTrack", "SetTrackSettings",
        "SetInOut", "AddMarker", "RemoveMarker", "AddMaskTrack", "RemoveMaskTrack", "SetMaskKeyframe",
        "RemoveMaskKeyframe", "SetMaskHold", "SetMaskInterpolation", "SetFrameMark", "SetClipMark",
        "AddStillKeyframe", "RemoveStillKeyframe", "AddReference", "RemoveReference", "AddMedia", "RemoveMedia",
        "SetProjectSettings", "AddTake", "MacroCommand", "MoveMarker", "MoveStillKeyframe"})
  {
    EXPECT_GT(applied[kind], 0) << kind << " never applied (seed " << seed << ")";
    least = std::min(least, applied[kind]);
  }
  int total = 0, total_refused = 0;
  for (const auto& [k, n] : applied) total += n;
  for (const auto& [k, n] : refused) total_refused += n;
  EXPECT_GT(total, steps / 4);
  EXPECT_GT(total_refused, steps / 20);  // impossible edits were tried and refused
  EXPECT_GT(undos, steps / 20);
  EXPECT_GT(redos, steps / 100);  // besides the full redo pass at the end
  EXPECT_GT(merges, 10);
  EXPECT_GT(macros, 0);
  EXPECT_GT(e.checks, total);
  std::printf("seed %u: %d applied, %d refused, %d undos, %d redos, %d merges, %d grouped, %zu undo steps, "
              "%zu clips, %zu bytes of JSON, rarest command kind applied %d times\n",
              seed, total, total_refused, undos, redos, merges, macros, e.stack.count(), gen.clips(e.doc).size(),
              dump(e.doc).size(), least);
}

}  // namespace

TEST(RandomEdits, UndoRedoRestoreEveryStateExactly) {
  for (unsigned seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(seed);
    run_random_session(seed, 2000);
    if (HasFatalFailure()) return;
  }
}
