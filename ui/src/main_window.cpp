#include "mf/ui/main_window.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include <QAction>
#include <QActionGroup>
#include <QSpinBox>
#include <QToolBar>
#include <QApplication>
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
#include <QPlainTextEdit>
#include <QProgressDialog>
#include <QScrollArea>
#include <QVBoxLayout>
#include <QSplitter>
#include <QStatusBar>
#include <QTimer>
#include <QUrl>

#include "mf/core/error.h"
#include "mf/media/reader.h"
#include "mf/project/commands.h"
#include "mf/project/recent.h"
#include "mf/project/session.h"
#include "mf/ui/canvas_widget.h"
#include "mf/ui/diagnostics_overlay.h"
#include "mf/ui/export_dialog.h"
#include "mf/jobs/clip_job.h"
#include "mf/jobs/render.h"
#include "mf/jobs/task_job.h"
#include "mf/ui/job_service.h"
#include "mf/ui/jobs_panel.h"
#include "mf/ui/task_inspector.h"
#include "mf/ui/timeline_widget.h"

namespace mf::ui {

namespace proj = mf::project;

namespace {

// The media bin: list items carry their media id and drag it to the timeline (TimelineWidget::kMediaMimeType).
class MediaBin : public QListWidget {
 public:
  using QListWidget::QListWidget;

 protected:
  QStringList mimeTypes() const override { return {TimelineWidget::kMediaMimeType}; }
  QMimeData* mimeData(const QList<QListWidgetItem*>& items) const override {
    if (items.isEmpty()) return nullptr;
    auto* m = new QMimeData;
    m->setData(TimelineWidget::kMediaMimeType, items.front()->data(Qt::UserRole).toString().toUtf8());
    return m;
  }
};

QIcon media_icon(const proj::ProjectSession& session, const proj::MediaItem& m) {
  try {
    const mf::media::Image img = mf::media::read_image(session.to_absolute(m.path));
    if (img.empty()) return {};
    QImage q(img.data.data(), img.width, img.height, qsizetype(img.stride),
             img.channels == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
    return QIcon(QPixmap::fromImage(q.scaled(128, 72, Qt::KeepAspectRatio, Qt::SmoothTransformation)));
  } catch (const std::exception&) {
    return {};  // missing file: listed without a thumbnail (missing_files() names it)
  }
}

// A bin item for probed media stored at `path` (relative to the project folder).
proj::MediaItem media_item(const mf::media::MediaInfo& info, const std::string& name, const std::string& path) {
  proj::MediaItem item;
  item.path = path;
  item.name = name;
  item.kind = info.is_image ? proj::MediaKind::Image : proj::MediaKind::Video;
  item.frame_count = info.is_image ? 1 : std::max<std::int64_t>(1, info.frame_count);
  if (info.fps.valid()) item.fps = proj::Rational(info.fps.num, info.fps.den);
  item.size = {info.width, info.height};
  return item;
}

}  // namespace

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
  connect(timeline_, &TimelineWidget::media_dropped, this, [this](const QString& id, std::int64_t frame, int track) {
    if (!session_) return;
    const proj::MediaItem* m = session_->document().find_media(id.toStdString());
    if (!m) return;
    // Stills dropped on the timeline become keyframes (first/last frames of generation tasks); videos become clips.
    if (m->kind == proj::MediaKind::Image) add_still_keyframe(m->id, frame);
    else add_media_to_timeline(m->id, track, frame);
  });
  connect(timeline_, &TimelineWidget::selection_changed, this, [this](const QString&) { refresh_inspector(); });
  connect(timeline_, &TimelineWidget::status_message, this, [this](const QString& m) { statusBar()->showMessage(m, 4000); });
  connect(canvas_, &CanvasWidget::status_message, this, [this](const QString& m) { statusBar()->showMessage(m, 6000); });

