// The Jobs dock: every job of the open project's queue with its state, progress (step/total, s/step, ETA) and
// failure message, the latest preview of the selected (or running) job played as a loop of its frames, and
// Cancel / Retry with a new seed / Pause-Resume queue / Open result buttons. Shows what the JobService reports; owns no job state of its own.
//
// Threading: UI thread only.
#pragma once

#include <QHash>
#include <QImage>
#include <QWidget>

#include "mf/ui/job_service.h"

class QLabel;
class QTimer;
class QPushButton;
class QTreeWidget;
class QTreeWidgetItem;

namespace mf::ui {

class JobsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit JobsPanel(QWidget* parent = nullptr);

  // nullptr: no engine (the panel says why, from `reason`).
  void set_service(JobService* service, const QString& reason = {});
  JobService* service() const { return service_; }

  // For tests and the status bar.
  int row_count() const;
  QString state_of(const QString& id) const;
  QString selected_job() const;
  QImage last_preview() const { return last_preview_; }
  int previews_received() const { return previews_; }
  // The preview animation: the frames of the latest preview of the shown job, played in a loop.
  int preview_frame_count() const { return static_cast<int>(playing_.size()); }
  int preview_frames_shown() const { return frames_shown_; }

 private:
  void update_row(const JobRow& row);
  void show_preview(const QString& id, const QImage& frame, int step, int total);
  void show_preview_frames(const QString& id, const QList<QImage>& frames, int step, int total);
  void play_next_frame();
  void open_result();
  void update_buttons();
  QTreeWidgetItem* item_for(const QString& id) const;

  JobService* service_ = nullptr;
  QTreeWidget* list_ = nullptr;
  QLabel* preview_ = nullptr;
  QLabel* header_ = nullptr;
  QLabel* detail_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QPushButton* retry_ = nullptr;
  QPushButton* pause_ = nullptr;
  QPushButton* open_ = nullptr;
  QTimer* play_timer_ = nullptr;
  QList<QImage> playing_;
  int play_index_ = 0;
  int frames_shown_ = 0;
  QHash<QString, QList<QImage>> frames_by_job_;
  QHash<QString, JobRow> rows_;
  QHash<QString, QImage> previews_by_job_;
  QImage last_preview_;
  int previews_ = 0;
};

}  // namespace mf::ui
