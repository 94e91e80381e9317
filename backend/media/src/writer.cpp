#include "mf/media/writer.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "av_common.h"
#include "mf/media/metadata.h"

namespace mf::media {

using namespace detail;

namespace {

struct CodecEntry {
  Codec codec;
  const char* name;
  std::vector<std::string> encoders;
  AVPixelFormat pix;
};

const std::vector<CodecEntry>& codec_table() {
  static const std::vector<CodecEntry> t = {
      {Codec::H264, "h264", {"libx264"}, AV_PIX_FMT_YUV420P},
      {Codec::H265, "h265", {"libx265"}, AV_PIX_FMT_YUV420P},
      {Codec::Vp9, "vp9", {"libvpx-vp9"}, AV_PIX_FMT_YUV420P},
      {Codec::ProRes422, "prores422", {"prores_ks"}, AV_PIX_FMT_YUV422P10LE},
      {Codec::ProRes4444, "prores4444", {"prores_ks"}, AV_PIX_FMT_YUV444P10LE},
      {Codec::Av1, "av1", {"libaom-av1", "libsvtav1"}, AV_PIX_FMT_YUV420P},
      {Codec::Mjpeg, "mjpeg", {"mjpeg"}, AV_PIX_FMT_YUVJ444P},
      {Codec::Ffv1, "ffv1", {"ffv1"}, AV_PIX_FMT_BGR0},
      {Codec::Gif, "gif", {"gif"}, AV_PIX_FMT_PAL8},
      {Codec::Png, "png", {"png"}, AV_PIX_FMT_RGB24},
  };
  return t;
}

const CodecEntry& entry(Codec c) {
  for (auto& e : codec_table())
    if (e.codec == c) return e;
  throw Error(ErrorCode::Internal, "unknown codec enum");
}

const AVCodec* find_encoder(Codec c, std::string* chosen) {
  for (auto& n : entry(c).encoders)
    if (const AVCodec* enc = avcodec_find_encoder_by_name(n.c_str())) {
      *chosen = n;
      return enc;
    }
  return nullptr;
}

bool is_rgb_like(AVPixelFormat f) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(f);
  return d && ((d->flags & AV_PIX_FMT_FLAG_RGB) || (d->flags & AV_PIX_FMT_FLAG_PAL) || d->nb_components <= 2);
}

std::string validated_recipe(const std::string& json) {
  try {
    return nlohmann::json::parse(json).dump();
  } catch (const std::exception& e) {
    throw Error(ErrorCode::BadInput, std::string("the recipe is not valid JSON: ") + e.what());
  }
}

// Speed knob for VP9/AV1 from an x264-style preset name.
int speed_from_preset(const std::string& p, int medium) {
  if (p == "ultrafast" || p == "superfast") return medium + 4;
  if (p == "veryfast" || p == "faster") return medium + 3;
  if (p == "fast") return medium + 1;
  if (p == "slow") return std::max(0, medium - 1);
  if (p == "slower" || p == "veryslow" || p == "placebo") return std::max(0, medium - 2);
  return medium;
}

// GIF: a fixed 6x6x6 "web" palette (levels 0, 51, ..., 255) with nearest-colour mapping. Primaries, black,
// white and multiples of 51 are exact; everything else is within 25 levels (GIF is a preview format).
void to_web_palette(const Image& img, AVFrame* f) {
  uint32_t* pal = reinterpret_cast<uint32_t*>(f->data[1]);
  for (int i = 0; i < 256; ++i) {
    const uint32_t r = i < 216 ? (i / 36) * 51 : 0, g = i < 216 ? (i / 6 % 6) * 51 : 0, b = i < 216 ? (i % 6) * 51 : 0;
    pal[i] = 0xFF000000u | (r << 16) | (g << 8) | b;
  }
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* s = img.row(y);
    uint8_t* d = f->data[0] + static_cast<std::ptrdiff_t>(y) * f->linesize[0];
    for (int x = 0; x < img.width; ++x) {
      const uint8_t* p = s + static_cast<size_t>(x) * img.channels;
      const int r = (p[0] + 25) / 51, g = (p[img.channels == 3 ? 1 : 0] + 25) / 51, b = (p[img.channels == 3 ? 2 : 0] + 25) / 51;
      d[x] = static_cast<uint8_t>(r * 36 + g * 6 + b);
    }
  }
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  check(static_cast<bool>(f), ErrorCode::Io, "cannot create " + path.string() + " (check the folder and permissions)");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  check(!f.fail(), ErrorCode::Io, "writing " + path.string() + " failed (disk full?)");
}

