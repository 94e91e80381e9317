#include "mf/project/invariants.h"

#include <cctype>
#include <map>
#include <set>

#include "mf/core/error.h"

namespace mf::project {

bool is_project_relative_path(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find('\\') != std::string::npos) return false;
  if (path.size() >= 2 && path[1] == ':') return false;  // "C:..."
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

namespace {

// The numeric suffix of "<prefix>-<n>", if any.
std::optional<std::int64_t> id_number(const std::string& id) {
  const auto dash = id.rfind('-');
  if (dash == std::string::npos || dash + 1 >= id.size() || id.size() - dash > 19) return std::nullopt;
  std::int64_t v = 0;
  for (std::size_t i = dash + 1; i < id.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(id[i]))) return std::nullopt;
    v = v * 10 + (id[i] - '0');
  }
  return v;
}

class Checker {
 public:
  explicit Checker(const Project& p) : p_(p) {}

  std::vector<std::string> run() {
    document();
    media();
    tracks();
    timeline_ranges();
    keyframes();
    masks();
    return std::move(out_);
  }

 private:
  void bad(const std::string& s) { out_.push_back(s); }

  void id(const std::string& kind, const std::string& id) {
    if (id.empty()) {
      bad("a " + kind + " has an empty id");
      return;
    }
    auto [it, inserted] = ids_.emplace(id, kind);
    if (!inserted) bad(kind + " id '" + id + "' is already used by a " + it->second);
    if (auto n = id_number(id); n && *n >= p_.next_id)
      bad(kind + " id '" + id + "' is not below next_id " + std::to_string(p_.next_id) + " (a new id would collide)");
  }

  void document() {
    if (p_.schema_version != kSchemaVersion)
      bad("schema_version is " + std::to_string(p_.schema_version) + ", expected " + std::to_string(kSchemaVersion));
    if (p_.fps.num() <= 0) bad("project fps " + p_.fps.to_string() + " is not positive");
    if (p_.resolution.width <= 0 || p_.resolution.height <= 0)
      bad("project resolution " + std::to_string(p_.resolution.width) + "x" + std::to_string(p_.resolution.height) +
          " is not positive");
    if (p_.next_id < 1) bad("next_id must be >= 1");
  }

  void media() {
    for (const auto& m : p_.media) {
      id("media item", m.id);
      if (!is_project_relative_path(m.path))
        bad("media " + m.id + " path '" + m.path + "' is not a relative path inside the project folder");
      if (m.frame_count < 1) bad("media " + m.id + " has frame_count " + std::to_string(m.frame_count));
      if (m.kind == MediaKind::Image && m.frame_count != 1) bad("image media " + m.id + " must have frame_count 1");
      if (m.fps.num() <= 0) bad("media " + m.id + " fps is not positive");
      if (!m.recipe.is_null() && !m.recipe.is_object()) bad("media " + m.id + " recipe must be an object or null");
    }
    for (const auto& r : p_.references) {
      id("reference", r.id);
      if (!p_.find_media(r.media_id)) bad("reference " + r.id + " points at missing media '" + r.media_id + "'");
    }
  }

  void tracks() {
    for (const auto& t : p_.timeline.tracks) {
      id("track", t.id);
      const Clip* prev = nullptr;
      for (const auto& c : t.clips) {
        id("clip", c.id);
        const std::string where = "clip " + c.id + " on track " + t.id;
        const MediaItem* m = p_.find_media(c.media_id);
        if (!m) bad(where + " points at missing media '" + c.media_id + "'");
        if (c.source_in >= c.source_out)
          bad(where + " has source range [" + std::to_string(c.source_in) + ", " + std::to_string(c.source_out) +
              ") that is empty or reversed");
        if (m && m->kind == MediaKind::Video && (c.source_in < 0 || c.source_out > m->frame_count))
          bad(where + " source range [" + std::to_string(c.source_in) + ", " + std::to_string(c.source_out) +
              ") leaves the media's " + std::to_string(m->frame_count) + " frames");
        if (c.timeline_start < 0) bad(where + " starts before frame 0");
        if (!c.recipe.is_null() && !c.recipe.is_object()) bad(where + " recipe must be an object or null");
        if (prev) {
          if (prev->timeline_start >= c.timeline_start) bad(where + " is not sorted after " + prev->id);
          else if (prev->timeline_end() > c.timeline_start) bad(where + " overlaps " + prev->id);
        }
        prev = &c;
      }
    }
  }

