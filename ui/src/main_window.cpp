#include "mf/ui/main_window.h"

#include <algorithm>

#include <QAction>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QKeySequence>
#include <QIcon>
#include <QLabel>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPixmap>
#include <QSplitter>
#include <QStatusBar>
#include <QTimer>
#include <QUrl>

#include "mf/media/reader.h"
#include "mf/project/commands.h"
#include "mf/project/recent.h"
#include "mf/project/session.h"
#include "mf/ui/canvas_widget.h"
#include "mf/ui/timeline_widget.h"

namespace mf::ui {

namespace proj = mf::project;

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setAcceptDrops(true);
  try {
    recent_ = std::make_unique<proj::RecentProjects>();
  } catch (const std::exception&) {
    recent_.reset();  // no writable config folder: the Recent menu stays empty
  }
  canvas_ = new CanvasWidget;
  timeline_ = new TimelineWidget;
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(canvas_);
  split->addWidget(timeline_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 1);
  setCentralWidget(split);

  status_model_ = new QLabel("Model: none loaded");
  status_device_ = new QLabel("Device: CPU");
  status_frame_ = new QLabel("Frame 0");
  statusBar()->addPermanentWidget(status_frame_);
  statusBar()->addPermanentWidget(status_model_);
  statusBar()->addPermanentWidget(status_device_);

  play_timer_ = new QTimer(this);
  connect(play_timer_, &QTimer::timeout, this, [this] { step(play_direction_); });
  autosave_timer_ = new QTimer(this);
  autosave_timer_->setInterval(5000);
  connect(autosave_timer_, &QTimer::timeout, this, [this] {
    if (!session_) return;
    try {
      session_->autosave();
    } catch (const std::exception& e) {
      statusBar()->showMessage(QString("Autosave failed: %1").arg(e.what()), 5000);
    }
  });
  autosave_timer_->start();

  connect(timeline_, &TimelineWidget::seek_requested, this, [this](std::int64_t f) { set_playhead(f); });
  connect(timeline_, &TimelineWidget::selection_changed, this, [this](const QString&) { refresh_inspector(); });
  connect(timeline_, &TimelineWidget::status_message, this, [this](const QString& m) { statusBar()->showMessage(m, 4000); });
  connect(canvas_, &CanvasWidget::status_message, this, [this](const QString& m) { statusBar()->showMessage(m, 6000); });

  build_docks();
  build_actions();
  update_title();
  resize(1440, 900);
}

MainWindow::~MainWindow() {
  if (session_) session_->undo_stack().set_on_changed({});
}

void MainWindow::build_docks() {
  bin_ = new QListWidget;
  bin_->setViewMode(QListView::IconMode);
  bin_->setIconSize(QSize(128, 72));
  bin_->setResizeMode(QListView::Adjust);
  bin_->setToolTip("Media bin: drop files on the window to import; double-click to add to the timeline");
  connect(bin_, &QListWidget::itemDoubleClicked, this, [this](QListWidgetItem* item) {
    if (!session_) return;
    try {
      const std::string media_id = item->data(Qt::UserRole).toString().toStdString();
      const proj::MediaItem& m = proj::require_media(session_->document(), media_id);
      auto& stack = session_->undo_stack();
      stack.begin_macro("Add clip");
      try {
        std::string track_id;
        if (session_->document().timeline.tracks.empty())
          track_id = session_->push(std::make_unique<proj::AddTrack>("V1")).track_id();
        else
          track_id = session_->document().timeline.tracks.front().id;
        proj::ClipPlacement place;
        place.track_id = track_id;
        place.media_id = m.id;
        place.source = {0, m.kind == proj::MediaKind::Image ? std::int64_t(48) : m.frame_count};
        place.timeline_start = proj::require_track(session_->document(), track_id).clips.empty()
                                   ? 0
                                   : proj::require_track(session_->document(), track_id).clips.back().timeline_end();
        place.name = m.name;
        session_->push(std::make_unique<proj::AddClip>(place));
        stack.end_macro();
      } catch (...) {
        stack.abort_macro();
        throw;
      }
    } catch (const std::exception& e) {
      show_error("Cannot add the clip", e);
    }
  });
  auto* bin_dock = new QDockWidget("Media", this);
  bin_dock->setObjectName("media_dock");
  bin_dock->setWidget(bin_);
  addDockWidget(Qt::LeftDockWidgetArea, bin_dock);

  inspector_ = new QLabel;
  inspector_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  inspector_->setMargin(8);
  inspector_->setWordWrap(true);
  auto* insp_dock = new QDockWidget("Inspector", this);
  insp_dock->setObjectName("inspector_dock");
  insp_dock->setWidget(inspector_);
  addDockWidget(Qt::RightDockWidgetArea, insp_dock);

  jobs_ = new QLabel("No generation engine connected in this build.");
  jobs_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  jobs_->setMargin(8);
  auto* jobs_dock = new QDockWidget("Jobs", this);
  jobs_dock->setObjectName("jobs_dock");
  jobs_dock->setWidget(jobs_);
  addDockWidget(Qt::RightDockWidgetArea, jobs_dock);

  view_menu_ = new QMenu("&View", this);
  for (QDockWidget* d : {bin_dock, insp_dock, jobs_dock}) view_menu_->addAction(d->toggleViewAction());
}