  build_docks();
  build_actions();
  build_brush_bar();
  update_title();
  resize(1440, 900);
}

MainWindow::~MainWindow() {
  if (jobs_panel_) jobs_panel_->set_service(nullptr);
  job_service_.reset();  // the engine stops after the current step; queued jobs stay in the project
  if (session_) session_->undo_stack().set_on_changed({});
}

void MainWindow::build_docks() {
  bin_ = new MediaBin;
  bin_->setObjectName("media_bin");
  bin_->setDragEnabled(true);
  bin_->setDragDropMode(QAbstractItemView::DragOnly);
  bin_->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(bin_, &QListWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
    QListWidgetItem* item = bin_->itemAt(pos);
    if (!item || !session_) return;
    const std::string id = item->data(Qt::UserRole).toString().toStdString();
    const proj::MediaItem* m = session_->document().find_media(id);
    if (!m) return;
    QMenu menu(this);
    menu.addAction("Add to Timeline", this, [this, id] { add_media_to_timeline(id, -1, -1); });
    if (m->kind == proj::MediaKind::Image)
      menu.addAction("Still Keyframe at Playhead", this, [this, id] { add_still_keyframe(id, playhead_); });
    menu.addAction("Add to References", this, [this, id] { add_reference(id); });
    menu.exec(bin_->viewport()->mapToGlobal(pos));
  });
  bin_->setViewMode(QListView::IconMode);
  bin_->setIconSize(QSize(128, 72));
  bin_->setResizeMode(QListView::Adjust);
  bin_->setToolTip("Media bin: drop files on the window to import; double-click to add to the timeline");
  connect(bin_, &QListWidget::itemDoubleClicked, this, [this](QListWidgetItem* item) {
    add_media_to_timeline(item->data(Qt::UserRole).toString().toStdString(), -1, -1);
  });
  auto* bin_dock = new QDockWidget("Media", this);
  bin_dock->setObjectName("media_dock");
  bin_dock->setWidget(bin_);
  addDockWidget(Qt::LeftDockWidgetArea, bin_dock);

  refs_ = new QListWidget;
  refs_->setObjectName("references_bin");
  refs_->setViewMode(QListView::IconMode);
  refs_->setIconSize(QSize(96, 54));
  refs_->setResizeMode(QListView::Adjust);
  refs_->setToolTip("Reference images (right-click a still in the media bin: Add to References). Delete removes one.\n"
                    "The 15 official MfM tasks do not read references; they are kept with the project for "
                    "models and LoRAs that do.");
  auto* del_ref = new QAction(refs_);
  del_ref->setShortcut(QKeySequence::Delete);
  del_ref->setShortcutContext(Qt::WidgetShortcut);
  refs_->addAction(del_ref);
  connect(del_ref, &QAction::triggered, this, [this] {
    if (!session_ || !refs_->currentItem()) return;
    try {
      session_->push(std::make_unique<proj::RemoveReference>(refs_->currentItem()->data(Qt::UserRole).toString().toStdString()));
    } catch (const std::exception& e) {
      statusBar()->showMessage(e.what(), 4000);
    }
  });
  auto* refs_dock = new QDockWidget("References", this);
  refs_dock->setObjectName("references_dock");
  refs_dock->setWidget(refs_);


  inspector_ = new QLabel;
  inspector_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  inspector_->setMargin(8);
  inspector_->setWordWrap(true);
  task_inspector_ = new TaskInspector;
  task_inspector_->set_preset_folders(preset_folders({}));
  connect(task_inspector_, &TaskInspector::submit_requested, this, [this] {
    queue_task_job(task_inspector_->take_seed_for_submit());
  });
  auto* insp_body = new QWidget;
  auto* insp_layout = new QVBoxLayout(insp_body);
  insp_layout->setContentsMargins(0, 0, 0, 0);
  insp_layout->addWidget(inspector_);
  insp_layout->addWidget(task_inspector_);
  insp_layout->addStretch(1);
  auto* insp_scroll = new QScrollArea;
  insp_scroll->setWidgetResizable(true);
  insp_scroll->setWidget(insp_body);
  insp_scroll->setMinimumWidth(360);
  inspector_dock_ = new QDockWidget("Inspector", this);
  inspector_dock_->setObjectName("inspector_dock");
  inspector_dock_->setWidget(insp_scroll);
  addDockWidget(Qt::RightDockWidgetArea, inspector_dock_);
  auto* insp_dock = inspector_dock_;
  inspector_timer_ = new QTimer(this);
  inspector_timer_->setSingleShot(true);
  inspector_timer_->setInterval(150);
  connect(inspector_timer_, &QTimer::timeout, this, [this] { task_inspector_->refresh(); });

  jobs_panel_ = new JobsPanel;
  auto* jobs_dock = new QDockWidget("Jobs", this);
  jobs_dock->setObjectName("jobs_dock");
  jobs_dock->setWidget(jobs_panel_);
  // Left column: media bin over the job queue; the inspector has the right side's full height.
  addDockWidget(Qt::LeftDockWidgetArea, jobs_dock);
  splitDockWidget(bin_dock, jobs_dock, Qt::Vertical);
  // References share the media bin's place as a tab.
  tabifyDockWidget(bin_dock, refs_dock);
  bin_dock->raise();
  resizeDocks({bin_dock, jobs_dock}, {300, 600}, Qt::Vertical);
  resizeDocks({bin_dock, inspector_dock_}, {330, 400}, Qt::Horizontal);

