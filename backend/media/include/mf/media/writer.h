// Encoding RGB8 frames to video files and PNGs through libavcodec/libavformat (no ffmpeg program).
//
// Containers come from the file extension (.mp4 .mov .mkv .webm .avi .gif). Codecs and the FFmpeg encoder each
// uses (checked with avcodec_find_encoder_by_name; a missing one is mf::Error(Unsupported) naming it):
//   H264 libx264 (yuv420p, CRF, preset)    H265 libx265 (yuv420p)       Vp9 libvpx-vp9 (yuv420p, CRF)
//   ProRes422 prores_ks (HQ, yuv422p10)    ProRes4444 prores_ks (yuv444p10)
//   Av1 libaom-av1 / libsvtav1             Mjpeg mjpeg (full range 4:4:4) Ffv1 ffv1 (lossless RGB)
//   Gif gif (rgb8 palette)                 Png png: one file per frame (PNG sequence, path with %d or folder)
// YUV output is tagged BT.709 limited range so decoders convert it back with the same matrix.
// The recipe JSON goes into the container's `comment` tag (MP4/MOV: ©cmt, MKV/WebM: COMMENT) and into a PNG
// tEXt chunk with keyword "manyfold:recipe"; read it back with read_recipe() (metadata.h). AVI keeps it as an
// INFO comment; GIF has no place for it (use the PNG or MP4 output for takes).
//
// Threading: a VideoWriter is not thread-safe; one thread writes at a time. Encoder threads are internal.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mf/media/image.h"

namespace mf::media {

enum class Codec { H264, H265, Vp9, ProRes422, ProRes4444, Av1, Mjpeg, Ffv1, Gif, Png };

const char* to_string(Codec c);                 // "h264", "prores4444", ...
Codec parse_codec(const std::string& name);     // inverse of to_string; throws BadInput
// FFmpeg encoder names tried for a codec, in order of preference.
std::vector<std::string> encoder_names(Codec c);
// True when this FFmpeg build has an encoder for the codec.
bool encoder_available(Codec c);

struct EncodeOptions {
  Codec codec = Codec::H264;
  Rational fps{24, 1};
  Rational time_base{0, 1};  // timestamps unit for write(frame, time); 0 = 1/fps (constant rate)
  int crf = -1;                // quality (lower is better); -1 = the codec's high-quality default
  std::string preset;          // x264/x265 preset ("medium"); VP9/AV1 speed is derived from it
  std::string pixel_format;    // override, e.g. "yuv420p10le" for 10-bit H.265; empty = codec default
  int gop = 0;                 // keyframe interval in frames; 0 = codec default
  int max_b_frames = -1;       // -1 = codec default
  int threads = 0;             // 0 = FFmpeg picks
  int rotation = 0;            // clockwise degrees players should rotate by (display matrix; MP4/MOV only)
  std::string recipe_json;     // embedded when not empty (must be valid JSON)
  std::filesystem::path audio_from;  // copy this file's first audio stream (no re-encode) when not empty
  std::map<std::string, std::string> codec_options;  // extra AVOptions for the encoder
};

class VideoWriter {
 public:
  // width/height are those of the frames passed to write().
  VideoWriter(const std::filesystem::path& path, int width, int height, EncodeOptions options = {});
  ~VideoWriter();  // finishes the file if finish() was not called (errors are then only logged)
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // Frame must be width x height, RGB8 or Gray8.
  void write(const Image& frame);
  // Variable frame rate: the frame is shown from `time` seconds (rounded to time_base; must increase).
  void write(const Image& frame, Rational time);
  // Flushes the encoder, copies the remaining audio and writes the trailer. Idempotent.
  void finish();
  int64_t frames_written() const;
  // Files produced (the video file, or every PNG of a sequence).
  std::vector<std::filesystem::path> outputs() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A single PNG (RGB8 or Gray8), lossless, with the recipe in a tEXt chunk when recipe_json is not empty.
void write_png(const std::filesystem::path& path, const Image& image, const std::string& recipe_json = {});

// Convenience: encode all frames into one file.
void write_video(const std::filesystem::path& path, const std::vector<Image>& frames, EncodeOptions options = {});

}  // namespace mf::media