// Encodes one RGB8/Gray8 image as PNG bytes with FFmpeg's png encoder (lossless).
std::string encode_png(const Image& img) {
  init_ffmpeg();
  check(!img.empty() && (img.channels == 1 || img.channels == 3), ErrorCode::BadInput,
        "write_png: the image is empty or not RGB8/Gray8");
  const AVCodec* codec = avcodec_find_encoder_by_name("png");
  check(codec != nullptr, ErrorCode::Unsupported, "this FFmpeg build has no png encoder");
  CodecPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw Error(ErrorCode::OutOfMemory, "avcodec_alloc_context3 failed");
  const AVPixelFormat pf = img.channels == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
  ctx->width = img.width;
  ctx->height = img.height;
  ctx->pix_fmt = pf;
  ctx->time_base = AVRational{1, 25};
  int err = avcodec_open2(ctx.get(), codec, nullptr);
  check(err >= 0, ErrorCode::Internal, "cannot open the png encoder (" + av_error_text(err) + ")");
  FramePtrAv f = make_frame();
  f->format = pf;
  f->width = img.width;
  f->height = img.height;
  // The encoder only reads the frame, so it can point at the image's buffer.
  f->data[0] = const_cast<uint8_t*>(img.data.data());
  f->linesize[0] = static_cast<int>(img.stride);
  err = avcodec_send_frame(ctx.get(), f.get());
  check(err >= 0, ErrorCode::Internal, "png encoding failed (" + av_error_text(err) + ")");
  avcodec_send_frame(ctx.get(), nullptr);
  PacketPtr pkt = make_packet();
  std::string out;
  while (avcodec_receive_packet(ctx.get(), pkt.get()) == 0) {
    out.append(reinterpret_cast<const char*>(pkt->data), pkt->size);
    av_packet_unref(pkt.get());
  }
  check(!out.empty(), ErrorCode::Internal, "the png encoder produced no data");
  return out;
}

}  // namespace

const char* to_string(Codec c) { return entry(c).name; }

Codec parse_codec(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), ::tolower);
  if (n == "h.264" || n == "avc" || n == "x264") n = "h264";
  if (n == "h.265" || n == "hevc" || n == "x265") n = "h265";
  if (n == "prores") n = "prores422";
  for (auto& e : codec_table())
    if (n == e.name) return e.codec;
  std::string all;
  for (auto& e : codec_table()) all += std::string(all.empty() ? "" : ", ") + e.name;
  throw Error(ErrorCode::BadInput, "unknown codec '" + name + "' (known: " + all + ")");
}

std::vector<std::string> encoder_names(Codec c) { return entry(c).encoders; }

bool encoder_available(Codec c) {
  std::string n;
  return find_encoder(c, &n) != nullptr;
}

struct VideoWriter::Impl {
  std::filesystem::path path;
  std::string name;
  int width = 0, height = 0;
  EncodeOptions opts;
  int64_t written = 0;
  bool finished = false;
  bool header_written = false;
  std::string recipe;
  std::vector<std::filesystem::path> files;

  // PNG sequence.
  bool png_mode = false;
  std::string pattern;  // printf-style with one %d, or a single file name
  bool single_png = false;

  // Video.
  OutputPtr oc;
  CodecPtr enc;
  AVStream* st = nullptr;
  std::string encoder_name;
  SwsPtr sws;
  int sws_channels = 0;
  FramePtrAv yuv;
  PacketPtr pkt = make_packet();

  // Audio pass-through.
  InputPtr ain;
  int ain_stream = -1;
  AVStream* aout = nullptr;
  PacketPtr apkt = make_packet();
  bool apending = false, aeof = true;
  int64_t a_start = 0;