  view_menu_ = new QMenu("&View", this);
  for (QDockWidget* d : {bin_dock, refs_dock, insp_dock, jobs_dock}) view_menu_->addAction(d->toggleViewAction());
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
  add(file, "&Export...", QKeySequence("Ctrl+E"), [this] { open_export_dialog(); });
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
  add(mark, "Mark First &Clip", QKeySequence("Alt+F"), [this] { mark_clip(true); });
  add(mark, "Mark Last Cl&ip", QKeySequence("Alt+L"), [this] { mark_clip(false); });

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
  add(tools, "Mask &Rectangle", QKeySequence("M"), [this] {
    canvas_->set_tool(MaskTool::Rectangle);
    statusBar()->showMessage("Rectangle: drag to regenerate a box (Shift: keep)", 3000);
  });
  add(tools, "Mask E&llipse", QKeySequence("Shift+M"), [this] {
    canvas_->set_tool(MaskTool::Ellipse);
    statusBar()->showMessage("Ellipse: drag to regenerate an ellipse (Shift: keep)", 3000);
  });
  QMenu* ops = tools->addMenu("Mask &Operations");
  auto op = [this](MaskOp o, int amount) {
    if (!canvas_->apply_mask_op(o, amount)) statusBar()->showMessage("No clip under the playhead", 3000);
  };
  add(ops, "&Invert Mask", QKeySequence("Ctrl+Shift+I"), [op] { op(MaskOp::Invert, 0); });
  add(ops, "&Clear Mask (keep all)", QKeySequence("Ctrl+Shift+K"), [op] { op(MaskOp::KeepAll, 0); });
  add(ops, "&Fill Mask (regenerate all)", QKeySequence("Ctrl+Shift+F"), [op] { op(MaskOp::RegenerateAll, 0); });
  add(ops, "&Grow Regenerate Area (8 px)", QKeySequence("Ctrl+Shift+]"), [op] { op(MaskOp::Grow, 8); });
  add(ops, "&Shrink Regenerate Area (8 px)", QKeySequence("Ctrl+Shift+["), [op] { op(MaskOp::Shrink, 8); });
  add(ops, "F&eather Edges (6 px)", QKeySequence("Ctrl+Shift+E"), [op] { op(MaskOp::Feather, 6); });
  QMenu* interp = tools->addMenu("Mask &Interpolation");
  auto* interp_group = new QActionGroup(this);
  const std::pair<const char*, proj::MaskInterpolation> modes[] = {
      {"&None (painted frames only)", proj::MaskInterpolation::None},
      {"&Hold (carry the last painted mask)", proj::MaskInterpolation::Hold},
      {"&Optical Flow (propagate between painted frames)", proj::MaskInterpolation::Flow}};
  for (const auto& [label, mode] : modes) {
    QAction* a = interp->addAction(label);
    a->setCheckable(true);
    interp_group->addAction(a);
    connect(a, &QAction::triggered, this, [this, m = mode] { set_mask_interpolation(m); });
  }
  connect(interp, &QMenu::aboutToShow, this, [this, interp] {
    const proj::MaskTrack* t = current_mask_track();
    const auto acts = interp->actions();
    for (int i = 0; i < acts.size(); ++i) {
      acts[i]->setEnabled(t != nullptr);
      acts[i]->setChecked(t && static_cast<int>(t->interpolation) == i);
    }
  });
  add(tools, "Hold Mask over In/Out", QKeySequence("Ctrl+H"), [this] { hold_mask_over_in_out(true); });
  add(tools, "Release Mask Hold over In/Out", QKeySequence("Ctrl+Shift+H"), [this] { hold_mask_over_in_out(false); });
  add(tools, "Smaller Brush", QKeySequence("["), [this] { brush_size_box_->setValue(int(canvas_->brush_size() / 1.25)); });
  add(tools, "Larger Brush", QKeySequence("]"), [this] { brush_size_box_->setValue(int(canvas_->brush_size() * 1.25) + 1); });
  add(tools, "Reset Canvas View", QKeySequence("Ctrl+0"), [this] { canvas_->reset_view(); });
  QAction* onion = add(tools, "&Onion Skin", QKeySequence("Ctrl+Shift+O"), [this](bool on) {
    canvas_->set_onion_skin(on);
    statusBar()->showMessage(on ? "Onion skin on: neighbouring frames shown translucently" : "Onion skin off", 3000);
  });
  onion->setCheckable(true);

