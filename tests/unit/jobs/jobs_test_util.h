// Shared by the mf_jobs tests: a project with a textured square moving over a gradient (a 13-frame FFV1 clip,
// lossless, so exported frames can be compared exactly), a still, one track with two clips, and helpers.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mf/jobs/task_job.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"
#include "mf/project/commands.h"
#include "mf/project/session.h"
#include "temp_dir.h"

namespace mf::jobs::test {

namespace fs = std::filesystem;
namespace proj = mf::project;
using mf::tasks::TaskId;

inline constexpr int kW = 96, kH = 64, kFrames = 13;

// A textured square moving 3 px right per frame over a gradient: x0 = 12 + 3t, 20x20 at y 22.
inline int square_x(int t) { return 12 + 3 * t; }

inline media::Image source_frame(int t) {
  media::Image im = media::Image::make(kW, kH, 3);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) {
      uint8_t* p = im.at(x, y);
      const int x0 = square_x(t);
      const bool sq = x >= x0 && x < x0 + 20 && y >= 22 && y < 42;
      const int checker = (((x - x0) / 4 + (y - 22) / 4) % 2) ? 230 : 130;
      p[0] = static_cast<uint8_t>(sq ? checker : 30 + y);
      p[1] = static_cast<uint8_t>(sq ? 60 : 30 + y);
      p[2] = static_cast<uint8_t>(sq ? 40 : 120);
    }
  return im;
}

// Keep everywhere but the square at frame t (black = regenerate), grown by 2 px.
inline media::Image square_mask(int t) {
  media::Image m = media::Image::make(kW, kH, 1);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) {
      const bool in = x >= square_x(t) - 2 && x < square_x(t) + 22 && y >= 20 && y < 44;
      *m.at(x, y) = in ? 0 : 255;
    }
  return m;
}

struct Fixture {
  mf::test::TempDir tmp{"mf_jobs", ::testing::UnitTest::GetInstance()->current_test_info()->name()};
  std::unique_ptr<proj::ProjectSession> session;
  std::string media_id, still_id, track_id, clip_id, clip2_id;

  Fixture() {
    std::vector<media::Image> frames;
    for (int t = 0; t < kFrames; ++t) frames.push_back(source_frame(t));
    media::EncodeOptions eo;
    eo.codec = media::Codec::Ffv1;
    eo.fps = {16, 1};
    const fs::path clip = fs::path(tmp.str()) / "square.mkv";
    media::write_video(clip, frames, eo);
    const fs::path still = fs::path(tmp.str()) / "still.png";
    media::write_png(still, source_frame(5));
    proj::NewProjectOptions o;
    o.name = "jobs";
    o.fps = proj::Rational(16);
    session = proj::ProjectSession::create(fs::path(tmp.str()) / "project", o);
    media_id = add_media(clip, proj::MediaKind::Video, kFrames);
    still_id = add_media(still, proj::MediaKind::Image, 1);
    track_id = session->push(std::make_unique<proj::AddTrack>("V1")).track_id();
    clip_id = add_clip(media_id, {0, kFrames}, 0, "square");
    clip2_id = add_clip(media_id, {0, kFrames}, 20, "again");
  }
  std::string add_media(const fs::path& file, proj::MediaKind kind, int64_t frames) {
    proj::MediaItem item;
    item.path = session->import_file(file);
    item.name = file.filename().string();
    item.kind = kind;
    item.frame_count = frames;
    item.fps = proj::Rational(16);
    item.size = {kW, kH};
    return session->push(std::make_unique<proj::AddMedia>(item)).media_id();
  }
  std::string add_clip(const std::string& media, proj::FrameRange src, int64_t at, const std::string& name) {
    proj::ClipPlacement p;
    p.track_id = track_id;
    p.media_id = media;
    p.source = src;
    p.timeline_start = at;
    p.name = name;
    return session->push(std::make_unique<proj::AddClip>(p)).clip_id();
  }
  std::string paint(int64_t frame, const media::Image& mask) {
    std::string track;
    for (const auto* t : session->document().mask_tracks_for_clip(clip_id)) track = t->id;
    if (track.empty()) track = session->push(std::make_unique<proj::AddMaskTrack>(clip_id, "Mask")).mask_track_id();
    const fs::path rel = fs::path("masks") / ("f" + std::to_string(frame) + ".png");
    fs::create_directories(session->folder() / "masks");
    media::write_png(session->folder() / rel, mask);
    session->push(std::make_unique<proj::SetMaskKeyframe>(track, frame, rel.generic_string()));
    return track;
  }
  proj::TaskInputs inputs(std::vector<std::string> clips, std::optional<int64_t> playhead = std::nullopt) {
    proj::Selection sel;
    sel.clip_ids = std::move(clips);
    sel.playhead = playhead;
    return proj::gather_task_inputs(session->document(), sel);
  }
  TaskJob run(TaskId task, const proj::TaskInputs& in, TaskJobRequest q = {}) {
    q.task = task;
    return export_task_job(*session, in, q);
  }
};

}  // namespace mf::jobs::test