void MainWindow::build_actions() {
  auto add = [this](QMenu* menu, const QString& text, const QKeySequence& key, auto fn) {
    QAction* a = menu->addAction(text);
    if (!key.isEmpty()) {
      a->setShortcut(key);
      a->setShortcutContext(Qt::WindowShortcut);
    }
    connect(a, &QAction::triggered, this, fn);
    addAction(a);  // shortcuts work while the menu bar is hidden too
    return a;
  };
  QMenu* file = menuBar()->addMenu("&File");
  add(file, "&New Project...", QKeySequence::New, [this] {
    if (!maybe_save()) return;
    const QString dir = QFileDialog::getSaveFileName(this, "New project folder");
    if (!dir.isEmpty()) new_project(dir.toStdString());
  });
  add(file, "&Open Project...", QKeySequence::Open, [this] {
    if (!maybe_save()) return;
    const QString dir = QFileDialog::getExistingDirectory(this, "Open project folder");
    if (!dir.isEmpty()) open_project(dir.toStdString());
  });
  recent_menu_ = file->addMenu("Open &Recent");
  rebuild_recent_menu();
  add(file, "&Save", QKeySequence::Save, [this] { save_project(); });
  add(file, "Save &As...", QKeySequence::SaveAs, [this] {
    if (!session_) return;
    const QString dir = QFileDialog::getSaveFileName(this, "Save project as (new folder)");
    if (dir.isEmpty()) return;
    try {
      session_->save_as(dir.toStdString());
      if (recent_) recent_->add(session_->folder(), session_->document().name);
      rebuild_recent_menu();
      update_title();
    } catch (const std::exception& e) {
      show_error("Save As failed", e);
    }
  });
  file->addSeparator();
  add(file, "&Import Media...", QKeySequence("Ctrl+I"), [this] {
    const QStringList files = QFileDialog::getOpenFileNames(this, "Import media");
    for (const QString& f : files) import_media(f.toStdString());
  });
  QAction* exp = add(file, "&Export...", QKeySequence("Ctrl+E"), [this] {
    statusBar()->showMessage("Export is not available in this build yet", 4000);
  });
  exp->setEnabled(false);
  file->addSeparator();
  add(file, "&Quit", QKeySequence::Quit, [this] { close(); });

  QMenu* edit = menuBar()->addMenu("&Edit");
  undo_action_ = add(edit, "&Undo", QKeySequence("Ctrl+Z"), [this] { undo(); });
  redo_action_ = add(edit, "&Redo", QKeySequence("Ctrl+Shift+Z"), [this] { redo(); });
  edit->addSeparator();
  add(edit, "&Split Clip at Playhead", QKeySequence("S"), [this] { split_selected(); });
  add(edit, "&Delete Clip", QKeySequence::Delete, [this] { delete_selected(); });

  QMenu* mark = menuBar()->addMenu("&Mark");
  add(mark, "Mark &In", QKeySequence("I"), [this] { mark_in_out(true); });
  add(mark, "Mark &Out", QKeySequence("O"), [this] { mark_in_out(false); });
  add(mark, "Mark &First Frame", QKeySequence("F"), [this] { mark_frame(true); });
  add(mark, "Mark &Last Frame", QKeySequence("Shift+L"), [this] { mark_frame(false); });

  QMenu* play = menuBar()->addMenu("&Playback");
  add(play, "Play/Pause", QKeySequence(Qt::Key_Space), [this] { toggle_play(play_direction_ ? 0 : 1); });
  add(play, "Play Backward", QKeySequence("J"), [this] { toggle_play(-1); });
  add(play, "Stop", QKeySequence("K"), [this] { toggle_play(0); });
  add(play, "Play Forward", QKeySequence("L"), [this] { toggle_play(1); });
  add(play, "Previous Frame", QKeySequence(Qt::Key_Left), [this] { step(-1); });
  add(play, "Next Frame", QKeySequence(Qt::Key_Right), [this] { step(1); });
  add(play, "Go to Start", QKeySequence(Qt::Key_Home), [this] { set_playhead(0); });

  QMenu* tools = menuBar()->addMenu("&Tools");
  add(tools, "Mask &Brush (regenerate)", QKeySequence("B"), [this] {
    canvas_->set_tool(MaskTool::Brush);
    statusBar()->showMessage("Brush: paint the area to regenerate", 3000);
  });
  add(tools, "Mask &Eraser (keep)", QKeySequence("E"), [this] {
    canvas_->set_tool(MaskTool::Eraser);
    statusBar()->showMessage("Eraser: paint the area to keep", 3000);
  });
  add(tools, "Smaller Brush", QKeySequence("["), [this] { canvas_->set_brush_size(int(canvas_->brush_size() / 1.25)); });
  add(tools, "Larger Brush", QKeySequence("]"), [this] { canvas_->set_brush_size(int(canvas_->brush_size() * 1.25) + 1); });
  add(tools, "Reset Canvas View", QKeySequence("Ctrl+0"), [this] { canvas_->reset_view(); });

  menuBar()->addMenu(view_menu_);
}

