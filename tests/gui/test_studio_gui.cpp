// Studio GUI: create a project, import a generated image, add it to the timeline, paint a mask stroke on the
// canvas with real mouse events and check the mask pixels (and the PNG written under masks/), then undo/redo.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include <QApplication>
#include <QImage>
#include <QListWidget>
#include <QTest>

#include "mf/project/document.h"
#include "mf/project/session.h"
#include "mf/project/commands.h"
#include "mf/project/selection.h"
#include "mf/ui/canvas_widget.h"
#include "mf/ui/diagnostics_overlay.h"
#include "gui_test_util.h"
#include "mf/ui/main_window.h"
#include "mf/ui/timeline_widget.h"

namespace fs = std::filesystem;

namespace {

QApplication& app() { return mf::test::gui_app(); }

fs::path temp_dir(const std::string& tag) { return mf::test::fresh_temp_path(tag); }

int count_below(const QImage& mask, int threshold) {
  int n = 0;
  for (int y = 0; y < mask.height(); ++y)
    for (int x = 0; x < mask.width(); ++x)
      if (qGray(mask.pixel(x, y)) < threshold) ++n;
  return n;
}

// A shown studio window with a new project holding one flat 160x96 image, opened on the canvas (double-click in
// the media bin) at `playhead`: where several tests start. open() returns "" or what failed.
struct FlatImageStudio {
  fs::path root;
  mf::ui::MainWindow w;
  std::string open(const std::string& tag, const QColor& colour, int playhead) {
    app();
    root = temp_dir(tag);
    fs::create_directories(root);
    QImage src(160, 96, QImage::Format_RGB888);
    src.fill(colour);
    const fs::path png = root / "flat.png";
    if (!src.save(QString::fromStdString(png.string()))) return "cannot write " + png.string();
    w.resize(1200, 800);
    w.show();
    if (!QTest::qWaitForWindowExposed(&w)) return "the window was never exposed";
    if (!w.new_project(root / "proj", true)) return "new_project failed";
    if (!w.import_media(png, true)) return "import_media failed";
    auto* bin = w.findChild<QListWidget*>("media_bin");
    if (!bin || bin->count() != 1) return "the media bin does not hold the imported image";
    Q_EMIT bin->itemDoubleClicked(bin->item(0));
    w.set_playhead(playhead);
    if (w.canvas()->clip_id().empty()) return "the canvas shows no clip after the double-click";
    return "";
  }
};

}  // namespace