  QMenu* gen = menuBar()->addMenu("&Generate");
  add(gen, "&New Task in Inspector", QKeySequence("Ctrl+G"), [this] { focus_task_inspector(); });
  add(gen, "&Queue Task", QKeySequence("Ctrl+Return"), [this] {
    if (task_inspector_->can_submit()) queue_task_job(task_inspector_->take_seed_for_submit());
    else statusBar()->showMessage("Cannot queue yet: " + task_inspector_->errors().join("; "), 6000);
  });
  add(gen, "&Same Settings Again (new seed)", QKeySequence("Ctrl+Shift+G"), [this] {
    same_settings_again(timeline_->selected_clip());
  });
  add(gen, "Same Settings Again, Same &Seed", QKeySequence("Ctrl+Alt+G"), [this] {
    same_settings_again(timeline_->selected_clip(), true);
  });
  add(gen, "&Pause/Resume Queue", QKeySequence("Ctrl+Shift+P"), [this] {
    if (job_service_) job_service_->set_paused(!job_service_->paused());
  });

  view_menu_->addSeparator();
  QAction* diag = add(view_menu_, "&Diagnostics Overlay", QKeySequence(Qt::Key_F12),
                      [this](bool on) { set_diagnostics_visible(on); });
  diag->setCheckable(true);
  add(view_menu_, "Zoom Timeline to &Fit", QKeySequence("Shift+Z"), [this] { timeline_->zoom_to_fit(); });
  menuBar()->addMenu(view_menu_);
}

void MainWindow::build_brush_bar() {
  auto* bar = addToolBar("Brush");
  bar->setObjectName("brush_toolbar");
  auto spin = [bar](const QString& label, int lo, int hi, int value, const QString& suffix) {
    bar->addWidget(new QLabel(" " + label + " "));
    auto* b = new QSpinBox;
    b->setRange(lo, hi);
    b->setValue(value);
    b->setSuffix(suffix);
    bar->addWidget(b);
    return b;
  };
  brush_size_box_ = spin("Size", 1, 1000, canvas_->brush_size(), " px");
  brush_hardness_box_ = spin("Hardness", 0, 100, 100, " %");
  brush_opacity_box_ = spin("Opacity", 1, 100, 100, " %");
  brush_size_box_->setObjectName("brush_size");
  brush_hardness_box_->setObjectName("brush_hardness");
  brush_opacity_box_->setObjectName("brush_opacity");
  connect(brush_size_box_, qOverload<int>(&QSpinBox::valueChanged), this, [this](int v) { canvas_->set_brush_size(v); });
  connect(brush_hardness_box_, qOverload<int>(&QSpinBox::valueChanged), this,
          [this](int v) { canvas_->set_brush_hardness(v / 100.0); });
  connect(brush_opacity_box_, qOverload<int>(&QSpinBox::valueChanged), this,
          [this](int v) { canvas_->set_brush_opacity(v / 100.0); });
}

void MainWindow::set_job_service_factory(JobServiceFactory factory) {
  job_factory_ = std::move(factory);
  if (session_) connect_job_service();
}

void MainWindow::connect_job_service() {
  jobs_panel_->set_service(nullptr);
  task_inspector_->set_context(session_.get(), nullptr, [this] { return current_selection(); });
  job_service_.reset();
  if (!session_) return;
  if (!job_factory_) {
    jobs_panel_->set_service(nullptr, "No generation engine connected in this build.");
    return;
  }
  try {
    job_service_ = job_factory_(session_->folder());
  } catch (const std::exception& e) {
    jobs_panel_->set_service(nullptr, QString("The engine could not start: %1").arg(QString::fromUtf8(e.what())).toHtmlEscaped());
    return;
  }
  if (!job_service_) {
    jobs_panel_->set_service(nullptr, "No generation engine connected.");
    return;
  }
  jobs_panel_->set_service(job_service_.get());
  task_inspector_->set_context(session_.get(), job_service_.get(), [this] { return current_selection(); });
  status_model_->setText("Model: " + (job_service_->model().isEmpty() ? QString("none configured") : job_service_->model()));
  status_device_->setText("Device: " + job_service_->device());
  connect(job_service_.get(), &JobService::job_finished, this, &MainWindow::job_finished);
  connect(job_service_.get(), &JobService::job_failed, this, [this](const JobRow& r) {
    statusBar()->showMessage(QString("Job %1 %2: %3").arg(r.id, r.state, r.message), 10000);
  });
}

std::filesystem::path MainWindow::take_sources_file() const { return session_->folder() / "jobs" / "take_sources.json"; }

std::map<std::string, std::string> MainWindow::read_take_sources() const {
  std::map<std::string, std::string> m;
  std::ifstream f(take_sources_file());
  if (!f) return m;
  const auto j = nlohmann::json::parse(f, nullptr, false);
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.value().is_string()) m[it.key()] = it.value().get<std::string>();
  return m;
}

void MainWindow::write_take_sources(const std::map<std::string, std::string>& m) const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = v;
  std::filesystem::create_directories(take_sources_file().parent_path());
  const auto tmp = take_sources_file().string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << j.dump(2) << "\n";
  }
  std::filesystem::rename(tmp, take_sources_file());
}

