// The studio's main window: menus, dockable panels (media bin, inspector, jobs), the canvas over the timeline,
// a status bar (model, device, playhead) and the keyboard shortcuts. It owns the open ProjectSession and is the
// only place that turns the document's change callback into widget refreshes.
//
// Projects: new/open/save/save-as/recent (mf::project::RecentProjects), autosave to the journal every 5 s, and
// on open an offer to recover a journal left by a crash.
//
// Threading: UI thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <QMainWindow>

class QAction;
class QSpinBox;
class QDockWidget;
class QLabel;
class QListWidget;
class QMenu;
class QTimer;

#include "mf/project/selection.h"
#include "mf/tasks/task_spec.h"

namespace mf::jobs {
struct ClipJobRequest;
struct TaskJobRequest;
struct RenderOptions;
}

namespace mf::project {
class ProjectSession;
class RecentProjects;
}

namespace mf::ui {

class CanvasWidget;
class DiagnosticsOverlay;
struct DiagnosticsSnapshot;
class JobService;
class JobsPanel;
class TaskInspector;
class TimelineWidget;
struct JobRow;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Programmatic entry points (used by menus, the command line and tests). They report errors in a message
  // box unless `quiet`, and return false on failure.
  bool new_project(const std::filesystem::path& folder, bool quiet = false);
  // What opening a project left with an autosave journal (a crash) does: ask (the default; `quiet` opens skip the
  // question and leave the journal), or recover / discard without asking (tests, `manyfold-studio --recover`).
  enum class Recovery { Ask, Recover, Discard };
  void set_recovery(Recovery r) { recovery_ = r; }
  bool open_project(const std::filesystem::path& folder, bool quiet = false);
  bool save_project();
  bool import_media(const std::filesystem::path& file, bool quiet = false);
  void set_playhead(std::int64_t frame);
  std::int64_t playhead() const { return playhead_; }
  void undo();
  void redo();

  // The engine connection: the application sets a factory that makes a JobService for each project opened
  // (its queue lives in the project). Without one the Jobs dock says that no engine is connected.
  using JobServiceFactory = std::function<std::unique_ptr<JobService>(const std::filesystem::path& project)>;
  void set_job_service_factory(JobServiceFactory factory);
  // Exports the clip's frames (and mask) and queues the job; the result lands as a take above the clip.
  // Returns the job id, or "" after reporting the error (message box unless `quiet`; last_error() keeps it).
  QString queue_clip_job(const mf::jobs::ClipJobRequest& request, bool quiet = false);
  // Renders the timeline or a clip (options.clip_id) to `file` with a progress dialog (cancellable); errors in a
  // message box unless `quiet` (last_error() keeps them). The Export dialog (Ctrl+E) calls it.
  bool export_render(const std::filesystem::path& file, const mf::jobs::RenderOptions& options, bool quiet = false);
  // "Same settings again" on a take: its recipe's job resubmitted (inputs as recorded in the project), with a new
  // random seed unless `keep_seed`; the result lands in the same take group. "" after reporting the error.
  QString same_settings_again(const std::string& take_clip_id, bool keep_seed = false, bool quiet = false);
  // Media bin actions (also reached by double-click, drag-and-drop onto the timeline and the bin's context menu).
  // Each is one undoable step; errors go to the status bar. track_index/frame -1: the first track, after its end.
  bool add_media_to_timeline(const std::string& media_id, int track_index, std::int64_t frame);
  bool add_still_keyframe(const std::string& media_id, std::int64_t frame);
  bool add_reference(const std::string& media_id);
  // Mask track of the clip under the playhead: interpolation mode, and holding the mask over the in/out range.
  void set_mask_interpolation(mf::project::MaskInterpolation mode);
  void hold_mask_over_in_out(bool hold);
  // Any task from the current selection (what the inspector submits): exports its inputs and queues it.
  QString queue_task_job(const mf::jobs::TaskJobRequest& request, bool quiet = false);
  // What the inspector pre-fills from: the selected clip (else the clip under the playhead), the in/out range
  // when it overlaps that clip, and the playhead.
  mf::project::Selection current_selection() const;
  // Style preset folders: built-in (resources/presets/styles), the user's (~/.config/manyfold/presets/styles),
  // and the project's (<project>/presets/styles).
  static std::vector<std::filesystem::path> preset_folders(const std::filesystem::path& project);
  const QString& last_error() const { return last_error_; }

