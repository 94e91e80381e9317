// JSON round trips, project.json errors and migrations, atomic writes, the project session (save, save-as,
// autosave, crash recovery), imports, and the recent-projects list. Every test works in its own temp folder.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "mf/core/error.h"
#include "mf/project/persistence.h"
#include "mf/project/recent.h"
#include "mf/project/session.h"
#include "project_test_util.h"

using namespace mf::project;
using mf::project::testing::dump;
using mf::project::testing::Editor;
using mf::project::testing::rich_project;

namespace {

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root = fs::temp_directory_path() /
           ("mf_project_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(root);
    fs::create_directories(root);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  static void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }
  static std::string error_of(const std::function<void()>& fn, mf::ErrorCode expected) {
    try {
      fn();
    } catch (const mf::Error& e) {
      EXPECT_EQ(e.code(), expected) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "no error thrown";
    return {};
  }
  fs::path root;
};

}  // namespace

TEST(ProjectJson, RoundTripIsExact) {
  const Project p = rich_project();
  const auto j = to_json(p);
  const Project back = project_from_json(j);
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(back.fps, p.fps);
  EXPECT_EQ(back.media[2].fps, Rational(30000, 1001));
  EXPECT_EQ(back.timeline.tracks[0].clips[1].take_group, p.timeline.tracks[0].clips[1].take_group);
  // The text form is stable (sorted keys), so equal documents give equal files.
  const std::string text = project_to_text(p);
  EXPECT_EQ(project_to_text(parse_project_text(text, "mem")), text);
  EXPECT_EQ(j["schema_version"], kSchemaVersion);
}

TEST(ProjectJson, ErrorsNameTheFileAndField) {
  auto j = to_json(rich_project());
  j["timeline"]["tracks"][0]["clips"][1]["source_in"] = "ten";
  try {
    project_from_json(j, "/some/project.json");
    FAIL() << "accepted a string frame";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadFile);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("/some/project.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("timeline.tracks[0].clips[1].source_in"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected an integer"), std::string::npos) << msg;
  }
  auto k = to_json(rich_project());
  k["timeline"]["mask_tracks"][0]["interpolation"] = "cubic";
  EXPECT_THROW(project_from_json(k), mf::Error);
  auto m = to_json(rich_project());
  m["media"][0].erase("path");
  EXPECT_THROW(project_from_json(m), mf::Error);
  auto f = to_json(rich_project());
  f["fps"] = "thirty";
  EXPECT_THROW(project_from_json(f), mf::Error);
}

TEST(ProjectJson, MigrationHook) {
  // A pretend future: version 3 renamed "name" to "title" in two steps.
  Migrations mig;
  mig.current = 3;
  mig.steps[1] = [](nlohmann::json& d) { d["title_v2"] = d["name"]; };
  mig.steps[2] = [](nlohmann::json& d) {
    d["title"] = d["title_v2"];
    d.erase("title_v2");
  };
  nlohmann::json doc = {{"schema_version", 1}, {"name", "old"}};
  const auto up = migrate_project_json(doc, "p.json", mig);
  EXPECT_EQ(up["schema_version"], 3);
  EXPECT_EQ(up["title"], "old");
  EXPECT_FALSE(up.contains("title_v2"));
  // A gap in the chain is reported.
  mig.steps.erase(2);
  EXPECT_THROW(migrate_project_json(doc, "p.json", mig), mf::Error);
  // The build's own chain accepts the current version unchanged.
  const auto cur = to_json(rich_project());
  EXPECT_EQ(migrate_project_json(cur, "p.json"), cur);
  EXPECT_THROW(migrate_project_json(nlohmann::json{{"schema_version", 0}}, "p.json"), mf::Error);
  EXPECT_THROW(migrate_project_json(nlohmann::json::array(), "p.json"), mf::Error);
}

TEST_F(TempDir, AtomicWriteReplacesWithoutLeftovers) {
  const fs::path f = root / "x.json";
  atomic_write_file(f, "one");
  atomic_write_file(f, "two");
  EXPECT_EQ(read_file(f), "two");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);  // no temp files left behind
  const std::string msg = error_of([&] { atomic_write_file(root / "missing" / "x.json", "a"); }, mf::ErrorCode::Io);
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { read_file(root / "nope.json"); }, mf::ErrorCode::Io).find("nope.json"), std::string::npos);
}