QString MainWindow::queue_clip_job(const mf::jobs::ClipJobRequest& request, bool quiet) {
  last_error_.clear();
  try {
    if (!session_) throw mf::Error(mf::ErrorCode::BadInput, "create or open a project first");
    if (!job_service_) throw mf::Error(mf::ErrorCode::MissingModel, "no generation engine is connected");
    const mf::jobs::ClipJob job = mf::jobs::export_clip_job(*session_, request);
    return submit_job(job.spec, job.output, job.source_clip_id);
  } catch (const std::exception& e) {
    last_error_ = QString::fromUtf8(e.what());
    if (!quiet) show_error("Cannot queue the job", e);
    return {};
  }
}

QString MainWindow::submit_job(const mf::tasks::TaskSpec& spec, const std::filesystem::path& output,
                              const std::string& source_clip_id) {
  const QString id = job_service_->submit(spec, QString::fromStdString(output.string()));
  auto sources = read_take_sources();
  sources[id.toStdString()] = source_clip_id;
  write_take_sources(sources);
  statusBar()->showMessage(QString("Queued job %1 (%2)").arg(id, mf::tasks::to_string(spec.task)), 5000);
  return id;
}

QString MainWindow::queue_task_job(const mf::jobs::TaskJobRequest& request, bool quiet) {
  last_error_.clear();
  try {
    if (!session_) throw mf::Error(mf::ErrorCode::BadInput, "create or open a project first");
    if (!job_service_) throw mf::Error(mf::ErrorCode::MissingModel, "no generation engine is connected");
    const proj::TaskInputs inputs = proj::gather_task_inputs(session_->document(), current_selection());
    const mf::jobs::TaskJob job = mf::jobs::export_task_job(*session_, inputs, request);
    return submit_job(job.spec, job.output, job.source_clip_id);
  } catch (const std::exception& e) {
    last_error_ = QString::fromUtf8(e.what());
    if (!quiet) show_error("Cannot queue the job", e);
    return {};
  }
}

QString MainWindow::same_settings_again(const std::string& take_clip_id, bool keep_seed, bool quiet) {
  last_error_.clear();
  try {
    if (!session_) throw mf::Error(mf::ErrorCode::BadInput, "create or open a project first");
    if (!job_service_) throw mf::Error(mf::ErrorCode::MissingModel, "no generation engine is connected");
    const proj::Project& doc = session_->document();
    const proj::Clip* take = doc.find_clip(take_clip_id);
    if (!take) throw mf::Error(mf::ErrorCode::BadInput, "select a take on the timeline first");
    if (!take->recipe.is_object() || !take->recipe.contains("job"))
      throw mf::Error(mf::ErrorCode::BadInput, "the clip '" + take->name +
                                                   "' is not a generated take (it has no job recipe): select a take");
    mf::tasks::TaskSpec spec = mf::tasks::task_spec_from_json(take->recipe.at("job"), "the recipe of '" + take->name + "'");
    if (!keep_seed) spec.seed.reset();
    else if (take->recipe.contains("seed") && take->recipe["seed"].is_number_unsigned())
      spec.seed = take->recipe["seed"].get<uint64_t>();
    for (const auto& p : spec.images)
      if (!std::filesystem::exists(p)) throw mf::Error(mf::ErrorCode::BadInput, "the take's input " + p + " is gone");
    for (const auto& p : spec.clips)
      if (!std::filesystem::exists(p)) throw mf::Error(mf::ErrorCode::BadInput, "the take's input " + p + " is gone");
    // The new take joins the group of the original footage (the group's clip without a recipe), else this take.
    std::string source = take->id;
    if (!take->take_group.empty())
      for (const auto& t : doc.timeline.tracks)
        for (const auto& c : t.clips)
          if (c.take_group == take->take_group && c.recipe.is_null()) source = c.id;
    const std::filesystem::path out = session_->folder() / "renders" /
        (std::filesystem::path(spec.output.empty() ? std::string("take") : spec.output).stem().string() + "_again" +
         (mf::tasks::task_facts(spec.task).image_output ? ".png" : ".mp4"));
    spec.output.clear();
    std::filesystem::path target = out;
    for (int i = 2; std::filesystem::exists(target); ++i)
      target = out.parent_path() / (out.stem().string() + "_" + std::to_string(i) + out.extension().string());
    return submit_job(spec, target, source);
  } catch (const std::exception& e) {
    last_error_ = QString::fromUtf8(e.what());
    if (!quiet) show_error("Cannot queue the same settings again", e);
    return {};
  }
}

