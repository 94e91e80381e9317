#include "mf/media/frame_cache.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mf/core/error.h"

namespace mf::media {

namespace {
// Cache keys: full frames and thumbnails of the same index live side by side.
int64_t key_of(int64_t index, bool thumb) { return index * 2 + (thumb ? 1 : 0); }
}  // namespace

struct FrameCache::Impl {
  FrameCacheOptions opts;
  MediaInfo info;
  std::unique_ptr<VideoReader> reader;        // owned by the worker after construction
  std::unique_ptr<VideoReader> thumb_reader;  // opened lazily by the worker
  std::filesystem::path path;

  mutable std::mutex mu;
  std::condition_variable cv;

  struct Entry {
    int64_t key;
    FramePtr image;
  };
  std::list<Entry> lru;  // front = most recently used
  std::unordered_map<int64_t, std::list<Entry>::iterator> by_key;
  std::set<int64_t> full_cached, thumb_cached;  // indices, for "nearest cached"
  std::size_t bytes = 0;
  std::vector<FramePtr> evicted;  // released by the worker after unlocking (freeing 6 MB frames takes time)

  struct Pending {
    std::promise<FramePtr> promise;
    std::shared_future<FramePtr> future;
  };
  std::map<int64_t, Pending> pending;  // by key
  std::deque<int64_t> urgent;          // keys of exact full-frame requests, newest at the back
  std::deque<int64_t> thumbs;          // keys of thumbnail requests, oldest first
  std::set<int64_t> failed;            // indices that could not be decoded (not prefetched again)
  int64_t playhead = 0;
  int direction = 1;
  bool busy = false;
  bool stop = false;
  std::size_t frame_bytes = 0;  // estimate of one full frame
  FrameCacheStats st;
  std::thread worker;

  // ---- cache (mu held) ---------------------------------------------------------------------------
  FramePtr lookup(int64_t key) {
    auto it = by_key.find(key);
    if (it == by_key.end()) return nullptr;
    lru.splice(lru.begin(), lru, it->second);
    return it->second->image;
  }

  void insert(int64_t key, FramePtr img) {
    if (by_key.count(key)) return;
    lru.push_front({key, img});
    by_key[key] = lru.begin();
    bytes += img->bytes();
    ((key & 1) ? thumb_cached : full_cached).insert(key / 2);
    while (bytes > opts.budget_bytes && lru.size() > 1) {
      Entry& e = lru.back();
      bytes -= e.image->bytes();
      evicted.push_back(std::move(e.image));  // freed outside the lock
      ((e.key & 1) ? thumb_cached : full_cached).erase(e.key / 2);
      by_key.erase(e.key);
      lru.pop_back();
      ++st.evicted;
    }
  }

  FrameRequest nearest(int64_t index, bool thumb) {
    FrameRequest r;
    const std::set<int64_t>& s = thumb ? thumb_cached : full_cached;
    if (s.empty()) return r;
    auto it = s.lower_bound(index);
    int64_t best;
    if (it == s.end()) best = *std::prev(it);
    else if (it == s.begin()) best = *it;
    else best = (index - *std::prev(it) <= *it - index) ? *std::prev(it) : *it;
    r.frame = lookup(key_of(best, thumb));
    r.index = best;
    return r;
  }

  std::shared_future<FramePtr> enqueue(int64_t key, bool thumb) {
    auto it = pending.find(key);
    if (it != pending.end()) {
      if (!thumb) {  // the newest request goes first
        for (auto q = urgent.begin(); q != urgent.end(); ++q)
          if (*q == key) {
            urgent.erase(q);
            break;
          }
        urgent.push_back(key);
      }
      return it->second.future;
    }
    Pending& p = pending[key];
    p.future = p.promise.get_future().share();
    auto fut = p.future;
    if (thumb) {
      thumbs.push_back(key);
    } else {
      urgent.push_back(key);
      while (static_cast<int>(urgent.size()) > std::max(1, opts.max_pending)) {
        int64_t old = urgent.front();
        urgent.pop_front();
        auto pit = pending.find(old);
        if (pit != pending.end()) {
          pit->second.promise.set_value(nullptr);  // superseded by newer scrubbing
          pending.erase(pit);
        }
        ++st.dropped;
      }
    }
    cv.notify_one();
    return fut;
  }

  FrameRequest request(int64_t index, bool thumb) {
    check(index >= 0 && index < info.frame_count, ErrorCode::BadInput,
          "frame " + std::to_string(index) + " is out of range (the clip has " + std::to_string(info.frame_count) +
              " frames)");
    std::lock_guard<std::mutex> lk(mu);
    const int64_t key = key_of(index, thumb);
    if (FramePtr f = lookup(key)) {
      ++st.hits;
      FrameRequest r;
      r.frame = std::move(f);
      r.index = index;
      r.exact = true;
      return r;
    }
    ++st.misses;
    FrameRequest r = nearest(index, thumb);
    r.pending = enqueue(key, thumb);
    return r;
  }