TEST(StudioGui, PaintMaskStrokeUndoRedo) {
  app();
  const fs::path root = temp_dir("paint");
  fs::create_directories(root);
  // A generated 160x96 gradient image to import.
  QImage src(160, 96, QImage::Format_RGB888);
  for (int y = 0; y < src.height(); ++y)
    for (int x = 0; x < src.width(); ++x) src.setPixelColor(x, y, QColor(x, y * 2, 128));
  const fs::path png = root / "gradient.png";
  ASSERT_TRUE(src.save(QString::fromStdString(png.string())));

  mf::ui::MainWindow w;
  w.resize(1200, 800);
  w.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&w));
  ASSERT_TRUE(w.new_project(root / "proj", true));
  ASSERT_TRUE(w.import_media(png, true));
  auto* session = w.session();
  ASSERT_EQ(session->document().media.size(), 1u);

  // Double-click the bin item: a track and a clip appear.
  auto* bin = w.findChild<QListWidget*>("media_bin");
  ASSERT_NE(bin, nullptr);
  ASSERT_EQ(bin->count(), 1);
  Q_EMIT bin->itemDoubleClicked(bin->item(0));
  ASSERT_EQ(session->document().timeline.tracks.size(), 1u);
  ASSERT_EQ(session->document().timeline.tracks[0].clips.size(), 1u);
  const std::string clip_id = session->document().timeline.tracks[0].clips[0].id;

  // Click on the ruler to seek to frame 3.
  auto* tl = w.timeline();
  QTest::mouseClick(tl, Qt::LeftButton, {}, QPoint(int(tl->frame_to_x(3.5)), 10));
  EXPECT_EQ(w.playhead(), 3);

  auto* canvas = w.canvas();
  ASSERT_EQ(canvas->clip_id(), clip_id);
  ASSERT_EQ(canvas->mask().size(), QSize(160, 96));
  EXPECT_EQ(count_below(canvas->mask(), 128), 0);  // nothing to regenerate yet
  const std::string before = mf::project::to_json(session->document()).dump();

  // A horizontal brush stroke through the middle of the image.
  canvas->set_tool(mf::ui::MaskTool::Brush);
  canvas->set_brush_size(10);
  const QPoint a = canvas->image_to_widget(QPointF(20, 48)).toPoint();
  const QPoint b = canvas->image_to_widget(QPointF(140, 48)).toPoint();
  QTest::mousePress(canvas, Qt::LeftButton, {}, a);
  for (int i = 1; i <= 10; ++i) QTest::mouseMove(canvas, a + (b - a) * i / 10);
  QTest::mouseRelease(canvas, Qt::LeftButton, {}, b);

  const QImage painted = canvas->mask();
  EXPECT_LT(qGray(painted.pixel(80, 48)), 128);  // on the stroke: regenerate
  EXPECT_GT(qGray(painted.pixel(80, 10)), 128);  // far from it: keep
  EXPECT_GT(qGray(painted.pixel(5, 48)), 128);   // before its start: keep
  const int painted_px = count_below(painted, 128);
  EXPECT_GT(painted_px, 120 * 6);
  EXPECT_LT(painted_px, 160 * 30);

  // One undoable step: a mask track with a keyframe at source frame 3, saved as a PNG under masks/.
  const auto& mts = session->document().timeline.mask_tracks;
  ASSERT_EQ(mts.size(), 1u);
  ASSERT_EQ(mts[0].keyframes.size(), 1u);
  EXPECT_EQ(mts[0].keyframes[0].frame, 3);
  const std::string rel = mts[0].keyframes[0].path;
  EXPECT_EQ(rel.rfind("masks/", 0), 0u) << rel;
  QImage on_disk(QString::fromStdString(session->to_absolute(rel).string()));
  ASSERT_FALSE(on_disk.isNull());
  EXPECT_EQ(count_below(on_disk.convertToFormat(QImage::Format_Grayscale8), 128), painted_px);
  const std::string after = mf::project::to_json(session->document()).dump();

  // Undo restores the document and the mask exactly.
  w.undo();
  EXPECT_EQ(mf::project::to_json(session->document()).dump(), before);
  EXPECT_EQ(count_below(canvas->mask(), 128), 0);
  // Redo.
  w.redo();
  EXPECT_EQ(mf::project::to_json(session->document()).dump(), after);
  EXPECT_EQ(count_below(canvas->mask(), 128), painted_px);

  // Save and reopen: the mask comes back from disk.
  ASSERT_TRUE(w.save_project());
  mf::ui::MainWindow w2;
  ASSERT_TRUE(w2.open_project(root / "proj", true));
  w2.set_playhead(3);
  EXPECT_EQ(count_below(w2.canvas()->mask(), 128), painted_px);
  fs::remove_all(root);
}