proj::Selection MainWindow::current_selection() const {
  proj::Selection sel;
  sel.playhead = playhead_;
  if (!session_) return sel;
  const proj::Project& doc = session_->document();
  std::string clip = timeline_->selected_clip();
  if (clip.empty() || !doc.find_clip(clip)) clip = canvas_->clip_id();  // else the clip under the playhead
  if (!clip.empty() && doc.find_clip(clip)) {
    sel.clip_ids = {clip};
    // The in/out range limits the clip's frames when the two overlap.
    if (const auto& io = doc.timeline.in_out) {
      const proj::FrameRange r = doc.find_clip(clip)->timeline_range();
      if (std::max(r.start, io->start) < std::min(r.end, io->end)) sel.range = *io;
    }
  }
  return sel;
}

std::vector<std::filesystem::path> MainWindow::preset_folders(const std::filesystem::path& project) {
  std::vector<std::filesystem::path> folders = {std::filesystem::path(MF_RESOURCES_DIR) / "presets" / "styles"};
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    folders.push_back(std::filesystem::path(xdg) / "manyfold" / "presets" / "styles");
  else if (const char* home = std::getenv("HOME"); home && *home)
    folders.push_back(std::filesystem::path(home) / ".config" / "manyfold" / "presets" / "styles");
  if (!project.empty()) folders.push_back(project / "presets" / "styles");
  return folders;
}

void MainWindow::open_export_dialog() {
  if (!session_) {
    QMessageBox::information(this, "Manyfold Studio", "Create or open a project first.");
    return;
  }
  const proj::Project& doc = session_->document();
  const proj::Clip* clip = doc.find_clip(timeline_->selected_clip());
  ExportDialog dialog(doc.timeline.in_out.has_value(), clip ? QString::fromStdString(clip->name) : QString(),
                      doc.resolution.width, doc.resolution.height, session_->folder() / "renders", this);
  if (clip && !clip->recipe.is_null()) dialog.set_source(ExportDialog::Source::Clip);
  if (dialog.exec() != QDialog::Accepted) return;
  mf::jobs::RenderOptions o = dialog.options();
  if (dialog.source() == ExportDialog::Source::Clip && clip) o.clip_id = clip->id;
  if (dialog.source() == ExportDialog::Source::Timeline)
    o.range = proj::FrameRange{0, doc.timeline.end_frame()};
  if (export_render(dialog.file(), o))
    statusBar()->showMessage("Exported " + QString::fromStdString(dialog.file().string()), 8000);
}

bool MainWindow::export_render(const std::filesystem::path& file, const mf::jobs::RenderOptions& options, bool quiet) {
  last_error_.clear();
  if (!session_) {
    last_error_ = "create or open a project first";
    return false;
  }
  std::unique_ptr<QProgressDialog> progress;
  if (!quiet) {
    progress = std::make_unique<QProgressDialog>("Exporting " + QString::fromStdString(file.filename().string()),
                                                 "Cancel", 0, 100, this);
    progress->setWindowModality(Qt::WindowModal);
    progress->setMinimumDuration(300);
  }
  try {
    mf::jobs::render(*session_, file, options, [&](int64_t done, int64_t total) {
      if (!progress) return true;
      progress->setMaximum(static_cast<int>(total));
      progress->setValue(static_cast<int>(done));
      QApplication::processEvents();
      return !progress->wasCanceled();
    });
    return true;
  } catch (const std::exception& e) {
    last_error_ = QString::fromUtf8(e.what());
    const auto* err = dynamic_cast<const mf::Error*>(&e);
    if (!quiet && !(err && err->code() == mf::ErrorCode::Cancelled)) show_error("Export failed", e);
    return false;
  }
}

DiagnosticsSnapshot MainWindow::diagnostics_snapshot() const {
  DiagnosticsSnapshot s;
  s.paint_ms = canvas_->last_paint_ms();
  s.load_ms = canvas_->last_load_ms();
  const auto c = canvas_->cache_stats();
  s.cache_hits = c.hits;
  s.cache_misses = c.misses;
  s.cache_frames = static_cast<int64_t>(c.frames);
  s.cache_bytes = static_cast<int64_t>(c.bytes);
  if (job_service_)
    for (const JobRow& r : job_service_->jobs())
      if (!r.terminal() && r.state != "queued" && r.state != "paused") {
        s.job = r.id + " " + r.task;
        s.step = r.step;
        s.total = r.total;
        s.step_seconds = r.seconds_per_step;
        break;
      }
  s.rss_bytes = current_rss_bytes();
  s.peak_rss_bytes = peak_rss_bytes_now();
  return s;
}

