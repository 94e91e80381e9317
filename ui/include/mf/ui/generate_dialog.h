// The Generate dialog: the task for the selected clip (the video editing tasks), the prompt, and the sampling
// settings a creator changes most (steps, frames, seed). Fields start at the task's official defaults.
//
// Threading: UI thread only.
#pragma once

#include <QDialog>

#include "mf/jobs/clip_job.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace mf::ui {

class GenerateDialog : public QDialog {
  Q_OBJECT
 public:
  explicit GenerateDialog(QWidget* parent = nullptr);
  void set_clip_name(const QString& name);  // "" = no clip selected (OK is disabled)
  void set_task(mf::tasks::TaskId task);
  mf::jobs::ClipJobRequest request() const;  // clip_id left empty: the caller fills it in

 private:
  void task_changed();
  QLabel* clip_ = nullptr;
  QComboBox* task_ = nullptr;
  QLineEdit* prompt_ = nullptr;
  QSpinBox* steps_ = nullptr;
  QSpinBox* frames_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QLabel* hint_ = nullptr;
  bool has_clip_ = false;
};

}  // namespace mf::ui