TEST_F(TempDir, CorruptNewerAndInconsistentFilesGiveActionableErrors) {
  const fs::path dir = root / "p";
  { auto s = ProjectSession::create(dir, NewProjectOptions{"P", Rational(24), {640, 360}}); }
  const fs::path file = dir / kProjectFileName;
  const std::string good = read_file(file);

  write(file, good.substr(0, good.size() / 2));  // cut short by a crash
  std::string msg = error_of([&] { ProjectSession::open(dir); }, mf::ErrorCode::BadFile);
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("restore a backup"), std::string::npos) << msg;

  auto j = nlohmann::json::parse(good);
  j["schema_version"] = 7;
  write(file, j.dump());
  msg = error_of([&] { ProjectSession::open(dir); }, mf::ErrorCode::Unsupported);
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("newer Manyfold"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Update Manyfold"), std::string::npos) << msg;

  auto bad = to_json(rich_project());
  bad["timeline"]["tracks"][0]["clips"][1]["timeline_start"] = 20;  // overlaps the first clip
  write(file, bad.dump());
  msg = error_of([&] { ProjectSession::open(dir); }, mf::ErrorCode::BadFile);
  EXPECT_NE(msg.find("inconsistent"), std::string::npos) << msg;
  EXPECT_NE(msg.find("overlaps"), std::string::npos) << msg;

  msg = error_of([&] { ProjectSession::open(root / "empty"); }, mf::ErrorCode::Io);
  EXPECT_NE(msg.find("project.json"), std::string::npos) << msg;
}

TEST_F(TempDir, CreateSaveOpenRoundTrip) {
  const fs::path dir = root / "film";
  auto s = ProjectSession::create(dir, NewProjectOptions{"Film", Rational(30000, 1001), {832, 480}});
  for (const char* sub : {"media", "masks", "renders", "jobs"}) EXPECT_TRUE(fs::is_directory(dir / sub)) << sub;
  EXPECT_FALSE(s->is_dirty());
  EXPECT_THROW(ProjectSession::create(dir, {}), mf::Error);  // never overwrite a project

  write(root / "clip.mp4", "not really a video");
  MediaItem m;
  m.path = s->import_file(root / "clip.mp4");
  EXPECT_EQ(m.path, "media/clip.mp4");
  m.frame_count = 50;
  const std::string media = s->push(std::make_unique<AddMedia>(m)).media_id();
  const std::string track = s->push(std::make_unique<AddTrack>("V1")).track_id();
  s->push(std::make_unique<AddClip>(ClipPlacement{track, media, {0, 50}, 0, "", "", nullptr}));
  EXPECT_TRUE(s->is_dirty());
  s->save();
  EXPECT_FALSE(s->is_dirty());
  const std::string saved = dump(s->document());
  s.reset();

  auto again = ProjectSession::open(dir / "project.json");  // the file works as well as the folder
  EXPECT_EQ(dump(again->document()), saved);
  EXPECT_FALSE(again->has_recovery());
  EXPECT_FALSE(again->is_dirty());
  EXPECT_EQ(again->document().fps, Rational(30000, 1001));
  EXPECT_EQ(again->to_absolute("media/clip.mp4"), dir / "media" / "clip.mp4");
  EXPECT_TRUE(fs::exists(again->to_absolute(again->document().media[0].path)));
}

TEST_F(TempDir, ImportPathsAndMaskPaths) {
  auto s = ProjectSession::create(root / "p", {});
  write(root / "in" / "shot.mov", "a");
  EXPECT_EQ(s->import_file(root / "in" / "shot.mov"), "media/shot.mov");
  EXPECT_EQ(s->import_file(root / "in" / "shot.mov"), "media/shot-2.mov");  // never overwrites
  EXPECT_EQ(s->import_file(root / "p" / "media" / "shot.mov"), "media/shot.mov");  // already inside: not copied
  EXPECT_EQ(s->to_relative(root / "p" / "renders" / "r.mp4"), "renders/r.mp4");
  EXPECT_THROW(s->to_relative(root / "in" / "shot.mov"), mf::Error);
  EXPECT_THROW(s->to_absolute("../x"), mf::Error);
  EXPECT_THROW(s->import_file(root / "in" / "missing.mov"), mf::Error);
  const std::string p1 = s->new_mask_path("mask-3", 12);
  EXPECT_EQ(p1, "masks/mask-3/f000012-1.png");
  write(s->to_absolute(p1), "png");
  EXPECT_EQ(s->new_mask_path("mask-3", 12), "masks/mask-3/f000012-2.png");
}

