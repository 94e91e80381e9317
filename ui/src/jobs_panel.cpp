#include "mf/ui/jobs_panel.h"

#include <QDesktopServices>
#include <QTimer>
#include <QUrl>

#include <cmath>

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPixmap>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace mf::ui {

namespace {

QString fmt_seconds(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "--:--";
  const int t = static_cast<int>(std::lround(s));
  return QString("%1:%2").arg(t / 60).arg(t % 60, 2, 10, QChar('0'));
}

QColor state_colour(const QString& state) {
  if (state == "finished") return QColor(110, 200, 120);
  if (state == "failed") return QColor(235, 100, 90);
  if (state == "cancelled") return QColor(160, 160, 160);
  if (state == "running" || state == "decoding" || state == "preparing") return QColor(120, 170, 255);
  return QColor(220, 220, 220);
}

}  // namespace

JobsPanel::JobsPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  header_ = new QLabel;
  header_->setWordWrap(true);
  layout->addWidget(header_);

  list_ = new QTreeWidget;
  list_->setObjectName("jobs_list");
  list_->setRootIsDecorated(false);
  list_->setColumnCount(5);
  list_->setHeaderLabels({"Job", "Task", "State", "Progress", "ETA"});
  list_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
  list_->setSelectionMode(QAbstractItemView::SingleSelection);
  layout->addWidget(list_, 2);

  detail_ = new QLabel;
  detail_->setWordWrap(true);
  detail_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(detail_);

  preview_ = new QLabel("No preview yet");
  preview_->setObjectName("job_preview");
  preview_->setAlignment(Qt::AlignCenter);
  preview_->setMinimumHeight(120);
  preview_->setStyleSheet("QLabel { background: #161616; border: 1px solid #333; }");
  layout->addWidget(preview_, 1);

  auto* buttons = new QHBoxLayout;
  cancel_ = new QPushButton("Cancel");
  retry_ = new QPushButton("Retry (new seed)");
  pause_ = new QPushButton("Pause queue");
  open_ = new QPushButton("Open result");
  open_->setToolTip("Open the finished job's file in the system's player");
  for (QPushButton* b : {cancel_, retry_, pause_, open_}) buttons->addWidget(b);
  play_timer_ = new QTimer(this);
  play_timer_->setInterval(125);  // 8 preview frames per second (a latent frame stands for 4 video frames)
  connect(play_timer_, &QTimer::timeout, this, [this] { play_next_frame(); });
  connect(open_, &QPushButton::clicked, this, [this] { open_result(); });
  layout->addLayout(buttons);

  connect(list_, &QTreeWidget::itemSelectionChanged, this, [this] {
    update_buttons();
    const QString id = selected_job();
    playing_ = frames_by_job_.value(id);
    play_index_ = 0;
    if (playing_.size() > 1) play_timer_->start();
    else play_timer_->stop();
    if (previews_by_job_.contains(id)) {
      const QImage& img = previews_by_job_[id];
      preview_->setPixmap(QPixmap::fromImage(img.scaled(preview_->size(), Qt::KeepAspectRatio, Qt::FastTransformation)));
    }
  });
  connect(cancel_, &QPushButton::clicked, this, [this] {
    if (service_ && !selected_job().isEmpty()) service_->cancel(selected_job());
  });
  connect(retry_, &QPushButton::clicked, this, [this] {
    if (!service_ || selected_job().isEmpty()) return;
    try {
      service_->retry_with_new_seed(selected_job());
    } catch (const std::exception& e) {
      QMessageBox::warning(this, "Manyfold Studio", QString("Cannot retry the job:\n%1").arg(e.what()));
    }
  });
  connect(pause_, &QPushButton::clicked, this, [this] {
    if (service_) service_->set_paused(!service_->paused());
  });
  set_service(nullptr, "No project open.");
}

void JobsPanel::set_service(JobService* service, const QString& reason) {
  if (service_) disconnect(service_, nullptr, this, nullptr);
  service_ = service;
  list_->clear();
  rows_.clear();
  previews_by_job_.clear();
  frames_by_job_.clear();
  playing_.clear();
  if (play_timer_) play_timer_->stop();
  last_preview_ = QImage();
  previews_ = 0;
  preview_->setText("No preview yet");
  detail_->clear();
  if (!service_) {
    header_->setText(reason.isEmpty() ? "No generation engine." : reason);
    update_buttons();
    return;
  }
  header_->setText(QString("Model: %1<br>Device: %2")
                       .arg(service_->model().isEmpty() ? "<i>none configured</i>" : service_->model().toHtmlEscaped())
                       .arg(service_->device().toHtmlEscaped()));
  connect(service_, &JobService::job_changed, this, &JobsPanel::update_row);
  connect(service_, &JobService::preview_ready, this, &JobsPanel::show_preview);
  connect(service_, &JobService::preview_frames_ready, this, &JobsPanel::show_preview_frames);
  connect(service_, &JobService::paused_changed, this, [this](bool) { update_buttons(); });
  for (const JobRow& r : service_->jobs()) update_row(r);
  update_buttons();
}