void MainWindow::rebuild_recent_menu() {
  recent_menu_->clear();
  if (!recent_) return;
  for (const auto& r : recent_->list()) {
    const QString folder = QString::fromStdString(r.folder.string());
    QAction* a = recent_menu_->addAction(QString::fromStdString(r.name) + "  —  " + folder);
    connect(a, &QAction::triggered, this, [this, folder] {
      if (maybe_save()) open_project(folder.toStdString());
    });
  }
  recent_menu_->setEnabled(!recent_menu_->isEmpty());
}

void MainWindow::show_error(const QString& what, const std::exception& e) {
  QMessageBox::warning(this, "Manyfold Studio", what + ":\n" + QString::fromUtf8(e.what()));
}

bool MainWindow::new_project(const std::filesystem::path& folder, bool quiet) {
  try {
    proj::NewProjectOptions opts;
    opts.name = folder.filename().string();
    attach_session(proj::ProjectSession::create(folder, opts));
    return true;
  } catch (const std::exception& e) {
    if (!quiet) show_error("Cannot create the project", e);
    return false;
  }
}

bool MainWindow::open_project(const std::filesystem::path& folder, bool quiet) {
  try {
    auto s = proj::ProjectSession::open(folder);
    if (s->has_recovery() && !quiet) {
      const auto info = s->recovery_info();
      const auto answer = QMessageBox::question(
          this, "Recover unsaved changes?",
          QString("The project '%1' was not closed properly. Recover the unsaved changes from the autosave "
                  "journal (%2 edits)?").arg(QString::fromStdString(info ? info->document_name : ""))
              .arg(info ? qulonglong(info->undo_index) : 0),
          QMessageBox::Yes | QMessageBox::No, QMessageBox::Yes);
      if (answer == QMessageBox::Yes) s->recover();
      else s->discard_recovery();
    }
    attach_session(std::move(s));
    return true;
  } catch (const std::exception& e) {
    if (!quiet) show_error("Cannot open the project", e);
    return false;
  }
}

bool MainWindow::save_project() {
  if (!session_) return false;
  try {
    session_->save();
    update_title();
    statusBar()->showMessage("Saved", 2000);
    return true;
  } catch (const std::exception& e) {
    show_error("Save failed", e);
    return false;
  }
}

