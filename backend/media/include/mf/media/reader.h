// Decoding any container/codec this FFmpeg build reads (mp4, mov, mkv, webm, avi, gif, image files and
// printf-style image sequences like "frames/f_%05d.png") into RGB8 or Gray8 frames.
//
// - Colour: YUV is converted with the stream's own matrix (BT.601/709/2020) and range (limited/full) through
//   sws_setColorspaceDetails: the frame's tags, else the container's, else BT.709 for height >= 720 and BT.601
//   below (limited range). 10/12-bit sources are converted from their native depth. DecodeOptions::fast_color
//   trades ~8 dB of 4:2:0 round-trip PSNR for ~20x speed (previews).
// - Rotation: the display matrix (phone videos) is applied, so width/height and pixels are as players show them.
// - Frame indices: on open, the video packets are scanned once (no decoding) to build a frame index table of
//   presentation timestamps. Frame i is the i-th frame in presentation order; this is exact for variable frame
//   rate files too. frame(i) is frame-accurate (seek to the keyframe at or before i, decode forward).
// - Audio and other streams are ignored here; VideoWriter can copy a source's audio on export.
//
// Threading: a VideoReader is NOT thread-safe; use one per thread (FrameCache owns its own on a worker).
// Errors: mf::Error with BadInput (missing path, no video stream, index out of range) or BadFile (not media,
// corrupt, truncated); FFmpeg's own message is appended.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mf/media/image.h"

namespace mf::media {

struct StreamInfo {
  int index = 0;
  std::string type;          // "video", "audio", "subtitle", "data"
  std::string codec;         // FFmpeg codec name ("h264", "prores", "aac")
  std::string profile;       // "High", "4444", ... when known
  int width = 0, height = 0;  // coded size (video)
  std::string pixel_format;  // "yuv420p10le" (video)
  int bit_depth = 0;         // bits per component (video)
  std::string color_space;   // "bt709", "smpte170m", "unknown"
  std::string color_range;   // "tv", "pc", "unknown"
  int sample_rate = 0;       // audio
  int channels = 0;          // audio
  double duration_s = 0;
  std::map<std::string, std::string> metadata;
};

struct MediaInfo {
  std::string path;
  std::string container;  // FFmpeg demuxer name ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "png_pipe")
  std::vector<StreamInfo> streams;
  int video_stream = -1;  // index into `streams` of the decoded stream
  std::string codec;      // of the video stream
  int width = 0, height = 0;  // as displayed (after rotation)
  int rotation = 0;           // clockwise degrees applied to the coded picture (0, 90, 180, 270)
  Rational fps;               // nominal rate (average for VFR)
  bool variable_frame_rate = false;
  int64_t frame_count = 0;    // from the frame index table (exact)
  double duration_s = 0;      // of the video stream: last frame time + one frame
  bool is_image = false;      // a single still image
  bool has_audio = false;
  std::map<std::string, std::string> metadata;  // container-level tags
  std::optional<std::string> recipe;            // embedded Manyfold recipe JSON, if any
};

struct DecodeOptions {
  PixelFormat format = PixelFormat::Rgb8;
  // Output size after rotation; 0 keeps the source size. When only one is set the other follows the aspect.
  int width = 0;
  int height = 0;
  bool apply_rotation = true;
  int threads = 0;  // decoder threads, 0 = FFmpeg picks
  // YUV->RGB with swscale's SIMD path: ~20x faster at 1080p, ~36 dB instead of ~44 dB on 4:2:0 round trips.
  // For previews and the timeline; model inputs keep the accurate default.
  bool fast_color = false;
};

struct DecodedFrame {
  Image image;
  int64_t index = -1;  // presentation index
  Rational time;       // seconds from the first frame
};

class VideoReader {
 public:
  explicit VideoReader(const std::filesystem::path& path, DecodeOptions options = {});
  ~VideoReader();
  VideoReader(VideoReader&&) noexcept;
  VideoReader& operator=(VideoReader&&) noexcept;
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const MediaInfo& info() const;
  int64_t frame_count() const;
  Rational fps() const;
  int width() const;   // of returned images
  int height() const;  // of returned images

  // Next frame in presentation order; false at the end of the stream.
  bool read(DecodedFrame& out);
  // Frame-accurate random access; the next read() continues after it.
  DecodedFrame frame(int64_t index);
  // Same, and every frame with index in [keep_from, index) that is decoded on the way (after a seek, from the
  // keyframe) is converted and handed to on_passed first. The frame cache uses this to keep the frames just
  // before a scrub target, so stepping backwards does not seek again for each frame.
  DecodedFrame frame(int64_t index, const std::function<void(DecodedFrame&&)>& on_passed, int64_t keep_from);
  // The frame on screen at time t (seconds from the first frame): the last frame whose time <= t.
  DecodedFrame frame_at(Rational t);

  int64_t index_at(Rational t) const;  // throws BadInput when t < 0 or past the end
  Rational time_of(int64_t index) const;
  // Presentation time of every frame in seconds (size == frame_count); uneven for VFR sources.
  std::vector<double> frame_times() const;
  // Presentation indices of keyframes (sorted).
  const std::vector<int64_t>& keyframes() const;

  // How many times frame() had to seek (for tests and benchmarks: sequential access must not seek).
  int64_t seek_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Stream/format description without decoding pixels (builds the frame index table).
MediaInfo probe(const std::filesystem::path& path);

// The first frame of an image or video file.
Image read_image(const std::filesystem::path& path, PixelFormat format = PixelFormat::Rgb8);

// Every frame of a (short) file; count limits how many (-1 = all).
std::vector<Image> read_frames(const std::filesystem::path& path, DecodeOptions options = {}, int64_t count = -1);

}  // namespace mf::media
