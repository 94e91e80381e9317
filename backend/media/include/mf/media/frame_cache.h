// Frame cache for the timeline and canvas: decoded frames of one clip kept in an LRU bounded by bytes,
// prefetched ahead of the playhead, plus low-resolution thumbnails for the clip strip.
//
// Requests never decode on the caller's thread. request(i) returns at once with the cached frame, or with the
// nearest cached frame (exact = false) and a future for the exact one; a worker thread decodes, newest request
// first (scrubbing back and forth only decodes where the playhead is now; older requests beyond
// `max_pending` are dropped and their futures yield nullptr). When idle the worker decodes the frames ahead of
// the playhead (direction-aware), which is sequential decoding and therefore cheap.
//
// Threading: every public method is thread-safe and non-blocking except the constructor (it opens the file and
// builds the frame index table: do that off the UI thread for long clips) and the destructor (joins the worker).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>

#include "mf/media/reader.h"

namespace mf::media {

using FramePtr = std::shared_ptr<const Image>;

struct FrameCacheOptions {
  std::size_t budget_bytes = std::size_t(512) << 20;  // full frames + thumbnails
  int prefetch_ahead = 24;   // frames decoded ahead of the playhead when idle
  int prefetch_behind = 2;   // and behind it
  int keep_before_seek = 12; // after a seek, also keep up to this many frames decoded just before the target
  int thumb_height = 72;     // thumbnail height in pixels (width follows the aspect)
  int max_pending = 4;       // newest exact requests kept; older ones are dropped
  DecodeOptions decode = preview_decode();  // format/size of full frames (fast colour by default)

  static DecodeOptions preview_decode() {
    DecodeOptions d;
    d.fast_color = true;
    return d;
  }
};

struct FrameRequest {
  FramePtr frame;                       // exact frame, or the nearest cached one, or null
  int64_t index = -1;                   // index of `frame` (-1 when null)
  bool exact = false;                   // frame is the one requested
  std::shared_future<FramePtr> pending; // valid when !exact: the exact frame (nullptr if superseded)
};

struct FrameCacheStats {
  std::size_t bytes = 0, frames = 0, thumbnails = 0;
  int64_t hits = 0, misses = 0, decoded = 0, evicted = 0, dropped = 0;
};

class FrameCache {
 public:
  FrameCache(const std::filesystem::path& path, FrameCacheOptions options = {});
  ~FrameCache();
  FrameCache(const FrameCache&) = delete;
  FrameCache& operator=(const FrameCache&) = delete;

  const MediaInfo& info() const;
  int64_t frame_count() const;

  // Both throw mf::Error(BadInput) for an index outside the clip; decode errors arrive through the future.
  FrameRequest request(int64_t index);      // full-size frame
  FrameRequest thumbnail(int64_t index);    // thumb_height-high frame
  // Moves the prefetch window; direction > 0 plays forward, < 0 backward.
  void set_playhead(int64_t index, int direction = 1);
  // True when no decode work is queued or running (tests, benchmarks).
  bool idle() const;
  FrameCacheStats stats() const;
  void clear();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mf::media
