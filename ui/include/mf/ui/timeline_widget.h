// The timeline: ruler (timecode + frames), video tracks with clips, mask tracks under their clip, in/out range,
// first/last frame marks, and the playhead. Click on the ruler or empty space seeks; dragging a clip moves it
// (snapping to the playhead and clip edges), dragging near a clip edge trims it. Every edit is pushed as an
// mf::project command, so it is undoable. Ctrl+wheel zooms.
//
// Threading: UI thread only; it reads the document of the session it is given.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <QImage>
#include <QWidget>

class QTimer;

namespace mf::project {
class ProjectSession;
struct MediaItem;
}
namespace mf::media {
class FrameCache;
}

namespace mf::ui {

class TimelineWidget : public QWidget {
  Q_OBJECT
 public:
  explicit TimelineWidget(QWidget* parent = nullptr);

  void set_session(mf::project::ProjectSession* session);
  void set_playhead(std::int64_t frame);
  std::int64_t playhead() const { return playhead_; }
  const std::string& selected_clip() const { return selected_; }
  void select_clip(const std::string& id);
  // Clip thumbnails drawn by the last paint (for tests); decoding happens on the frame caches' workers.
  int thumbnails_drawn() const { return thumbs_drawn_; }
  void refresh();

  double pixels_per_frame() const { return ppf_; }
  void set_pixels_per_frame(double ppf);
  // Shows the whole timeline (at least one second of 24 frames) in the widget's width.
  void zoom_to_fit();
  // Widget x <-> timeline frame.
  double frame_to_x(double frame) const;
  std::int64_t x_to_frame(double x) const;

  static constexpr int kRulerHeight = 26;
  // Drag-and-drop payload of a media bin item: the media id (UTF-8).
  static constexpr const char* kMediaMimeType = "application/x-manyfold-media-id";
  static constexpr int kTrackHeight = 54;
  static constexpr int kMaskRowHeight = 16;
  static constexpr int kHeaderWidth = 90;

 Q_SIGNALS:
  void seek_requested(std::int64_t frame);
  void selection_changed(const QString& clip_id);
  void status_message(const QString& text);
  // A media item dragged from the bin was dropped at a timeline frame over track `track_index` (-1: no track).
  void media_dropped(const QString& media_id, std::int64_t frame, int track_index);

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent*) override;
  void mouseMoveEvent(QMouseEvent*) override;
  void mouseReleaseEvent(QMouseEvent*) override;
  void wheelEvent(QWheelEvent*) override;
  void dragEnterEvent(QDragEnterEvent*) override;
  void dragMoveEvent(QDragMoveEvent*) override;
  void dropEvent(QDropEvent*) override;
  QSize sizeHint() const override { return {800, 220}; }

 private:
  int track_top(std::size_t display_row) const;
  std::optional<std::size_t> track_at_y(int y) const;
  std::int64_t snap(std::int64_t frame, const std::string& ignore_clip) const;
  QString timecode(std::int64_t frame) const;
  // A thumbnail of `source_frame` of the media, or null while it is decoded (a repaint is then scheduled).
  QImage thumbnail(const mf::project::MediaItem& media, std::int64_t source_frame);
  ~TimelineWidget() override;

  mf::project::ProjectSession* session_ = nullptr;
  std::int64_t playhead_ = 0;
  double ppf_ = 6.0;
  double scroll_ = 0;  // frames scrolled off the left
  std::string selected_;

  enum class Drag { None, Seek, Move, TrimStart, TrimEnd };
  Drag drag_ = Drag::None;
  std::int64_t grab_offset_ = 0;  // playhead frame - clip start at press

  std::map<std::string, std::unique_ptr<mf::media::FrameCache>> thumb_caches_;  // by absolute media path
  std::map<std::string, QImage> still_thumbs_;
  QTimer* thumb_timer_ = nullptr;
  int thumbs_drawn_ = 0;
};

}  // namespace mf::ui