void MainWindow::set_diagnostics_visible(bool on) {
  diagnostics_on_ = on;
  if (DiagnosticsOverlay::supported()) {
    if (on && !overlay_) overlay_ = new DiagnosticsOverlay(canvas_, [this] { return diagnostics_snapshot(); });
    if (overlay_) overlay_->setVisible(on);
    return;
  }
  // No OpenGL on this platform (offscreen): the same numbers in the status bar.
  if (!diagnostics_timer_) {
    status_diag_ = new QLabel;
    statusBar()->insertPermanentWidget(0, status_diag_);
    diagnostics_timer_ = new QTimer(this);
    diagnostics_timer_->setInterval(500);
    connect(diagnostics_timer_, &QTimer::timeout, this,
            [this] { status_diag_->setText(format_diagnostics(diagnostics_snapshot()).join("  |  ")); });
  }
  status_diag_->setVisible(on);
  if (on) {
    status_diag_->setText(format_diagnostics(diagnostics_snapshot()).join("  |  "));
    diagnostics_timer_->start();
  } else {
    diagnostics_timer_->stop();
  }
}

const proj::MaskTrack* MainWindow::current_mask_track() const {
  if (!session_ || canvas_->clip_id().empty()) return nullptr;
  const auto tracks = session_->document().mask_tracks_for_clip(canvas_->clip_id());
  return tracks.empty() ? nullptr : tracks.front();
}

void MainWindow::set_mask_interpolation(proj::MaskInterpolation mode) {
  const proj::MaskTrack* t = current_mask_track();
  if (!t) {
    statusBar()->showMessage("Paint a mask on the clip first", 3000);
    return;
  }
  try {
    session_->push(std::make_unique<proj::SetMaskInterpolation>(t->id, mode));
    statusBar()->showMessage(QString("Mask interpolation: %1").arg(proj::to_string(mode)), 3000);
  } catch (const std::exception& e) {
    statusBar()->showMessage(e.what(), 4000);
  }
}

void MainWindow::hold_mask_over_in_out(bool hold) {
  const proj::MaskTrack* t = current_mask_track();
  const auto& io = session_ ? session_->document().timeline.in_out : std::nullopt;
  if (!t || !io) {
    statusBar()->showMessage(!t ? "Paint a mask on the clip first" : "Mark in and out (I / O) first", 3000);
    return;
  }
  const proj::Clip* c = session_->document().find_clip(t->clip_id);
  // Holds are in the clip's source frames.
  const proj::FrameRange src{c->source_frame_at(std::max(io->start, c->timeline_start)),
                             c->source_frame_at(std::min(io->end, c->timeline_end()))};
  if (src.empty()) {
    statusBar()->showMessage("The in/out range does not overlap the clip", 3000);
    return;
  }
  try {
    session_->push(std::make_unique<proj::SetMaskHold>(t->id, src, hold));
  } catch (const std::exception& e) {
    statusBar()->showMessage(e.what(), 4000);
  }
}

void MainWindow::focus_task_inspector() {
  inspector_dock_->show();
  inspector_dock_->raise();
  task_inspector_->refresh();
  task_inspector_->prompt_edit()->setFocus();
}

void MainWindow::mark_clip(bool first) {
  if (!session_) return;
  const proj::Selection sel = current_selection();
  if (sel.clip_ids.empty()) {
    statusBar()->showMessage("Select a clip first", 3000);
    return;
  }
  const auto span = proj::clip_span(session_->document(), sel.clip_ids.front(), sel.range);
  if (!span) return;
  try {
    session_->push(std::make_unique<proj::SetClipMark>(first ? proj::MarkSlot::First : proj::MarkSlot::Last,
                                                       proj::ClipRangeMark{span->clip_id, span->source}));
    statusBar()->showMessage(QString("Marked the %1 clip").arg(first ? "first" : "last"), 3000);
  } catch (const std::exception& e) {
    statusBar()->showMessage(e.what(), 4000);
  }
}

