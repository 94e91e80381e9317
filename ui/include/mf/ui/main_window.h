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
#include <memory>

#include <QMainWindow>

class QAction;
class QLabel;
class QListWidget;
class QMenu;
class QTimer;

namespace mf::project {
class ProjectSession;
class RecentProjects;
}

namespace mf::ui {

class CanvasWidget;
class TimelineWidget;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Programmatic entry points (used by menus, the command line and tests). They report errors in a message
  // box unless `quiet`, and return false on failure.
  bool new_project(const std::filesystem::path& folder, bool quiet = false);
  bool open_project(const std::filesystem::path& folder, bool quiet = false);
  bool save_project();
  bool import_media(const std::filesystem::path& file, bool quiet = false);
  void set_playhead(std::int64_t frame);
  std::int64_t playhead() const { return playhead_; }
  void undo();
  void redo();

  mf::project::ProjectSession* session() const { return session_.get(); }
  CanvasWidget* canvas() const { return canvas_; }
  TimelineWidget* timeline() const { return timeline_; }

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

  std::unique_ptr<mf::project::ProjectSession> session_;
  std::unique_ptr<mf::project::RecentProjects> recent_;
  CanvasWidget* canvas_ = nullptr;
  TimelineWidget* timeline_ = nullptr;
  QListWidget* bin_ = nullptr;
  QLabel* inspector_ = nullptr;
  QLabel* jobs_ = nullptr;
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