  void timeline_ranges() {
    const auto& tl = p_.timeline;
    if (tl.in_out && (tl.in_out->start < 0 || tl.in_out->start >= tl.in_out->end))
      bad("in/out range [" + std::to_string(tl.in_out->start) + ", " + std::to_string(tl.in_out->end) +
          ") is not ordered");
    const Marker* prev = nullptr;
    for (const auto& m : tl.markers) {
      id("marker", m.id);
      if (m.frame < 0) bad("marker " + m.id + " is before frame 0");
      if (prev && (prev->frame > m.frame || (prev->frame == m.frame && prev->id >= m.id)))
        bad("marker " + m.id + " is not sorted after " + prev->id);
      prev = &m;
    }
  }

  void frame_mark(const char* what, const std::optional<FrameMark>& m) {
    if (!m) return;
    const Clip* c = p_.find_clip(m->clip_id);
    if (!c) {
      bad(std::string(what) + " mark points at missing clip '" + m->clip_id + "'");
      return;
    }
    if (!c->source_range().contains(m->source_frame))
      bad(std::string(what) + " mark source frame " + std::to_string(m->source_frame) + " is outside clip " + c->id);
  }

  void clip_mark(const char* what, const std::optional<ClipRangeMark>& m) {
    if (!m) return;
    const Clip* c = p_.find_clip(m->clip_id);
    if (!c) {
      bad(std::string(what) + " mark points at missing clip '" + m->clip_id + "'");
      return;
    }
    if (m->source.empty()) bad(std::string(what) + " mark range is empty or reversed");
    else if (!c->source_range().contains(m->source)) bad(std::string(what) + " mark range is outside clip " + c->id);
  }

  void keyframes() {
    const auto& k = p_.timeline.keyframes;
    frame_mark("first frame", k.first_frame);
    frame_mark("last frame", k.last_frame);
    clip_mark("first clip", k.first_clip);
    clip_mark("last clip", k.last_clip);
    const StillKeyframe* prev = nullptr;
    for (const auto& s : k.stills) {
      id("still keyframe", s.id);
      if (!p_.find_media(s.media_id)) bad("still keyframe " + s.id + " points at missing media '" + s.media_id + "'");
      if (s.frame < 0) bad("still keyframe " + s.id + " is before frame 0");
      if (prev && prev->frame >= s.frame) bad("still keyframe " + s.id + " is not strictly after " + prev->id);
      prev = &s;
    }
  }

  void masks() {
    for (const auto& m : p_.timeline.mask_tracks) {
      id("mask track", m.id);
      const Clip* c = p_.find_clip(m.clip_id);
      if (!c) bad("mask track " + m.id + " is bound to missing clip '" + m.clip_id + "'");
      const MediaItem* media = c ? p_.find_media(c->media_id) : nullptr;
      const MaskKeyframe* prev = nullptr;
      for (const auto& k : m.keyframes) {
        const std::string where = "mask track " + m.id + " keyframe at " + std::to_string(k.frame);
        if (prev && prev->frame >= k.frame) bad(where + " is not strictly after frame " + std::to_string(prev->frame));
        if (k.frame < 0) bad(where + " is before frame 0");
        if (media && media->kind == MediaKind::Video && k.frame >= media->frame_count)
          bad(where + " is past the media's " + std::to_string(media->frame_count) + " frames");
        if (!is_project_relative_path(k.path) || k.path.rfind("masks/", 0) != 0)
          bad(where + " path '" + k.path + "' is not under masks/");
        prev = &k;
      }
      const FrameRange* prev_hold = nullptr;
      for (const auto& h : m.holds) {
        const std::string where =
            "mask track " + m.id + " hold [" + std::to_string(h.start) + ", " + std::to_string(h.end) + ")";
        if (h.empty()) bad(where + " is empty or reversed");
        if (h.start < 0) bad(where + " starts before frame 0");
        if (prev_hold && prev_hold->end > h.start) bad(where + " overlaps or precedes the previous hold");
        prev_hold = &h;
      }
    }
  }

  const Project& p_;
  std::map<std::string, std::string> ids_;
  std::vector<std::string> out_;
};

}  // namespace

std::vector<std::string> check_invariants(const Project& project) { return Checker(project).run(); }

void require_invariants(const Project& project, const std::string& context, ErrorCode code) {
  auto v = check_invariants(project);
  if (v.empty()) return;
  std::string msg = context + ": " + std::to_string(v.size()) + " problem(s): ";
  for (std::size_t i = 0; i < v.size() && i < 8; ++i) msg += (i ? "; " : "") + v[i];
  if (v.size() > 8) msg += "; ...";
  throw Error(code, msg);
}

}  // namespace mf::project
