// projects/schema/project.schema.json must describe what the code writes: documents written by to_json
// validate against it, damaged ones do not, and every property the schema names is actually written.
// The validator below covers the subset of JSON Schema 2020-12 that the schema uses.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "mf/project/persistence.h"
#include "project_test_util.h"

using namespace mf::project;
using nlohmann::json;

namespace {

class MiniValidator {
 public:
  explicit MiniValidator(json schema) : root_(std::move(schema)) {}

  std::vector<std::string> validate(const json& doc) {
    errors_.clear();
    check(doc, root_, "$");
    return errors_;
  }
  // "def/property" pairs that some valid document used.
  const std::set<std::string>& seen() const { return seen_; }

  // Every "def/property" the schema declares.
  std::set<std::string> declared() const {
    std::set<std::string> out;
    auto add = [&](const std::string& owner, const json& s) {
      if (s.contains("properties"))
        for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) out.insert(owner + "/" + it.key());
    };
    add("#", root_);
    for (auto it = root_["$defs"].begin(); it != root_["$defs"].end(); ++it) add(it.key(), it.value());
    return out;
  }

 private:
  const json& resolve(const json& s, std::string* owner) const {
    if (!s.contains("$ref")) return s;
    const std::string ref = s["$ref"];
    const std::string prefix = "#/$defs/";
    if (ref.rfind(prefix, 0) != 0) throw std::runtime_error("unsupported $ref " + ref);
    *owner = ref.substr(prefix.size());
    return root_["$defs"].at(*owner);
  }

  static bool has_type(const json& v, const std::string& t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "integer") return v.is_number_integer();
    if (t == "number") return v.is_number();
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    return false;
  }

  bool quiet_ok(const json& v, const json& s, const std::string& path) {
    auto saved = errors_;
    errors_.clear();
    check(v, s, path);
    const bool ok = errors_.empty();
    errors_ = saved;
    return ok;
  }

  void check(const json& v, const json& schema_in, const std::string& path, std::string owner = "#") {
    // A sibling "description" next to "$ref" is allowed; other keywords next to "$ref" are checked too.
    const json& s = resolve(schema_in, &owner);
    auto fail = [&](const std::string& why) { errors_.push_back(path + ": " + why); };
    if (&s != &schema_in) {
      check(v, s, path, owner);
      return;
    }
    if (s.contains("const") && v != s["const"]) fail("must equal " + s["const"].dump());
    if (s.contains("type")) {
      bool ok = false;
      if (s["type"].is_string()) ok = has_type(v, s["type"]);
      else
        for (const auto& t : s["type"]) ok = ok || has_type(v, t);
      if (!ok) return fail("wrong type " + std::string(v.type_name()) + ", expected " + s["type"].dump());
    }
    if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end())
      fail("not one of " + s["enum"].dump());
    if (s.contains("anyOf")) {
      bool ok = false;
      for (const auto& sub : s["anyOf"]) ok = ok || quiet_ok(v, sub, path);
      if (!ok) fail("matches none of anyOf");
      if (ok)
        for (const auto& sub : s["anyOf"])
          if (quiet_ok(v, sub, path)) {
            check(v, sub, path, owner);  // record the properties seen through the branch that matched
            break;
          }
    }
    if (s.contains("allOf"))
      for (const auto& sub : s["allOf"]) check(v, sub, path, owner);
    if (v.is_number_integer() && s.contains("minimum") && v.get<std::int64_t>() < s["minimum"].get<std::int64_t>())
      fail("below minimum " + s["minimum"].dump());
    if (v.is_string()) {
      const std::string str = v;
      if (s.contains("minLength") && str.size() < s["minLength"].get<std::size_t>()) fail("too short");
      if (s.contains("pattern") && !std::regex_search(str, std::regex(s["pattern"].get<std::string>())))
        fail("'" + str + "' does not match " + s["pattern"].get<std::string>());
    }
    if (v.is_object()) {
      if (s.contains("required"))
        for (const auto& r : s["required"])
          if (!v.contains(r.get<std::string>())) fail("missing required '" + r.get<std::string>() + "'");
      const json props = s.value("properties", json::object());
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (props.contains(it.key())) {
          seen_.insert(owner + "/" + it.key());
          check(it.value(), props[it.key()], path + "." + it.key());
        } else if (s.contains("additionalProperties") && s["additionalProperties"] == false) {
          fail("unexpected property '" + it.key() + "'");
        }
      }
    }
    if (v.is_array() && s.contains("items"))
      for (std::size_t i = 0; i < v.size(); ++i) check(v[i], s["items"], path + "[" + std::to_string(i) + "]");
  }

  json root_;
  std::vector<std::string> errors_;
  std::set<std::string> seen_;
};

json load_schema() {
  return json::parse(read_file(fs::path(MF_SOURCE_DIR) / "projects" / "schema" / "project.schema.json"));
}

}  // namespace

TEST(ProjectSchema, WrittenDocumentsValidate) {
  MiniValidator v(load_schema());
  const auto rich = to_json(mf::project::testing::rich_project());
  auto errors = v.validate(rich);
  EXPECT_TRUE(errors.empty()) << mf::project::testing::join(errors);
  Project fresh;
  fresh.name = "new";
  errors = v.validate(to_json(fresh));
  EXPECT_TRUE(errors.empty()) << mf::project::testing::join(errors);
  // The rich document uses every property the schema declares, so the schema describes nothing imaginary.
  for (const auto& p : v.declared()) EXPECT_TRUE(v.seen().count(p)) << "schema property never written: " << p;
}

TEST(ProjectSchema, DamagedDocumentsDoNotValidate) {
  MiniValidator v(load_schema());
  const auto good = to_json(mf::project::testing::rich_project());
  auto expect_invalid = [&](auto edit, const std::string& what) {
    json d = good;
    edit(d);
    EXPECT_FALSE(v.validate(d).empty()) << what;
  };
  expect_invalid([](json& d) { d["schema_version"] = 2; }, "other version");
  expect_invalid([](json& d) { d["surprise"] = 1; }, "unknown top-level field");
  expect_invalid([](json& d) { d.erase("fps"); }, "missing fps");
  expect_invalid([](json& d) { d["fps"] = "fast"; }, "fps not rational");
  expect_invalid([](json& d) { d["media"][0]["path"] = "/abs/a.mp4"; }, "absolute path");
  expect_invalid([](json& d) { d["media"][0]["path"] = "media/../../a.mp4"; }, "path escaping the folder");
  expect_invalid([](json& d) { d["media"][0]["kind"] = "audio"; }, "unknown kind");
  expect_invalid([](json& d) { d["timeline"]["tracks"][0]["clips"][0]["source_in"] = 1.5; }, "fractional frame");
  expect_invalid([](json& d) { d["timeline"]["mask_tracks"][0]["interpolation"] = "cubic"; }, "bad interpolation");
  expect_invalid([](json& d) { d["timeline"]["mask_tracks"][0]["keyframes"][0]["path"] = "media/x.png"; },
                 "mask outside masks/");
  expect_invalid([](json& d) { d["timeline"]["keyframes"]["first_frame"] = 3; }, "mark not an object");
  expect_invalid([](json& d) { d["timeline"]["in_out"] = json{{"start", 1}}; }, "range without end");
  expect_invalid([](json& d) { d["resolution"]["width"] = 0; }, "zero width");
}
