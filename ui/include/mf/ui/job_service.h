// JobService: what the studio's widgets see of the generation engine. mf_ui stays free of LibTorch: the engine
// is reached through this interface, implemented by ui/bridge (EngineBridge over mf::engine::Engine) and
// created by the application (the composition root) for each open project.
//
// Threading: UI thread only. Implementations deliver every signal on the UI thread; none of the methods waits
// for the device.
#pragma once

#include <QImage>
#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>

#include "mf/tasks/task_spec.h"

namespace mf::ui {

// One job as the jobs panel shows it.
struct JobRow {
  QString id;
  QString task;      // "vinp", ...
  QString prompt;
  QString state;     // "queued", "preparing", "running", "paused", "decoding", "finished", "failed", "cancelled"
  QString message;   // failure: what went wrong and what to do
  QString error_code;
  int step = 0, total = 0;
  double seconds_per_step = 0, eta_seconds = 0;
  QStringList outputs;  // finished: the written files (video/PNG first, then the recipe sidecar)
  bool terminal() const { return state == "finished" || state == "failed" || state == "cancelled"; }
};

class JobService : public QObject {
  Q_OBJECT
 public:
  using QObject::QObject;
  ~JobService() override = default;

  // Queues a job and returns its id. Throws mf::Error with a message a person can act on (BadInput for an
  // invalid spec, listing every problem). `output_path` is where the result is written ("" = the engine's).
  virtual QString submit(const mf::tasks::TaskSpec& spec, const QString& output_path) = 0;
  virtual bool cancel(const QString& id) = 0;
  // A new job with the same settings and a new random seed; returns its id ("" when `id` is unknown).
  virtual QString retry_with_new_seed(const QString& id) = 0;
  virtual void set_paused(bool paused) = 0;
  virtual bool paused() const = 0;
  virtual QList<JobRow> jobs() const = 0;
  // The model new jobs use (a pipeline folder or id; "" when none is configured) and the device, for display.
  virtual QString model() const = 0;
  virtual QString device() const = 0;
  // Before submitting: the memory the job would need on this device, as one line for the inspector ("peak
  // 3.2 GiB of 23.4 GiB, all resident"; a refusal says why). "" when no estimate can be made (no model, or a
  // service without a planner). Never throws; must be cheap enough to call when the form changes.
  virtual QString memory_estimate(const mf::tasks::TaskSpec& spec) const {
    (void)spec;
    return {};
  }

 Q_SIGNALS:
  void job_changed(const mf::ui::JobRow& row);  // any change of state or progress
  void preview_ready(const QString& id, const QImage& frame, int step, int total);
  // Every frame of the same preview (one per latent frame), for the dock to play while the job runs.
  void preview_frames_ready(const QString& id, const QList<QImage>& frames, int step, int total);
  void job_finished(const mf::ui::JobRow& row);
  void job_failed(const mf::ui::JobRow& row);   // failed or cancelled
  void paused_changed(bool paused);
};

}  // namespace mf::ui
