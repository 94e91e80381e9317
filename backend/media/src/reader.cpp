#include "mf/media/reader.h"

#include <algorithm>
#include <cmath>

#include <opencv2/core.hpp>

#include "av_common.h"

namespace mf::media {

using namespace detail;

namespace {

std::string str_or(const char* s, const char* fallback = "unknown") { return s ? s : fallback; }

std::map<std::string, std::string> dict_to_map(const AVDictionary* d) {
  std::map<std::string, std::string> m;
  const AVDictionaryEntry* e = nullptr;
  while ((e = av_dict_get(d, "", e, AV_DICT_IGNORE_SUFFIX))) m[e->key] = e->value;
  return m;
}

StreamInfo describe_stream(const AVStream* st) {
  StreamInfo s;
  const AVCodecParameters* par = st->codecpar;
  s.index = st->index;
  const char* type = av_get_media_type_string(par->codec_type);
  s.type = type ? type : "data";
  s.codec = str_or(avcodec_get_name(par->codec_id));
  if (const char* prof = avcodec_profile_name(par->codec_id, par->profile)) s.profile = prof;
  if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
    s.width = par->width;
    s.height = par->height;
    auto fmt = static_cast<AVPixelFormat>(par->format);
    s.pixel_format = str_or(av_get_pix_fmt_name(fmt));
    if (const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(fmt)) s.bit_depth = d->comp[0].depth;
    s.color_space = str_or(av_color_space_name(par->color_space));
    s.color_range = str_or(av_color_range_name(par->color_range));
  } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
    s.sample_rate = par->sample_rate;
    s.channels = par->ch_layout.nb_channels;
  }
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0) s.duration_s = st->duration * av_q2d(st->time_base);
  s.metadata = dict_to_map(st->metadata);
  return s;
}

// Rotates an RGB/gray image clockwise by 90/180/270 degrees.
Image rotate_image(const Image& src, int cw) {
  if (cw == 0) return src;
  const int type = src.channels == 1 ? CV_8UC1 : CV_8UC3;
  cv::Mat in(src.height, src.width, type, const_cast<uint8_t*>(src.data.data()), src.stride);
  const bool swap = cw == 90 || cw == 270;
  Image dst = Image::make(swap ? src.height : src.width, swap ? src.width : src.height, src.channels);
  cv::Mat out(dst.height, dst.width, type, dst.data.data(), dst.stride);
  cv::rotate(in, out, cw == 90 ? cv::ROTATE_90_CLOCKWISE : cw == 180 ? cv::ROTATE_180 : cv::ROTATE_90_COUNTERCLOCKWISE);
  return dst;
}

}  // namespace

struct VideoReader::Impl {
  std::filesystem::path path;
  std::string name;  // path as text for messages
  DecodeOptions opts;
  MediaInfo info;

  // Frame index table: presentation timestamps (stream time base) sorted ascending; keyframe indices.
  std::vector<int64_t> pts;
  std::vector<int64_t> keys;
  AVRational tb{1, 1};
  int64_t last_duration = 0;  // of the last frame, in tb
  bool counter_mode = false;  // timestamps unusable: frames are numbered in decode order
  bool seekable = true;       // keyframes other than 0 may be sought to

  // Decoder state.
  InputPtr fmt;
  CodecPtr dec;
  int vs = -1;
  PacketPtr pkt = make_packet();
  FramePtrAv frame = make_frame();
  bool eof_sent = false;
  bool pkt_pending = false;
  int64_t cursor = -1;  // index of the last frame that came out of the decoder
  int64_t seeks = 0;
  int rotation = 0;
  int out_w = 0, out_h = 0;
  ToImage conv;

  // ---- opening -----------------------------------------------------------------------------------
  void open_decoder() {
    fmt = open_input(path);
    vs = -1;
    for (unsigned i = 0; i < fmt->nb_streams; ++i) {
      AVStream* st = fmt->streams[i];
      bool is_video = st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
                      !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
      if (is_video && vs < 0) vs = static_cast<int>(i);
      else st->discard = AVDISCARD_ALL;  // demux only what we decode
    }
    if (vs < 0) {
      int best = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
      if (best >= 0) vs = best;
    }
    check(vs >= 0, ErrorCode::BadInput, name + " has no video stream (is it an audio-only file?)");
    AVStream* st = fmt->streams[vs];
    st->discard = AVDISCARD_DEFAULT;
    const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
    check(codec != nullptr, ErrorCode::Unsupported,
          name + ": this FFmpeg build has no decoder for " + str_or(avcodec_get_name(st->codecpar->codec_id)));
    AVCodecContext* c = avcodec_alloc_context3(codec);
    if (!c) throw Error(ErrorCode::OutOfMemory, "avcodec_alloc_context3 failed");
    dec.reset(c);
    int err = avcodec_parameters_to_context(c, st->codecpar);
    check(err >= 0, ErrorCode::BadFile, name + ": bad codec parameters (" + av_error_text(err) + ")");
    c->pkt_timebase = st->time_base;
    c->thread_count = opts.threads;
    c->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    err = avcodec_open2(c, codec, nullptr);
    check(err >= 0, ErrorCode::BadFile,
          name + ": cannot open the " + codec->name + " decoder (" + av_error_text(err) + ")");
    eof_sent = false;
    pkt_pending = false;
    av_packet_unref(pkt.get());
    cursor = -1;
  }

