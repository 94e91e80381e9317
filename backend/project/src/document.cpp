#include "mf/project/document.h"

#include <algorithm>

#include "mf/core/error.h"

namespace mf::project {

const char* to_string(MediaKind kind) { return kind == MediaKind::Image ? "image" : "video"; }

const char* to_string(MaskInterpolation mode) {
  switch (mode) {
    case MaskInterpolation::None: return "none";
    case MaskInterpolation::Hold: return "hold";
    case MaskInterpolation::Flow: return "flow";
  }
  return "hold";
}

const MaskKeyframe* MaskTrack::keyframe_at(std::int64_t frame) const {
  auto it = std::lower_bound(keyframes.begin(), keyframes.end(), frame,
                             [](const MaskKeyframe& k, std::int64_t f) { return k.frame < f; });
  return (it != keyframes.end() && it->frame == frame) ? &*it : nullptr;
}

std::int64_t Timeline::end_frame() const {
  std::int64_t end = 0;
  for (const auto& t : tracks)
    if (!t.clips.empty()) end = std::max(end, t.clips.back().timeline_end());
  return end;
}

std::string Project::make_id(const std::string& prefix) { return prefix + "-" + std::to_string(next_id++); }

namespace {
template <class V, class T = typename V::value_type>
auto find_by_id(V& v, const std::string& id) -> decltype(&v[0]) {
  for (auto& x : v)
    if (x.id == id) return &x;
  return nullptr;
}
}  // namespace

const MediaItem* Project::find_media(const std::string& id) const { return find_by_id(media, id); }
MediaItem* Project::find_media(const std::string& id) { return find_by_id(media, id); }
const ReferenceItem* Project::find_reference(const std::string& id) const { return find_by_id(references, id); }
const Track* Project::find_track(const std::string& id) const { return find_by_id(timeline.tracks, id); }
Track* Project::find_track(const std::string& id) { return find_by_id(timeline.tracks, id); }
std::optional<std::size_t> Project::track_index(const std::string& id) const {
  for (std::size_t i = 0; i < timeline.tracks.size(); ++i)
    if (timeline.tracks[i].id == id) return i;
  return std::nullopt;
}

std::optional<ClipLocation> Project::locate_clip(const std::string& id) const {
  for (std::size_t t = 0; t < timeline.tracks.size(); ++t) {
    const auto& clips = timeline.tracks[t].clips;
    for (std::size_t i = 0; i < clips.size(); ++i)
      if (clips[i].id == id) return ClipLocation{t, i};
  }
  return std::nullopt;
}
const Clip* Project::find_clip(const std::string& id) const {
  auto loc = locate_clip(id);
  return loc ? &timeline.tracks[loc->track].clips[loc->index] : nullptr;
}
Clip* Project::find_clip(const std::string& id) {
  auto loc = locate_clip(id);
  return loc ? &timeline.tracks[loc->track].clips[loc->index] : nullptr;
}
const MaskTrack* Project::find_mask_track(const std::string& id) const { return find_by_id(timeline.mask_tracks, id); }
MaskTrack* Project::find_mask_track(const std::string& id) { return find_by_id(timeline.mask_tracks, id); }
std::optional<std::size_t> Project::mask_track_index(const std::string& id) const {
  for (std::size_t i = 0; i < timeline.mask_tracks.size(); ++i)
    if (timeline.mask_tracks[i].id == id) return i;
  return std::nullopt;
}

std::vector<const Clip*> Project::take_group_clips(const std::string& group) const {
  std::vector<const Clip*> out;
  if (group.empty()) return out;
  for (const auto& t : timeline.tracks)
    for (const auto& c : t.clips)
      if (c.take_group == group) out.push_back(&c);
  return out;
}

std::vector<const MaskTrack*> Project::mask_tracks_for_clip(const std::string& clip_id) const {
  std::vector<const MaskTrack*> out;
  for (const auto& m : timeline.mask_tracks)
    if (m.clip_id == clip_id) out.push_back(&m);
  return out;
}

const MediaItem& require_media(const Project& p, const std::string& id) {
  const auto* m = p.find_media(id);
  mf::check(m != nullptr, ErrorCode::BadInput, "no media item '" + id + "' in the media bin");
  return *m;
}
const Clip& require_clip(const Project& p, const std::string& id) {
  const auto* c = p.find_clip(id);
  mf::check(c != nullptr, ErrorCode::BadInput, "no clip '" + id + "' on the timeline");
  return *c;
}
const Track& require_track(const Project& p, const std::string& id) {
  const auto* t = p.find_track(id);
  mf::check(t != nullptr, ErrorCode::BadInput, "no track '" + id + "' on the timeline");
  return *t;
}
const MaskTrack& require_mask_track(const Project& p, const std::string& id) {
  const auto* m = p.find_mask_track(id);
  mf::check(m != nullptr, ErrorCode::BadInput, "no mask track '" + id + "' on the timeline");
  return *m;
}

// --- JSON writing -------------------------------------------------------------------------------------------

using nlohmann::json;

namespace {

json range_json(const FrameRange& r) { return json{{"start", r.start}, {"end", r.end}}; }

json media_json(const MediaItem& m) {
  return json{{"id", m.id},
              {"name", m.name},
              {"path", m.path},
              {"kind", to_string(m.kind)},
              {"frame_count", m.frame_count},
              {"fps", m.fps.to_string()},
              {"width", m.size.width},
              {"height", m.size.height},
              {"recipe", m.recipe}};
}

json clip_json(const Clip& c) {
  return json{{"id", c.id},
              {"media_id", c.media_id},
              {"name", c.name},
              {"source_in", c.source_in},
              {"source_out", c.source_out},
              {"timeline_start", c.timeline_start},
              {"take_group", c.take_group},
              {"recipe", c.recipe}};
}

json frame_mark_json(const std::optional<FrameMark>& m) {
  if (!m) return nullptr;
  return json{{"clip_id", m->clip_id}, {"source_frame", m->source_frame}};
}

json clip_mark_json(const std::optional<ClipRangeMark>& m) {
  if (!m) return nullptr;
  return json{{"clip_id", m->clip_id}, {"source", range_json(m->source)}};
}

}  // namespace

json to_json(const Project& p) {
  json media = json::array();
  for (const auto& m : p.media) media.push_back(media_json(m));
  json refs = json::array();
  for (const auto& r : p.references) refs.push_back(json{{"id", r.id}, {"media_id", r.media_id}, {"label", r.label}});

  json tracks = json::array();
  for (const auto& t : p.timeline.tracks) {
    json clips = json::array();
    for (const auto& c : t.clips) clips.push_back(clip_json(c));
    tracks.push_back(json{{"id", t.id}, {"name", t.name}, {"hidden", t.hidden}, {"locked", t.locked}, {"clips", clips}});
  }
  json masks = json::array();
  for (const auto& m : p.timeline.mask_tracks) {
    json keys = json::array();
    for (const auto& k : m.keyframes) keys.push_back(json{{"frame", k.frame}, {"path", k.path}});
    json holds = json::array();
    for (const auto& h : m.holds) holds.push_back(range_json(h));
    masks.push_back(json{{"id", m.id},
                         {"name", m.name},
                         {"clip_id", m.clip_id},
                         {"interpolation", to_string(m.interpolation)},
                         {"keyframes", keys},
                         {"holds", holds}});
  }
  json markers = json::array();
  for (const auto& m : p.timeline.markers)
    markers.push_back(json{{"id", m.id}, {"frame", m.frame}, {"label", m.label}, {"color", m.color}});
  json stills = json::array();
  for (const auto& s : p.timeline.keyframes.stills)
    stills.push_back(json{{"id", s.id}, {"media_id", s.media_id}, {"frame", s.frame}});
  const auto& k = p.timeline.keyframes;
  json keyframes{{"first_frame", frame_mark_json(k.first_frame)},
                 {"last_frame", frame_mark_json(k.last_frame)},
                 {"first_clip", clip_mark_json(k.first_clip)},
                 {"last_clip", clip_mark_json(k.last_clip)},
                 {"stills", stills}};
  json timeline{{"tracks", tracks},
                {"mask_tracks", masks},
                {"in_out", p.timeline.in_out ? range_json(*p.timeline.in_out) : json(nullptr)},
                {"markers", markers},
                {"keyframes", keyframes}};
  return json{{"schema_version", p.schema_version},
              {"name", p.name},
              {"fps", p.fps.to_string()},
              {"resolution", json{{"width", p.resolution.width}, {"height", p.resolution.height}}},
              {"style_preset", p.style_preset},
              {"next_id", p.next_id},
              {"media", media},
              {"references", refs},
              {"timeline", timeline}};
}

// --- JSON reading -------------------------------------------------------------------------------------------
// A tiny path-aware reader so that every complaint names the field: "project.json: timeline.tracks[0].id: ...".

namespace {

class Reader {
 public:
  Reader(const json& j, std::string path, const std::string& source) : j_(j), path_(std::move(path)), source_(source) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorCode::BadFile, source_ + ": " + (path_.empty() ? std::string("document") : path_) + ": " + what +
                                        ". The project file is damaged or was edited by hand; restore a backup or "
                                        "fix the field");
  }
  std::string child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  void require_object() const {
    if (!j_.is_object()) fail(std::string("expected an object, found ") + j_.type_name());
  }
  bool has(const std::string& key) const { return j_.is_object() && j_.contains(key) && !j_.at(key).is_null(); }