  mf::project::ProjectSession* session() const { return session_.get(); }
  JobService* job_service() const { return job_service_.get(); }
  JobsPanel* jobs_panel() const { return jobs_panel_; }
  CanvasWidget* canvas() const { return canvas_; }
  TimelineWidget* timeline() const { return timeline_; }
  TaskInspector* task_inspector() const { return task_inspector_; }
  // Diagnostics (F12): the ImGui overlay over the canvas where OpenGL is available, else a status bar line.
  void set_diagnostics_visible(bool on);
  bool diagnostics_visible() const { return diagnostics_on_; }
  DiagnosticsOverlay* diagnostics_overlay() const { return overlay_; }
  DiagnosticsSnapshot diagnostics_snapshot() const;

 protected:
  void closeEvent(QCloseEvent*) override;
  void dragEnterEvent(QDragEnterEvent*) override;
  void dropEvent(QDropEvent*) override;

 private:
  void build_actions();
  void build_docks();
  void attach_session(std::unique_ptr<mf::project::ProjectSession> session);
  bool maybe_save();
  void document_changed();
  void refresh_bin();
  void refresh_inspector();
  void rebuild_recent_menu();
  void update_title();
  void toggle_play(int direction);
  void step(int frames);
  void split_selected();
  void delete_selected();
  void mark_in_out(bool in);
  void mark_frame(bool first);
  void show_error(const QString& what, const std::exception& e);
  void connect_job_service();
  void focus_task_inspector();
  void build_brush_bar();
  const mf::project::MaskTrack* current_mask_track() const;  // of the clip under the playhead
  void open_export_dialog();
  void mark_clip(bool first);
  QString submit_job(const mf::tasks::TaskSpec& spec, const std::filesystem::path& output,
                     const std::string& source_clip_id);
  void job_finished(const JobRow& row);
  std::filesystem::path take_sources_file() const;
  std::map<std::string, std::string> read_take_sources() const;
  void write_take_sources(const std::map<std::string, std::string>& m) const;

  std::unique_ptr<mf::project::ProjectSession> session_;
  std::unique_ptr<mf::project::RecentProjects> recent_;
  CanvasWidget* canvas_ = nullptr;
  TimelineWidget* timeline_ = nullptr;
  QListWidget* bin_ = nullptr;
  QListWidget* refs_ = nullptr;
  QSpinBox* brush_size_box_ = nullptr;
  QSpinBox* brush_hardness_box_ = nullptr;
  QSpinBox* brush_opacity_box_ = nullptr;
  QLabel* inspector_ = nullptr;
  TaskInspector* task_inspector_ = nullptr;
  QDockWidget* inspector_dock_ = nullptr;
  QTimer* inspector_timer_ = nullptr;
  DiagnosticsOverlay* overlay_ = nullptr;
  QTimer* diagnostics_timer_ = nullptr;  // status bar fallback without OpenGL
  QLabel* status_diag_ = nullptr;
  bool diagnostics_on_ = false;
  Recovery recovery_ = Recovery::Ask;
  JobsPanel* jobs_panel_ = nullptr;
  std::unique_ptr<JobService> job_service_;
  JobServiceFactory job_factory_;
  QString last_error_;
  QLabel* status_model_ = nullptr;
  QLabel* status_device_ = nullptr;
  QLabel* status_frame_ = nullptr;
  QMenu* recent_menu_ = nullptr;
  QMenu* view_menu_ = nullptr;
  QAction* undo_action_ = nullptr;
  QAction* redo_action_ = nullptr;
  QTimer* play_timer_ = nullptr;
  QTimer* autosave_timer_ = nullptr;
  int play_direction_ = 0;
  std::int64_t playhead_ = 0;
};

}  // namespace mf::ui
