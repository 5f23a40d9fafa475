#ifndef RILL_BUFFER_HPP
#define RILL_BUFFER_HPP

// The vocabulary between a body and its sink: a list of read-only buffers
// going down, and one WriteResult coming back.

#include <cstddef>
#include <string_view>

namespace rill {

/// A read-only span of bytes owned by the caller for the duration of one Sink::write.
struct ConstBuffer {
    const char* data = nullptr;
    std::size_t size = 0;

    constexpr ConstBuffer() noexcept = default;
    constexpr ConstBuffer(const char* d, std::size_t n) noexcept : data(d), size(n) {}
    constexpr ConstBuffer(std::string_view s) noexcept : data(s.data()), size(s.size()) {}  // NOLINT
    constexpr std::string_view view() const noexcept { return {data, size}; }
};

/// How a sink's write went.
enum class WriteStatus : unsigned char {
    ok,           ///< `bytes` were taken (maybe fewer than offered: the body offers the rest at once)
    would_block,  ///< `bytes` were taken (maybe 0) and no more fit now: the body waits for flush()
    closed,       ///< the peer is gone; the body ends with CloseReason::peer_closed
    error,        ///< the transport failed; the body ends with CloseReason::write_error
    pending,      ///< a completion sink started writing `bytes` and calls Body::complete_write later
};

/// Returned by Sink::write: how many bytes were taken from the front of the buffers, and why it stopped.
struct WriteResult {
    std::size_t bytes = 0;
    WriteStatus status = WriteStatus::ok;
    int error = 0;  ///< errno or a transport-specific code when status is closed or error

    static constexpr WriteResult ok(std::size_t n) noexcept { return {n, WriteStatus::ok, 0}; }
    static constexpr WriteResult would_block(std::size_t n = 0) noexcept {
        return {n, WriteStatus::would_block, 0};
    }
    static constexpr WriteResult closed(int err = 0) noexcept { return {0, WriteStatus::closed, err}; }
    static constexpr WriteResult failed(int err = 0) noexcept { return {0, WriteStatus::error, err}; }
    /// Only from a sink with `completes_later`: the first `n` offered bytes are being written.
    static constexpr WriteResult pending(std::size_t n) noexcept { return {n, WriteStatus::pending, 0}; }
};

/// Sum of the sizes of `count` buffers.
constexpr std::size_t buffer_size(const ConstBuffer* bufs, std::size_t count) noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < count; ++i) n += bufs[i].size;
    return n;
}

}  // namespace rill

#endif  // RILL_BUFFER_HPP