bool MainWindow::maybe_save() {
  if (!session_ || !session_->is_dirty()) return true;
  const auto answer = QMessageBox::question(this, "Unsaved changes", "Save the changes to the current project?",
                                            QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel);
  if (answer == QMessageBox::Cancel) return false;
  if (answer == QMessageBox::Save) return save_project();
  return true;
}

void MainWindow::attach_session(std::unique_ptr<proj::ProjectSession> session) {
  if (session_) {
    session_->undo_stack().set_on_changed({});
    session_->close();
  }
  session_ = std::move(session);
  toggle_play(0);
  playhead_ = 0;
  session_->undo_stack().set_on_changed([this] { document_changed(); });
  if (recent_) {
    try {
      recent_->add(session_->folder(), session_->document().name);
    } catch (const std::exception&) {
    }
  }
  rebuild_recent_menu();
  canvas_->set_session(session_.get());
  timeline_->set_session(session_.get());
  document_changed();
}

bool MainWindow::import_media(const std::filesystem::path& file, bool quiet) {
  if (!session_) {
    if (!quiet) QMessageBox::information(this, "Manyfold Studio", "Create or open a project first.");
    return false;
  }
  try {
    const mf::media::MediaInfo info = mf::media::probe(file);
    proj::MediaItem item;
    item.path = session_->import_file(file);
    item.name = file.filename().string();
    item.kind = info.is_image ? proj::MediaKind::Image : proj::MediaKind::Video;
    item.frame_count = info.is_image ? 1 : std::max<std::int64_t>(1, info.frame_count);
    if (info.fps.valid()) item.fps = proj::Rational(info.fps.num, info.fps.den);
    item.size = {info.width, info.height};
    session_->push(std::make_unique<proj::AddMedia>(item));
    return true;
  } catch (const std::exception& e) {
    if (!quiet) show_error("Cannot import " + QString::fromStdString(file.string()), e);
    return false;
  }
}

void MainWindow::document_changed() {
  if (!session_) return;
  undo_action_->setEnabled(session_->undo_stack().can_undo());
  redo_action_->setEnabled(session_->undo_stack().can_redo());
  undo_action_->setText("&Undo " + QString::fromStdString(session_->undo_stack().undo_text()));
  redo_action_->setText("&Redo " + QString::fromStdString(session_->undo_stack().redo_text()));
  if (session_->undo_stack().in_macro()) return;  // refresh once the step is complete
  refresh_bin();
  timeline_->refresh();
  canvas_->refresh();
  refresh_inspector();
  update_title();
}