  // Pulls the next decoded frame into `frame`; false at the end of the stream.
  bool next_raw() {
    for (;;) {
      av_frame_unref(frame.get());
      int r = avcodec_receive_frame(dec.get(), frame.get());
      if (r == 0) return true;
      if (r == AVERROR_EOF) return false;
      if (r != AVERROR(EAGAIN))
        throw Error(ErrorCode::BadFile, name + ": corrupt video data after frame " + std::to_string(cursor) +
                                            " (" + av_error_text(r) + ffmpeg_detail() + ")");
      if (eof_sent) return false;
      if (!pkt_pending) {
        for (;;) {
          r = av_read_frame(fmt.get(), pkt.get());
          if (r == AVERROR_EOF || (r < 0 && fmt->pb && avio_feof(fmt->pb))) break;
          if (r < 0)
            throw Error(ErrorCode::BadFile, name + ": read error after frame " + std::to_string(cursor) + " (" +
                                                av_error_text(r) + ")");
          if (pkt->stream_index == vs) break;
          av_packet_unref(pkt.get());
        }
        if (r < 0) {
          avcodec_send_packet(dec.get(), nullptr);
          eof_sent = true;
          continue;
        }
        pkt_pending = true;
      }
      r = avcodec_send_packet(dec.get(), pkt.get());
      if (r == AVERROR(EAGAIN)) continue;  // drain first, resend the same packet next round
      pkt_pending = false;
      av_packet_unref(pkt.get());
      if (r < 0)
        throw Error(ErrorCode::BadFile, name + ": corrupt video data after frame " + std::to_string(cursor) +
                                            " (" + av_error_text(r) + ffmpeg_detail() + ")");
    }
  }

  // Presentation index of the frame in `frame`; -1 when it precedes the first frame (decoder pre-roll).
  int64_t index_of_current() const {
    if (counter_mode) return cursor + 1;
    int64_t ts = frame->best_effort_timestamp;
    if (ts == AV_NOPTS_VALUE) return cursor + 1;
    auto it = std::lower_bound(pts.begin(), pts.end(), ts);
    if (it != pts.end() && *it == ts) return it - pts.begin();
    if (it == pts.begin()) return -1;
    // Not in the table (should not happen for well-formed files): nearest frame.
    if (it == pts.end()) return static_cast<int64_t>(pts.size()) - 1;
    return (ts - *(it - 1) <= *it - ts) ? (it - 1 - pts.begin()) : (it - pts.begin());
  }

