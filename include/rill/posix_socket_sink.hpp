#ifndef RILL_POSIX_SOCKET_SINK_HPP
#define RILL_POSIX_SOCKET_SINK_HPP

// The Sink for a POSIX stream socket, and the read-side helper that notices a
// client that went away while its stream had nothing to send.

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <functional>
#include <utility>

#include "rill/buffer.hpp"
#include "rill/status.hpp"

#ifndef RILL_POSIX_IOV_MAX
/// iovecs built on the stack for one sendmsg(); longer lists take several calls.
#define RILL_POSIX_IOV_MAX 64
#endif

namespace rill {

/// A Sink over a connected stream socket (blocking or not). It does not own the fd.
/// Writes use sendmsg(MSG_NOSIGNAL), so a vanished peer is an error value, never a SIGPIPE.
class PosixSocketSink {
public:
    using FinishFn = std::function<void(CloseReason)>;

    /// `on_finish` tells the server the body ended and how (to reuse or close the connection).
    explicit PosixSocketSink(int fd, FinishFn on_finish = {}) noexcept
        : fd_(fd), on_finish_(std::move(on_finish)) {}

    WriteResult write(const ConstBuffer* bufs, std::size_t count) noexcept {
        std::size_t total = 0;
        std::size_t i = 0;
        std::size_t offset = 0;  // into bufs[i]
        while (i < count) {
            iovec iov[RILL_POSIX_IOV_MAX];
            int n = 0;
            for (std::size_t j = i; j < count && n < RILL_POSIX_IOV_MAX; ++j) {
                const std::size_t skip = (j == i) ? offset : 0;
                if (bufs[j].size == skip) continue;
                iov[n].iov_base = const_cast<char*>(bufs[j].data + skip);
                iov[n].iov_len = bufs[j].size - skip;
                ++n;
            }
            if (n == 0) break;
            msghdr msg{};
            msg.msg_iov = iov;
            msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(n);
            const ssize_t w = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
            if (w < 0) {
                const int err = errno;
                if (err == EINTR) continue;
                if (err == EAGAIN || err == EWOULDBLOCK) return WriteResult::would_block(total);
                if (err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ESHUTDOWN)
                    return WriteResult{total, WriteStatus::closed, err};
                return WriteResult{total, WriteStatus::error, err};
            }
            auto left = static_cast<std::size_t>(w);
            total += left;
            while (i < count && left >= bufs[i].size - offset) {
                left -= bufs[i].size - offset;
                offset = 0;
                ++i;
            }
            offset += left;
        }
        return WriteResult::ok(total);
    }

    void finish(CloseReason reason) {
        if (on_finish_) on_finish_(reason);
    }

    int fd() const noexcept { return fd_; }

private:
    int fd_;
    FinishFn on_finish_;
};

/// What a peek at a socket's read side says about the peer.
enum class PeerState : unsigned char {
    open,     ///< nothing to read yet, or data (a pipelined request) waiting
    closed,   ///< the peer sent FIN or RST
};

/// Looks at the read side without consuming anything. Call it when the event loop
/// reports the fd readable (or EPOLLRDHUP) while a body streams.
inline PeerState peek_peer(int fd) noexcept {
    for (;;) {
        char byte;
        const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) return PeerState::open;
        if (n == 0) return PeerState::closed;
        if (errno == EINTR) continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? PeerState::open : PeerState::closed;
    }
}

/// Aborts `body` with CloseReason::peer_closed when the peer on `fd` has gone away.
/// Returns true when it did. Works for a stream that is idle (nothing to send).
template <class Body>
bool abort_if_peer_closed(Body& body, int fd) {
    if (peek_peer(fd) != PeerState::closed) return false;
    body.abort(CloseReason::peer_closed);
    return true;
}

}  // namespace rill

#endif  // RILL_POSIX_SOCKET_SINK_HPP
