#include "mf/media/metadata.h"

#include <array>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "av_common.h"

namespace mf::media {

using namespace detail;

namespace {

const unsigned char kPngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

uint32_t crc32(const unsigned char* p, size_t n, uint32_t crc = 0) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

void put_be32(std::string& s, uint32_t v) {
  s.push_back(char(v >> 24));
  s.push_back(char(v >> 16));
  s.push_back(char(v >> 8));
  s.push_back(char(v));
}

struct Chunk {
  std::string type;
  size_t start = 0;  // offset of the length field
  size_t size = 0;   // whole chunk: 12 + data length
  size_t data = 0;   // offset of the data
  uint32_t length = 0;
};

// Splits a PNG into chunks with bounds checks; throws BadFile on a malformed file.
std::vector<Chunk> png_chunks(const std::string& bytes, const std::string& what) {
  check(bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSig, 8) == 0, ErrorCode::BadFile,
        what + " is not a PNG file (bad signature)");
  std::vector<Chunk> out;
  size_t off = 8;
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  while (off < bytes.size()) {
    check(bytes.size() - off >= 12, ErrorCode::BadFile, what + ": truncated PNG chunk at byte " + std::to_string(off));
    Chunk c;
    c.length = be32(u + off);
    c.type.assign(bytes.data() + off + 4, 4);
    check(c.length <= bytes.size() - off - 12, ErrorCode::BadFile,
          what + ": PNG chunk " + c.type + " at byte " + std::to_string(off) + " runs past the end of the file");
    c.start = off;
    c.data = off + 8;
    c.size = 12 + size_t(c.length);
    out.push_back(c);
    off += c.size;
    if (c.type == "IEND") break;
  }
  check(!out.empty() && out.front().type == "IHDR", ErrorCode::BadFile, what + ": PNG does not start with IHDR");
  return out;
}

// Keyword of a tEXt/iTXt chunk and its (uncompressed) text.
bool text_chunk(const std::string& bytes, const Chunk& c, std::string* key, std::string* text) {
  if (c.type != "tEXt" && c.type != "iTXt") return false;
  std::string d = bytes.substr(c.data, c.length);
  size_t z = d.find('\0');
  if (z == std::string::npos) return false;
  *key = d.substr(0, z);
  if (c.type == "tEXt") {
    *text = d.substr(z + 1);
    return true;
  }
  // iTXt: compression flag, method, language\0, translated keyword\0, text.
  if (d.size() < z + 3 || d[z + 1] != 0) return false;  // compressed iTXt is not used by Manyfold
  size_t lang_end = d.find('\0', z + 3);
  if (lang_end == std::string::npos) return false;
  size_t tk_end = d.find('\0', lang_end + 1);
  if (tk_end == std::string::npos) return false;
  *text = d.substr(tk_end + 1);
  return true;
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  check(static_cast<bool>(f), ErrorCode::Io, "cannot open " + path.string());
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool is_json_object(const std::string& s) {
  if (s.empty() || s.find('{') == std::string::npos) return false;
  try {
    return nlohmann::json::parse(s).is_object();
  } catch (...) {
    return false;
  }
}

bool looks_png(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  for (auto& ch : ext) ch = static_cast<char>(::tolower(ch));
  return ext == ".png";
}

std::optional<std::string> png_recipe(const std::string& bytes, const std::string& what) {
  auto chunks = png_chunks(bytes, what);
  std::optional<std::string> comment;
  for (auto& c : chunks) {
    std::string k, t;
    if (!text_chunk(bytes, c, &k, &t)) continue;
    if (k == kPngRecipeKeyword) return t;
    if ((k == "Comment" || k == "comment") && !comment && is_json_object(t)) comment = t;
  }
  return comment;
}

std::string temp_name(const std::filesystem::path& path) {
  return (path.parent_path() / ("." + path.stem().string() + ".mf-tmp" + path.extension().string())).string();
}

void remux_with_comment(const std::filesystem::path& path, const std::string& recipe) {
  InputPtr in = open_input(path);
  const std::string tmp = temp_name(path);
  AVFormatContext* raw = nullptr;
  int err = avformat_alloc_output_context2(&raw, nullptr, nullptr, tmp.c_str());
  check(err >= 0 && raw, ErrorCode::Unsupported, "cannot write a recipe into " + path.string() + ": unknown container");
  OutputPtr out(raw);
  av_dict_copy(&out->metadata, in->metadata, 0);
  av_dict_set(&out->metadata, "comment", recipe.c_str(), 0);
  std::vector<int> map(in->nb_streams, -1);
  for (unsigned i = 0; i < in->nb_streams; ++i) {
    AVStream* is = in->streams[i];
    if (avformat_query_codec(out->oformat, is->codecpar->codec_id, FF_COMPLIANCE_NORMAL) != 1) continue;
    AVStream* os = avformat_new_stream(out.get(), nullptr);
    if (!os) throw Error(ErrorCode::OutOfMemory, "avformat_new_stream failed");
    avcodec_parameters_copy(os->codecpar, is->codecpar);
    // Keep the original tag (e.g. ProRes 'ap4h' vs 'apch') when the output container knows it for this codec.
    const unsigned tag = is->codecpar->codec_tag;
    const bool keep_tag = tag && out->oformat->codec_tag &&
                          av_codec_get_id(out->oformat->codec_tag, tag) == is->codecpar->codec_id;
    os->codecpar->codec_tag = keep_tag ? tag : 0;
    os->time_base = is->time_base;
    os->avg_frame_rate = is->avg_frame_rate;
    os->disposition = is->disposition;
    av_dict_copy(&os->metadata, is->metadata, 0);
    for (int s = 0; s < is->nb_side_data; ++s) {
      const AVPacketSideData& sd = is->side_data[s];
      uint8_t* dst = av_stream_new_side_data(os, sd.type, sd.size);
      if (dst) std::memcpy(dst, sd.data, sd.size);
    }
    map[i] = os->index;
  }
  err = avio_open(&out->pb, tmp.c_str(), AVIO_FLAG_WRITE);
  check(err >= 0, ErrorCode::Io, "cannot create " + tmp + " (" + av_error_text(err) + ")");
  bool ok = false;
  try {
    err = avformat_write_header(out.get(), nullptr);
    check(err >= 0, ErrorCode::Io, "cannot write " + tmp + " (" + av_error_text(err) + ")");
    PacketPtr pkt = make_packet();
    for (;;) {
      err = av_read_frame(in.get(), pkt.get());
      if (err < 0) break;
      int o = pkt->stream_index < int(map.size()) ? map[pkt->stream_index] : -1;
      if (o < 0) {
        av_packet_unref(pkt.get());
        continue;
      }
      av_packet_rescale_ts(pkt.get(), in->streams[pkt->stream_index]->time_base, out->streams[o]->time_base);
      pkt->stream_index = o;
      pkt->pos = -1;
      err = av_interleaved_write_frame(out.get(), pkt.get());
      av_packet_unref(pkt.get());
      check(err >= 0, ErrorCode::Io, "remuxing " + path.string() + " failed (" + av_error_text(err) + ")");
    }
    err = av_write_trailer(out.get());
    check(err >= 0, ErrorCode::Io, "cannot finish " + tmp);
    avio_closep(&out->pb);
    ok = true;
  } catch (...) {
    out.reset();
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  if (ok) {
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    check(!ec, ErrorCode::Io, "cannot replace " + path.string() + ": " + ec.message());
  }
}

}  // namespace

std::string png_with_text(const std::string& png_bytes, const std::string& keyword, const std::string& text) {
  check(!keyword.empty() && keyword.size() < 80 && keyword.find('\0') == std::string::npos, ErrorCode::BadInput,
        "PNG text keyword must be 1..79 characters");
  auto chunks = png_chunks(png_bytes, "PNG data");
  bool ascii = true;
  for (unsigned char ch : text) ascii &= ch < 0x80 && ch != 0;
  // tEXt is Latin-1; UTF-8 text goes into an uncompressed iTXt chunk instead.
  std::string body = keyword;
  body.push_back('\0');
  std::string type = "tEXt";
  if (!ascii) {
    type = "iTXt";
    body.push_back('\0');  // not compressed
    body.push_back('\0');  // method
    body.push_back('\0');  // language ""
    body.push_back('\0');  // translated keyword ""
  }
  body += text;
  std::string chunk;
  put_be32(chunk, static_cast<uint32_t>(body.size()));
  std::string td = type + body;
  chunk += td;
  put_be32(chunk, crc32(reinterpret_cast<const unsigned char*>(td.data()), td.size()));

  std::string out(png_bytes.data(), 8);
  for (size_t i = 0; i < chunks.size(); ++i) {
    std::string k, t;
    if (text_chunk(png_bytes, chunks[i], &k, &t) && k == keyword) continue;  // replaced
    out.append(png_bytes, chunks[i].start, chunks[i].size);
    if (i == 0) out += chunk;  // right after IHDR
  }
  return out;
}

std::optional<std::string> png_text(const std::string& png_bytes, const std::string& keyword) {
  auto chunks = png_chunks(png_bytes, "PNG data");
  for (auto& c : chunks) {
    std::string k, t;
    if (text_chunk(png_bytes, c, &k, &t) && k == keyword) return t;
  }
  return std::nullopt;
}

namespace detail {

std::optional<std::string> recipe_of(const std::filesystem::path& path, const AVFormatContext* ctx) {
  const std::string iname = ctx && ctx->iformat ? ctx->iformat->name : "";
  if ((iname == "png_pipe" || iname == "image2" || iname == "apng") && looks_png(path) &&
      path.string().find('%') == std::string::npos)
    return png_recipe(read_all(path), path.string());
  if (!ctx) return std::nullopt;
  for (const char* key : {"manyfold_recipe", "comment"}) {
    if (const AVDictionaryEntry* e = av_dict_get(ctx->metadata, key, nullptr, 0))
      if (is_json_object(e->value)) return std::string(e->value);
  }
  for (unsigned i = 0; i < ctx->nb_streams; ++i)
    if (const AVDictionaryEntry* e = av_dict_get(ctx->streams[i]->metadata, "comment", nullptr, 0))
      if (is_json_object(e->value)) return std::string(e->value);
  return std::nullopt;
}

}  // namespace detail

std::optional<std::string> read_recipe(const std::filesystem::path& path) {
  std::error_code ec;
  check(std::filesystem::exists(path, ec), ErrorCode::BadInput, path.string() + " does not exist");
  if (looks_png(path) && std::filesystem::is_regular_file(path, ec)) {
    check(std::filesystem::file_size(path, ec) > 0, ErrorCode::BadFile, path.string() + " is empty (0 bytes)");
    std::string bytes = read_all(path);
    // A file named .png that is something else (a JPEG, say) is left to FFmpeg's probing below.
    if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSig, 8) == 0) return png_recipe(bytes, path.string());
  }
  InputPtr ctx = open_input(path);
  return recipe_of(path, ctx.get());
}

void write_recipe(const std::filesystem::path& path, const std::string& recipe_json) {
  std::string recipe;
  try {
    recipe = nlohmann::json::parse(recipe_json).dump();
  } catch (const std::exception& e) {
    throw Error(ErrorCode::BadInput, std::string("the recipe is not valid JSON: ") + e.what());
  }
  std::error_code ec;
  check(std::filesystem::exists(path, ec), ErrorCode::BadInput, path.string() + " does not exist");
  if (looks_png(path)) {
    std::string bytes = png_with_text(read_all(path), kPngRecipeKeyword, recipe);
    const std::string tmp = temp_name(path);
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      check(static_cast<bool>(f), ErrorCode::Io, "cannot create " + tmp);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      check(static_cast<bool>(f), ErrorCode::Io, "writing " + tmp + " failed");
    }
    std::filesystem::rename(tmp, path, ec);
    check(!ec, ErrorCode::Io, "cannot replace " + path.string() + ": " + ec.message());
    return;
  }
  remux_with_comment(path, recipe);
}

}  // namespace mf::media
