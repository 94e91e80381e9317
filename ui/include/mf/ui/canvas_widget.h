// The canvas: shows the frame at the playhead (top-most visible clip) and paints masks on it.
//
// Mask convention (document.h): greyscale, white keeps, black regenerates. The brush paints "regenerate"
// (black), the eraser paints "keep" (white); rectangle and ellipse fill a dragged shape; apply_mask_op() inverts,
// clears, fills, grows, shrinks or feathers the whole mask (mf_media's OpenCV helpers). Regenerate areas are drawn as a translucent red hatch.
// A stroke is committed on mouse release: the PNG is written to a fresh masks/ path
// (ProjectSession::new_mask_path) and SetMaskKeyframe is pushed (with AddMaskTrack first when the clip has no
// mask track), grouped into one undoable step. Undo/redo re-reads the mask from the document.
//
// Coordinates: one converter, image <-> widget (fit-to-view * zoom + pan), and image -> latent grid (/8 in
// space, MfM's VAE stride).
//
// Threading: UI thread only. Frames come from mf::media::FrameCache (one per media file, decoded on its workers);
// flow-propagated masks are computed on a std::async worker from copies and picked up by a timer on the UI thread.
#pragma once

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <QImage>
#include <QPointF>
#include <QTimer>
#include <QWidget>

#include "mf/media/frame_cache.h"
#include "mf/project/selection.h"

namespace mf::project {
class ProjectSession;
}
namespace mf::media {
class FrameCache;
}

namespace mf::ui {

// Brush/Eraser paint strokes; Rectangle/Ellipse fill the dragged shape (regenerate; with Shift held: keep).
enum class MaskTool { Brush, Eraser, Rectangle, Ellipse };

// Whole-mask operations on the shown frame's mask, each one undoable step.
enum class MaskOp {
  Invert,          // keep <-> regenerate
  KeepAll,         // clear: nothing is regenerated
  RegenerateAll,   // fill: everything is regenerated
  Grow,            // the regenerate area grows by `amount` pixels
  Shrink,          // ... shrinks by `amount` pixels
  Feather,         // soft edges (Gaussian, radius `amount`)
};

class CanvasWidget : public QWidget {
  Q_OBJECT
 public:
  explicit CanvasWidget(QWidget* parent = nullptr);
  ~CanvasWidget() override;

  void set_session(mf::project::ProjectSession* session);
  // Timeline frame to show; reloads frame and mask.
  void set_frame(std::int64_t timeline_frame);
  // The document changed (undo/redo, edits): reload.
  void refresh();

  void set_tool(MaskTool tool) { tool_ = tool; }
  MaskTool tool() const { return tool_; }
  void set_brush_size(int px);
  int brush_size() const { return brush_size_; }
  // Brush hardness (1 = hard edge, 0 = soft falloff from the centre) and opacity (how far one stroke moves the
  // mask toward regenerate/keep; overlapping dabs of one stroke do not add up).
  void set_brush_hardness(double hardness);
  double brush_hardness() const { return hardness_; }
  void set_brush_opacity(double opacity);
  double brush_opacity() const { return opacity_; }
  // How the shown mask came about on this frame (painted here, held, propagated with flow, or none).
  mf::project::MaskSampleKind mask_kind() const { return mask_kind_; }
  // True while the shown frame's flow-propagated mask is still being computed on a worker; mask() then holds the
  // mask at the earlier keyframe, and the propagated one replaces it (and repaints) when it is ready. Painting or
  // a mask operation on such a frame first waits for it.
  bool mask_pending() const;

  // The mask being shown (Grayscale8 at the frame size; null when no clip is under the playhead).
  const QImage& mask() const { return mask_; }
  const QImage& frame_image() const { return frame_; }
  // Clip under the playhead and its source frame ("" / -1 when none).
  const std::string& clip_id() const { return clip_id_; }
  std::int64_t source_frame() const { return source_frame_; }

  QPointF image_to_widget(QPointF p) const;
  QPointF widget_to_image(QPointF p) const;
  static QPointF image_to_latent(QPointF p) { return p / 8.0; }

  void reset_view();

  // Onion skin: the previous and next source frames of the clip drawn translucently over the frame.
  void set_onion_skin(bool on);
  bool onion_skin() const { return onion_; }
  const QImage& onion_previous() const { return onion_prev_; }
  const QImage& onion_next() const { return onion_next_; }

  // Applies `op` to the mask of the frame shown and commits it like a stroke. False when no clip is shown.
  bool apply_mask_op(MaskOp op, int amount = 8);

  // For the diagnostics overlay: the last paint and frame fetch times and the decode caches' counters (summed).
  double last_paint_ms() const { return paint_ms_; }
  double last_load_ms() const { return load_ms_; }
  mf::media::FrameCacheStats cache_stats() const;

 Q_SIGNALS:
  void status_message(const QString& text);

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent*) override;
  void mouseMoveEvent(QMouseEvent*) override;
  void mouseReleaseEvent(QMouseEvent*) override;
  void wheelEvent(QWheelEvent*) override;

 private:
  void reload();
  void stamp(QPointF from, QPointF to);
  void commit_stroke();
  void fill_shape(QPointF a, QPointF b, bool keep);
  double fit_scale() const;
  // Flow-propagated masks (MaskSampleKind::Interpolated): computed on one worker at a time, newest request queued,
  // results cached by (mask files, keyframes, frame, size).
  struct FlowRequest {
    std::string key, media_id;
    std::int64_t frame_a = 0;
    QImage mask_a;
    std::int64_t frame_b = 0;
    QImage mask_b;
    double t = 0;
  };
  void start_flow(FlowRequest rq);
  void poll_flow();
  void take_flow_result();
  void finish_flow();  // waits for the shown frame's propagation, if one is outstanding
  void flow_failed(const std::string& key, const char* why);  // a propagation failed: stop waiting for it
  mf::media::Image decoded_frame(const std::string& media_id, std::int64_t source_frame);

  mf::project::ProjectSession* session_ = nullptr;
  std::map<std::string, std::unique_ptr<mf::media::FrameCache>> caches_;  // by absolute media path
  std::int64_t timeline_frame_ = 0;
  std::string clip_id_;
  std::int64_t source_frame_ = -1;
  QImage frame_;
  QImage mask_;
  bool onion_ = false;
  QImage onion_prev_, onion_next_;
  MaskTool tool_ = MaskTool::Brush;
  int brush_size_ = 40;
  double zoom_ = 1.0;
  QPointF pan_;
  bool stroking_ = false, panning_ = false, shaping_ = false;
  QPointF shape_start_, shape_end_;
  QPointF last_image_pt_, last_widget_pt_;
  double paint_ms_ = 0, load_ms_ = 0;
  double hardness_ = 1.0, opacity_ = 1.0;
  QImage stroke_base_, stroke_cov_;  // the mask when the stroke began, and the stroke's coverage
  mf::project::MaskSampleKind mask_kind_ = mf::project::MaskSampleKind::None;
  std::string shown_flow_key_;  // the shown frame's propagation ("" when its mask is not flow-propagated)
  std::future<QImage> flow_job_;
  std::string flow_job_key_;
  std::optional<FlowRequest> flow_queued_;
  std::map<std::string, QImage> flow_cache_;
  QTimer flow_poll_;
};

}  // namespace mf::ui