  void setup_png() {
    png_mode = true;
    const std::string p = path.string();
    std::error_code ec;
    if (p.find('%') != std::string::npos) {
      char buf[4096];
      check(av_get_frame_filename2(buf, sizeof buf, p.c_str(), 1, 0) == 0, ErrorCode::BadInput,
            "PNG sequence pattern " + p + " must contain exactly one %d-style number (e.g. frame_%05d.png)");
      pattern = p;
    } else if (path.extension() == ".png" || path.extension() == ".PNG") {
      pattern = p;
      single_png = true;
    } else {
      std::filesystem::create_directories(path, ec);
      check(!ec, ErrorCode::Io, "cannot create folder " + p + ": " + ec.message());
      pattern = (path / "frame_%05d.png").string();
    }
    auto parent = std::filesystem::path(pattern).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  }

  void setup_video() {
    const std::string p = path.string();
    AVFormatContext* raw = nullptr;
    int err = avformat_alloc_output_context2(&raw, nullptr, nullptr, p.c_str());
    check(err >= 0 && raw, ErrorCode::BadInput,
          "cannot tell the container from the file name " + p + " (use .mp4, .mov, .mkv, .webm, .avi or .gif)");
    oc.reset(raw);
    const CodecEntry& ce = entry(opts.codec);
    const AVCodec* codec = find_encoder(opts.codec, &encoder_name);
    if (!codec) {
      std::string names;
      for (auto& n : ce.encoders) names += (names.empty() ? "" : " or ") + n;
      throw Error(ErrorCode::Unsupported, std::string("this FFmpeg build has no ") + names + " encoder for " +
                                              ce.name + "; install an FFmpeg built with it or pick another codec");
    }
    check(avformat_query_codec(oc->oformat, codec->id, FF_COMPLIANCE_NORMAL) == 1, ErrorCode::Unsupported,
          std::string("the ") + oc->oformat->name + " container (" + path.extension().string() + ") cannot hold " +
              ce.name + " video; use " +
              (opts.codec == Codec::ProRes422 || opts.codec == Codec::ProRes4444 ? ".mov" : ".mkv or .mp4"));

    AVPixelFormat pix = ce.pix;
    if (!opts.pixel_format.empty()) {
      pix = av_get_pix_fmt(opts.pixel_format.c_str());
      check(pix != AV_PIX_FMT_NONE, ErrorCode::BadInput, "unknown pixel format '" + opts.pixel_format + "'");
    }
    if (codec->pix_fmts) {
      bool ok = false;
      std::string list;
      for (const AVPixelFormat* f = codec->pix_fmts; *f != AV_PIX_FMT_NONE; ++f) {
        ok |= *f == pix;
        list += std::string(list.empty() ? "" : " ") + av_get_pix_fmt_name(*f);
      }
      check(ok, ErrorCode::BadInput, encoder_name + " cannot encode pixel format " +
                                         av_get_pix_fmt_name(pix) + " (it takes: " + list + ")");
    }
    const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(pix);
    const int sx = 1 << d->log2_chroma_w, sy = 1 << d->log2_chroma_h;
    check(width % sx == 0 && height % sy == 0, ErrorCode::BadInput,
          std::string(ce.name) + " with " + av_get_pix_fmt_name(pix) + " needs a width divisible by " +
              std::to_string(sx) + " and a height divisible by " + std::to_string(sy) + " (got " +
              std::to_string(width) + "x" + std::to_string(height) + ")");

    AVCodecContext* c = avcodec_alloc_context3(codec);
    if (!c) throw Error(ErrorCode::OutOfMemory, "avcodec_alloc_context3 failed");
    enc.reset(c);
    c->width = width;
    c->height = height;
    c->pix_fmt = pix;
    c->time_base = opts.time_base.valid()
                       ? AVRational{static_cast<int>(opts.time_base.num), static_cast<int>(opts.time_base.den)}
                       : AVRational{static_cast<int>(opts.fps.den), static_cast<int>(opts.fps.num)};
    c->framerate = AVRational{static_cast<int>(opts.fps.num), static_cast<int>(opts.fps.den)};
    c->thread_count = opts.threads;
    if (opts.gop > 0) c->gop_size = opts.gop;
    if (opts.max_b_frames >= 0) c->max_b_frames = opts.max_b_frames;
    const bool full_range = pix == AV_PIX_FMT_YUVJ444P || pix == AV_PIX_FMT_YUVJ420P || pix == AV_PIX_FMT_YUVJ422P;
    if (opts.codec == Codec::Mjpeg) {
      // JFIF: BT.601 matrix, full range; decoders assume it whatever the tags say.
      c->colorspace = AVCOL_SPC_BT470BG;
      c->color_range = AVCOL_RANGE_JPEG;
    } else if (!is_rgb_like(pix)) {
      c->colorspace = AVCOL_SPC_BT709;
      c->color_primaries = AVCOL_PRI_BT709;
      c->color_trc = AVCOL_TRC_BT709;
      c->color_range = full_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    }
    if (oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;

    Dict o;
    const std::string preset = opts.preset.empty() ? "medium" : opts.preset;
    switch (opts.codec) {
      case Codec::H264:
        o.set("crf", std::to_string(opts.crf >= 0 ? opts.crf : 18));
        o.set("preset", preset);
        break;
      case Codec::H265:
        o.set("crf", std::to_string(opts.crf >= 0 ? opts.crf : 20));
        o.set("preset", preset);
        o.set("x265-params", "log-level=error");
        if (opts.gop > 0) o.set("x265-params", "log-level=error:keyint=" + std::to_string(opts.gop));
        break;
      case Codec::Vp9:
        o.set("crf", std::to_string(opts.crf >= 0 ? opts.crf : 15));
        o.set("b", "0");
        o.set("deadline", "good");
        o.set("cpu-used", std::to_string(std::min(8, speed_from_preset(preset, 2))));
        o.set("row-mt", "1");
        break;
      case Codec::Av1:
        o.set("crf", std::to_string(opts.crf >= 0 ? opts.crf : 20));
        if (encoder_name == "libaom-av1") {
          o.set("b", "0");
          o.set("cpu-used", std::to_string(std::min(8, speed_from_preset(preset, 5))));
          o.set("row-mt", "1");
        } else {
          o.set("preset", std::to_string(std::min(13, speed_from_preset(preset, 8))));
        }
        break;
      case Codec::ProRes422:
        o.set("profile", "3");  // HQ
        o.set("vendor", "apl0");
        break;
      case Codec::ProRes4444:
        o.set("profile", "4");
        o.set("vendor", "apl0");
        break;
      case Codec::Mjpeg:
        c->flags |= AV_CODEC_FLAG_QSCALE;
        c->global_quality = FF_QP2LAMBDA * std::clamp(opts.crf >= 0 ? opts.crf : 2, 1, 31);
        break;
      case Codec::Ffv1:
        o.set("level", "3");
        break;
      default:
        break;
    }
    for (auto& kv : opts.codec_options) o.set(kv.first, kv.second);
    err = avcodec_open2(c, codec, o.get());
    check(err >= 0, ErrorCode::BadInput,
          "cannot open the " + encoder_name + " encoder for " + std::to_string(width) + "x" +
              std::to_string(height) + " at " + opts.fps.str() + " fps (" + av_error_text(err) + ")");
    const std::string unknown = o.leftover();
    check(unknown.empty(), ErrorCode::BadInput, encoder_name + " does not know the option(s): " + unknown);

    st = avformat_new_stream(oc.get(), nullptr);
    if (!st) throw Error(ErrorCode::OutOfMemory, "avformat_new_stream failed");
    err = avcodec_parameters_from_context(st->codecpar, c);
    check(err >= 0, ErrorCode::Internal, "avcodec_parameters_from_context failed");
    st->time_base = c->time_base;
    st->avg_frame_rate = c->framerate;
    if (opts.rotation != 0) {
      check(opts.rotation % 90 == 0, ErrorCode::BadInput,
            "rotation must be a multiple of 90 degrees (got " + std::to_string(opts.rotation) + ")");
      uint8_t* sd = av_stream_new_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t));
      if (!sd) throw Error(ErrorCode::OutOfMemory, "av_stream_new_side_data failed");
      // av_display_rotation_set takes the clockwise angle (FFmpeg 5.1); readers apply -av_display_rotation_get.
      av_display_rotation_set(reinterpret_cast<int32_t*>(sd), static_cast<double>(opts.rotation));
    }
    if (!recipe.empty()) av_dict_set(&oc->metadata, "comment", recipe.c_str(), 0);
    if (!opts.audio_from.empty()) setup_audio();

