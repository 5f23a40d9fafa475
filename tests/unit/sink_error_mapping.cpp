// How each shipped sink reports what happened (docs/sink.md, docs/api.md): StringSink's
// counters, FunctionSink's finish, PosixSocketSink's errno mapping, and peek_peer on a
// socket with a pipelined request waiting. Sockets are AF_UNIX pairs: nothing leaves the host.

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace {

struct Pair {
    int a = -1;
    int b = -1;
    Pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        a = fds[0];
        b = fds[1];
    }
    Pair(const Pair&) = delete;
    Pair& operator=(const Pair&) = delete;
    ~Pair() {
        if (a >= 0) ::close(a);
        if (b >= 0) ::close(b);
    }
};

void set_nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL, 0);
    REQUIRE(flags >= 0);
    REQUIRE(::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
}

std::string read_all_available(int fd) {
    std::string out;
    char buf[4096];
    for (int i = 0; i < 100000; ++i) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace

TEST_CASE("StringSink counts only writes that took bytes, and clear() empties it") {
    rill::StringSink sink;
    rill::StringSink copy = sink;
    const rill::ConstBuffer none[1] = {rill::ConstBuffer("", 0)};
    CHECK(sink.write(none, 1).bytes == 0);
    CHECK(sink.write(none, 0).status == rill::WriteStatus::ok);
    CHECK(copy.writes() == 0);
    const rill::ConstBuffer two[2] = {rill::ConstBuffer("ab", 2), rill::ConstBuffer("c", 1)};
    CHECK(sink.write(two, 2).bytes == 3);
    CHECK(copy.writes() == 1);
    CHECK(copy.str() == "abc");
    copy.clear();
    CHECK(sink.str().empty());
    CHECK_FALSE(copy.finished().has_value());
    sink.finish(rill::CloseReason::timeout);
    CHECK(copy.finished() == rill::CloseReason::timeout);
}

TEST_CASE("FunctionSink hands every reason to its finish callable unchanged") {
    std::vector<rill::CloseReason> seen;
    auto sink = rill::make_function_sink(
        [](const rill::ConstBuffer* bufs, std::size_t n) { return rill::WriteResult::ok(rill::buffer_size(bufs, n)); },
        [&seen](rill::CloseReason r) { seen.push_back(r); });
    const std::vector<rill::CloseReason> all = {
        rill::CloseReason::completed, rill::CloseReason::truncated, rill::CloseReason::peer_closed,
        rill::CloseReason::write_error, rill::CloseReason::aborted, rill::CloseReason::shutdown,
        rill::CloseReason::timeout};
    for (rill::CloseReason r : all) sink.finish(r);
    CHECK(seen == all);
}

TEST_CASE("PosixSocketSink maps the outcome of sendmsg to a WriteResult") {
    SUBCASE("a full non-blocking socket answers would_block with the bytes it took") {
        Pair p;
        set_nonblocking(p.a);
        rill::PosixSocketSink sink(p.a);
        const std::string chunk(1 << 16, 'x');
        const rill::ConstBuffer buf(chunk);
        std::size_t total = 0;
        rill::WriteResult r;
        for (int i = 0; i < 1000; ++i) {
            r = sink.write(&buf, 1);
            total += r.bytes;
            if (r.status != rill::WriteStatus::ok) break;
        }
        CHECK(r.status == rill::WriteStatus::would_block);
        CHECK(r.error == 0);
        CHECK(r.bytes < chunk.size());
        std::size_t drained = 0;
        for (int i = 0; i < 100000 && drained < total; ++i) drained += read_all_available(p.b).size();
        CHECK(drained == total);
    }
    SUBCASE("a peer that closed answers closed with EPIPE") {
        Pair p;
        ::close(p.b);
        p.b = -1;
        rill::PosixSocketSink sink(p.a);
        const rill::ConstBuffer buf("abc", 3);
        const rill::WriteResult r = sink.write(&buf, 1);
        CHECK(r.status == rill::WriteStatus::closed);
        CHECK(r.error == EPIPE);
        CHECK(r.bytes == 0);
    }
    SUBCASE("an fd that is not a socket answers error with its errno") {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        rill::PosixSocketSink sink(fds[1]);
        const rill::ConstBuffer buf("abc", 3);
        const rill::WriteResult r = sink.write(&buf, 1);
        CHECK(r.status == rill::WriteStatus::error);
        CHECK(r.error == ENOTSOCK);
        ::close(fds[0]);
        ::close(fds[1]);
    }
    SUBCASE("finish hands the reason to the server unchanged") {
        std::vector<rill::CloseReason> seen;
        rill::PosixSocketSink sink(-1, [&seen](rill::CloseReason r) { seen.push_back(r); });
        sink.finish(rill::CloseReason::peer_closed);
        sink.finish(rill::CloseReason::truncated);
        sink.finish(rill::CloseReason::timeout);
        CHECK(seen == std::vector<rill::CloseReason>{rill::CloseReason::peer_closed, rill::CloseReason::truncated,
                                                     rill::CloseReason::timeout});
    }
}

TEST_CASE("peek_peer: a waiting pipelined request is an open peer, a FIN a closed one") {
    SUBCASE("idle") {
        Pair p;
        CHECK(rill::peek_peer(p.a) == rill::PeerState::open);
    }
    SUBCASE("a pipelined request waiting, not consumed by the peek") {
        Pair p;
        const char request[] = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
        REQUIRE(::send(p.b, request, sizeof request - 1, 0) == static_cast<ssize_t>(sizeof request - 1));
        CHECK(rill::peek_peer(p.a) == rill::PeerState::open);
        CHECK(rill::peek_peer(p.a) == rill::PeerState::open);
        CHECK(read_all_available(p.a) == request);
    }
    SUBCASE("the peer sent FIN") {
        Pair p;
        REQUIRE(::shutdown(p.b, SHUT_WR) == 0);
        CHECK(rill::peek_peer(p.a) == rill::PeerState::closed);
    }
    SUBCASE("the peer is gone") {
        Pair p;
        ::close(p.b);
        p.b = -1;
        CHECK(rill::peek_peer(p.a) == rill::PeerState::closed);
    }
}

TEST_CASE("abort_if_peer_closed ends a streaming body as peer_closed, and only then") {
    Pair p;
    auto body = rill::make_deferred_body<rill::PosixSocketSink>();
    std::optional<rill::CloseReason> server_saw;
    body->each(rill::PosixSocketSink(p.a, [&](rill::CloseReason r) { server_saw = r; }));
    CHECK(body->send("abc") == rill::SendStatus::written);

    const char pipelined[] = "GET /next HTTP/1.1\r\n\r\n";
    REQUIRE(::send(p.b, pipelined, sizeof pipelined - 1, 0) > 0);
    CHECK_FALSE(rill::abort_if_peer_closed(*body, p.a));
    CHECK(body->state() == rill::BodyState::open);

    REQUIRE(::shutdown(p.b, SHUT_WR) == 0);
    // The pipelined bytes are still ahead of the FIN: only once they are read is the FIN seen.
    CHECK(read_all_available(p.a) == pipelined);
    CHECK(rill::abort_if_peer_closed(*body, p.a));
    CHECK(body->state() == rill::BodyState::closed);
    CHECK(body->close_reason() == rill::CloseReason::peer_closed);
    CHECK(server_saw == rill::CloseReason::peer_closed);
}