TEST(StudioGui, RectangleEllipseAndMaskOperations) {
  FlatImageStudio studio;
  ASSERT_EQ(studio.open("ops", QColor(40, 90, 160), 0), "");
  mf::ui::MainWindow& w = studio.w;
  const fs::path& root = studio.root;
  auto* canvas = w.canvas();

  // A rectangle drag from (40,20) to (120,76): exactly that box regenerates.
  canvas->set_tool(mf::ui::MaskTool::Rectangle);
  const QPoint a = canvas->image_to_widget(QPointF(40, 20)).toPoint();
  const QPoint b = canvas->image_to_widget(QPointF(120, 76)).toPoint();
  QTest::mousePress(canvas, Qt::LeftButton, {}, a);
  QTest::mouseMove(canvas, (a + b) / 2);
  QTest::mouseMove(canvas, b);
  QTest::mouseRelease(canvas, Qt::LeftButton, {}, b);
  const int box = count_below(canvas->mask(), 128);
  EXPECT_NEAR(box, 80 * 56, 80 * 56 * 0.08);
  EXPECT_LT(qGray(canvas->mask().pixel(80, 48)), 128);
  EXPECT_GT(qGray(canvas->mask().pixel(10, 10)), 128);

  // An ellipse with Shift keeps its inside: a hole in the box.
  canvas->set_tool(mf::ui::MaskTool::Ellipse);
  const QPoint c = canvas->image_to_widget(QPointF(70, 38)).toPoint();
  const QPoint d = canvas->image_to_widget(QPointF(90, 58)).toPoint();
  QTest::mousePress(canvas, Qt::LeftButton, Qt::ShiftModifier, c);
  QTest::mouseMove(canvas, d);
  QTest::mouseRelease(canvas, Qt::LeftButton, Qt::ShiftModifier, d);
  EXPECT_GT(qGray(canvas->mask().pixel(80, 48)), 128);
  const int holed = count_below(canvas->mask(), 128);
  EXPECT_NEAR(box - holed, 3.14159 * 10 * 10, 60);

  // Grow and shrink move the regenerate area's edge; invert swaps; clear and fill; each is one undo step.
  ASSERT_TRUE(canvas->apply_mask_op(mf::ui::MaskOp::Grow, 4));
  const int grown = count_below(canvas->mask(), 128);
  EXPECT_GT(grown, holed + 2 * 4 * (80 + 56));
  ASSERT_TRUE(canvas->apply_mask_op(mf::ui::MaskOp::Shrink, 4));
  EXPECT_NEAR(count_below(canvas->mask(), 128), holed, holed * 0.05);
  ASSERT_TRUE(canvas->apply_mask_op(mf::ui::MaskOp::Invert));
  EXPECT_NEAR(count_below(canvas->mask(), 128), 160 * 96 - holed, holed * 0.05);
  ASSERT_TRUE(canvas->apply_mask_op(mf::ui::MaskOp::Feather, 6));
  int soft = 0;
  for (int y = 0; y < 96; ++y)
    for (int x = 0; x < 160; ++x)
      if (qGray(canvas->mask().pixel(x, y)) > 20 && qGray(canvas->mask().pixel(x, y)) < 235) ++soft;
  EXPECT_GT(soft, 200) << "feathering leaves soft edges";
  ASSERT_TRUE(canvas->apply_mask_op(mf::ui::MaskOp::RegenerateAll));
  EXPECT_EQ(count_below(canvas->mask(), 128), 160 * 96);
  ASSERT_TRUE(canvas->apply_mask_op(mf::ui::MaskOp::KeepAll));
  EXPECT_EQ(count_below(canvas->mask(), 128), 0);
  w.undo();  // back to "regenerate all"
  EXPECT_EQ(count_below(canvas->mask(), 128), 160 * 96);
  w.undo();
  w.undo();
  w.undo();
  w.undo();
  w.undo();  // back to the holed box
  EXPECT_EQ(count_below(canvas->mask(), 128), holed);
  fs::remove_all(root);
}

TEST(StudioGui, DiagnosticsFallBackToTheStatusBarWithoutOpenGL) {
  app();
  // Offscreen has no OpenGL windows, so no ImGui view: the same numbers go to the status bar. (On an X display
  // test_diagnostics_gl checks the overlay itself.)
  if (mf::ui::DiagnosticsOverlay::supported()) GTEST_SKIP() << "OpenGL platform: the overlay is tested by test_diagnostics_gl";
  mf::ui::MainWindow w;
  ASSERT_TRUE(w.new_project(temp_dir("diag"), true));
  w.set_diagnostics_visible(true);
  EXPECT_TRUE(w.diagnostics_visible());
  EXPECT_EQ(w.diagnostics_overlay(), nullptr);
  const auto lines = mf::ui::format_diagnostics(w.diagnostics_snapshot());
  ASSERT_EQ(lines.size(), 4);
  EXPECT_TRUE(lines[1].startsWith("decode cache"));
  EXPECT_TRUE(lines[2].startsWith("engine idle"));
  EXPECT_GT(w.diagnostics_snapshot().rss_bytes, 0);
  w.set_diagnostics_visible(false);
  EXPECT_FALSE(w.diagnostics_visible());
}

