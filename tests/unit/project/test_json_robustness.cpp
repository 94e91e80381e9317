// Damaged project files: random mutations of a valid project.json must either load into a document that
// satisfies every invariant or fail with mf::Error (BadFile / Unsupported) - never another exception or a crash.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "mf/core/error.h"
#include "mf/project/invariants.h"
#include "mf/project/persistence.h"
#include "project_test_util.h"

using namespace mf::project;
using nlohmann::json;

namespace {

// Collects pointers to every value in the document (JSON pointer strings).
void collect(const json& j, const std::string& at, std::vector<std::string>& out) {
  out.push_back(at);
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it) collect(it.value(), at + "/" + it.key(), out);
  if (j.is_array())
    for (std::size_t i = 0; i < j.size(); ++i) collect(j[i], at + "/" + std::to_string(i), out);
}

json random_value(std::mt19937& rng) {
  switch (std::uniform_int_distribution<int>(0, 9)(rng)) {
    case 0: return nullptr;
    case 1: return true;
    case 2: return std::uniform_int_distribution<std::int64_t>(-5, 300)(rng);
    case 3: return 1.5;
    case 4: return "x";
    case 5: return json::array();
    case 6: return json::object();
    case 7: return std::numeric_limits<std::int64_t>::max();
    case 8: return "1/0";
    default: return std::uniform_int_distribution<std::uint64_t>()(rng);
  }
}

}  // namespace

TEST(ProjectJson, RandomDamageIsRejectedCleanlyOrStaysConsistent) {
  const json good = to_json(mf::project::testing::rich_project());
  std::vector<std::string> pointers;
  collect(good, "", pointers);
  std::mt19937 rng(1234);
  int loaded = 0, rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    json doc = good;
    const int edits = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int e = 0; e < edits; ++e) {
      const std::string& at = pointers[std::uniform_int_distribution<std::size_t>(0, pointers.size() - 1)(rng)];
      const json::json_pointer ptr(at);
      if (!doc.contains(ptr)) continue;
      if (at.empty()) {
        doc = random_value(rng);
      } else if (std::uniform_int_distribution<int>(0, 3)(rng) == 0 && doc[ptr.parent_pointer()].is_object()) {
        doc[ptr.parent_pointer()].erase(ptr.back());  // a field goes missing
      } else {
        doc[ptr] = random_value(rng);
      }
    }
    // Text damage too: sometimes cut the file short.
    std::string text = doc.dump();
    if (round % 10 == 0) text = text.substr(0, std::uniform_int_distribution<std::size_t>(0, text.size())(rng));
    try {
      const Project p = parse_project_text(text, "fuzz.json");
      EXPECT_TRUE(check_invariants(p).empty());
      ++loaded;
    } catch (const mf::Error& e) {
      EXPECT_TRUE(e.code() == mf::ErrorCode::BadFile || e.code() == mf::ErrorCode::Unsupported) << e.what();
      EXPECT_NE(std::string(e.what()).find("fuzz.json"), std::string::npos) << e.what();
      ++rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "unexpected exception type: " << e.what() << "\n" << text.substr(0, 300);
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(loaded, 10);  // harmless edits (a name, a label) still load
}