void MainWindow::job_finished(const JobRow& row) {
  if (!session_ || row.outputs.isEmpty()) return;
  auto sources = read_take_sources();
  auto it = sources.find(row.id.toStdString());
  if (it == sources.end()) return;
  const std::string source_clip = it->second;
  try {
    const std::filesystem::path out = row.outputs.first().toStdString();
    proj::TakeRequest take;
    take.source_clip_id = source_clip;
    take.media = media_item(mf::media::probe(out), out.filename().string(), session_->to_relative(out));
    const std::filesystem::path sidecar = std::filesystem::path(out).replace_extension(".json");
    std::ifstream rf(sidecar);
    if (rf) take.recipe = nlohmann::json::parse(rf, nullptr, false);
    if (take.recipe.is_discarded()) take.recipe = nullptr;
    if (session_->document().find_clip(source_clip)) {
      session_->push(std::make_unique<proj::AddTake>(take));
    } else {
      // The source clip was deleted meanwhile: keep the result in the bin.
      session_->push(std::make_unique<proj::AddMedia>(take.media));
    }
    sources.erase(it);
    write_take_sources(sources);
    statusBar()->showMessage(QString("Job %1 finished: %2").arg(row.id, row.outputs.first()), 8000);
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString("Job %1 finished but its take could not be added: %2").arg(row.id, e.what()), 10000);
  }
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
    if (s->has_recovery() && recovery_ == Recovery::Recover) {
      s->recover();
    } else if (s->has_recovery() && recovery_ == Recovery::Discard) {
      s->discard_recovery();
    } else if (s->has_recovery() && !quiet) {
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
  task_inspector_->set_preset_folders(preset_folders(session_->folder()));
  connect_job_service();
  document_changed();
  QTimer::singleShot(0, timeline_, [this] { timeline_->zoom_to_fit(); });
}

bool MainWindow::import_media(const std::filesystem::path& file, bool quiet) {
  if (!session_) {
    if (!quiet) QMessageBox::information(this, "Manyfold Studio", "Create or open a project first.");
    return false;
  }
  try {
    const mf::media::MediaInfo info = mf::media::probe(file);  // unreadable media is refused before the copy
    const proj::MediaItem item = media_item(info, file.filename().string(), session_->import_file(file));
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
  refs_->clear();
  if (!session_) return;
  const proj::Project& doc = session_->document();
  for (const auto& m : doc.media) {
    auto* item = new QListWidgetItem(QString::fromStdString(m.name));
    item->setData(Qt::UserRole, QString::fromStdString(m.id));
    item->setToolTip(QString("%1\n%2x%3, %4 frames\nDrag to the timeline (stills become keyframes); right-click for more")
                         .arg(QString::fromStdString(m.path)).arg(m.size.width).arg(m.size.height).arg(m.frame_count));
    item->setIcon(media_icon(*session_, m));
    bin_->addItem(item);
  }
  for (const auto& r : doc.references) {
    const proj::MediaItem* m = doc.find_media(r.media_id);
    auto* item = new QListWidgetItem(QString::fromStdString(r.label.empty() && m ? m->name : r.label));
    item->setData(Qt::UserRole, QString::fromStdString(r.id));
    if (m) item->setIcon(media_icon(*session_, *m));
    refs_->addItem(item);
  }
}

bool MainWindow::add_media_to_timeline(const std::string& media_id, int track_index, std::int64_t frame) {
  if (!session_) return false;
  try {
    const proj::MediaItem& m = proj::require_media(session_->document(), media_id);
    auto& stack = session_->undo_stack();
    stack.begin_macro("Add clip");
    try {
      const auto& tracks = session_->document().timeline.tracks;
      std::string track_id;
      if (tracks.empty()) track_id = session_->push(std::make_unique<proj::AddTrack>("V1")).track_id();
      else if (track_index >= 0 && track_index < static_cast<int>(tracks.size())) track_id = tracks[size_t(track_index)].id;
      else track_id = tracks.front().id;
      const proj::Track& track = proj::require_track(session_->document(), track_id);
      proj::ClipPlacement place;
      place.track_id = track_id;
      place.media_id = m.id;
      place.source = {0, m.kind == proj::MediaKind::Image ? std::int64_t(48) : m.frame_count};
      place.timeline_start = frame >= 0 ? frame : (track.clips.empty() ? 0 : track.clips.back().timeline_end());
      place.name = m.name;
      session_->push(std::make_unique<proj::AddClip>(place));
      stack.end_macro();
    } catch (...) {
      stack.abort_macro();
      throw;
    }
    return true;
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString("Cannot add the clip: %1").arg(e.what()), 6000);
    return false;
  }
}

bool MainWindow::add_still_keyframe(const std::string& media_id, std::int64_t frame) {
  if (!session_) return false;
  try {
    session_->push(std::make_unique<proj::AddStillKeyframe>(media_id, frame));
    statusBar()->showMessage(QString("Still keyframe at frame %1").arg(frame), 3000);
    return true;
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString("Cannot add the keyframe: %1").arg(e.what()), 6000);
    return false;
  }
}

bool MainWindow::add_reference(const std::string& media_id) {
  if (!session_) return false;
  try {
    session_->push(std::make_unique<proj::AddReference>(media_id, ""));
    statusBar()->showMessage("Added to References", 3000);
    return true;
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString("Cannot add the reference: %1").arg(e.what()), 6000);
    return false;
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
  task_inspector_->refresh();
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
  inspector_timer_->start();  // the inspector follows the playhead (image tasks), debounced during playback
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
