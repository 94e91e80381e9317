// `manyfold media info|recipe FILE`: what a media file holds (streams, frames, rate, size, rotation) and the
// Manyfold recipe embedded in it; `media recipe FILE --set JSON_FILE` embeds one in place.
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "mf/core/error.h"

#ifdef MF_MEDIA_AVAILABLE
#include "mf/media/metadata.h"
#include "mf/media/reader.h"

namespace {

nlohmann::json info_json(const mf::media::MediaInfo& m) {
  nlohmann::json j;
  j["path"] = m.path;
  j["container"] = m.container;
  j["codec"] = m.codec;
  j["width"] = m.width;
  j["height"] = m.height;
  j["rotation"] = m.rotation;
  j["fps"] = m.fps.str();
  j["fps_value"] = m.fps.to_double();
  j["variable_frame_rate"] = m.variable_frame_rate;
  j["frame_count"] = m.frame_count;
  j["duration_s"] = m.duration_s;
  j["is_image"] = m.is_image;
  j["has_audio"] = m.has_audio;
  j["metadata"] = m.metadata;
  nlohmann::json streams = nlohmann::json::array();
  for (auto& s : m.streams) {
    nlohmann::json sj{{"index", s.index}, {"type", s.type}, {"codec", s.codec}};
    if (!s.profile.empty()) sj["profile"] = s.profile;
    if (s.type == "video") {
      sj["width"] = s.width;
      sj["height"] = s.height;
      sj["pixel_format"] = s.pixel_format;
      sj["bit_depth"] = s.bit_depth;
      sj["color_space"] = s.color_space;
      sj["color_range"] = s.color_range;
    } else if (s.type == "audio") {
      sj["sample_rate"] = s.sample_rate;
      sj["channels"] = s.channels;
    }
    if (s.duration_s > 0) sj["duration_s"] = s.duration_s;
    streams.push_back(sj);
  }
  j["streams"] = streams;
  if (m.recipe) {
    try {
      j["recipe"] = nlohmann::json::parse(*m.recipe);
    } catch (...) {
      j["recipe"] = *m.recipe;
    }
  } else {
    j["recipe"] = nullptr;
  }
  return j;
}

void print_info(const mf::media::MediaInfo& m) {
  std::cout << m.path << "\n"
            << "  container   " << m.container << "\n"
            << "  video       " << m.codec << ", " << m.width << "x" << m.height;
  if (m.rotation) std::cout << " (rotated " << m.rotation << " deg clockwise for display)";
  std::cout << "\n";
  if (!m.is_image) {
    std::cout << "  frames      " << m.frame_count << "\n"
              << "  fps         " << m.fps.str() << " (" << m.fps.to_double() << ")"
              << (m.variable_frame_rate ? ", variable frame rate" : "") << "\n"
              << "  duration    " << m.duration_s << " s\n";
  } else {
    std::cout << "  still image\n";
  }
  std::cout << "  streams\n";
  for (auto& s : m.streams) {
    std::cout << "    #" << s.index << " " << s.type << " " << s.codec;
    if (!s.profile.empty()) std::cout << " (" << s.profile << ")";
    if (s.type == "video")
      std::cout << " " << s.width << "x" << s.height << " " << s.pixel_format << " " << s.bit_depth << "-bit "
                << s.color_space << "/" << s.color_range;
    if (s.type == "audio") std::cout << " " << s.sample_rate << " Hz, " << s.channels << " ch";
    std::cout << "\n";
  }
  if (m.recipe) {
    std::cout << "  recipe\n";
    std::string pretty = *m.recipe;
    try {
      pretty = nlohmann::json::parse(*m.recipe).dump(2);
    } catch (...) {
    }
    std::istringstream in(pretty);
    for (std::string line; std::getline(in, line);) std::cout << "    " << line << "\n";
  } else {
    std::cout << "  recipe      none\n";
  }
}

int run_media(const std::vector<std::string>& argv) {
  mf::cli::Args args(argv, {"json"});
  auto unknown = args.unknown({"json", "set"});
  if (!unknown.empty()) return mf::cli::usage_error("media", "unknown option " + unknown[0]);
  const auto& pos = args.positionals();
  if (pos.size() != 2) return mf::cli::usage_error("media", "expected: media info|recipe FILE");
  const std::string& action = pos[0];
  const std::string& file = pos[1];
  if (action == "info") {
    mf::media::MediaInfo m = mf::media::probe(file);
    if (args.has("json")) std::cout << info_json(m).dump(2) << "\n";
    else print_info(m);
    return mf::cli::kExitOk;
  }
  if (action == "recipe") {
    if (auto set = args.get("set")) {
      std::ifstream f(*set);
      if (!f) throw mf::Error(mf::ErrorCode::BadInput, "cannot read recipe file " + *set);
      std::stringstream ss;
      ss << f.rdbuf();
      mf::media::write_recipe(file, ss.str());
      std::cout << "recipe written into " << file << "\n";
      return mf::cli::kExitOk;
    }
    auto r = mf::media::read_recipe(file);
    if (!r) {
      std::cerr << "manyfold media: " << file << " carries no Manyfold recipe\n";
      return mf::cli::kExitCheckFailed;
    }
    try {
      std::cout << nlohmann::json::parse(*r).dump(2) << "\n";
    } catch (...) {
      std::cout << *r << "\n";
    }
    return mf::cli::kExitOk;
  }
  return mf::cli::usage_error("media", "unknown action '" + action + "' (use info or recipe)");
}

}  // namespace

MF_CLI_COMMAND("media", "describe a media file and show or embed its Manyfold recipe",
               "manyfold media info FILE [--json]\n"
               "  Streams, frame count, fps (exact fraction), size as displayed, rotation, colour tags and the\n"
               "  embedded recipe of a video, image or image sequence pattern (frames/f_%05d.png).\n"
               "manyfold media recipe FILE [--set RECIPE.json]\n"
               "  Prints the recipe JSON embedded in FILE (exit 1 when there is none), or embeds RECIPE.json in\n"
               "  place (MP4/MOV/MKV/WebM: remux without re-encoding; PNG: tEXt chunk).",
               run_media);

#endif  // MF_MEDIA_AVAILABLE
