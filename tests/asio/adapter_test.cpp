// rill/asio.hpp on real loopback TCP connections: both sinks (the readiness sink on a
// plain socket, the completion sink on a stream that is not one), the end handed to
// on_done outside body calls, a client that leaves (while streaming and while idle),
// a pipelined request, the stall timeout, and descriptors back to their baseline.
//
// The client is a plain blocking POSIX socket driven by the test (or a thread), so its
// reading is under exact control; the server side runs on one io_context in this thread.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <rill/asio.hpp>

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int open_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d) != nullptr) ++n;
        ::closedir(d);
    }
    return n;
}

template <class Pred>
bool run_until(net::io_context& io, Pred pred, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!pred() && Clock::now() < deadline) {
        io.restart();
        io.run_for(2ms);
    }
    return pred();
}

std::string pattern(std::size_t n, std::size_t offset = 0) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = alphabet[(offset + i) % 62];
    return s;
}

// A connected pair: `server` on the io_context, `client` a blocking fd with small buffers.
struct Loopback {
    net::io_context io;
    tcp::socket server{io};
    int client = -1;

    explicit Loopback(int client_rcvbuf = 0) {
        tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(client >= 0);
        if (client_rcvbuf > 0) ::setsockopt(client, SOL_SOCKET, SO_RCVBUF, &client_rcvbuf, sizeof client_rcvbuf);
        const timeval tv{5, 0};
        ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(acceptor.local_endpoint().port());
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        acceptor.accept(server);
        server.set_option(net::socket_base::send_buffer_size(4096));
    }
    ~Loopback() { close_client(); }
    Loopback(const Loopback&) = delete;
    Loopback& operator=(const Loopback&) = delete;

