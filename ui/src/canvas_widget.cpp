#include "mf/ui/canvas_widget.h"

#include <cstring>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include <QCursor>
#include <QElapsedTimer>
#include <QMouseEvent>
#include <QPainter>
#include <QRadialGradient>
#include <QWheelEvent>

#include "mf/media/mask.h"
#include "mf/media/frame_cache.h"
#include "mf/media/reader.h"
#include "mf/project/commands.h"
#include "mf/project/selection.h"
#include "mf/project/session.h"

namespace mf::ui {

namespace proj = mf::project;

CanvasWidget::CanvasWidget(QWidget* parent) : QWidget(parent) {
  setMinimumSize(320, 180);
  flow_poll_.setSingleShot(true);
  flow_poll_.setInterval(10);
  connect(&flow_poll_, &QTimer::timeout, this, [this] { poll_flow(); });
  setMouseTracking(true);
  setFocusPolicy(Qt::ClickFocus);
  setAutoFillBackground(false);
}

CanvasWidget::~CanvasWidget() {
  if (flow_job_.valid()) flow_job_.wait();  // the worker only touches its own copies; let it end first
}

void CanvasWidget::set_session(proj::ProjectSession* session) {
  if (flow_job_.valid()) flow_job_.wait();
  flow_job_ = {};
  flow_queued_.reset();
  flow_cache_.clear();
  session_ = session;
  caches_.clear();
  timeline_frame_ = 0;
  reload();
}

void CanvasWidget::set_frame(std::int64_t timeline_frame) {
  timeline_frame_ = std::max<std::int64_t>(timeline_frame, 0);
  reload();
}

void CanvasWidget::refresh() { reload(); }

void CanvasWidget::set_brush_size(int px) { brush_size_ = std::clamp(px, 1, 1000); update(); }

void CanvasWidget::set_onion_skin(bool on) {
  onion_ = on;
  reload();
}

void CanvasWidget::reset_view() { zoom_ = 1.0; pan_ = {}; update(); }

namespace {
QImage to_qimage(const mf::media::Image& img) {
  if (img.empty()) return {};
  QImage q(img.data.data(), img.width, img.height, static_cast<qsizetype>(img.stride),
           img.channels == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
  return q.copy();  // own the pixels
}

// A Grayscale8 QImage as a single-channel media image.
mf::media::Image to_media(const QImage& gray) {
  auto im = mf::media::Image::make(gray.width(), gray.height(), 1);
  for (int y = 0; y < gray.height(); ++y) std::memcpy(im.row(y), gray.constScanLine(y), static_cast<size_t>(gray.width()));
  return im;
}
}  // namespace

namespace {
// Writes the milliseconds of its own lifetime into `out` (the diagnostics overlay's paint/fetch times).
struct ScopedMs {
  explicit ScopedMs(double& o) : out(o) { timer.start(); }
  ~ScopedMs() { out = static_cast<double>(timer.nsecsElapsed()) * 1e-6; }
  double& out;
  QElapsedTimer timer;
};
}  // namespace

mf::media::FrameCacheStats CanvasWidget::cache_stats() const {
  mf::media::FrameCacheStats sum;
  for (const auto& [path, cache] : caches_) {
    if (!cache) continue;
    const auto s = cache->stats();
    sum.bytes += s.bytes;
    sum.frames += s.frames;
    sum.thumbnails += s.thumbnails;
    sum.hits += s.hits;
    sum.misses += s.misses;
    sum.decoded += s.decoded;
    sum.evicted += s.evicted;
    sum.dropped += s.dropped;
  }
  return sum;
}

void CanvasWidget::reload() {
  const ScopedMs timed(load_ms_);
  clip_id_.clear();
  source_frame_ = -1;
  frame_ = QImage();
  mask_ = QImage();
  onion_prev_ = onion_next_ = QImage();
  if (!session_) { update(); return; }
  const proj::Project& doc = session_->document();
  const proj::Clip* clip = nullptr;
  // Top-most visible track wins.
  for (auto t = doc.timeline.tracks.rbegin(); t != doc.timeline.tracks.rend() && !clip; ++t) {
    if (t->hidden) continue;
    for (const auto& c : t->clips)
      if (c.timeline_range().contains(timeline_frame_)) { clip = &c; break; }
  }
  if (!clip) { update(); return; }
  clip_id_ = clip->id;
  source_frame_ = clip->source_frame_at(timeline_frame_);
  if (const proj::MediaItem* media = doc.find_media(clip->media_id)) {
    const std::string path = session_->to_absolute(media->path).string();
    try {
      if (media->kind == proj::MediaKind::Image) {
        frame_ = to_qimage(mf::media::read_image(path));
      } else {
        auto& cache = caches_[path];
        if (!cache) cache = std::make_unique<mf::media::FrameCache>(path);
        cache->set_playhead(source_frame_);
        auto req = cache->request(source_frame_);
        mf::media::FramePtr f = req.exact ? req.frame : (req.pending.valid() ? req.pending.get() : req.frame);
        if (f) frame_ = to_qimage(*f);
        if (onion_) {
          auto neighbour = [&](int64_t sf) -> QImage {
            if (sf < clip->source_in || sf >= clip->source_out || sf >= media->frame_count) return {};
            auto r = cache->request(sf);
            mf::media::FramePtr nf = r.exact ? r.frame : (r.pending.valid() ? r.pending.get() : r.frame);
            return nf ? to_qimage(*nf) : QImage();
          };
          onion_prev_ = neighbour(source_frame_ - 1);
          onion_next_ = neighbour(source_frame_ + 1);
        }
      }
    } catch (const std::exception& e) {
      Q_EMIT status_message(QString("Cannot show %1: %2").arg(QString::fromStdString(path), e.what()));
    }
  }
  if (frame_.isNull()) {
    frame_ = QImage(std::max(doc.resolution.width, 16), std::max(doc.resolution.height, 16), QImage::Format_RGB888);
    frame_.fill(QColor(20, 20, 20));
  }
  mask_ = QImage(frame_.size(), QImage::Format_Grayscale8);
  mask_.fill(255);  // keep everything until painted
  mask_kind_ = proj::MaskSampleKind::None;
  shown_flow_key_.clear();
  for (const proj::MaskTrack* mt : doc.mask_tracks_for_clip(clip->id)) {
    // The mask track's own rules (painted, held, none, or propagated with optical flow), as the job exports them.
    const proj::MaskSample sample = proj::sample_mask(*mt, source_frame_);
    mask_kind_ = sample.kind;
    auto load = [&](const std::string& rel) {
      QImage m(QString::fromStdString(session_->to_absolute(rel).string()));
      return m.isNull() ? m : m.convertToFormat(QImage::Format_Grayscale8).scaled(frame_.size());
    };
    if (sample.kind == proj::MaskSampleKind::Painted || sample.kind == proj::MaskSampleKind::Held) {
      const QImage m = load(sample.path);
      if (!m.isNull()) mask_ = m;
    } else if (sample.kind == proj::MaskSampleKind::Interpolated) {
      const QImage ma = load(sample.path), mb = load(sample.path_b);
      if (!ma.isNull() && !mb.isNull()) {
        // Optical flow takes tens to hundreds of milliseconds: look it up, or show frame_a's mask until a worker
        // has propagated it (finish_flow() waits for it when the user paints on the frame meanwhile).
        const std::string key = session_->to_absolute(sample.path).string() + "|" +
                                session_->to_absolute(sample.path_b).string() + "|" +
                                std::to_string(sample.frame_a) + "|" + std::to_string(sample.frame_b) + "|" +
                                std::to_string(source_frame_) + "|" + std::to_string(frame_.width()) + "x" +
                                std::to_string(frame_.height());
        shown_flow_key_ = key;
        if (auto hit = flow_cache_.find(key); hit != flow_cache_.end()) {
          mask_ = hit->second;
        } else {
          mask_ = ma;
          start_flow({key, clip->media_id, sample.frame_a, ma, sample.frame_b, mb, sample.t});
        }
      }
    }
    break;  // the first mask track of the clip is the one painted here
  }
  update();
}

mf::media::Image CanvasWidget::decoded_frame(const std::string& media_id, std::int64_t f) {
  const proj::MediaItem* media = session_->document().find_media(media_id);
  if (!media) throw std::runtime_error("the clip's media is missing from the project");
  const std::string path = session_->to_absolute(media->path).string();
  auto& cache = caches_[path];
  if (!cache) cache = std::make_unique<mf::media::FrameCache>(path);
  auto r = cache->request(f);
  mf::media::FramePtr fp = r.exact ? r.frame : (r.pending.valid() ? r.pending.get() : r.frame);
  if (!fp) throw std::runtime_error("frame " + std::to_string(f) + " could not be decoded");
  return *fp;
}

void CanvasWidget::start_flow(FlowRequest rq) {
  if (flow_job_.valid()) {
    if (flow_job_key_ == rq.key) return;  // already on it
    // One propagation at a time: remember only the newest request (scrubbing skips the frames in between).
    flow_queued_ = std::move(rq);
    return;
  }
  try {
    // Decoding stays here (the frame caches are not shared with workers); the worker gets its own copies.
    mf::media::Image fa = decoded_frame(rq.media_id, rq.frame_a), fb = decoded_frame(rq.media_id, rq.frame_b),
                     ft = decoded_frame(rq.media_id, source_frame_);
    mf::media::Image ma = to_media(rq.mask_a), mb = to_media(rq.mask_b);
    const double t = rq.t;
    flow_job_key_ = rq.key;
    flow_job_ = std::async(std::launch::async, [fa = std::move(fa), ma = std::move(ma), fb = std::move(fb),
                                                mb = std::move(mb), ft = std::move(ft), t] {
      return to_qimage(mf::media::interpolate_mask_flow(fa, ma, fb, mb, ft, t)).convertToFormat(QImage::Format_Grayscale8);
    });
    flow_poll_.start();
  } catch (const std::exception& e) {
    flow_failed(rq.key, e.what());
  }
}

void CanvasWidget::flow_failed(const std::string& key, const char* why) {
  // The frame keeps showing frame a's mask (already in mask_) and stops waiting for a propagation that will not
  // come: without this, mask_pending() stayed true and every paint retried the failing propagation. The key is
  // not cached, so showing the frame again later tries once more (a frame that failed to decode may decode then).
  if (key == shown_flow_key_) {
    shown_flow_key_.clear();
    update();
  }
  Q_EMIT status_message(QString("Cannot propagate the mask to this frame (showing the nearest painted mask): %1")
                            .arg(QString::fromUtf8(why)));
}

void CanvasWidget::poll_flow() {
  if (!flow_job_.valid()) return;
  if (flow_job_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    flow_poll_.start();
    return;
  }
  take_flow_result();
  if (flow_queued_) {
    FlowRequest q = std::move(*flow_queued_);
    flow_queued_.reset();
    if (q.key == shown_flow_key_ && !flow_cache_.count(q.key)) start_flow(std::move(q));
  }
}

void CanvasWidget::take_flow_result() {
  const std::string key = flow_job_key_;
  try {
    QImage out = flow_job_.get();
    if (flow_cache_.size() >= 32) flow_cache_.clear();  // a few scrubs' worth; masks are cheap to recompute
    flow_cache_[key] = out;
    if (key == shown_flow_key_ && !stroking_) {
      mask_ = out;
      update();
    }
  } catch (const std::exception& e) {
    flow_failed(key, e.what());
  }
  flow_job_ = {};
  flow_job_key_.clear();
}

void CanvasWidget::finish_flow() {
  if (shown_flow_key_.empty() || flow_cache_.count(shown_flow_key_)) return;
  if (flow_job_.valid() && flow_job_key_ != shown_flow_key_) take_flow_result();  // an older frame's: drop in
  if (!flow_job_.valid() && flow_queued_ && flow_queued_->key == shown_flow_key_) {
    FlowRequest q = std::move(*flow_queued_);
    flow_queued_.reset();
    start_flow(std::move(q));
  }
  if (flow_job_.valid() && flow_job_key_ == shown_flow_key_) take_flow_result();
}

bool CanvasWidget::mask_pending() const {
  return !shown_flow_key_.empty() && !flow_cache_.count(shown_flow_key_);
}

double CanvasWidget::fit_scale() const {
  if (frame_.isNull()) return 1.0;
  return std::min(width() / double(frame_.width()), height() / double(frame_.height()));
}

QPointF CanvasWidget::image_to_widget(QPointF p) const {
  const double s = fit_scale() * zoom_;
  const QPointF origin(width() / 2.0 - frame_.width() * s / 2.0, height() / 2.0 - frame_.height() * s / 2.0);
  return origin + pan_ + p * s;
}

QPointF CanvasWidget::widget_to_image(QPointF p) const {
  const double s = fit_scale() * zoom_;
  const QPointF origin(width() / 2.0 - frame_.width() * s / 2.0, height() / 2.0 - frame_.height() * s / 2.0);
  return (p - origin - pan_) / s;
}

void CanvasWidget::paintEvent(QPaintEvent*) {
  const ScopedMs timed(paint_ms_);
  QPainter p(this);
  p.fillRect(rect(), QColor(18, 18, 20));
  if (frame_.isNull()) {
    p.setPen(QColor(120, 120, 125));
    p.drawText(rect(), Qt::AlignCenter, session_ ? "No clip under the playhead" : "Open or create a project");
    return;
  }
  const QRectF target(image_to_widget({0, 0}), image_to_widget(QPointF(frame_.width(), frame_.height())));
  p.setRenderHint(QPainter::SmoothPixmapTransform, zoom_ < 2.0);
  p.drawImage(target, frame_);
  if (onion_) {
    p.setOpacity(0.3);
    if (!onion_prev_.isNull()) p.drawImage(target, onion_prev_);
    if (!onion_next_.isNull()) p.drawImage(target, onion_next_);
    p.setOpacity(1.0);
  }
  if (!mask_.isNull()) {
    // Regenerate (black in the mask) = translucent red with a diagonal hatch; keep stays untouched.
    QImage overlay(mask_.size(), QImage::Format_ARGB32_Premultiplied);
    for (int y = 0; y < mask_.height(); ++y) {
      const uchar* m = mask_.constScanLine(y);
      auto* o = reinterpret_cast<QRgb*>(overlay.scanLine(y));
      for (int x = 0; x < mask_.width(); ++x) {
        const int regen = 255 - m[x];
        const int a = regen * (((x + y) / 6) % 2 ? 140 : 80) / 255;
        o[x] = qPremultiply(qRgba(230, 40, 40, a));
      }
    }
    p.drawImage(target, overlay);
  }
  p.setPen(QPen(QColor(90, 90, 95), 1));
  p.drawRect(target);
  if (mask_pending()) {
    p.setPen(QColor(230, 200, 120));
    p.drawText(target.adjusted(6, 4, -6, -4), Qt::AlignLeft | Qt::AlignTop, "propagating mask…");
  }
  if (shaping_) {
    p.setPen(QPen(QColor(255, 90, 90), 1, Qt::DashLine));
    p.setBrush(Qt::NoBrush);
    const QRectF r = QRectF(image_to_widget(shape_start_), image_to_widget(shape_end_)).normalized();
    if (tool_ == MaskTool::Ellipse) p.drawEllipse(r);
    else p.drawRect(r);
  }
  // Brush outline under the cursor.
  const QPointF c = mapFromGlobal(QCursor::pos());
  if (rect().contains(c.toPoint()) && (tool_ == MaskTool::Brush || tool_ == MaskTool::Eraser)) {
    const double r = brush_size_ / 2.0 * fit_scale() * zoom_;
    p.setPen(QPen(tool_ == MaskTool::Brush ? QColor(255, 90, 90) : QColor(220, 220, 220), 1));
    p.drawEllipse(c, r, r);
  }
}

void CanvasWidget::stamp(QPointF from, QPointF to) {
  if (mask_.isNull()) return;
  if (stroke_cov_.size() != mask_.size()) {  // a stamp outside a press (programmatic): a one-dab stroke
    stroke_base_ = mask_.copy();
    stroke_cov_ = QImage(mask_.size(), QImage::Format_Grayscale8);
    stroke_cov_.fill(0);
  }
  // Coverage of the stroke so far (max of the dabs, so overlapping dabs never exceed the opacity): dabs every
  // quarter brush along the segment, each a disc that is solid up to `hardness` of its radius and falls off to 0
  // at the edge.
  const double r = std::max(0.5, brush_size_ / 2.0);
  {
    QPainter p(&stroke_cov_);
    p.setRenderHint(QPainter::Antialiasing, true);
    p.setCompositionMode(QPainter::CompositionMode_Lighten);
    p.setPen(Qt::NoPen);
    const double len = std::hypot(to.x() - from.x(), to.y() - from.y());
    const int n = std::max(1, static_cast<int>(std::ceil(len / std::max(1.0, r / 2.0))));
    for (int i = 0; i <= n; ++i) {
      const QPointF c = from + (to - from) * (static_cast<double>(i) / n);
      if (hardness_ >= 0.999) {
        p.setBrush(QColor(255, 255, 255));
      } else {
        QRadialGradient g(c, r);
        g.setColorAt(0.0, QColor(255, 255, 255));
        g.setColorAt(std::clamp(hardness_, 0.0, 0.999), QColor(255, 255, 255));
        g.setColorAt(1.0, QColor(0, 0, 0));
        p.setBrush(g);
      }
      p.drawEllipse(c, r, r);
    }
  }
  // mask = base moved toward the tool's value by coverage x opacity, in the segment's bounding box.
  const int target = tool_ == MaskTool::Brush ? 0 : 255;
  const QRect box = QRectF(from, to).normalized().adjusted(-r - 2, -r - 2, r + 2, r + 2).toAlignedRect() &
                    QRect(QPoint(0, 0), mask_.size());
  for (int y = box.top(); y <= box.bottom(); ++y) {
    const uchar* base = stroke_base_.constScanLine(y);
    const uchar* cov = stroke_cov_.constScanLine(y);
    uchar* out = mask_.scanLine(y);
    for (int x = box.left(); x <= box.right(); ++x) {
      const double a = opacity_ * cov[x] / 255.0;
      out[x] = static_cast<uchar>(std::lround(base[x] + (target - base[x]) * a));
    }
  }
}

void CanvasWidget::set_brush_hardness(double h) { hardness_ = std::clamp(h, 0.0, 1.0); }
void CanvasWidget::set_brush_opacity(double o) { opacity_ = std::clamp(o, 0.01, 1.0); }

void CanvasWidget::fill_shape(QPointF a, QPointF b, bool keep) {
  if (mask_.isNull()) return;
  QPainter p(&mask_);
  p.setRenderHint(QPainter::Antialiasing, true);
  p.setPen(Qt::NoPen);
  p.setBrush(keep ? QColor(255, 255, 255) : QColor(0, 0, 0));
  const QRectF r = QRectF(a, b).normalized();
  if (tool_ == MaskTool::Ellipse) p.drawEllipse(r);
  else p.drawRect(r);
}


bool CanvasWidget::apply_mask_op(MaskOp op, int amount) {
  if (mask_.isNull() || clip_id_.empty()) return false;
  finish_flow();  // edit the propagated mask, not the placeholder
  switch (op) {
    case MaskOp::Invert: mask_.invertPixels(); break;
    case MaskOp::KeepAll: mask_.fill(255); break;
    case MaskOp::RegenerateAll: mask_.fill(0); break;
    // Grow/shrink act on the regenerate (black) area, i.e. the opposite way on the white "keep" pixels.
    case MaskOp::Grow: mask_ = to_qimage(mf::media::grow_shrink(to_media(mask_), -std::max(1, amount))); break;
    case MaskOp::Shrink: mask_ = to_qimage(mf::media::grow_shrink(to_media(mask_), std::max(1, amount))); break;
    case MaskOp::Feather: mask_ = to_qimage(mf::media::feather(to_media(mask_), std::max(1, amount))); break;
  }
  commit_stroke();
  return true;
}

void CanvasWidget::mousePressEvent(QMouseEvent* e) {
  if (e->button() == Qt::MiddleButton || (e->button() == Qt::LeftButton && e->modifiers().testFlag(Qt::AltModifier))) {
    panning_ = true;
    last_widget_pt_ = e->position();
    return;
  }
  if (e->button() != Qt::LeftButton || mask_.isNull()) return;
  finish_flow();  // paint on the propagated mask, not the placeholder
  if (tool_ == MaskTool::Rectangle || tool_ == MaskTool::Ellipse) {
    shaping_ = true;
    shape_start_ = shape_end_ = widget_to_image(e->position());
    update();
    return;
  }
  stroking_ = true;
  stroke_base_ = mask_.copy();
  stroke_cov_ = QImage(mask_.size(), QImage::Format_Grayscale8);
  stroke_cov_.fill(0);
  last_image_pt_ = widget_to_image(e->position());
  stamp(last_image_pt_, last_image_pt_);
  update();
}

void CanvasWidget::mouseMoveEvent(QMouseEvent* e) {
  if (panning_) {
    pan_ += e->position() - last_widget_pt_;
    last_widget_pt_ = e->position();
  } else if (shaping_) {
    shape_end_ = widget_to_image(e->position());
  } else if (stroking_) {
    const QPointF pt = widget_to_image(e->position());
    stamp(last_image_pt_, pt);
    last_image_pt_ = pt;
  }
  update();
}

void CanvasWidget::mouseReleaseEvent(QMouseEvent* e) {
  if (panning_) { panning_ = false; return; }
  if (shaping_ && e->button() == Qt::LeftButton) {
    shaping_ = false;
    shape_end_ = widget_to_image(e->position());
    fill_shape(shape_start_, shape_end_, e->modifiers().testFlag(Qt::ShiftModifier));
    commit_stroke();
    return;
  }
  if (!stroking_ || e->button() != Qt::LeftButton) return;
  stroking_ = false;
  stamp(last_image_pt_, widget_to_image(e->position()));
  commit_stroke();
}

void CanvasWidget::commit_stroke() {
  stroke_base_ = QImage();
  stroke_cov_ = QImage();
  if (!session_ || clip_id_.empty() || mask_.isNull()) return;
  try {
    const proj::Project& doc = session_->document();
    auto tracks = doc.mask_tracks_for_clip(clip_id_);
    auto& stack = session_->undo_stack();
    const QImage painted = mask_;  // the push below reloads mask_ from the document
    stack.begin_macro("Paint mask");
    try {
      std::string track_id;
      if (tracks.empty()) {
        auto& add = session_->push(std::make_unique<proj::AddMaskTrack>(clip_id_, "Mask"));
        track_id = add.mask_track_id();
      } else {
        track_id = tracks.front()->id;
      }
      const std::string rel = session_->new_mask_path(track_id, source_frame_);
      const std::filesystem::path abs = session_->to_absolute(rel);
      std::filesystem::create_directories(abs.parent_path());
      if (!painted.save(QString::fromStdString(abs.string()), "PNG"))
        throw std::runtime_error("cannot write " + abs.string());
      session_->push(std::make_unique<proj::SetMaskKeyframe>(track_id, source_frame_, rel));
      stack.end_macro();
    } catch (...) {
      stack.abort_macro();
      throw;
    }
  } catch (const std::exception& e) {
    Q_EMIT status_message(QString("Mask not saved: %1").arg(e.what()));
  }
  reload();
}

void CanvasWidget::wheelEvent(QWheelEvent* e) {
  const QPointF before = widget_to_image(e->position());
  zoom_ = std::clamp(zoom_ * (e->angleDelta().y() > 0 ? 1.15 : 1 / 1.15), 0.1, 32.0);
  // Keep the image point under the cursor fixed.
  pan_ += e->position() - image_to_widget(before);
  update();
}

}  // namespace mf::ui