TEST_F(TempDir, SaveAsCopiesTheFolderAndContinuesThere) {
  const fs::path old_dir = root / "old";
  auto s = ProjectSession::create(old_dir, NewProjectOptions{"Old", Rational(24), {640, 360}});
  write(root / "a.mp4", "frames");
  MediaItem m;
  m.path = s->import_file(root / "a.mp4");
  s->push(std::make_unique<AddMedia>(m));
  s->save();
  write(old_dir / "masks" / "mask-9" / "f1.png", "mask");
  s->push(std::make_unique<AddMarker>(3, "unsaved"));
  s->autosave();
  const std::string old_text = read_file(old_dir / kProjectFileName);

  write(root / "busy" / "x.txt", "occupied");
  EXPECT_THROW(s->save_as(root / "busy"), mf::Error);

  s->save_as(root / "new");
  EXPECT_EQ(s->folder(), fs::absolute(root / "new"));
  EXPECT_FALSE(s->is_dirty());
  EXPECT_EQ(read_file(root / "new" / "media" / "a.mp4"), "frames");
  EXPECT_EQ(read_file(root / "new" / "masks" / "mask-9" / "f1.png"), "mask");
  EXPECT_EQ(read_file(old_dir / kProjectFileName), old_text);  // the old project keeps its saved state
  EXPECT_FALSE(fs::exists(old_dir / kAutosaveDir / "journal.json"));
  auto reopened = ProjectSession::open(root / "new");
  EXPECT_EQ(reopened->document().timeline.markers.size(), 1u);
}

TEST_F(TempDir, CrashThenRecoverBringsTheEditsBack) {
  const fs::path dir = root / "p";
  std::string edited, journaled;
  {
    auto s = ProjectSession::create(dir, NewProjectOptions{"Crashy", Rational(25), {640, 360}});
    MediaItem m;
    m.path = "media/a.mp4";
    m.frame_count = 80;
    const std::string media = s->push(std::make_unique<AddMedia>(m)).media_id();
    const std::string track = s->push(std::make_unique<AddTrack>("V1")).track_id();
    s->save();
    EXPECT_FALSE(s->autosave());  // clean: nothing to journal
    const std::string clip =
        s->push(std::make_unique<AddClip>(ClipPlacement{track, media, {0, 40}, 0, "", "", nullptr})).clip_id();
    s->push(std::make_unique<SetFrameMark>(MarkSlot::First, FrameMark{clip, 3}));
    s->push(std::make_unique<AddMarker>(10, "crash soon"));
    EXPECT_TRUE(s->autosave());
    EXPECT_FALSE(s->autosave());  // nothing changed since
    journaled = dump(s->document());
    s->push(std::make_unique<AddMarker>(11, "after the last autosave"));
    edited = dump(s->document());
    EXPECT_TRUE(fs::exists(s->journal_file()));
    // "Crash": the session is dropped without save() or close().
  }
  EXPECT_NE(journaled, edited);
  auto s = ProjectSession::open(dir);
  ASSERT_TRUE(s->has_recovery()) << s->recovery_problem();
  const auto info = s->recovery_info();
  ASSERT_TRUE(info);
  EXPECT_EQ(info->undo_index, 5u);  // media, track, clip, mark, marker
  EXPECT_EQ(info->undo_count, 5u);
  EXPECT_EQ(info->document_name, "Crashy");
  EXPECT_GT(info->written_at_unix_ms, 0);
  EXPECT_FALSE(s->autosave());  // the journal is kept until the user decides
  EXPECT_EQ(s->document().timeline.markers.size(), 0u);
  s->recover();
  EXPECT_EQ(dump(s->document()), journaled);  // everything up to the last autosave is back
  EXPECT_TRUE(s->is_dirty());
  EXPECT_FALSE(s->undo_stack().can_undo());
  // A second crash right away still has the journal.
  s.reset();
  s = ProjectSession::open(dir);
  ASSERT_TRUE(s->has_recovery());
  s->recover();
  s->push(std::make_unique<AddMarker>(12, "more"));
  EXPECT_TRUE(s->autosave());
  s->save();
  EXPECT_FALSE(fs::exists(s->journal_file()));
  const std::string saved = dump(s->document());
  s.reset();
  s = ProjectSession::open(dir);
  EXPECT_FALSE(s->has_recovery());
  EXPECT_EQ(dump(s->document()), saved);
}