QTreeWidgetItem* JobsPanel::item_for(const QString& id) const {
  for (int i = 0; i < list_->topLevelItemCount(); ++i)
    if (list_->topLevelItem(i)->data(0, Qt::UserRole).toString() == id) return list_->topLevelItem(i);
  return nullptr;
}

void JobsPanel::update_row(const JobRow& row) {
  rows_[row.id] = row;
  QTreeWidgetItem* item = item_for(row.id);
  if (!item) {
    item = new QTreeWidgetItem(list_);
    item->setData(0, Qt::UserRole, row.id);
    if (!list_->currentItem()) list_->setCurrentItem(item);
  }
  item->setText(0, row.id);
  item->setText(1, row.task);
  item->setText(2, row.state);
  item->setForeground(2, state_colour(row.state));
  item->setText(3, row.total > 0 ? QString("%1/%2").arg(row.step).arg(row.total) : QString());
  const bool active = row.state == "running" || row.state == "preparing" || row.state == "decoding";
  item->setText(4, active && row.total > 0 ? QString("%1  (%2 s/step)").arg(fmt_seconds(row.eta_seconds))
                                                  .arg(row.seconds_per_step, 0, 'f', 2)
                                           : QString());
  QString tip = row.prompt.isEmpty() ? row.task : row.prompt;
  if (!row.message.isEmpty()) tip += "\n" + row.message;
  if (!row.outputs.isEmpty()) tip += "\n" + row.outputs.join("\n");
  for (int c = 0; c < 5; ++c) item->setToolTip(c, tip);
  if (selected_job() == row.id) {
    QString d;
    if (!row.message.isEmpty()) d = QString("<span style='color:#eb645a'>%1</span>").arg(row.message.toHtmlEscaped());
    else if (!row.outputs.isEmpty()) d = "Written: " + row.outputs.first().toHtmlEscaped();
    detail_->setText(d);
  }
  update_buttons();
}

void JobsPanel::show_preview(const QString& id, const QImage& frame, int step, int total) {
  ++previews_;
  last_preview_ = frame;
  previews_by_job_[id] = frame;
  if (selected_job().isEmpty() || selected_job() == id) {
    preview_->setPixmap(QPixmap::fromImage(frame.scaled(preview_->size(), Qt::KeepAspectRatio, Qt::FastTransformation)));
    preview_->setToolTip(QString("Job %1, step %2/%3").arg(id).arg(step).arg(total));
  }
}

void JobsPanel::show_preview_frames(const QString& id, const QList<QImage>& frames, int, int) {
  frames_by_job_[id] = frames;
  if (selected_job().isEmpty() || selected_job() == id) {
    playing_ = frames;
    play_index_ = 0;
    if (playing_.size() > 1 && !play_timer_->isActive()) play_timer_->start();
  }
}

void JobsPanel::play_next_frame() {
  if (playing_.isEmpty()) {
    play_timer_->stop();
    return;
  }
  play_index_ = (play_index_ + 1) % static_cast<int>(playing_.size());
  const QImage& f = playing_[play_index_];
  preview_->setPixmap(QPixmap::fromImage(f.scaled(preview_->size(), Qt::KeepAspectRatio, Qt::FastTransformation)));
  ++frames_shown_;
}

void JobsPanel::open_result() {
  const QString id = selected_job();
  if (!rows_.contains(id) || rows_[id].outputs.isEmpty()) return;
  QDesktopServices::openUrl(QUrl::fromLocalFile(rows_[id].outputs.first()));
}

void JobsPanel::update_buttons() {
  const QString id = selected_job();
  const bool has = service_ && rows_.contains(id);
  cancel_->setEnabled(has && !rows_[id].terminal());
  retry_->setEnabled(has);
  pause_->setEnabled(service_ != nullptr);
  open_->setEnabled(has && rows_[id].state == "finished" && !rows_[id].outputs.isEmpty());
  pause_->setText(service_ && service_->paused() ? "Resume queue" : "Pause queue");
}

int JobsPanel::row_count() const { return list_->topLevelItemCount(); }

QString JobsPanel::state_of(const QString& id) const { return rows_.contains(id) ? rows_[id].state : QString(); }

QString JobsPanel::selected_job() const {
  const QTreeWidgetItem* it = list_->currentItem();
  return it ? it->data(0, Qt::UserRole).toString() : QString();
}

}  // namespace mf::ui
