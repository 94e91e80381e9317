#include "mf/ui/timeline_widget.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>

#include <algorithm>
#include <cmath>

#include <QMouseEvent>
#include <QPainter>
#include <QTimer>
#include <QWheelEvent>

#include "mf/media/frame_cache.h"
#include "mf/media/reader.h"

#include "mf/project/commands.h"
#include "mf/project/session.h"

namespace mf::ui {

namespace proj = mf::project;

TimelineWidget::TimelineWidget(QWidget* parent) : QWidget(parent) {
  setAcceptDrops(true);
  setMinimumHeight(140);
  setMouseTracking(true);
  setFocusPolicy(Qt::ClickFocus);
}

void TimelineWidget::set_session(proj::ProjectSession* session) {
  session_ = session;
  selected_.clear();
  playhead_ = 0;
  scroll_ = 0;
  update();
}

void TimelineWidget::set_playhead(std::int64_t frame) {
  playhead_ = std::max<std::int64_t>(frame, 0);
  // Keep the playhead in view.
  const double x = frame_to_x(double(playhead_));
  if (x < kHeaderWidth || x > width() - 10) scroll_ = std::max(0.0, playhead_ - (width() - kHeaderWidth) / ppf_ / 4);
  update();
}

void TimelineWidget::select_clip(const std::string& id) {
  selected_ = id;
  Q_EMIT selection_changed(QString::fromStdString(id));
  update();
}

void TimelineWidget::refresh() {
  if (session_ && !selected_.empty() && !session_->document().find_clip(selected_)) select_clip({});
  update();
}

void TimelineWidget::set_pixels_per_frame(double ppf) { ppf_ = std::clamp(ppf, 0.05, 60.0); update(); }

void TimelineWidget::zoom_to_fit() {
  const std::int64_t end = session_ ? session_->document().timeline.end_frame() : 0;
  const double room = std::max(100, width() - kHeaderWidth - 40);
  scroll_ = 0;
  set_pixels_per_frame(room / static_cast<double>(std::max<std::int64_t>(end, 24)));
}

double TimelineWidget::frame_to_x(double frame) const { return kHeaderWidth + (frame - scroll_) * ppf_; }

std::int64_t TimelineWidget::x_to_frame(double x) const {
  return std::max<std::int64_t>(0, std::llround(std::floor((x - kHeaderWidth) / ppf_ + scroll_)));
}

// Tracks are drawn top to bottom = highest index first (the top track draws over the others).
int TimelineWidget::track_top(std::size_t display_row) const {
  return kRulerHeight + int(display_row) * (kTrackHeight + kMaskRowHeight);
}

std::optional<std::size_t> TimelineWidget::track_at_y(int y) const {
  if (!session_ || y < kRulerHeight) return std::nullopt;
  const auto& tracks = session_->document().timeline.tracks;
  const std::size_t row = std::size_t((y - kRulerHeight) / (kTrackHeight + kMaskRowHeight));
  if (row >= tracks.size()) return std::nullopt;
  return tracks.size() - 1 - row;
}

QString TimelineWidget::timecode(std::int64_t frame) const {
  const double fps = session_ ? session_->document().fps.to_double() : 24.0;
  const int ifps = std::max(1, int(std::lround(fps)));
  const std::int64_t secs = frame / ifps;
  return QString("%1:%2:%3").arg(secs / 60, 2, 10, QChar('0')).arg(secs % 60, 2, 10, QChar('0'))
      .arg(frame % ifps, 2, 10, QChar('0'));
}

std::int64_t TimelineWidget::snap(std::int64_t frame, const std::string& ignore_clip) const {
  const double tolerance = 8.0 / ppf_;  // 8 pixels
  std::int64_t best = frame;
  double best_d = tolerance;
  auto consider = [&](std::int64_t f) {
    const double d = std::abs(double(f - frame));
    if (d < best_d) { best_d = d; best = f; }
  };
  consider(playhead_);
  consider(0);
  for (const auto& t : session_->document().timeline.tracks)
    for (const auto& c : t.clips)
      if (c.id != ignore_clip) { consider(c.timeline_start); consider(c.timeline_end()); }
  return best;
}

TimelineWidget::~TimelineWidget() = default;

namespace {
QImage wrap(const mf::media::Image& img) {
  if (img.empty()) return {};
  return QImage(img.data.data(), img.width, img.height, static_cast<qsizetype>(img.stride),
                img.channels == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888)
      .copy();
}
}  // namespace

QImage TimelineWidget::thumbnail(const proj::MediaItem& media, std::int64_t source_frame) {
  const std::string path = session_->to_absolute(media.path).string();
  try {
    if (media.kind == proj::MediaKind::Image) {
      auto it = still_thumbs_.find(path);
      if (it == still_thumbs_.end()) {
        const QImage full = wrap(mf::media::read_image(path));
        it = still_thumbs_.emplace(path, full.isNull() ? QImage() : full.scaledToHeight(kTrackHeight, Qt::SmoothTransformation)).first;
      }
      return it->second;
    }
    auto& cache = thumb_caches_[path];
    if (!cache) {
      mf::media::FrameCacheOptions o;
      o.thumb_height = kTrackHeight;
      o.budget_bytes = std::size_t(64) << 20;
      o.prefetch_ahead = 0;  // thumbnails only: no full frames decoded ahead
      o.prefetch_behind = 0;
      cache = std::make_unique<mf::media::FrameCache>(path, o);
    }
    auto r = cache->thumbnail(std::clamp<std::int64_t>(source_frame, 0, std::max<std::int64_t>(0, media.frame_count - 1)));
    if (r.exact && r.frame) return wrap(*r.frame);
    if (!thumb_timer_) {
      thumb_timer_ = new QTimer(this);
      thumb_timer_->setSingleShot(true);
      thumb_timer_->setInterval(60);
      connect(thumb_timer_, &QTimer::timeout, this, [this] { update(); });
    }
    if (!thumb_timer_->isActive()) thumb_timer_->start();
    return r.frame ? wrap(*r.frame) : QImage();
  } catch (const std::exception&) {
    return {};  // missing or unreadable media: the clip is drawn without thumbnails
  }
}

void TimelineWidget::paintEvent(QPaintEvent*) {
  thumbs_drawn_ = 0;
  QPainter p(this);
  p.fillRect(rect(), QColor(30, 30, 33));
  p.fillRect(QRect(0, 0, width(), kRulerHeight), QColor(44, 44, 48));
  if (!session_) {
    p.setPen(QColor(120, 120, 125));
    p.drawText(rect(), Qt::AlignCenter, "No project");
    return;
  }
  const proj::Project& doc = session_->document();
  const auto& tl = doc.timeline;
  // In/out range.
  if (tl.in_out) {
    const double x0 = frame_to_x(double(tl.in_out->start)), x1 = frame_to_x(double(tl.in_out->end));
    p.fillRect(QRectF(x0, 0, x1 - x0, height()), QColor(70, 110, 170, 45));
    p.fillRect(QRectF(x0, kRulerHeight - 4, x1 - x0, 4), QColor(90, 140, 220));
  }
  // Ruler: ticks every N frames so labels are >= 80 px apart.
  const double fps = std::max(1.0, doc.fps.to_double());
  std::int64_t step = 1;
  for (std::int64_t s : {1, 2, 5, 10, 12, 24, 48, 120, 240, 480, 1200, 2400, 4800}) {
    step = s;
    if (s * ppf_ >= 80) break;
  }
  (void)fps;
  p.setPen(QColor(170, 170, 175));
  QFont small = font();
  small.setPointSizeF(std::max(6.0, small.pointSizeF() - 2));
  p.setFont(small);
  for (std::int64_t f = (std::int64_t(scroll_) / step) * step; frame_to_x(double(f)) < width(); f += step) {
    const double x = frame_to_x(double(f));
    if (x < kHeaderWidth) continue;
    p.drawLine(QPointF(x, kRulerHeight - 8), QPointF(x, kRulerHeight));
    p.drawText(QPointF(x + 3, 11), timecode(f));
    p.drawText(QPointF(x + 3, 21), QString::number(f));
  }
  // Tracks.
  const std::size_t n = tl.tracks.size();
  for (std::size_t row = 0; row < n; ++row) {
    const proj::Track& track = tl.tracks[n - 1 - row];
    const int top = track_top(row);
    p.fillRect(QRect(0, top, width(), kTrackHeight + kMaskRowHeight), row % 2 ? QColor(34, 34, 37) : QColor(38, 38, 41));
    p.setPen(QColor(200, 200, 205));
    p.drawText(QRect(6, top, kHeaderWidth - 8, kTrackHeight), Qt::AlignVCenter | Qt::AlignLeft,
               QString::fromStdString(track.name) + (track.hidden ? " (hidden)" : ""));
    p.save();
    p.setClipRect(QRect(kHeaderWidth, top, width() - kHeaderWidth, kTrackHeight + kMaskRowHeight));
    for (const proj::Clip& clip : track.clips) {
      const double x0 = frame_to_x(double(clip.timeline_start)), x1 = frame_to_x(double(clip.timeline_end()));
      const QRectF r(x0, top + 3, std::max(2.0, x1 - x0), kTrackHeight - 6);
      const bool sel = clip.id == selected_;
      const QColor base = clip.recipe.is_null() ? QColor(58, 96, 150) : QColor(120, 80, 160);
      p.setBrush(sel ? base.lighter(135) : base);
      p.setPen(QPen(sel ? QColor(255, 210, 90) : base.darker(150), sel ? 2 : 1));
      p.drawRoundedRect(r, 3, 3);
      // Thumbnails along the clip (one per tile, the source frame under the tile's left edge).
      if (const proj::MediaItem* media = doc.find_media(clip.media_id)) {
        const double th = r.height() - 2;
        const double aspect = media->size.height > 0 ? double(media->size.width) / media->size.height : 16.0 / 9.0;
        const double tw = std::max(8.0, th * aspect);
        p.save();
        p.setClipRect(r.adjusted(1, 1, -1, -1), Qt::IntersectClip);
        for (double tx = std::max(r.left(), double(kHeaderWidth)); tx < std::min(r.right(), double(width())); tx += tw) {
          const std::int64_t tf = clip.source_frame_at(x_to_frame(tx));
          const QImage t = thumbnail(*media, tf);
          if (t.isNull()) continue;
          p.drawImage(QRectF(tx, r.top() + 1, tw, th), t);
          ++thumbs_drawn_;
        }
        p.restore();
        p.fillRect(QRectF(r.left(), r.top(), r.width(), 15), QColor(0, 0, 0, 110));
        p.fillRect(QRectF(r.left(), r.bottom() - 15, r.width(), 15), QColor(0, 0, 0, 110));
      }
      p.setPen(Qt::white);
      p.drawText(r.adjusted(5, 2, -3, -2), Qt::AlignTop | Qt::AlignLeft,
                 QString::fromStdString(clip.name.empty() ? clip.id : clip.name));
      p.setPen(QColor(210, 220, 235));
      p.drawText(r.adjusted(5, 2, -3, -3), Qt::AlignBottom | Qt::AlignLeft,
                 QString("%1 f").arg(clip.duration()));
      // Mask track row: a bar over the clip, diamonds on painted keyframes.
      for (const proj::MaskTrack* mt : doc.mask_tracks_for_clip(clip.id)) {
        const QRectF mr(x0, top + kTrackHeight, std::max(2.0, x1 - x0), kMaskRowHeight - 3);
        p.fillRect(mr, QColor(150, 50, 50, 150));
        p.setBrush(QColor(255, 120, 120));
        p.setPen(Qt::NoPen);
        for (const auto& kf : mt->keyframes) {
          const double kx = frame_to_x(double(clip.timeline_frame_of(kf.frame)) + 0.5);
          const double cy = mr.center().y();
          QPolygonF d;
          d << QPointF(kx, cy - 5) << QPointF(kx + 5, cy) << QPointF(kx, cy + 5) << QPointF(kx - 5, cy);
          p.drawPolygon(d);
        }
        break;
      }
    }
    p.restore();
  }
  // First/last frame marks.
  auto draw_mark = [&](const std::optional<proj::FrameMark>& m, const QColor& color, const QString& label) {
    if (!m) return;
    const proj::Clip* c = doc.find_clip(m->clip_id);
    if (!c) return;
    const double x = frame_to_x(double(c->timeline_frame_of(m->source_frame)) + 0.5);
    p.setPen(QPen(color, 2));
    p.drawLine(QPointF(x, kRulerHeight), QPointF(x, height()));
    p.drawText(QPointF(x + 3, kRulerHeight + 12), label);
  };
  draw_mark(tl.keyframes.first_frame, QColor(90, 220, 120), "F");
  draw_mark(tl.keyframes.last_frame, QColor(240, 170, 60), "L");
  // First/last clip marks: a bar under the ruler over the marked range.
  auto draw_clip_mark = [&](const std::optional<proj::ClipRangeMark>& m, const QColor& color, const QString& label) {
    if (!m) return;
    const proj::Clip* c = doc.find_clip(m->clip_id);
    if (!c) return;
    const double x0 = frame_to_x(double(c->timeline_frame_of(m->source.start)));
    const double x1 = frame_to_x(double(c->timeline_frame_of(m->source.end)));
    p.fillRect(QRectF(x0, kRulerHeight - 5, x1 - x0, 4), color);
    p.setPen(color);
    p.drawText(QPointF(x0 + 2, kRulerHeight - 7), label);
  };
  draw_clip_mark(tl.keyframes.first_clip, QColor(90, 220, 120), "first clip");
  draw_clip_mark(tl.keyframes.last_clip, QColor(240, 170, 60), "last clip");
  // Still keyframes dropped from the bin: a diamond on the ruler with the still's thumbnail tooltip-free label.
  for (const auto& still : tl.keyframes.stills) {
    const double x = frame_to_x(double(still.frame) + 0.5);
    QPolygonF d;
    d << QPointF(x, kRulerHeight - 12) << QPointF(x + 5, kRulerHeight - 7) << QPointF(x, kRulerHeight - 2)
      << QPointF(x - 5, kRulerHeight - 7);
    p.setPen(QPen(QColor(120, 180, 255), 1));
    p.setBrush(QColor(120, 180, 255));
    p.drawPolygon(d);
    if (const proj::MediaItem* m = doc.find_media(still.media_id)) {
      p.setPen(QColor(160, 200, 255));
      p.drawText(QPointF(x + 7, kRulerHeight - 3), QString::fromStdString(m->name));
    }
  }
  // Playhead.
  const double px = frame_to_x(double(playhead_));
  p.setPen(QPen(QColor(255, 70, 70), 2));
  p.drawLine(QPointF(px, 0), QPointF(px, height()));
  p.setBrush(QColor(255, 70, 70));
  QPolygonF head;
  head << QPointF(px - 6, 0) << QPointF(px + 6, 0) << QPointF(px, 8);
  p.drawPolygon(head);
  // Header column border.
  p.setPen(QColor(60, 60, 65));
  p.drawLine(kHeaderWidth - 1, 0, kHeaderWidth - 1, height());
}

void TimelineWidget::dragEnterEvent(QDragEnterEvent* e) {
  if (session_ && e->mimeData()->hasFormat(kMediaMimeType)) e->acceptProposedAction();
}

void TimelineWidget::dragMoveEvent(QDragMoveEvent* e) {
  if (session_ && e->mimeData()->hasFormat(kMediaMimeType)) e->acceptProposedAction();
}

void TimelineWidget::dropEvent(QDropEvent* e) {
  if (!session_ || !e->mimeData()->hasFormat(kMediaMimeType)) return;
  const QString media_id = QString::fromUtf8(e->mimeData()->data(kMediaMimeType));
  const QPointF pos = e->position();
  const auto track = track_at_y(int(pos.y()));
  Q_EMIT media_dropped(media_id, x_to_frame(pos.x()), track ? static_cast<int>(*track) : -1);
  e->acceptProposedAction();
}

void TimelineWidget::mousePressEvent(QMouseEvent* e) {
  if (!session_ || e->button() != Qt::LeftButton) return;
  const QPointF pos = e->position();
  if (pos.x() < kHeaderWidth) return;
  const std::int64_t frame = x_to_frame(pos.x());
  if (auto ti = track_at_y(int(pos.y()))) {
    const proj::Track& track = session_->document().timeline.tracks[*ti];
    for (const proj::Clip& clip : track.clips) {
      const double x0 = frame_to_x(double(clip.timeline_start)), x1 = frame_to_x(double(clip.timeline_end()));
      if (pos.x() < x0 || pos.x() > x1) continue;
      select_clip(clip.id);
      session_->undo_stack().break_merge();
      if (pos.x() - x0 < 6) drag_ = track.locked ? Drag::None : Drag::TrimStart;
      else if (x1 - pos.x() < 6) drag_ = track.locked ? Drag::None : Drag::TrimEnd;
      else { drag_ = track.locked ? Drag::None : Drag::Move; grab_offset_ = frame - clip.timeline_start; }
      return;
    }
    select_clip({});
  }
  drag_ = Drag::Seek;
  Q_EMIT seek_requested(frame);
}

void TimelineWidget::mouseMoveEvent(QMouseEvent* e) {
  if (!session_ || drag_ == Drag::None) return;
  const std::int64_t frame = x_to_frame(e->position().x());
  try {
    if (drag_ == Drag::Seek) {
      Q_EMIT seek_requested(frame);
      return;
    }
    const proj::Clip* clip = session_->document().find_clip(selected_);
    if (!clip) return;
    if (drag_ == Drag::Move) {
      std::int64_t start = std::max<std::int64_t>(0, frame - grab_offset_);
      // Snap either edge.
      const std::int64_t s0 = snap(start, clip->id), s1 = snap(start + clip->duration(), clip->id);
      if (s0 != start) start = s0;
      else if (s1 != start + clip->duration()) start = s1 - clip->duration();
      auto ti = track_at_y(int(e->position().y()));
      const auto loc = session_->document().locate_clip(clip->id);
      const std::string track_id = session_->document().timeline.tracks[ti ? *ti : loc->track].id;
      if (start != clip->timeline_start || track_id != session_->document().timeline.tracks[loc->track].id)
        session_->push(std::make_unique<proj::MoveClip>(clip->id, track_id, start));
    } else {
      const auto edge = drag_ == Drag::TrimStart ? proj::ClipEdge::Start : proj::ClipEdge::End;
      const std::int64_t f = snap(frame, clip->id);
      const std::int64_t cur = edge == proj::ClipEdge::Start ? clip->timeline_start : clip->timeline_end();
      if (f != cur) session_->push(std::make_unique<proj::TrimClip>(clip->id, edge, f));
    }
  } catch (const std::exception& ex) {
    // Overlaps and out-of-media trims are refused by the command; the clip stays where it was.
    Q_EMIT status_message(QString::fromUtf8(ex.what()));
  }
}

void TimelineWidget::mouseReleaseEvent(QMouseEvent*) {
  drag_ = Drag::None;
  if (session_) session_->undo_stack().break_merge();
}

void TimelineWidget::wheelEvent(QWheelEvent* e) {
  if (e->modifiers() & Qt::ControlModifier) {
    const double anchor = (e->position().x() - kHeaderWidth) / ppf_ + scroll_;
    set_pixels_per_frame(ppf_ * (e->angleDelta().y() > 0 ? 1.25 : 0.8));
    scroll_ = std::max(0.0, anchor - (e->position().x() - kHeaderWidth) / ppf_);
  } else {
    scroll_ = std::max(0.0, scroll_ - e->angleDelta().y() / 120.0 * 40.0 / ppf_);
  }
  update();
}

}  // namespace mf::ui
