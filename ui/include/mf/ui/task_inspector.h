// The task inspector: choose one of the 15 MfM tasks and fill in only what that task needs, pre-filled from the
// timeline selection (clip, range, mask track, first/last frame and clip marks, the frame at the playhead).
//
// - Inputs: one line per input the task takes (mf::jobs::task_form / resolve_task_inputs), green when found,
//   red with what to do when missing ("mark the last frame (Shift+L)").
// - Prompt, style preset (resources/presets/styles plus the user's and the project's presets folders; offered
//   per task), negative prompt (placeholder: the task's default).
// - Length: t2v and the generation tasks (i2v, itrans, vexd, vtrans; these start at the official 97 frames) take a
//   duration in seconds that snaps to the nearest valid 4k+1 frame count at the project fps; editing tasks a
//   frame limit (4k+1); image tasks say so.
// - Size: presets that are multiples of 16 ("from input" for tasks with an input), or a custom box whose sides
//   snap to multiples of 16; isr an upscale factor.
// - Steps, guidance, motion score (video outputs); seed with lock and randomise: unlocked, every submission
//   draws a new seed and shows it; locked, the seed stays.
// - Inline validation: the missing inputs and every TaskSpec validation error/warning, before anything is
//   written; a memory estimate from the job service (JobService::memory_estimate).
// - Submit (button or Ctrl+Return) emits submit_requested(); MainWindow exports the inputs and queues the job.
//
// Threading: UI thread only.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include <QWidget>

#include "mf/jobs/task_job.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QWidget;

namespace mf::project {
class ProjectSession;
}

namespace mf::ui {

class JobService;

class TaskInspector : public QWidget {
  Q_OBJECT
 public:
  explicit TaskInspector(QWidget* parent = nullptr);

  // The selection the inspector pre-fills from (the main window's timeline and playhead), asked on refresh().
  using SelectionSource = std::function<mf::project::Selection()>;
  void set_context(const mf::project::ProjectSession* session, JobService* service, SelectionSource selection);
  // Style preset folders, later ones overriding earlier ones (built-in, user, project); reloads the list.
  void set_preset_folders(std::vector<std::filesystem::path> folders);
  // Re-reads the selection and the document (call when either changes).
  void refresh();

  void set_task(mf::tasks::TaskId task);
  mf::tasks::TaskId task() const;
  // The request the form describes (the seed as shown; see take_seed_for_submit()).
  mf::jobs::TaskJobRequest request() const;
  // The TaskSpec the request would produce with the current selection (inputs named, not yet written).
  mf::tasks::TaskSpec preview_spec() const;
  const mf::project::TaskInputs& inputs() const { return inputs_; }
  const mf::jobs::ResolvedInputs& resolved() const { return resolved_; }
  // Missing inputs and validation errors (each a sentence); empty = ready to submit.
  QStringList errors() const { return errors_; }
  QStringList warnings() const { return warnings_; }
  bool can_submit() const { return errors_.isEmpty() && session_ != nullptr; }
  QString memory_text() const;
  // Called by the main window when it submits: draws a new seed unless the seed is locked, shows it, and
  // returns the request with that seed.
  mf::jobs::TaskJobRequest take_seed_for_submit();

  // Widgets, for tests and keyboard focus.
  QComboBox* task_box() const { return task_; }
  QPlainTextEdit* prompt_edit() const { return prompt_; }
  QComboBox* style_box() const { return style_; }
  QDoubleSpinBox* duration_box() const { return duration_; }
  QCheckBox* keep_known_box() const { return keep_known_; }
  QSpinBox* max_frames_box() const { return max_frames_; }
  QComboBox* size_box() const { return size_; }
  QSpinBox* width_box() const { return width_; }
  QSpinBox* height_box() const { return height_; }
  QSpinBox* steps_box() const { return steps_; }
  QDoubleSpinBox* guidance_box() const { return guidance_; }
  QSpinBox* seed_box() const { return seed_; }
  QCheckBox* seed_lock() const { return seed_lock_; }
  QPushButton* submit_button() const { return submit_; }
  QLabel* frames_label() const { return frames_label_; }

 Q_SIGNALS:
  void submit_requested();

 private:
  void task_changed();
  void update_state();  // recompute the preview spec, messages, estimate
  void rebuild_styles();
  void snap_duration();
  void snap_custom_size();
  const mf::tasks::StylePreset* current_style() const;

  const mf::project::ProjectSession* session_ = nullptr;
  JobService* service_ = nullptr;
  SelectionSource selection_;
  std::vector<std::filesystem::path> preset_folders_;
  std::vector<mf::tasks::StylePreset> presets_;
  QStringList preset_problems_;
  mf::project::TaskInputs inputs_;
  mf::jobs::ResolvedInputs resolved_;
  QStringList errors_, warnings_;
  bool updating_ = false;

  QFormLayout* form_ = nullptr;
  QComboBox* task_ = nullptr;
  QLabel* hint_ = nullptr;
  QLabel* inputs_label_ = nullptr;
  QPlainTextEdit* prompt_ = nullptr;
  QComboBox* style_ = nullptr;
  QLineEdit* negative_ = nullptr;
  QWidget* duration_row_ = nullptr;
  QDoubleSpinBox* duration_ = nullptr;
  QSpinBox* max_frames_ = nullptr;
  QLabel* frames_label_ = nullptr;
  QComboBox* size_ = nullptr;
  QWidget* custom_size_ = nullptr;
  QSpinBox* width_ = nullptr;
  QSpinBox* height_ = nullptr;
  QSpinBox* upscale_ = nullptr;
  QSpinBox* steps_ = nullptr;
  QDoubleSpinBox* guidance_ = nullptr;
  QDoubleSpinBox* motion_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QCheckBox* seed_lock_ = nullptr;
  QPushButton* randomise_ = nullptr;
  QLabel* messages_ = nullptr;
  QLabel* memory_ = nullptr;
  QPushButton* submit_ = nullptr;
  // Rows shown or hidden per task (label + field).
  QWidget* upscale_row_ = nullptr;
  QWidget* motion_row_ = nullptr;
  QCheckBox* keep_known_ = nullptr;  // inpainting/outpainting: keep the input outside the mask
};

}  // namespace mf::ui
