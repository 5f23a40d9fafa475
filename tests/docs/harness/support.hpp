// Shared by the docs harnesses: a real socketpair with small buffers, bounded
// reads, and a chunked-body parser written from RFC 9112 section 7.1 that does
// not use rill, so what a snippet put on the wire is checked independently.
#ifndef RILL_DOCS_HARNESS_SUPPORT_HPP
#define RILL_DOCS_HARNESS_SUPPORT_HPP

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace docs {

// writer: non-blocking, small send buffer (rill's side); reader: the client's side.
struct SocketPair {
    int writer = -1;
    int reader = -1;
    explicit SocketPair(int buffer_bytes = 4096) {
        int sv[2];
        const int rc = ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
        assert(rc == 0);
        (void)rc;
        writer = sv[0];
        reader = sv[1];
        ::setsockopt(writer, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
        ::setsockopt(reader, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
        ::fcntl(writer, F_SETFL, ::fcntl(writer, F_GETFL) | O_NONBLOCK);
    }
    SocketPair(const SocketPair&) = delete;
    SocketPair& operator=(const SocketPair&) = delete;
    ~SocketPair() {
        if (writer >= 0) ::close(writer);
        if (reader >= 0) ::close(reader);
    }
};

// Reads at most `max` bytes that are already there; never blocks.
inline std::string read_some(int fd, std::size_t max) {
    std::string got;
    char buf[4096];
    while (got.size() < max) {
        const std::size_t want = max - got.size() < sizeof buf ? max - got.size() : sizeof buf;
        const ssize_t n = ::recv(fd, buf, want, MSG_DONTWAIT);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
}

// Fills a non-blocking socket until the kernel refuses more; returns how many bytes went in.
inline std::size_t fill(int fd, char byte) {
    const std::string block(4096, byte);
    std::size_t total = 0;
    for (int i = 0; i < 100000; ++i) {
        const ssize_t n = ::send(fd, block.data(), block.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) break;
        total += static_cast<std::size_t>(n);
    }
    return total;
}

struct Chunked {
    std::string head;                 // status line and header fields, through the empty line
    std::vector<std::string> chunks;  // the data of every chunk, in order
    bool complete = false;            // the last-chunk and the final CRLF were seen
};

// Parses a response whose body is chunked. Asserts on any malformed byte.
inline Chunked parse_chunked(std::string_view wire) {
    Chunked out;
    const std::size_t end = wire.find("\r\n\r\n");
    assert(end != std::string_view::npos);
    out.head = std::string(wire.substr(0, end + 4));
    std::size_t at = end + 4;
    for (;;) {
        const std::size_t eol = wire.find("\r\n", at);
        if (eol == std::string_view::npos) return out;  // incomplete
        std::size_t size = 0;
        assert(eol > at && eol - at <= 16);
        for (std::size_t i = at; i < eol; ++i) {
            const char c = wire[i];
            const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            assert(digit >= 0);
            size = size * 16 + static_cast<std::size_t>(digit);
        }
        at = eol + 2;
        if (size == 0) {
            assert(wire.substr(at) == "\r\n");  // no trailers in these harnesses
            out.complete = true;
            return out;
        }
        if (wire.size() < at + size + 2) return out;
        out.chunks.emplace_back(wire.substr(at, size));
        assert(wire.substr(at + size, 2) == "\r\n");
        at += size + 2;
    }
}

}  // namespace docs

#endif