void MainWindow::refresh_bin() {
  bin_->clear();
  if (!session_) return;
  for (const auto& m : session_->document().media) {
    auto* item = new QListWidgetItem(QString::fromStdString(m.name));
    item->setData(Qt::UserRole, QString::fromStdString(m.id));
    item->setToolTip(QString("%1\n%2x%3, %4 frames").arg(QString::fromStdString(m.path)).arg(m.size.width)
                         .arg(m.size.height).arg(m.frame_count));
    try {
      const mf::media::Image img = mf::media::read_image(session_->to_absolute(m.path));
      if (!img.empty()) {
        QImage q(img.data.data(), img.width, img.height, qsizetype(img.stride),
                 img.channels == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
        item->setIcon(QIcon(QPixmap::fromImage(q.scaled(128, 72, Qt::KeepAspectRatio, Qt::SmoothTransformation))));
      }
    } catch (const std::exception&) {
      // Missing file: listed without a thumbnail (missing_files() names it).
    }
    bin_->addItem(item);
  }
}

void MainWindow::refresh_inspector() {
  if (!session_) { inspector_->setText("No project"); return; }
  const proj::Project& doc = session_->document();
  QString text = QString("<b>%1</b><br>%2x%3 @ %4 fps<br>%5 media, %6 tracks")
                     .arg(QString::fromStdString(doc.name).toHtmlEscaped()).arg(doc.resolution.width)
                     .arg(doc.resolution.height).arg(QString::fromStdString(doc.fps.to_string()))
                     .arg(doc.media.size()).arg(doc.timeline.tracks.size());
  if (const proj::Clip* c = doc.find_clip(timeline_->selected_clip())) {
    text += QString("<hr><b>Clip</b> %1<br>source %2–%3<br>timeline %4–%5<br>mask tracks: %6")
                .arg(QString::fromStdString(c->name).toHtmlEscaped()).arg(c->source_in).arg(c->source_out)
                .arg(c->timeline_start).arg(c->timeline_end()).arg(doc.mask_tracks_for_clip(c->id).size());
  }
  if (doc.timeline.in_out)
    text += QString("<hr>In/out: %1–%2").arg(doc.timeline.in_out->start).arg(doc.timeline.in_out->end);
  inspector_->setText(text);
}

void MainWindow::update_title() {
  QString title = "Manyfold Studio";
  if (session_)
    title = QString::fromStdString(session_->document().name) + (session_->is_dirty() ? " *" : "") + " — " + title;
  setWindowTitle(title);
}

void MainWindow::set_playhead(std::int64_t frame) {
  playhead_ = std::max<std::int64_t>(frame, 0);
  timeline_->set_playhead(playhead_);
  canvas_->set_frame(playhead_);
  const double fps = session_ ? session_->document().fps.to_double() : 24.0;
  status_frame_->setText(QString("Frame %1  (%2 s)").arg(playhead_).arg(playhead_ / fps, 0, 'f', 2));
}

void MainWindow::step(int frames) {
  if (!session_) return;
  const std::int64_t end = session_->document().timeline.end_frame();
  std::int64_t f = playhead_ + frames;
  if (play_direction_ != 0 && (f >= end || f < 0)) { toggle_play(0); return; }
  set_playhead(std::clamp<std::int64_t>(f, 0, std::max<std::int64_t>(0, end - 1)));
}

void MainWindow::toggle_play(int direction) {
  play_direction_ = direction;
  if (direction == 0 || !session_) { play_timer_->stop(); return; }
  const double fps = std::max(1.0, session_->document().fps.to_double());
  play_timer_->start(int(1000.0 / fps));
}

void MainWindow::undo() {
  if (!session_ || !session_->undo_stack().can_undo()) return;
  try { session_->undo_stack().undo(); } catch (const std::exception& e) { show_error("Undo failed", e); }
}

void MainWindow::redo() {
  if (!session_ || !session_->undo_stack().can_redo()) return;
  try { session_->undo_stack().redo(); } catch (const std::exception& e) { show_error("Redo failed", e); }
}

void MainWindow::split_selected() {
  if (!session_ || timeline_->selected_clip().empty()) return;
  try {
    session_->push(std::make_unique<proj::SplitClip>(timeline_->selected_clip(), playhead_));
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString("Cannot split: %1").arg(e.what()), 4000);
  }
}

void MainWindow::delete_selected() {
  if (!session_ || timeline_->selected_clip().empty()) return;
  try {
    session_->push(std::make_unique<proj::RemoveClip>(timeline_->selected_clip()));
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString("Cannot delete: %1").arg(e.what()), 4000);
  }
}

void MainWindow::mark_in_out(bool in) {
  if (!session_) return;
  const auto cur = session_->document().timeline.in_out;
  proj::FrameRange r = cur ? *cur : proj::FrameRange{0, std::max<std::int64_t>(1, session_->document().timeline.end_frame())};
  if (in) r.start = playhead_; else r.end = playhead_ + 1;
  if (r.empty()) { statusBar()->showMessage("In must be before out", 3000); return; }
  try { session_->push(std::make_unique<proj::SetInOut>(r)); }
  catch (const std::exception& e) { statusBar()->showMessage(e.what(), 4000); }
}

void MainWindow::mark_frame(bool first) {
  if (!session_ || canvas_->clip_id().empty()) return;
  try {
    session_->push(std::make_unique<proj::SetFrameMark>(first ? proj::MarkSlot::First : proj::MarkSlot::Last,
                                                        proj::FrameMark{canvas_->clip_id(), canvas_->source_frame()}));
  } catch (const std::exception& e) {
    statusBar()->showMessage(e.what(), 4000);
  }
}

void MainWindow::closeEvent(QCloseEvent* e) {
  if (!maybe_save()) { e->ignore(); return; }
  if (session_) {
    session_->undo_stack().set_on_changed({});
    session_->close();
  }
  e->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
  if (e->mimeData()->hasUrls()) e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e) {
  for (const QUrl& url : e->mimeData()->urls())
    if (url.isLocalFile()) import_media(url.toLocalFile().toStdString());
}

}  // namespace mf::ui