  void build_index() {
    // Pass 1: packet timestamps, no decoding.
    // The header usually declares the streams; otherwise pay for stream probing again.
    InputPtr scan = open_input(path, false);
    const AVCodecParameters* want = fmt->streams[vs]->codecpar;
    if (scan->nb_streams != fmt->nb_streams || scan->streams[vs]->codecpar->codec_id != want->codec_id)
      scan = open_input(path, true);
    int svs = vs;
    for (unsigned i = 0; i < scan->nb_streams; ++i)
      if (static_cast<int>(i) != svs) scan->streams[i]->discard = AVDISCARD_ALL;
    tb = scan->streams[svs]->time_base;
    PacketPtr p = make_packet();
    std::vector<std::pair<int64_t, bool>> entries;  // (pts, key)
    bool missing = false;
    int64_t max_pts = INT64_MIN, dur_at_max = 0;
    for (;;) {
      int r = av_read_frame(scan.get(), p.get());
      if (r == AVERROR_EOF || (r < 0 && scan->pb && avio_feof(scan->pb))) break;
      if (r < 0)
        throw Error(ErrorCode::BadFile, name + ": cannot read packets (" + av_error_text(r) +
                                            "); the file is corrupt or truncated");
      if (p->stream_index == svs && !(p->flags & AV_PKT_FLAG_DISCARD)) {
        if (p->pts == AV_NOPTS_VALUE) missing = true;
        entries.emplace_back(p->pts, (p->flags & AV_PKT_FLAG_KEY) != 0);
        if (p->pts != AV_NOPTS_VALUE && p->pts > max_pts) {
          max_pts = p->pts;
          dur_at_max = p->duration;
        }
      }
      av_packet_unref(p.get());
    }
    scan.reset();
    if (!missing) {
      std::sort(entries.begin(), entries.end());
      for (auto& e : entries) {
        if (!pts.empty() && pts.back() == e.first) continue;  // duplicate timestamps: one frame
        if (e.second) keys.push_back(static_cast<int64_t>(pts.size()));
        pts.push_back(e.first);
      }
      last_duration = dur_at_max;
    } else {
      // Pass 2 (AVI with B-frames, raw streams): decode once and use the decoder's timestamps.
      bool usable = true;
      std::vector<std::pair<int64_t, bool>> fr;
      while (next_raw()) {
        ++cursor;
        if (frame->best_effort_timestamp == AV_NOPTS_VALUE) usable = false;
        fr.emplace_back(frame->best_effort_timestamp, frame->key_frame != 0);
      }
      std::vector<int64_t> sorted;
      for (auto& f : fr) sorted.push_back(f.first);
      std::sort(sorted.begin(), sorted.end());
      if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) usable = false;
      if (usable) {
        pts = sorted;
        for (auto& f : fr)
          if (f.second) keys.push_back(std::lower_bound(pts.begin(), pts.end(), f.first) - pts.begin());
        std::sort(keys.begin(), keys.end());
      } else {
        counter_mode = true;
        for (size_t i = 0; i < fr.size(); ++i) pts.push_back(static_cast<int64_t>(i));
      }
      open_decoder();  // rewind
    }
    check(!pts.empty(), ErrorCode::BadFile, name + " contains no video frames (empty or truncated stream)");
    const AVCodecID id = fmt->streams[vs]->codecpar->codec_id;
    // GIF/APNG frames build on the previous canvas: only the first frame is a real entry point.
    if (counter_mode || id == AV_CODEC_ID_GIF || id == AV_CODEC_ID_APNG) {
      keys.clear();
      seekable = false;
    }
    if (keys.empty() || keys.front() != 0) keys.insert(keys.begin(), 0);
  }

  void fill_info() {
    info.path = path.string();
    info.container = str_or(fmt->iformat ? fmt->iformat->name : nullptr);
    info.metadata = dict_to_map(fmt->metadata);
    for (unsigned i = 0; i < fmt->nb_streams; ++i) {
      info.streams.push_back(describe_stream(fmt->streams[i]));
      if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) info.has_audio = true;
    }
    info.video_stream = vs;
    AVStream* st = fmt->streams[vs];
    info.codec = info.streams[vs].codec;
    rotation = stream_rotation(st);
    info.rotation = rotation;
    const int cw = st->codecpar->width, ch = st->codecpar->height;
    check(cw > 0 && ch > 0, ErrorCode::BadFile, name + ": the video stream has no picture size");
    const bool swap = rotation == 90 || rotation == 270;
    info.width = swap ? ch : cw;
    info.height = swap ? cw : ch;
    info.frame_count = static_cast<int64_t>(pts.size());

    AVRational r = st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0 ? st->avg_frame_rate : st->r_frame_rate;
    if (r.num > 0 && r.den > 0) info.fps = Rational(r.num, r.den).reduced();
    if (counter_mode) {
      if (!info.fps.valid()) info.fps = Rational(25, 1);
      tb = AVRational{static_cast<int>(info.fps.den), static_cast<int>(info.fps.num)};
      last_duration = 1;
    } else if (pts.size() >= 2) {
      const double span = (pts.back() - pts.front()) * av_q2d(tb);
      const double measured = (pts.size() - 1) / span;
      if (!info.fps.valid() || std::fabs(info.fps.to_double() - measured) > 0.02 * measured) {
        AVRational q = av_d2q(measured, 1000000);
        info.fps = Rational(q.num, q.den).reduced();
      }
      int64_t dmin = INT64_MAX, dmax = 0;
      for (size_t i = 1; i < pts.size(); ++i) {
        dmin = std::min(dmin, pts[i] - pts[i - 1]);
        dmax = std::max(dmax, pts[i] - pts[i - 1]);
      }
      // One tick of slack: timestamps rounded to a coarse time base (1/1000 in MKV) jitter by one.
      info.variable_frame_rate = dmax - dmin > 1;
    }
    if (last_duration <= 0) {
      last_duration = info.fps.valid() ? av_rescale_q(1, AVRational{int(info.fps.den), int(info.fps.num)}, tb) : 1;
      if (last_duration <= 0) last_duration = 1;
    }
    info.duration_s = (pts.back() - pts.front() + last_duration) * av_q2d(tb);
    const std::string iname = info.container;
    info.is_image = pts.size() == 1 &&
                    (iname.find("image2") != std::string::npos || iname.find("_pipe") != std::string::npos);
    info.recipe = recipe_of(path, fmt.get());

    // Output size.
    out_w = opts.width;
    out_h = opts.height;
    const int dw = opts.apply_rotation ? info.width : cw, dh = opts.apply_rotation ? info.height : ch;
    if (out_w <= 0 && out_h <= 0) {
      out_w = dw;
      out_h = dh;
    } else if (out_w <= 0) {
      out_w = std::max(1, static_cast<int>(std::lround(double(out_h) * dw / dh)));
    } else if (out_h <= 0) {
      out_h = std::max(1, static_cast<int>(std::lround(double(out_w) * dh / dw)));
    }
    if (!opts.apply_rotation) rotation = 0;
  }

  // ---- access ------------------------------------------------------------------------------------
  Image convert_current() {
    const bool swap = rotation == 90 || rotation == 270;
    Image img = conv.convert(frame.get(), opts.format, swap ? out_h : out_w, swap ? out_w : out_h,
                             fmt->streams[vs]->codecpar);
    return rotate_image(img, rotation);
  }

  Rational time_of(int64_t i) const {
    return Rational((pts[i] - pts.front()) * tb.num, tb.den).reduced();
  }

  int64_t keyframe_at_or_before(int64_t i) const {
    auto it = std::upper_bound(keys.begin(), keys.end(), i);
    return it == keys.begin() ? 0 : *(it - 1);
  }

  void rewind() {
    open_decoder();
    ++seeks;
  }

  void seek_to_key(int64_t k) {
    ++seeks;
    if (k == 0 || !seekable) {
      int r = seekable ? av_seek_frame(fmt.get(), vs, pts[0], AVSEEK_FLAG_BACKWARD) : -1;
      if (r < 0) {
        open_decoder();
        return;
      }
    } else {
      int r = av_seek_frame(fmt.get(), vs, pts[k], AVSEEK_FLAG_BACKWARD);
      if (r < 0) {
        open_decoder();
        return;
      }
    }
    avcodec_flush_buffers(dec.get());
    av_packet_unref(pkt.get());
    pkt_pending = false;
    eof_sent = false;
    cursor = k - 1;
  }

  // Decodes forward to frame `target`; returns false if the stream passed it or ended without it.
  const std::function<void(DecodedFrame&&)>* on_passed = nullptr;
  int64_t keep_from = INT64_MAX;

  bool decode_until(int64_t target, bool* overshot) {
    *overshot = false;
    while (next_raw()) {
      int64_t idx = index_of_current();
      if (idx < 0) continue;
      cursor = idx;
      if (idx == target) return true;
      if (on_passed && *on_passed && idx >= keep_from && idx < target) {
        DecodedFrame passed;
        passed.image = convert_current();
        passed.index = idx;
        passed.time = time_of(idx);
        (*on_passed)(std::move(passed));
      }
      if (idx > target) {
        *overshot = true;
        return false;
      }
    }
    return false;
  }

  DecodedFrame frame_at_index(int64_t index) {
    check(index >= 0 && index < static_cast<int64_t>(pts.size()), ErrorCode::BadInput,
          name + ": frame " + std::to_string(index) + " is out of range (the clip has " +
              std::to_string(pts.size()) + " frames)");
    const int64_t k = keyframe_at_or_before(index);
    // Decode forward when that is no more work than seeking (sequential playback never seeks).
    const bool forward = cursor < index && (k <= cursor + 1 || index - cursor <= index - k + 8);
    bool overshot = false;
    bool found = false;
    if (forward) found = decode_until(index, &overshot);
    if (!found) {
      // Seek to the keyframe; if the demuxer lands after the target, step back one keyframe at a time.
      auto it = std::upper_bound(keys.begin(), keys.end(), index);
      int attempts = 0;
      while (!found && it != keys.begin() && attempts < 3) {
        --it;
        seek_to_key(*it);
        found = decode_until(index, &overshot);
        if (!overshot) break;
        ++attempts;
      }
      if (!found && overshot) {
        rewind();
        found = decode_until(index, &overshot);
      }
    }
    check(found, ErrorCode::BadFile,
          name + ": frame " + std::to_string(index) + " could not be decoded (the file is truncated or corrupt)");
    DecodedFrame out;
    out.image = convert_current();
    out.index = index;
    out.time = time_of(index);
    return out;
  }
};

