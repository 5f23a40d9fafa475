#ifndef RILL_DETAIL_SEGMENT_QUEUE_HPP
#define RILL_DETAIL_SEGMENT_QUEUE_HPP

// The bytes a body could not hand to its sink yet, in order. A segment is an
// optional inline prefix (a chunk-size line), owned data and an optional CRLF,
// so a moved-in part is framed without being copied; small copied parts are
// framed into one flat string so that a busy socket gets them in few buffers.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rill/buffer.hpp"
#include "rill/framing.hpp"

#ifndef RILL_COALESCE_LIMIT
/// Copied parts are appended to the queue's last flat segment while it is smaller than this.
#define RILL_COALESCE_LIMIT 16384
#endif

namespace rill {
namespace detail {

// Storage for copied parts: grows by doubling without zero-filling, and is handed
// back to the queue (not freed) once written, so that a steady stream of small
// parts allocates nothing.
class ByteBuffer {
public:
    ByteBuffer() = default;
    ByteBuffer(ByteBuffer&& other) noexcept
        : bytes_(std::move(other.bytes_)), size_(other.size_), cap_(other.cap_) {
        other.size_ = 0;
        other.cap_ = 0;
    }
    ByteBuffer& operator=(ByteBuffer&& other) noexcept {
        bytes_ = std::move(other.bytes_);
        size_ = other.size_;
        cap_ = other.cap_;
        other.size_ = 0;
        other.cap_ = 0;
        return *this;
    }
    ByteBuffer(const ByteBuffer&) = delete;
    ByteBuffer& operator=(const ByteBuffer&) = delete;

    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return cap_; }
    const char* data() const noexcept { return bytes_.get(); }
    /// Makes room for `n` more bytes and returns where they go.
    char* extend(std::size_t n) {
        if (cap_ - size_ < n) grow(size_ + n);
        char* out = bytes_.get() + size_;
        size_ += n;
        return out;
    }
    void clear() noexcept { size_ = 0; }

private:
    void grow(std::size_t need) {
        std::size_t cap = cap_ < 256 ? 256 : cap_;
        while (cap < need) cap *= 2;
        std::unique_ptr<char[]> bigger(new char[cap]);
        if (size_ != 0) std::memcpy(bigger.get(), bytes_.get(), size_);
        bytes_ = std::move(bigger);
        cap_ = cap;
    }
    std::unique_ptr<char[]> bytes_;
    std::size_t size_ = 0;
    std::size_t cap_ = 0;
};

struct Segment {
    std::string data;        // a part moved in (owned segment)
    ByteBuffer copied;       // copied parts, framing included (flat segment)
    std::size_t offset = 0;  // framed bytes of this segment already written
    std::uint8_t prefix_len = 0;
    bool crlf = false;
    bool flat = false;
    char prefix[chunk_header_max] = {};

    std::size_t size() const noexcept {
        return flat ? copied.size() : prefix_len + data.size() + (crlf ? 2u : 0u);
    }
};

/// One framed part as up to three views: prefix, data, suffix.
struct Framed {
    std::string_view prefix;
    std::string_view data;
    std::string_view suffix;
    std::size_t size() const noexcept { return prefix.size() + data.size() + suffix.size(); }
};

class SegmentQueue {
public:
    bool empty() const noexcept { return head_ == segs_.size(); }
    std::size_t bytes() const noexcept { return bytes_; }

    /// Queues the framed bytes of `f` from `skip` on, copying them.
    void push_copy(const Framed& f, std::size_t skip) {
        const std::size_t n = f.size() - skip;
        if (n == 0) return;
        char* out = reserve_flat(n);
        for (std::string_view piece : {f.prefix, f.data, f.suffix}) {
            const std::size_t drop = skip < piece.size() ? skip : piece.size();
            skip -= drop;
            const std::size_t len = piece.size() - drop;
            if (len != 0) std::memcpy(out, piece.data() + drop, len);
            out += len;
        }
    }

    /// Queues `data` as one chunk (size line, data, CRLF), framed straight into the
    /// copied storage: the path of every small part gathered during a turn or a cork.
    void push_chunk(std::string_view data) {
        std::size_t digits = 1;
        for (std::size_t v = data.size() >> 4; v != 0; v >>= 4) ++digits;
        char* out = reserve_flat(digits + 2 + data.size() + 2);
        std::size_t v = data.size();
        for (std::size_t i = digits; i != 0; --i, v >>= 4) out[i - 1] = "0123456789abcdef"[v & 0xfu];
        out += digits;
        out[0] = '\r';
        out[1] = '\n';
        std::memcpy(out + 2, data.data(), data.size());
        out += 2 + data.size();
        out[0] = '\r';
        out[1] = '\n';
    }