  Reader at(const std::string& key) const {
    require_object();
    if (!j_.contains(key)) Reader(j_, child_path(key), source_).fail("missing required field");
    return Reader(j_.at(key), child_path(key), source_);
  }
  // Optional fields read as their default when absent or null.
  std::string str(const std::string& key, const std::optional<std::string>& def = std::nullopt) const {
    if (def && !has(key)) return *def;
    Reader r = at(key);
    if (!r.j_.is_string()) r.fail(std::string("expected a string, found ") + r.j_.type_name());
    return r.j_.get<std::string>();
  }
  std::int64_t i64(const std::string& key, const std::optional<std::int64_t>& def = std::nullopt) const {
    if (def && !has(key)) return *def;
    Reader r = at(key);
    if (!r.j_.is_number_integer()) r.fail(std::string("expected an integer, found ") + r.j_.type_name());
    if (r.j_.is_number_unsigned() && r.j_.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
      r.fail("integer out of range");
    return r.j_.get<std::int64_t>();
  }
  int i32(const std::string& key, const std::optional<int>& def = std::nullopt) const {
    std::int64_t v = i64(key, def ? std::optional<std::int64_t>(*def) : std::nullopt);
    if (v < INT32_MIN || v > INT32_MAX) at(key).fail("integer out of range");
    return static_cast<int>(v);
  }
  bool boolean(const std::string& key, bool def) const {
    if (!has(key)) return def;
    Reader r = at(key);
    if (!r.j_.is_boolean()) r.fail(std::string("expected true or false, found ") + r.j_.type_name());
    return r.j_.get<bool>();
  }
  Rational rational(const std::string& key) const {
    Reader r = at(key);
    if (r.j_.is_number_integer()) return Rational(r.j_.get<std::int64_t>());
    if (!r.j_.is_string()) r.fail("expected a rational like \"30000/1001\"");
    try {
      return Rational::parse(r.j_.get<std::string>());
    } catch (const Error& e) {
      r.fail(e.what());
    }
  }
  json raw(const std::string& key) const { return j_.is_object() && j_.contains(key) ? j_.at(key) : json(nullptr); }

  // Calls fn(Reader) for each element of the array at `key` (absent = empty when optional).
  template <class Fn>
  void each(const std::string& key, Fn fn, bool optional = true) const {
    if (optional && !has(key)) return;
    Reader arr = at(key);
    if (!arr.j_.is_array()) arr.fail(std::string("expected an array, found ") + arr.j_.type_name());
    for (std::size_t i = 0; i < arr.j_.size(); ++i) {
      Reader el(arr.j_.at(i), arr.path_ + "[" + std::to_string(i) + "]", source_);
      el.require_object();
      fn(el);
    }
  }

  FrameRange range() const {
    require_object();
    return FrameRange{i64("start"), i64("end")};
  }

  const json& value() const { return j_; }

 private:
  const json& j_;
  std::string path_;
  const std::string& source_;
};

std::optional<FrameMark> read_frame_mark(const Reader& parent, const std::string& key) {
  if (!parent.has(key)) return std::nullopt;
  Reader r = parent.at(key);
  r.require_object();
  return FrameMark{r.str("clip_id"), r.i64("source_frame")};
}

std::optional<ClipRangeMark> read_clip_mark(const Reader& parent, const std::string& key) {
  if (!parent.has(key)) return std::nullopt;
  Reader r = parent.at(key);
  r.require_object();
  return ClipRangeMark{r.str("clip_id"), r.at("source").range()};
}

}  // namespace