VideoReader::VideoReader(const std::filesystem::path& path, DecodeOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->name = path.string();
  impl_->opts = options;
  impl_->conv = ToImage(options.fast_color);
  impl_->open_decoder();
  impl_->build_index();
  impl_->fill_info();
}

VideoReader::~VideoReader() = default;
VideoReader::VideoReader(VideoReader&&) noexcept = default;
VideoReader& VideoReader::operator=(VideoReader&&) noexcept = default;

const MediaInfo& VideoReader::info() const { return impl_->info; }
int64_t VideoReader::frame_count() const { return impl_->info.frame_count; }
Rational VideoReader::fps() const { return impl_->info.fps; }
int VideoReader::width() const { return impl_->out_w; }
int VideoReader::height() const { return impl_->out_h; }
int64_t VideoReader::seek_count() const { return impl_->seeks; }
const std::vector<int64_t>& VideoReader::keyframes() const { return impl_->keys; }

bool VideoReader::read(DecodedFrame& out) {
  Impl& m = *impl_;
  while (m.next_raw()) {
    int64_t idx = m.index_of_current();
    if (idx < 0 || idx <= m.cursor) continue;  // pre-roll or a frame already returned
    m.cursor = idx;
    out.image = m.convert_current();
    out.index = idx;
    out.time = m.time_of(idx);
    return true;
  }
  return false;
}