    /// Queues `data` by move, framed by `prefix` and an optional CRLF, `skip` bytes already written.
    void push_owned(std::string&& data, std::string_view prefix, bool crlf, std::size_t skip) {
        Segment s;
        s.data = std::move(data);
        s.prefix_len = static_cast<std::uint8_t>(prefix.size());
        if (!prefix.empty()) std::memcpy(s.prefix, prefix.data(), prefix.size());
        s.crlf = crlf;
        s.offset = skip;
        const std::size_t n = s.size() - skip;
        if (n == 0) return;
        segs_.push_back(std::move(s));
        bytes_ += n;
    }

    /// Fills up to `max` buffers with the front of the queue; returns how many.
    std::size_t gather(ConstBuffer* out, std::size_t max) const noexcept {
        std::size_t n = 0;
        for (std::size_t i = head_; i < segs_.size() && n < max; ++i) {
            const Segment& s = segs_[i];
            std::size_t skip = s.offset;
            if (s.flat) {
                if (n == max) return n;
                out[n++] = ConstBuffer(s.copied.data() + skip, s.copied.size() - skip);
                continue;
            }
            const std::string_view pieces[3] = {std::string_view(s.prefix, s.prefix_len), s.data,
                                                s.crlf ? std::string_view("\r\n", 2) : std::string_view()};
            for (std::string_view piece : pieces) {
                if (skip >= piece.size()) {
                    skip -= piece.size();
                    continue;
                }
                if (n == max) return n;
                out[n++] = ConstBuffer(piece.data() + skip, piece.size() - skip);
                skip = 0;
            }
        }
        return n;
    }

    /// Drops `n` bytes from the front (they were written).
    void consume(std::size_t n) noexcept {
        bytes_ -= n;
        while (n != 0) {
            Segment& s = segs_[head_];
            const std::size_t left = s.size() - s.offset;
            if (n < left) {
                s.offset += n;
                return;
            }
            n -= left;
            release_front();
        }
        if (empty()) reset();
    }

    /// Moves every segment of `other` behind this queue's, leaving `other` empty.
    void append(SegmentQueue& other) {
        if (other.empty()) return;
        for (std::size_t i = other.head_; i < other.segs_.size(); ++i) segs_.push_back(std::move(other.segs_[i]));
        bytes_ += other.bytes_;
        other.clear();
    }

    void clear() noexcept {
        segs_.clear();
        head_ = 0;
        bytes_ = 0;
    }

private:
    // Room for `n` more copied bytes at the end of the queue.
    char* reserve_flat(std::size_t n) {
        Segment* tail = empty() ? nullptr : &segs_.back();
        if (tail == nullptr || !tail->flat || tail->copied.size() >= RILL_COALESCE_LIMIT) {
            segs_.emplace_back();
            tail = &segs_.back();
            tail->flat = true;
            if (spare_.capacity() != 0) tail->copied = std::move(spare_);
        }
        bytes_ += n;
        return tail->copied.extend(n);
    }

    void release_front() noexcept {
        Segment& s = segs_[head_];
        if (s.flat) {
            if (s.copied.capacity() > spare_.capacity()) {
                s.copied.clear();
                spare_ = std::move(s.copied);
            }
        } else {
            std::string().swap(s.data);
        }
        ++head_;
        if (empty()) {
            reset();
        } else if (head_ >= 64 && head_ * 2 >= segs_.size()) {
            // A queue that never empties must not keep the husks of written segments.
            segs_.erase(segs_.begin(), segs_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }
    void reset() noexcept {
        segs_.clear();  // keeps capacity: the next burst reuses it
        head_ = 0;
    }

    std::vector<Segment> segs_;
    ByteBuffer spare_;  // the largest written flat storage, for the next copied part
    std::size_t head_ = 0;
    std::size_t bytes_ = 0;
};

}  // namespace detail
}  // namespace rill

#endif  // RILL_DETAIL_SEGMENT_QUEUE_HPP