TEST_F(TempDir, DiscardCloseAndCleanStates) {
  const fs::path dir = root / "p";
  {
    auto s = ProjectSession::create(dir, {});
    s->push(std::make_unique<AddMarker>(1, "x"));
    EXPECT_TRUE(s->autosave());
    // Undoing back to the saved state removes the journal: there is nothing to recover.
    s->undo_stack().undo();
    EXPECT_FALSE(s->autosave());
    EXPECT_FALSE(fs::exists(s->journal_file()));
    s->undo_stack().redo();
    EXPECT_TRUE(s->autosave());
  }
  {
    auto s = ProjectSession::open(dir);
    ASSERT_TRUE(s->has_recovery());
    s->discard_recovery();
    EXPECT_FALSE(s->has_recovery());
    EXPECT_FALSE(fs::exists(s->journal_file()));
    EXPECT_THROW(s->recover(), mf::Error);
    s->push(std::make_unique<AddMarker>(2, "y"));
    EXPECT_TRUE(s->autosave());
    s->close();  // the user chose not to save
    EXPECT_FALSE(fs::exists(s->journal_file()));
  }
  auto s = ProjectSession::open(dir);
  EXPECT_FALSE(s->has_recovery());
  EXPECT_TRUE(s->document().timeline.markers.empty());
}

TEST_F(TempDir, StaleOrDamagedJournalsAreNotOffered) {
  const fs::path dir = root / "p";
  {
    auto s = ProjectSession::create(dir, {});
    s->push(std::make_unique<AddMarker>(1, "x"));
    s->autosave();
  }
  const fs::path journal = dir / kAutosaveDir / "journal.json";
  const std::string journal_text = read_file(journal);
  // project.json changed after the journal was written (saved by another tool): the journal is stale.
  {
    auto j = nlohmann::json::parse(read_file(dir / kProjectFileName));
    j["name"] = "edited elsewhere";
    write(dir / kProjectFileName, j.dump(2));
  }
  auto s = ProjectSession::open(dir);
  EXPECT_FALSE(s->has_recovery());
  EXPECT_NE(s->recovery_problem().find("older state"), std::string::npos) << s->recovery_problem();
  s.reset();
  // A damaged journal is reported, not offered, and never blocks opening the project.
  write(journal, journal_text.substr(0, 40));
  s = ProjectSession::open(dir);
  EXPECT_FALSE(s->has_recovery());
  EXPECT_NE(s->recovery_problem().find("cannot be used"), std::string::npos) << s->recovery_problem();
}

TEST_F(TempDir, RecentProjectsList) {
  const fs::path file = root / "cfg" / "manyfold" / "recent.json";
  RecentProjects recent(file, 3);
  EXPECT_TRUE(recent.list().empty());
  for (const char* name : {"a", "b", "c"}) {
    ProjectSession::create(root / name, NewProjectOptions{name, Rational(24), {64, 64}});
    recent.add(root / name, name);
  }
  auto l = recent.list();
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].name, "c");
  recent.add(root / "a" / ".", "a");  // same folder spelled differently moves to the front
  l = recent.list();
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].name, "a");
  EXPECT_EQ(l[1].name, "c");
  recent.add(root / "d", "d");
  EXPECT_EQ(recent.list().size(), 3u);  // capped
  EXPECT_EQ(recent.prune_missing(), 1u);  // d has no project.json
  recent.remove(root / "c");
  l = recent.list();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].name, "a");
  // A damaged list reads as empty with an explanation and is replaced by the next add.
  write(file, "{{{");
  EXPECT_TRUE(recent.list().empty());
  EXPECT_FALSE(recent.problem().empty());
  recent.add(root / "b", "b");
  EXPECT_EQ(recent.list().size(), 1u);
  EXPECT_TRUE(recent.problem().empty());

  const char* home = std::getenv("HOME");
  const std::string saved_home = home ? home : "";
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const std::string saved_xdg = xdg ? xdg : "";
  ::setenv("XDG_CONFIG_HOME", (root / "xdg").c_str(), 1);
  EXPECT_EQ(RecentProjects::default_file(), root / "xdg" / "manyfold" / "recent.json");
  ::unsetenv("XDG_CONFIG_HOME");
  ::setenv("HOME", root.c_str(), 1);
  EXPECT_EQ(RecentProjects::default_file(), root / ".config" / "manyfold" / "recent.json");
  ::setenv("HOME", saved_home.c_str(), 1);
  if (xdg) ::setenv("XDG_CONFIG_HOME", saved_xdg.c_str(), 1);
}