DecodedFrame VideoReader::frame(int64_t index) { return impl_->frame_at_index(index); }

DecodedFrame VideoReader::frame(int64_t index, const std::function<void(DecodedFrame&&)>& on_passed,
                                int64_t keep_from) {
  struct Reset {
    Impl& m;
    ~Reset() {
      m.on_passed = nullptr;
      m.keep_from = INT64_MAX;
    }
  } reset{*impl_};
  impl_->on_passed = &on_passed;
  impl_->keep_from = keep_from;
  return impl_->frame_at_index(index);
}

DecodedFrame VideoReader::frame_at(Rational t) { return impl_->frame_at_index(index_at(t)); }

int64_t VideoReader::index_at(Rational t) const {
  const Impl& m = *impl_;
  check(t.den != 0 && !(t < Rational(0)), ErrorCode::BadInput,
        m.name + ": time " + t.str() + " s is negative or undefined");
  check(t.to_double() < m.info.duration_s + 1e-9, ErrorCode::BadInput,
        m.name + ": time " + t.str() + " s is past the end of the clip (" + std::to_string(m.info.duration_s) + " s)");
  // Last frame whose time <= t, compared exactly: (pts-pts0)*tb.num*t.den <= t.num*tb.den.
  const int64_t p0 = m.pts.front();
  auto le = [&](int64_t p) {
    return static_cast<__int128>(p - p0) * m.tb.num * t.den <= static_cast<__int128>(t.num) * m.tb.den;
  };
  int64_t lo = 0, hi = static_cast<int64_t>(m.pts.size());  // first index with !le
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (le(m.pts[mid])) lo = mid + 1;
    else hi = mid;
  }
  return std::max<int64_t>(0, lo - 1);
}

Rational VideoReader::time_of(int64_t index) const {
  check(index >= 0 && index < frame_count(), ErrorCode::BadInput,
        impl_->name + ": frame " + std::to_string(index) + " is out of range");
  return impl_->time_of(index);
}

std::vector<double> VideoReader::frame_times() const {
  std::vector<double> t;
  t.reserve(impl_->pts.size());
  for (int64_t p : impl_->pts) t.push_back((p - impl_->pts.front()) * av_q2d(impl_->tb));
  return t;
}

MediaInfo probe(const std::filesystem::path& path) { return VideoReader(path).info(); }

Image read_image(const std::filesystem::path& path, PixelFormat format) {
  DecodeOptions o;
  o.format = format;
  VideoReader r(path, o);
  DecodedFrame f;
  check(r.read(f), ErrorCode::BadFile, path.string() + ": no picture could be decoded");
  return std::move(f.image);
}

std::vector<Image> read_frames(const std::filesystem::path& path, DecodeOptions options, int64_t count) {
  VideoReader r(path, options);
  std::vector<Image> out;
  DecodedFrame f;
  while ((count < 0 || static_cast<int64_t>(out.size()) < count) && r.read(f)) out.push_back(std::move(f.image));
  return out;
}

}  // namespace mf::media