    if (!(oc->oformat->flags & AVFMT_NOFILE)) {
      err = avio_open(&oc->pb, p.c_str(), AVIO_FLAG_WRITE);
      check(err >= 0, ErrorCode::Io, "cannot create " + p + " (" + av_error_text(err) + ")");
    }
    Dict mux;
    const std::string oname = oc->oformat->name;
    if (oname == "mov" || oname == "mp4") {
      // colr atom: players read the matrix/range from the container for codecs that do not carry it.
      std::string flags = "+write_colr";
      if (recipe.size() > 60000 && oname == "mov")
        flags += "+use_metadata_tags";  // QuickTime udta strings are limited to 64 KiB
      mux.set("movflags", flags);
    }
    err = avformat_write_header(oc.get(), mux.get());
    check(err >= 0, ErrorCode::Io, "cannot write the header of " + p + " (" + av_error_text(err) + ")");
    header_written = true;
    files.push_back(path);

    yuv = make_frame();
    // Some encoders (prores_ks) take the colour tags from each frame rather than the context.
    yuv->colorspace = c->colorspace;
    yuv->color_range = c->color_range;
    yuv->color_primaries = c->color_primaries;
    yuv->color_trc = c->color_trc;
    yuv->format = pix;
    yuv->width = width;
    yuv->height = height;
    err = av_frame_get_buffer(yuv.get(), 0);
    if (err < 0) throw Error(ErrorCode::OutOfMemory, "cannot allocate a " + std::to_string(width) + "x" +
                                                         std::to_string(height) + " frame");
  }

  void setup_audio() {
    ain = open_input(opts.audio_from);
    ain_stream = av_find_best_stream(ain.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
    check(ain_stream >= 0, ErrorCode::BadInput, opts.audio_from.string() + " has no audio stream to copy");
    for (unsigned i = 0; i < ain->nb_streams; ++i)
      if (static_cast<int>(i) != ain_stream) ain->streams[i]->discard = AVDISCARD_ALL;
    AVStream* ist = ain->streams[ain_stream];
    check(avformat_query_codec(oc->oformat, ist->codecpar->codec_id, FF_COMPLIANCE_NORMAL) == 1,
          ErrorCode::Unsupported,
          std::string("the ") + oc->oformat->name + " container cannot hold the source's " +
              avcodec_get_name(ist->codecpar->codec_id) + " audio without re-encoding; use .mov or .mkv");
    aout = avformat_new_stream(oc.get(), nullptr);
    if (!aout) throw Error(ErrorCode::OutOfMemory, "avformat_new_stream failed");
    int err = avcodec_parameters_copy(aout->codecpar, ist->codecpar);
    check(err >= 0, ErrorCode::Internal, "avcodec_parameters_copy failed");
    aout->codecpar->codec_tag = 0;
    aout->time_base = ist->time_base;
    a_start = ist->start_time == AV_NOPTS_VALUE ? 0 : ist->start_time;
    aeof = false;
  }

  // Copies source audio packets that start before `limit` (in limit_tb) to the output.
  void copy_audio_until(int64_t limit, AVRational limit_tb) {
    if (!aout) return;
    AVStream* ist = ain->streams[ain_stream];
    while (!aeof) {
      if (!apending) {
        int r = av_read_frame(ain.get(), apkt.get());
        if (r < 0) {
          aeof = true;
          return;
        }
        if (apkt->stream_index != ain_stream) {
          av_packet_unref(apkt.get());
          continue;
        }
        apending = true;
      }
      int64_t ts = apkt->pts != AV_NOPTS_VALUE ? apkt->pts : apkt->dts;
      if (ts != AV_NOPTS_VALUE && av_compare_ts(ts - a_start, ist->time_base, limit, limit_tb) >= 0) return;
      if (apkt->pts != AV_NOPTS_VALUE) apkt->pts -= a_start;
      if (apkt->dts != AV_NOPTS_VALUE) apkt->dts -= a_start;
      av_packet_rescale_ts(apkt.get(), ist->time_base, aout->time_base);
      apkt->stream_index = aout->index;
      apkt->pos = -1;
      int err = av_interleaved_write_frame(oc.get(), apkt.get());
      apending = false;
      av_packet_unref(apkt.get());
      check(err >= 0, ErrorCode::Io, "writing audio to " + name + " failed (" + av_error_text(err) + ")");
    }
  }

  void drain() {
    for (;;) {
      int r = avcodec_receive_packet(enc.get(), pkt.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      check(r >= 0, ErrorCode::Internal, encoder_name + " failed (" + av_error_text(r) + ")");
      av_packet_rescale_ts(pkt.get(), enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      if (aout && pkt->dts != AV_NOPTS_VALUE) copy_audio_until(pkt->dts, st->time_base);
      int err = av_interleaved_write_frame(oc.get(), pkt.get());
      av_packet_unref(pkt.get());
      check(err >= 0, ErrorCode::Io, "writing video to " + name + " failed (" + av_error_text(err) + ")");
    }
  }

  int64_t last_pts = -1;

  int64_t pts_of_index(int64_t i) const {
    return av_rescale_q(i, AVRational{static_cast<int>(opts.fps.den), static_cast<int>(opts.fps.num)}, enc->time_base);
  }

  void write(const Image& img, int64_t pts = AV_NOPTS_VALUE) {
    check(!finished, ErrorCode::Internal, "write() after finish() on " + name);
    check(img.width == width && img.height == height && (img.channels == 3 || img.channels == 1) &&
              img.data.size() >= img.stride * img.height,
          ErrorCode::BadInput,
          name + ": frame is " + std::to_string(img.width) + "x" + std::to_string(img.height) + "x" +
              std::to_string(img.channels) + ", the writer was opened for " + std::to_string(width) + "x" +
              std::to_string(height) + " RGB8/Gray8");
    if (png_mode) {
      std::filesystem::path out;
      if (single_png) {
        check(written == 0, ErrorCode::BadInput,
              name + " is a single PNG; for several frames use a pattern such as frame_%05d.png or a folder");
        out = pattern;
      } else {
        char buf[4096];
        check(av_get_frame_filename2(buf, sizeof buf, pattern.c_str(), static_cast<int>(written), 0) == 0,
              ErrorCode::BadInput, "bad PNG sequence pattern " + pattern);
        out = buf;
      }
      std::string bytes = encode_png(img);
      if (!recipe.empty()) bytes = png_with_text(bytes, kPngRecipeKeyword, recipe);
      write_file(out, bytes);
      files.push_back(out);
      ++written;
      return;
    }
    const AVPixelFormat src = img.channels == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
    if (enc->pix_fmt == AV_PIX_FMT_PAL8) {
      int err = av_frame_make_writable(yuv.get());
      check(err >= 0, ErrorCode::OutOfMemory, "av_frame_make_writable failed");
      to_web_palette(img, yuv.get());
    } else if (!sws || sws_channels != img.channels) {
      sws.reset(sws_getContext(width, height, src, width, height, enc->pix_fmt,
                               SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP | SWS_FULL_CHR_H_INT, nullptr,
                               nullptr, nullptr));
      check(sws != nullptr, ErrorCode::Unsupported,
            std::string("cannot convert RGB to ") + av_get_pix_fmt_name(enc->pix_fmt));
      if (!is_rgb_like(enc->pix_fmt)) {
        const bool full = enc->color_range == AVCOL_RANGE_JPEG;
        sws_setColorspaceDetails(sws.get(), sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 sws_getCoefficients(sws_colorspace(enc->colorspace, height)), full ? 1 : 0, 0, 1 << 16, 1 << 16);
      }
      sws_channels = img.channels;
    }
    if (enc->pix_fmt != AV_PIX_FMT_PAL8) {
      int err = av_frame_make_writable(yuv.get());
      check(err >= 0, ErrorCode::OutOfMemory, "av_frame_make_writable failed");
      const uint8_t* src_data[4] = {img.data.data(), nullptr, nullptr, nullptr};
      int src_stride[4] = {static_cast<int>(img.stride), 0, 0, 0};
      sws_scale(sws.get(), src_data, src_stride, 0, height, yuv->data, yuv->linesize);
    }
    if (pts == AV_NOPTS_VALUE) pts = pts_of_index(written);
    check(pts > last_pts, ErrorCode::BadInput,
          name + ": frame times must increase (frame " + std::to_string(written) + " is not after the previous one)");
    last_pts = pts;
    yuv->pts = pts;
    int err = avcodec_send_frame(enc.get(), yuv.get());
    check(err >= 0, ErrorCode::Internal, encoder_name + " rejected frame " + std::to_string(written) + " (" +
                                             av_error_text(err) + ")");
    ++written;
    drain();
  }

  void finish() {
    if (finished) return;
    finished = true;
    if (png_mode) return;
    if (!header_written) return;
    int err = avcodec_send_frame(enc.get(), nullptr);
    check(err >= 0 || err == AVERROR_EOF, ErrorCode::Internal, encoder_name + " flush failed");
    drain();
    // Audio up to the end of the last video frame.
    copy_audio_until(last_pts + std::max<int64_t>(1, pts_of_index(1)), enc->time_base);
    err = av_write_trailer(oc.get());
    check(err >= 0, ErrorCode::Io, "cannot finish " + name + " (" + av_error_text(err) + ")");
    if (oc->pb && !(oc->oformat->flags & AVFMT_NOFILE)) avio_closep(&oc->pb);
  }
};

VideoWriter::VideoWriter(const std::filesystem::path& path, int width, int height, EncodeOptions options)
    : impl_(std::make_unique<Impl>()) {
  init_ffmpeg();
  Impl& m = *impl_;
  m.path = path;
  m.name = path.string();
  m.width = width;
  m.height = height;
  m.opts = std::move(options);
  check(width > 0 && height > 0, ErrorCode::BadInput,
        "video size must be positive (got " + std::to_string(width) + "x" + std::to_string(height) + ")");
  check(m.opts.fps.valid() && m.opts.fps.num <= INT32_MAX && m.opts.fps.den <= INT32_MAX, ErrorCode::BadInput,
        "frame rate must be a positive fraction (got " + m.opts.fps.str() + ")");
  m.opts.fps = m.opts.fps.reduced();
  check(m.opts.time_base.num == 0 || (m.opts.time_base.valid() && m.opts.time_base.den <= INT32_MAX &&
                                      m.opts.time_base.num <= INT32_MAX),
        ErrorCode::BadInput, "time_base must be a positive fraction (got " + m.opts.time_base.str() + ")");
  if (!m.opts.recipe_json.empty()) m.recipe = validated_recipe(m.opts.recipe_json);
  if (m.opts.codec == Codec::Png) {
    m.setup_png();
    return;
  }
  try {
    m.setup_video();
  } catch (...) {
    const bool created = m.oc && m.oc->pb;
    m.oc.reset();
    if (created) {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
    throw;
  }
}

VideoWriter::~VideoWriter() {
  if (!impl_ || impl_->finished) return;
  try {
    impl_->finish();
  } catch (const std::exception& e) {
    std::cerr << "manyfold: finishing " << impl_->name << " failed: " << e.what() << "\n";
  }
}

void VideoWriter::write(const Image& frame) { impl_->write(frame); }
void VideoWriter::write(const Image& frame, Rational time) {
  check(time.den > 0 && !(time < Rational(0)), ErrorCode::BadInput, "frame time must be >= 0 (got " + time.str() + ")");
  if (impl_->png_mode) return impl_->write(frame);
  const AVRational tb = impl_->enc->time_base;
  // pts = time / tb, rounded to the nearest tick.
  const int64_t pts = av_rescale_rnd(time.num, tb.den, time.den * int64_t(tb.num), AV_ROUND_NEAR_INF);
  impl_->write(frame, pts);
}
void VideoWriter::finish() { impl_->finish(); }
int64_t VideoWriter::frames_written() const { return impl_->written; }
std::vector<std::filesystem::path> VideoWriter::outputs() const { return impl_->files; }

void write_png(const std::filesystem::path& path, const Image& image, const std::string& recipe_json) {
  std::string bytes = encode_png(image);
  if (!recipe_json.empty()) bytes = png_with_text(bytes, kPngRecipeKeyword, validated_recipe(recipe_json));
  write_file(path, bytes);
}

void write_video(const std::filesystem::path& path, const std::vector<Image>& frames, EncodeOptions options) {
  check(!frames.empty(), ErrorCode::BadInput, "no frames to write to " + path.string());
  VideoWriter w(path, frames[0].width, frames[0].height, std::move(options));
  for (auto& f : frames) w.write(f);
  w.finish();
}

}  // namespace mf::media
