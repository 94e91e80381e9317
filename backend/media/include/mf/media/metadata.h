// The job recipe (TaskSpec JSON plus seed, model, versions) embedded in Manyfold's outputs, so a take's file
// alone says how to make it again.
//   MP4/MOV/MKV/WebM: the container `comment` tag (players and ffprobe show it; FFmpeg keeps it on remux).
//   PNG: a tEXt chunk with keyword "manyfold:recipe" (a `Comment` chunk holding JSON is accepted on read).
// Functions are stateless and thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace mf::media {

inline constexpr const char* kPngRecipeKeyword = "manyfold:recipe";

// The embedded recipe JSON text, or nullopt when the file carries none.
// Throws mf::Error(BadInput) for a missing path and (BadFile) for a file that is not readable media.
std::optional<std::string> read_recipe(const std::filesystem::path& path);

// Embeds (or replaces) the recipe in an existing file in place. PNG: rewrites the chunk list. Video: remuxes
// every stream without re-encoding into a temporary file next to it, then renames it over the original.
// Throws BadInput when recipe_json is not valid JSON.
void write_recipe(const std::filesystem::path& path, const std::string& recipe_json);

// PNG chunk helpers (exposed for tests and for writers that produce PNG bytes themselves).
// Returns the bytes with a tEXt chunk (keyword, text) inserted after IHDR, replacing one with the same keyword.
std::string png_with_text(const std::string& png_bytes, const std::string& keyword, const std::string& text);
// The text of the first tEXt/iTXt chunk with the keyword; throws BadFile on a malformed PNG.
std::optional<std::string> png_text(const std::string& png_bytes, const std::string& keyword);

}  // namespace mf::media