TEST_F(TempDir, KilledProcessRecoversOnNextStart) {
  // A real crash: a child process edits, autosaves and is killed with SIGKILL (no destructors, no save).
  const fs::path dir = root / "killed";
  { auto s = ProjectSession::create(dir, NewProjectOptions{"Killed", Rational(24), {640, 360}}); }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = ProjectSession::open(dir);
    MediaItem m;
    m.path = "media/a.mp4";
    m.frame_count = 30;
    const std::string media = s->push(std::make_unique<AddMedia>(m)).media_id();
    const std::string track = s->push(std::make_unique<AddTrack>("V1")).track_id();
    s->push(std::make_unique<AddClip>(ClipPlacement{track, media, {0, 30}, 12, "shot", "", nullptr}));
    s->autosave();
    ::kill(::getpid(), SIGKILL);
    ::_exit(3);  // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  auto s = ProjectSession::open(dir);
  EXPECT_TRUE(s->document().timeline.tracks.empty());  // project.json was never saved with the edits
  ASSERT_TRUE(s->has_recovery()) << s->recovery_problem();
  s->recover();
  ASSERT_EQ(s->document().timeline.tracks.size(), 1u);
  ASSERT_EQ(s->document().timeline.tracks[0].clips.size(), 1u);
  EXPECT_EQ(s->document().timeline.tracks[0].clips[0].name, "shot");
  EXPECT_EQ(s->document().timeline.tracks[0].clips[0].timeline_start, 12);
  // The recovered document lists the file it needs that is not there (the child never copied one).
  EXPECT_EQ(s->missing_files(), std::vector<std::string>{"media/a.mp4"});
  write(s->to_absolute("media/a.mp4"), "frames");
  EXPECT_TRUE(s->missing_files().empty());
}

TEST_F(TempDir, AutosaveWriteOnAWorkerThread) {
  const fs::path dir = root / "p";
  {
    auto s = ProjectSession::create(dir, {});
    EXPECT_FALSE(s->prepare_autosave());  // nothing changed
    s->push(std::make_unique<AddMarker>(4, "threaded"));
    auto write = s->prepare_autosave();
    ASSERT_TRUE(write);
    EXPECT_FALSE(write->remove);
    EXPECT_FALSE(s->prepare_autosave());  // already prepared for this revision
    std::thread worker([w = *write] { w.run(); });
    worker.join();
    // A write that lands after save() is tied to the old project.json and is not offered later.
    s->push(std::make_unique<AddMarker>(5, "late"));
    auto late = s->prepare_autosave();
    ASSERT_TRUE(late);
    s->save();
    late->run();
  }
  auto s = ProjectSession::open(dir);
  EXPECT_FALSE(s->has_recovery());
  EXPECT_NE(s->recovery_problem().find("older state"), std::string::npos) << s->recovery_problem();
  EXPECT_EQ(s->document().timeline.markers.size(), 2u);
  // Back to clean after an autosave: the prepared step removes the journal.
  s->push(std::make_unique<AddMarker>(6, "x"));
  s->prepare_autosave()->run();
  EXPECT_TRUE(fs::exists(s->journal_file()));
  s->undo_stack().undo();
  auto clean = s->prepare_autosave();
  ASSERT_TRUE(clean);
  EXPECT_TRUE(clean->remove);
  clean->run();
  EXPECT_FALSE(fs::exists(s->journal_file()));
}