  // Next prefetch index (mu held), or -1.
  int64_t prefetch_candidate() const {
    if (frame_bytes == 0) return -1;
    // Never prefetch more than half the budget holds, or prefetching would evict its own work.
    const int64_t fit = static_cast<int64_t>(opts.budget_bytes / 2 / frame_bytes);
    const int64_t ahead = std::min<int64_t>(opts.prefetch_ahead, fit);
    const int64_t behind = std::min<int64_t>(opts.prefetch_behind, std::max<int64_t>(0, fit - ahead));
    auto wanted = [&](int64_t i) {
      return i >= 0 && i < info.frame_count && !full_cached.count(i) && !failed.count(i) &&
             !pending.count(key_of(i, false));
    };
    for (int64_t k = 0; k <= ahead; ++k) {
      int64_t i = playhead + direction * k;
      if (wanted(i)) return i;
    }
    for (int64_t k = 1; k <= behind; ++k) {
      int64_t i = playhead - direction * k;
      if (wanted(i)) return i;
    }
    return -1;
  }

  bool has_work() const { return !urgent.empty() || !thumbs.empty() || prefetch_candidate() >= 0; }

  void run() {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      cv.wait(lk, [&] { return stop || has_work(); });
      if (stop) return;
      int64_t key;
      if (!urgent.empty()) {
        key = urgent.back();
        urgent.pop_back();
      } else if (int64_t i = prefetch_candidate(); i >= 0) {
        key = key_of(i, false);
      } else {
        key = thumbs.front();
        thumbs.pop_front();
      }
      const bool thumb = key & 1;
      const int64_t index = key / 2;
      if (FramePtr done = lookup(key)) {  // prefetch got there first
        auto it = pending.find(key);
        if (it != pending.end()) {
          it->second.promise.set_value(done);
          pending.erase(it);
        }
        continue;
      }
      busy = true;
      lk.unlock();

      FramePtr img;
      std::exception_ptr error;
      std::vector<std::pair<int64_t, FramePtr>> passed;
      try {
        VideoReader* r = reader.get();
        if (thumb) {
          if (!thumb_reader) {
            DecodeOptions o = opts.decode;
            o.width = 0;
            o.height = std::max(1, opts.thumb_height);
            thumb_reader = std::make_unique<VideoReader>(path, o);
          }
          r = thumb_reader.get();
        }
        if (thumb || opts.keep_before_seek <= 0) {
          img = std::make_shared<const Image>(r->frame(index).image);
        } else {
          // Never keep more than a quarter of the budget this way.
          const int64_t fit = frame_bytes ? static_cast<int64_t>(opts.budget_bytes / 4 / frame_bytes) : 0;
          const int64_t keep = std::min<int64_t>(opts.keep_before_seek, fit);
          std::function<void(DecodedFrame&&)> cb = [&](DecodedFrame&& f) {
            passed.emplace_back(f.index, std::make_shared<const Image>(std::move(f.image)));
          };
          img = std::make_shared<const Image>(r->frame(index, cb, index - keep).image);
        }
      } catch (...) {
        error = std::current_exception();
      }

      lk.lock();
      busy = false;
      for (auto& [i, f] : passed) {
        ++st.decoded;
        insert(key_of(i, false), std::move(f));
      }
      if (img) {
        ++st.decoded;
        if (!thumb && frame_bytes == 0) frame_bytes = img->bytes();
        insert(key, img);
      } else if (!thumb) {
        failed.insert(index);
      }
      auto it = pending.find(key);
      if (it != pending.end()) {
        if (error) it->second.promise.set_exception(error);
        else it->second.promise.set_value(img);
        pending.erase(it);
      }
      cv.notify_all();
      if (!evicted.empty()) {
        std::vector<FramePtr> trash;
        trash.swap(evicted);
        lk.unlock();
        trash.clear();
        lk.lock();
      }
    }
  }
};

FrameCache::FrameCache(const std::filesystem::path& path, FrameCacheOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.opts = options;
  m.path = path;
  m.reader = std::make_unique<VideoReader>(path, options.decode);
  m.info = m.reader->info();
  m.frame_bytes = static_cast<std::size_t>(m.reader->width()) * m.reader->height() *
                  (options.decode.format == PixelFormat::Gray8 ? 1 : 3);
  m.worker = std::thread([this] { impl_->run(); });
}

FrameCache::~FrameCache() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
  for (auto& kv : impl_->pending) kv.second.promise.set_value(nullptr);
}

const MediaInfo& FrameCache::info() const { return impl_->info; }
int64_t FrameCache::frame_count() const { return impl_->info.frame_count; }

FrameRequest FrameCache::request(int64_t index) { return impl_->request(index, false); }
FrameRequest FrameCache::thumbnail(int64_t index) { return impl_->request(index, true); }

void FrameCache::set_playhead(int64_t index, int direction) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->playhead = std::clamp<int64_t>(index, 0, std::max<int64_t>(0, impl_->info.frame_count - 1));
  impl_->direction = direction < 0 ? -1 : 1;
  impl_->cv.notify_one();
}

bool FrameCache::idle() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return !impl_->busy && !impl_->has_work();
}

FrameCacheStats FrameCache::stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  FrameCacheStats s = impl_->st;
  s.bytes = impl_->bytes;
  s.frames = impl_->full_cached.size();
  s.thumbnails = impl_->thumb_cached.size();
  return s;
}

void FrameCache::clear() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->lru.clear();
  impl_->by_key.clear();
  impl_->full_cached.clear();
  impl_->thumb_cached.clear();
  impl_->bytes = 0;
}

}  // namespace mf::media
