// Internal: RAII owners for FFmpeg objects, error text, and the colour conversion shared by reader and writer.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "mf/core/error.h"
#include "mf/media/image.h"

namespace mf::media::detail {

struct InputDeleter {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct OutputDeleter {
  void operator()(AVFormatContext* c) const {
    if (!c) return;
    if (c->oformat && !(c->oformat->flags & AVFMT_NOFILE) && c->pb) avio_closep(&c->pb);
    avformat_free_context(c);
  }
};
struct CodecDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct DictDeleter {
  void operator()(AVDictionary* d) const { av_dict_free(&d); }
};

using InputPtr = std::unique_ptr<AVFormatContext, InputDeleter>;
using OutputPtr = std::unique_ptr<AVFormatContext, OutputDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecDeleter>;
using FramePtrAv = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;

FramePtrAv make_frame();
PacketPtr make_packet();

// An AVDictionary owned by scope (avcodec_open2 and friends take AVDictionary**).
class Dict {
 public:
  Dict() = default;
  ~Dict() { av_dict_free(&d_); }
  Dict(const Dict&) = delete;
  Dict& operator=(const Dict&) = delete;
  void set(const std::string& k, const std::string& v) { av_dict_set(&d_, k.c_str(), v.c_str(), 0); }
  AVDictionary** get() { return &d_; }
  AVDictionary* raw() const { return d_; }
  // Keys left over after an open call (options the component did not know).
  std::string leftover() const;

 private:
  AVDictionary* d_ = nullptr;
};

std::string av_error_text(int err);
// "; FFmpeg says: <last error line logged on this thread>" (or ""), and forgets it.
std::string ffmpeg_detail();
// Sets the FFmpeg log level once (errors only, or MF_FFMPEG_LOG=debug/info/warning).
void init_ffmpeg();

// Opens a file for demuxing with existence / emptiness checks that give actionable errors.
// find_info = false skips avformat_find_stream_info (which decodes a few frames); only for callers that just
// read packets of streams the container header already declares.
InputPtr open_input(const std::filesystem::path& path, bool find_info = true);

// Clockwise rotation (0/90/180/270) of a stream's display matrix.
int stream_rotation(const AVStream* st);

// Converts an AVFrame to an 8-bit Image of the given size/format with correct matrix and range.
class ToImage {
 public:
  explicit ToImage(bool fast = false) : fast_(fast) {}
  Image convert(const AVFrame* f, PixelFormat fmt, int out_w, int out_h, const AVCodecParameters* par = nullptr);

 private:
  bool fast_ = false;
  SwsPtr sws_;
  int key_[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
};

// Maps deprecated yuvj* formats to yuv* (full range is then passed explicitly).
AVPixelFormat normalise_pix_fmt(AVPixelFormat f, bool* full_range);
// SWS_CS_* for a frame's colour space; untagged: BT.709 for height >= 720 else BT.601.
int sws_colorspace(AVColorSpace cs, int height);

}  // namespace mf::media::detail

namespace mf::media::detail {
// The Manyfold recipe carried by an open file's tags, or (for PNG files) its tEXt chunk.
std::optional<std::string> recipe_of(const std::filesystem::path& path, const AVFormatContext* ctx);
}  // namespace mf::media::detail
