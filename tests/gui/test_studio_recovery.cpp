// Killing the studio with unsaved edits, then starting it again, recovers the edits: a helper process opens the
// project in the real MainWindow, edits it, lets the autosave run and is killed with SIGKILL; the project is then
// opened in a new window that recovers the journal.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "gui_test_util.h"
#include "mf/project/session.h"
#include "mf/ui/main_window.h"

namespace fs = std::filesystem;

TEST(StudioRecovery, KilledWithUnsavedEditsRecoversThemOnTheNextStart) {
  mf::test::gui_app();
  const fs::path dir = mf::test::fresh_temp_path("recovery");
  {
    mf::project::NewProjectOptions o;
    o.name = "kill me";
    auto s = mf::project::ProjectSession::create(dir, o);
    s->save();
    s->close();
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(MF_STUDIO_CRASH_HELPER, MF_STUDIO_CRASH_HELPER, dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the helper exited with " << WEXITSTATUS(status) << " instead of being killed";
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  // The saved project.json does not have the edit; the next start offers the journal, and recovering brings it back.
  {
    auto plain = mf::project::ProjectSession::open(dir);
    EXPECT_TRUE(plain->document().timeline.markers.empty());
    EXPECT_TRUE(plain->has_recovery());
  }
  mf::ui::MainWindow w;
  w.set_recovery(mf::ui::MainWindow::Recovery::Recover);
  ASSERT_TRUE(w.open_project(dir, true));
  const auto& markers = w.session()->document().timeline.markers;
  ASSERT_EQ(markers.size(), 1u);
  EXPECT_EQ(markers[0].label, "unsaved edit");
  EXPECT_TRUE(w.session()->is_dirty());  // recovered, not yet saved
  ASSERT_TRUE(w.save_project());
  mf::ui::MainWindow again;
  ASSERT_TRUE(again.open_project(dir, true));
  EXPECT_EQ(again.session()->document().timeline.markers.size(), 1u);
  EXPECT_FALSE(again.session()->has_recovery());
  fs::remove_all(dir);
}