TEST(StudioGui, StillsDropAsKeyframesAndReferencesBin) {
  app();
  const fs::path root = temp_dir("stills");
  fs::create_directories(root);
  QImage src(64, 48, QImage::Format_RGB888);
  src.fill(QColor(200, 40, 40));
  const fs::path png = root / "red.png";
  ASSERT_TRUE(src.save(QString::fromStdString(png.string())));
  mf::ui::MainWindow w;
  ASSERT_TRUE(w.new_project(root / "proj", true));
  ASSERT_TRUE(w.import_media(png, true));
  auto* s = w.session();
  const std::string media = s->document().media.front().id;
  // A still dragged from the bin onto the timeline becomes a keyframe at the drop frame.
  Q_EMIT w.timeline()->media_dropped(QString::fromStdString(media), 12, -1);
  ASSERT_EQ(s->document().timeline.keyframes.stills.size(), 1u);
  EXPECT_EQ(s->document().timeline.keyframes.stills[0].frame, 12);
  EXPECT_TRUE(s->document().timeline.tracks.empty());  // no clip was added for a still
  // The bin's drag payload is the media id.
  auto* bin = w.findChild<QListWidget*>("media_bin");
  ASSERT_NE(bin, nullptr);
  ASSERT_EQ(bin->count(), 1);
  // References: added from the bin, listed, undone.
  ASSERT_TRUE(w.add_reference(media));
  auto* refs = w.findChild<QListWidget*>("references_bin");
  ASSERT_NE(refs, nullptr);
  EXPECT_EQ(refs->count(), 1);
  EXPECT_EQ(s->document().references.size(), 1u);
  w.undo();
  EXPECT_EQ(refs->count(), 0);
  w.undo();
  EXPECT_TRUE(s->document().timeline.keyframes.stills.empty());
  // A still keyframe at the start of the in/out range is i2v's first frame.
  ASSERT_TRUE(w.add_still_keyframe(media, 0));
  s->push(std::make_unique<mf::project::SetInOut>(mf::project::FrameRange{0, 49}));
  mf::project::Selection sel;
  sel.range = mf::project::FrameRange{0, 49};
  const auto in = mf::project::gather_task_inputs(s->document(), sel);
  ASSERT_TRUE(in.first_frame.has_value());
  EXPECT_EQ(in.first_frame->media_id, media);
}

TEST(StudioGui, BrushOpacityAndHardness) {
  FlatImageStudio studio;
  ASSERT_EQ(studio.open("brush", QColor(90, 120, 150), 2), "");
  mf::ui::MainWindow& w = studio.w;
  auto* canvas = w.canvas();
  auto stroke = [&](QPointF from, QPointF to, int moves) {
    const QPoint a = canvas->image_to_widget(from).toPoint(), b = canvas->image_to_widget(to).toPoint();
    QTest::mousePress(canvas, Qt::LeftButton, {}, a);
    for (int i = 1; i <= moves; ++i) QTest::mouseMove(canvas, a + (b - a) * i / moves);
    // back and forth over the same pixels: one stroke never goes past its opacity
    for (int i = moves; i >= 0; --i) QTest::mouseMove(canvas, a + (b - a) * i / moves);
    QTest::mouseRelease(canvas, Qt::LeftButton, {}, a);
  };
  canvas->set_tool(mf::ui::MaskTool::Brush);
  canvas->set_brush_size(20);
  canvas->set_brush_opacity(0.5);
  stroke({20, 30}, {140, 30}, 12);
  const int half = qGray(canvas->mask().pixel(80, 30));
  EXPECT_NEAR(half, 128, 12) << "half-opacity stroke";
  // A second stroke (a new stroke) at 50% goes half-way again: 255 -> 128 -> 64.
  stroke({20, 30}, {140, 30}, 12);
  EXPECT_NEAR(qGray(canvas->mask().pixel(80, 30)), 64, 12);
  // Soft brush: full effect at the centre, fading to nothing at the rim.
  canvas->set_brush_opacity(1.0);
  canvas->set_brush_hardness(0.0);
  stroke({80, 70}, {80, 70}, 1);
  EXPECT_LT(qGray(canvas->mask().pixel(80, 70)), 30);
  const int mid = qGray(canvas->mask().pixel(80 + 5, 70));  // half the radius
  EXPECT_GT(mid, 60);
  EXPECT_LT(mid, 200);
  EXPECT_GT(qGray(canvas->mask().pixel(80 + 11, 70)), 240);
  // Each stroke is one undo step.
  const size_t keys = w.session()->document().timeline.mask_tracks.front().keyframes.size();
  EXPECT_EQ(keys, 1u);
  w.undo();
  EXPECT_NEAR(qGray(canvas->mask().pixel(80, 30)), 64, 12);
  EXPECT_GT(qGray(canvas->mask().pixel(80, 70)), 240);
  fs::remove_all(studio.root);
}