Project project_from_json(const json& j, const std::string& source) {
  Reader root(j, "", source);
  root.require_object();
  Project p;
  p.schema_version = root.i32("schema_version");
  if (p.schema_version != kSchemaVersion)
    root.at("schema_version").fail("schema version " + std::to_string(p.schema_version) + " is not " +
                                    std::to_string(kSchemaVersion) + " (migrate before reading)");
  p.name = root.str("name", std::string());
  p.fps = root.rational("fps");
  {
    Reader res = root.at("resolution");
    res.require_object();
    p.resolution = Resolution{res.i32("width"), res.i32("height")};
  }
  p.style_preset = root.str("style_preset", std::string());
  p.next_id = root.i64("next_id", 1);

  root.each("media", [&](const Reader& r) {
    MediaItem m;
    m.id = r.str("id");
    m.name = r.str("name", std::string());
    m.path = r.str("path");
    const std::string kind = r.str("kind", std::string("video"));
    if (kind == "video") m.kind = MediaKind::Video;
    else if (kind == "image") m.kind = MediaKind::Image;
    else r.at("kind").fail("unknown media kind '" + kind + "' (expected video or image)");
    m.frame_count = r.i64("frame_count", 1);
    m.fps = r.has("fps") ? r.rational("fps") : Rational(24);
    m.size = Resolution{r.i32("width", 0), r.i32("height", 0)};
    m.recipe = r.raw("recipe");
    p.media.push_back(std::move(m));
  });
  root.each("references", [&](const Reader& r) {
    p.references.push_back(ReferenceItem{r.str("id"), r.str("media_id"), r.str("label", std::string())});
  });

  Reader tl = root.at("timeline");
  tl.require_object();
  tl.each("tracks", [&](const Reader& r) {
    Track t;
    t.id = r.str("id");
    t.name = r.str("name", std::string());
    t.hidden = r.boolean("hidden", false);
    t.locked = r.boolean("locked", false);
    r.each("clips", [&](const Reader& c) {
      Clip clip;
      clip.id = c.str("id");
      clip.media_id = c.str("media_id");
      clip.name = c.str("name", std::string());
      clip.source_in = c.i64("source_in");
      clip.source_out = c.i64("source_out");
      clip.timeline_start = c.i64("timeline_start");
      clip.take_group = c.str("take_group", std::string());
      clip.recipe = c.raw("recipe");
      t.clips.push_back(std::move(clip));
    });
    p.timeline.tracks.push_back(std::move(t));
  });
  tl.each("mask_tracks", [&](const Reader& r) {
    MaskTrack m;
    m.id = r.str("id");
    m.name = r.str("name", std::string());
    m.clip_id = r.str("clip_id");
    const std::string mode = r.str("interpolation", std::string("hold"));
    if (mode == "none") m.interpolation = MaskInterpolation::None;
    else if (mode == "hold") m.interpolation = MaskInterpolation::Hold;
    else if (mode == "flow") m.interpolation = MaskInterpolation::Flow;
    else r.at("interpolation").fail("unknown interpolation '" + mode + "' (expected none, hold or flow)");
    r.each("keyframes", [&](const Reader& k) { m.keyframes.push_back(MaskKeyframe{k.i64("frame"), k.str("path")}); });
    r.each("holds", [&](const Reader& h) { m.holds.push_back(h.range()); });
    p.timeline.mask_tracks.push_back(std::move(m));
  });
  if (tl.has("in_out")) p.timeline.in_out = tl.at("in_out").range();
  tl.each("markers", [&](const Reader& r) {
    p.timeline.markers.push_back(
        Marker{r.str("id"), r.i64("frame"), r.str("label", std::string()), r.str("color", std::string())});
  });
  if (tl.has("keyframes")) {
    Reader k = tl.at("keyframes");
    k.require_object();
    auto& km = p.timeline.keyframes;
    km.first_frame = read_frame_mark(k, "first_frame");
    km.last_frame = read_frame_mark(k, "last_frame");
    km.first_clip = read_clip_mark(k, "first_clip");
    km.last_clip = read_clip_mark(k, "last_clip");
    k.each("stills", [&](const Reader& s) {
      km.stills.push_back(StillKeyframe{s.str("id"), s.str("media_id"), s.i64("frame")});
    });
  }
  return p;
}

}  // namespace mf::project