    void close_client(bool reset = false) {
        if (client < 0) return;
        if (reset) {
            const linger l{1, 0};
            ::setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        ::close(client);
        client = -1;
    }

    // Reads until EOF, an error, or `limit` bytes.
    std::string read_all(std::size_t limit = std::string::npos) const {
        std::string out;
        char buf[65536];
        while (out.size() < limit) {
            const ssize_t n = ::recv(client, buf, sizeof buf, 0);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
        return out;
    }
};

// Not a socket, so respond() takes the completion path (as for ssl::stream).
struct WrappedStream {
    tcp::socket& socket;
    using executor_type = tcp::socket::executor_type;
    executor_type get_executor() { return socket.get_executor(); }
    tcp::socket& next_layer() { return socket; }
    template <class Buffers, class Handler>
    void async_write_some(const Buffers& buffers, Handler&& handler) {
        ++writes;
        socket.async_write_some(buffers, std::forward<Handler>(handler));
    }
    int writes = 0;
};

// Sends `parts` parts of `size` bytes, resuming on on_drain, then closes.
struct Producer : std::enable_shared_from_this<Producer> {
    rill::BodyPtr body;
    std::size_t parts;
    std::size_t size;
    std::size_t offset = 0;
    bool endless = false;
    int* closes = nullptr;
    rill::CloseReason* reason = nullptr;

    void start() {
        auto self = shared_from_this();
        body->on_drain([self] { self->step(); });
        body->on_close([self](rill::CloseReason r) {
            if (self->closes != nullptr) ++*self->closes;
            if (self->reason != nullptr) *self->reason = r;
        });
        step();
    }
    void step() {
        while (endless || parts != 0) {
            const rill::SendStatus s = body->send(pattern(size, offset));
            offset += size;
            if (!endless) --parts;
            if (s == rill::SendStatus::closed) return;
            if (s == rill::SendStatus::backpressure) return;
        }
        body->close();
    }
};

std::string fixed_head(std::size_t length) {
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
}

rill::ResponseHead fixed(std::size_t length) {
    rill::ResponseHead head(200);
    head.header("Content-Length", std::to_string(length));
    return head;
}

const rill::Request kGet{"GET", 1, {}, {}};

// The body calls the test is inside; on_done must never see it above zero.
int g_in_body_call = 0;
struct InBody {
    InBody() { ++g_in_body_call; }
    ~InBody() { --g_in_body_call; }
};

template <class Stream>
void stream_byte_exact(Loopback& lo, Stream& stream, std::size_t parts, std::size_t size) {
    const std::size_t total = parts * size;
    int done_calls = 0;
    bool keep = false;
    bool done_inside_body_call = false;
    int closes = 0;
    rill::CloseReason reason = rill::CloseReason::aborted;
    rill::BodyPtr kept;
    std::string got;
    std::thread reader([&] { got = lo.read_all(fixed_head(total).size() + total); });
    kept = rill::asio::respond(
        stream,
        [&](const rill::BodyPtr& body) {
            InBody guard;
            REQUIRE(body->respond(kGet, fixed(total)) == rill::HeadStatus::ok);
            auto p = std::make_shared<Producer>();
            p->body = body;
            p->parts = parts;
            p->size = size;
            p->closes = &closes;
            p->reason = &reason;
            p->start();
        },
        [&](bool keep_alive) {
            done_inside_body_call = g_in_body_call != 0;
            ++done_calls;
            keep = keep_alive;
        });
    CHECK(run_until(lo.io, [&] { return done_calls != 0; }, 10s));
    reader.join();
    CHECK(done_calls == 1);
    CHECK_FALSE(done_inside_body_call);
    CHECK(keep);
    CHECK(closes == 1);
    CHECK(reason == rill::CloseReason::completed);
    CHECK(kept->bytes_sent() == fixed_head(total).size() + total);
    CHECK(got == fixed_head(total) + pattern(total));
}

}  // namespace

TEST_CASE("asio readiness sink: a large response arrives byte-exact; on_done(true) once, outside body calls") {
    Loopback lo(4096);
    stream_byte_exact(lo, lo.server, 64, 16384);
    // The socket is handed back as it was lent: blocking mode restored.
    CHECK_FALSE(lo.server.non_blocking());
}

TEST_CASE("asio completion sink: the same response through async_write, on_done after the last completion") {
    Loopback lo(4096);
    WrappedStream stream{lo.server};
    stream_byte_exact(lo, stream, 64, 16384);
    CHECK(stream.writes > 1);  // it really went through the completion path, in several writes
}

TEST_CASE("asio: on_done comes after the response ended even when it ends inside respond()") {
    Loopback lo;
    int done_calls = 0;
    bool keep = true;
    bool returned = false;
    bool done_before_return = false;
    rill::asio::respond(
        lo.server,
        [&](const rill::BodyPtr& body) {
            rill::Request req{"GET", 1, "close", {}};
            REQUIRE(body->respond(req, fixed(2)) == rill::HeadStatus::ok);
            (void)body->send("ok");
        },
        [&](bool keep_alive) {
            done_before_return = !returned;
            ++done_calls;
            keep = keep_alive;
        });
    returned = true;
    CHECK(done_calls == 0);  // posted, not called from inside send()
    CHECK(run_until(lo.io, [&] { return done_calls != 0; }, 2s));
    CHECK_FALSE(done_before_return);
    CHECK_FALSE(keep);  // Connection: close
}

namespace {

template <class MakeStream>
void client_leaves_mid_stream(bool reset, MakeStream make_stream) {
    const int baseline = open_fds();
    {
        Loopback lo(4096);
        decltype(auto) stream = make_stream(lo);
        int closes = 0;
        int done_calls = 0;
        bool keep = true;
        rill::CloseReason reason = rill::CloseReason::completed;
        rill::asio::respond(
            stream,
            [&](const rill::BodyPtr& body) {
                rill::ResponseHead head(200);
                REQUIRE(body->respond(kGet, head) == rill::HeadStatus::ok);
                auto p = std::make_shared<Producer>();
                p->body = body;
                p->size = 16384;
                p->parts = 0;
                p->endless = true;
                p->closes = &closes;
                p->reason = &reason;
                p->start();
            },
            [&](bool keep_alive) {
                ++done_calls;
                keep = keep_alive;
            });
        // Let the stream fill the client's buffers, read a little, then leave.
        run_until(lo.io, [] { return false; }, 50ms);
        char buf[1000];
        REQUIRE(::recv(lo.client, buf, sizeof buf, 0) > 0);
        lo.close_client(reset);
        CHECK(run_until(lo.io, [&] { return done_calls != 0; }, 3s));
        run_until(lo.io, [] { return false; }, 30ms);  // nothing else may follow
        CHECK(closes == 1);
        CHECK(done_calls == 1);
        CHECK_FALSE(keep);
        CHECK(reason == rill::CloseReason::peer_closed);
        lo.server.close();
        lo.io.restart();
        lo.io.poll();  // cancelled waits complete and let go of what they hold
    }
    CHECK(open_fds() == baseline);
}

}  // namespace

TEST_CASE("asio readiness sink: a client leaving mid-stream ends the body once (peer_closed); fds return") {
    SUBCASE("FIN") { client_leaves_mid_stream(false, [](Loopback& lo) -> tcp::socket& { return lo.server; }); }
    SUBCASE("RST") { client_leaves_mid_stream(true, [](Loopback& lo) -> tcp::socket& { return lo.server; }); }
}

TEST_CASE("asio completion sink: a client leaving mid-stream ends the body once (peer_closed); fds return") {
    SUBCASE("FIN") { client_leaves_mid_stream(false, [](Loopback& lo) { return WrappedStream{lo.server}; }); }
    SUBCASE("RST") { client_leaves_mid_stream(true, [](Loopback& lo) { return WrappedStream{lo.server}; }); }
}

TEST_CASE("asio peer watch: a client that leaves an idle stream ends it before any write") {
    for (const bool completion : {false, true}) {
        CAPTURE(completion);
        Loopback lo;
        WrappedStream wrapped{lo.server};
        int closes = 0;
        int done_calls = 0;
        rill::CloseReason reason = rill::CloseReason::completed;
        const auto handler = [&](const rill::BodyPtr& body) {
            rill::ResponseHead head(200);
            REQUIRE(body->respond(kGet, head) == rill::HeadStatus::ok);
            (void)body->send("Hello, ");  // and "World" never comes
            body->on_close([&](rill::CloseReason r) {
                ++closes;
                reason = r;
            });
        };
        const auto done = [&](bool) { ++done_calls; };
        if (completion) {
            rill::asio::respond(wrapped, handler, done);
        } else {
            rill::asio::respond(lo.server, handler, done);
        }
        run_until(lo.io, [] { return false; }, 30ms);
        CHECK(done_calls == 0);
        lo.close_client();
        const auto t0 = Clock::now();
        CHECK(run_until(lo.io, [&] { return done_calls != 0; }, 2s));
        CHECK(Clock::now() - t0 < 1s);
        CHECK(closes == 1);
        CHECK(reason == rill::CloseReason::peer_closed);
    }
}

TEST_CASE("asio peer watch: a pipelined request stops the watch; the response goes on and keeps the request") {
    Loopback lo;
    int done_calls = 0;
    bool keep = false;
    rill::BodyPtr body;
    rill::asio::respond(
        lo.server,
        [&](const rill::BodyPtr& b) {
            body = b;
            REQUIRE(b->respond(kGet, fixed(10)) == rill::HeadStatus::ok);
            (void)b->send("Hello");
        },
        [&](bool keep_alive) {
            ++done_calls;
            keep = keep_alive;
        });
    const char next[] = "GET /next HTTP/1.1\r\n\r\n";
    REQUIRE(::send(lo.client, next, sizeof next - 1, 0) == static_cast<ssize_t>(sizeof next - 1));
    run_until(lo.io, [] { return false; }, 50ms);
    CHECK(body->state() == rill::BodyState::open);
    (void)body->send("World");
    CHECK(run_until(lo.io, [&] { return done_calls != 0; }, 2s));
    CHECK(keep);
    // The pipelined request is still there for the next read.
    char buf[64];
    const std::size_t n = lo.server.read_some(net::buffer(buf));
    CHECK(std::string(buf, n) == std::string(next, sizeof next - 1));
    CHECK(lo.read_all(fixed_head(10).size() + 10) == fixed_head(10) + "HelloWorld");
}

namespace {

template <class MakeStream>
void stalled_reader(MakeStream make_stream) {
    Loopback lo(4096);
    decltype(auto) stream = make_stream(lo);
    rill::asio::Options options;
    options.stall_timeout = 300ms;
    int closes = 0;
    int done_calls = 0;
    bool pending_at_done = true;
    rill::CloseReason reason = rill::CloseReason::completed;
    rill::BodyPtr kept;
    const auto t0 = Clock::now();
    kept = rill::asio::respond(
        stream,
        [&](const rill::BodyPtr& body) {
            rill::ResponseHead head(200);
            REQUIRE(body->respond(kGet, head) == rill::HeadStatus::ok);
            auto p = std::make_shared<Producer>();
            p->body = body;
            p->size = 16384;
            p->parts = 0;
            p->endless = true;
            p->closes = &closes;
            p->reason = &reason;
            p->start();
        },
        [&](bool) {
            ++done_calls;
            pending_at_done = kept->write_pending();
        },
        options);
    CHECK(run_until(lo.io, [&] { return done_calls != 0; }, 5s));
    const auto waited = Clock::now() - t0;
    CHECK(reason == rill::CloseReason::timeout);
    CHECK(closes == 1);
    CHECK_FALSE(pending_at_done);  // the cancelled write completed before on_done
    CHECK(waited >= 290ms);
    CHECK(waited < 2s);
}

template <class MakeStream>
void slow_reader_not_cut(MakeStream make_stream) {
    Loopback lo(4096);
    decltype(auto) stream = make_stream(lo);
    rill::asio::Options options;
    options.stall_timeout = 300ms;
    constexpr std::size_t total = 48 * 4096;
    int done_calls = 0;
    rill::CloseReason reason = rill::CloseReason::aborted;
    std::string got;
    // Reads 4 KiB every 20 ms: slow, but never 300 ms without progress.
    std::thread reader([&] {
        char buf[4096];
        while (got.size() < fixed_head(total).size() + total) {
            const ssize_t n = ::recv(lo.client, buf, sizeof buf, 0);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
            std::this_thread::sleep_for(20ms);
        }
    });
    rill::asio::respond(
        stream,
        [&](const rill::BodyPtr& body) {
            REQUIRE(body->respond(kGet, fixed(total)) == rill::HeadStatus::ok);
            auto p = std::make_shared<Producer>();
            p->body = body;
            p->size = 4096;
            p->parts = total / 4096;
            p->reason = &reason;
            p->start();
        },
        [&](bool) { ++done_calls; }, options);
    CHECK(run_until(lo.io, [&] { return done_calls != 0; }, 10s));
    reader.join();
    CHECK(reason == rill::CloseReason::completed);
    CHECK(got.size() == fixed_head(total).size() + total);
}

}  // namespace

TEST_CASE("asio stall timeout: a client that stops reading is cut (CloseReason::timeout)") {
    SUBCASE("readiness sink") { stalled_reader([](Loopback& lo) -> tcp::socket& { return lo.server; }); }
    SUBCASE("completion sink") { stalled_reader([](Loopback& lo) { return WrappedStream{lo.server}; }); }
}

TEST_CASE("asio stall timeout: a slow but steady reader is not cut") {
    SUBCASE("readiness sink") { slow_reader_not_cut([](Loopback& lo) -> tcp::socket& { return lo.server; }); }
    SUBCASE("completion sink") { slow_reader_not_cut([](Loopback& lo) { return WrappedStream{lo.server}; }); }
}

TEST_CASE("asio sinks on their own: SocketSink and StreamSink with make_deferred_body, finish once") {
    Loopback lo;
    WrappedStream wrapped{lo.server};
    int finishes = 0;
    rill::CloseReason seen = rill::CloseReason::aborted;
    const auto on_finish = [&](rill::CloseReason r) {
        ++finishes;
        seen = r;
    };
    using Plain = rill::asio::SocketSink<tcp::socket>;
    using Completion = rill::asio::StreamSink<WrappedStream>;
    static_assert(!rill::sink_completes_later_v<Plain>);
    static_assert(rill::sink_completes_later_v<Completion>);

    auto a = rill::make_deferred_body<Plain>();
    a->each(Plain(lo.server, a, on_finish));
    REQUIRE(a->respond(kGet, fixed(3)) == rill::HeadStatus::ok);
    CHECK(a->send("abc") == rill::SendStatus::written);  // straight into the socket
    CHECK(finishes == 1);
    CHECK(seen == rill::CloseReason::completed);

    auto b = rill::make_deferred_body<Completion>();
    b->each(Completion(wrapped, b, on_finish));
    REQUIRE(b->respond(kGet, fixed(3)) == rill::HeadStatus::ok);
    (void)b->send(std::string("def"));
    CHECK(b->write_pending());
    CHECK(finishes == 1);  // not before the transport confirmed the last byte
    CHECK(run_until(lo.io, [&] { return finishes == 2; }, 2s));
    CHECK(seen == rill::CloseReason::completed);
    CHECK(lo.read_all(2 * (fixed_head(3).size() + 3)) == fixed_head(3) + "abc" + fixed_head(3) + "def");
}

TEST_CASE("asio LoopTurn: parts a handler sends leave together after it returns, through a posted end()") {
    Loopback lo;
    for (const bool with_turn : {false, true}) {
        CAPTURE(with_turn);
        std::unique_ptr<rill::asio::LoopTurn> turn;
        if (with_turn) turn = std::make_unique<rill::asio::LoopTurn>(lo.io.get_executor());
        std::size_t queued_in_handler = 0;
        int done_calls = 0;
        rill::BodyPtr kept = rill::asio::respond(
            lo.server,
            [&](const rill::BodyPtr& body) {
                REQUIRE(body->respond(kGet, fixed(9)) == rill::HeadStatus::ok);
                (void)body->send("abc");
                (void)body->send("def");
                (void)body->send("ghi");
                queued_in_handler = body->bytes_queued();
            },
            [&](bool) { ++done_calls; });
        if (with_turn) {
            // Gathered (head and three parts), not written, until the handler returned.
            CHECK(queued_in_handler == fixed_head(9).size() + 9);
            CHECK(kept->bytes_sent() == 0);
        } else {
            CHECK(queued_in_handler == 0);
        }
        CHECK(run_until(lo.io, [&] { return done_calls != 0; }, 2s));
        CHECK(kept->bytes_sent() == fixed_head(9).size() + 9);
        CHECK(lo.read_all(fixed_head(9).size() + 9) == fixed_head(9) + "abcdefghi");
    }
}
