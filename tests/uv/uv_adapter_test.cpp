// rill/uv.hpp on a real libuv loop and real loopback sockets, in one thread: the test
// steps the loop (UV_RUN_NOWAIT) while it drives plain non-blocking client sockets.
// Oracles are libuv's and the kernel's own views (the stream's write_queue_size, the
// bytes the client received, /proc/self/fd), never the adapter's.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <rill/uv.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// libuv writes with writev(): like every libuv program, ignore SIGPIPE.
const bool sigpipe_ignored = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();

int open_fds() {
    int n = 0;
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return -1;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n - 1;  // the directory's own descriptor
}

std::string pattern(std::size_t n, std::size_t offset = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (offset + i) % 26);
    return s;
}

// Runs the loop until `done()` or `timeout`; every wait is bounded.
template <class F>
bool run_until(uv_loop_t* loop, F done, Ms timeout = Ms(5000)) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
        if (Clock::now() > deadline) return false;
        uv_run(loop, UV_RUN_NOWAIT);
        std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    return true;
}

/// A plain client socket; reads only when told to.
struct Client {
    explicit Client(int port, int rcvbuf = 0) {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        // Loopback: the listener's backlog completes the handshake without the loop.
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    ~Client() { close(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void send(std::string_view s) { REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size())); }
    /// Reads what is there, at most `limit` bytes; returns the count.
    std::size_t read(std::size_t limit = SIZE_MAX) {
        std::size_t total = 0;
        char buf[16384];
        while (total < limit) {
            const std::size_t want = std::min(sizeof buf, limit - total);
            const ssize_t n = ::recv(fd, buf, want, 0);
            if (n > 0) {
                got.append(buf, static_cast<std::size_t>(n));
                total += static_cast<std::size_t>(n);
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) eof = true;
            break;
        }
        return total;
    }
    void close(bool reset = false) {
        if (fd < 0) return;
        if (reset) {
            const linger l{1, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        ::close(fd);
        fd = -1;
    }

    int fd = -1;
    std::string got;
    bool eof = false;
};

/// Streams `left` parts of 16 KiB, then closes; paced by on_drain.
struct Streamer : std::enable_shared_from_this<Streamer> {
    Streamer(rill::BodyPtr b, std::size_t parts) : body(std::move(b)), left(parts) {}
    void step() {
        while (left != 0) {
            const rill::SendStatus s = body->send(pattern(16384, sent));
            sent += 16384;
            --left;
            if (s == rill::SendStatus::closed) return;
            if (s == rill::SendStatus::backpressure && left != 0) {
                auto self = shared_from_this();
                body->on_drain([self] { self->step(); });
                return;
            }
        }
        body->close();
    }
    rill::BodyPtr body;
    std::size_t left;
    std::size_t sent = 0;
};

/// A minimal libuv HTTP server around UvConnection, with counters for the checks.
struct TestServer {
    struct Conn {
        Conn(TestServer& s) : server(s), rill(reinterpret_cast<uv_stream_t*>(&tcp), &Conn::closed, s.options) {}
        static void closed(uv_handle_t* h) {
            auto* c = static_cast<Conn*>(h->data);
            c->server.conns.erase(c);
            ++c->server.closed_handles;
            delete c;
        }
        uv_tcp_t tcp{};
        TestServer& server;
        rill::UvConnection rill;
        std::string in;
    };

    explicit TestServer(rill::UvOptions o = {}, int snd = 0, int rcv = 0) : options(o), sndbuf(snd), rcvbuf(rcv) {
        REQUIRE(uv_loop_init(&loop) == 0);
        uv_tcp_init(&loop, &listener);
        listener.data = this;
        sockaddr_in a{};
        uv_ip4_addr("127.0.0.1", 0, &a);
        REQUIRE(uv_tcp_bind(&listener, reinterpret_cast<sockaddr*>(&a), 0) == 0);
        REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 16, &TestServer::on_connection) == 0);
        int len = sizeof a;
        uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~TestServer() {
        uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
        const std::vector<Conn*> all(conns.begin(), conns.end());
        for (Conn* c : all) c->rill.close();
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);  // no handle left behind
    }

    static void on_connection(uv_stream_t* l, int status) {
        auto& self = *static_cast<TestServer*>(l->data);
        REQUIRE(status == 0);
        auto* c = new Conn(self);
        uv_tcp_init(&self.loop, &c->tcp);
        c->tcp.data = c;
        self.conns.insert(c);
        REQUIRE(uv_accept(l, reinterpret_cast<uv_stream_t*>(&c->tcp)) == 0);
        if (self.sndbuf > 0) {
            int size = self.sndbuf;
            uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&c->tcp), &size);
        }
        if (self.rcvbuf > 0) {  // a fixed size: the kernel does not grow it as it pleases
            int size = self.rcvbuf;
            uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&c->tcp), &size);
        }
        uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp),
                      [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
                          auto& s = static_cast<Conn*>(h->data)->server;
                          b->base = s.buffer;
                          b->len = sizeof s.buffer;
                      },
                      [](uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
                          auto* conn = static_cast<Conn*>(st->data);
                          if (conn->rill.on_read(n, b)) return;
                          if (n < 0) return conn->rill.close(rill::CloseReason::peer_closed);
                          conn->in.append(b->base, static_cast<std::size_t>(n));
                          conn->server.parse(*conn);
                      });
    }

    void parse(Conn& c) {
        if (!c.rill.idle()) return;
        const std::size_t end = c.in.find("\r\n\r\n");
        if (end == std::string::npos) return;
        const std::string head = c.in.substr(0, end + 4);
        c.in.erase(0, end + 4);
        Conn* conn = &c;
        const rill::BodyPtr body = c.rill.start_response([this, conn](rill::UvEnd e) {
            if (in_handler) nested_end = true;
            ends.push_back(e);
            if (!e.keep_alive) return;
            conn->in += e.input;
            parse(*conn);
        });
        last_stream = c.rill.stream();
        in_handler = true;
        handler(body, head);
        in_handler = false;
    }

    static rill::Request request_of(const std::string& head) {
        const bool v10 = head.find("HTTP/1.0\r\n") != std::string::npos;
        const bool close = head.find("Connection: close\r\n") != std::string::npos;
        return rill::Request{"GET", v10 ? 0 : 1, close ? "close" : "", {}};
    }

    uv_loop_t loop{};
    uv_tcp_t listener{};
    int port = 0;
    rill::UvOptions options;
    int sndbuf;
    int rcvbuf;
    char buffer[65536];
    std::unordered_set<Conn*> conns;
    std::function<void(const rill::BodyPtr&, const std::string&)> handler;
    std::vector<rill::UvEnd> ends;
    int closed_handles = 0;
    bool in_handler = false;
    bool nested_end = false;
    uv_stream_t* last_stream = nullptr;
};

}  // namespace

TEST_CASE("uv: a client leaving mid-stream ends the body once (peer_closed) and frees its descriptor") {
    // idle: the body has nothing to write when the client leaves, so only the read side can tell.
    for (const int variant : {0, 1, 2}) {
        const bool reset = variant == 1;
        const bool idle = variant == 2;
        CAPTURE(reset);
        CAPTURE(idle);
        TestServer srv;
        int closes = 0;
        rill::CloseReason reason = rill::CloseReason::completed;
        std::weak_ptr<rill::Body> weak;
        rill::BodyPtr held;  // the application keeps an idle body, as a route waiting for data does
        srv.handler = [&](const rill::BodyPtr& body, const std::string& head) {
            weak = body;
            body->on_close([&](rill::CloseReason r) {
                ++closes;
                reason = r;
            });
            REQUIRE(body->respond(TestServer::request_of(head), rill::ResponseHead(200)) == rill::HeadStatus::ok);
            if (idle) {
                (void)body->send("Hello, ");  // and nothing more: the rest never comes
                held = body;
                return;
            }
            std::make_shared<Streamer>(body, 1000000)->step();  // far more than the client reads
        };
        const int base = open_fds();
        {
            Client client(srv.port);
            client.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
            const std::size_t enough = idle ? 10 : 200000;
            REQUIRE(run_until(&srv.loop, [&] { return client.read(), client.got.size() >= enough; }));
            CHECK(closes == 0);
            client.close(reset);
        }
        REQUIRE(run_until(&srv.loop, [&] { return srv.closed_handles == 1; }));
        run_until(&srv.loop, [] { return false; }, Ms(100));  // nothing more may come
        CHECK(closes == 1);
        CHECK(reason == rill::CloseReason::peer_closed);
        REQUIRE(srv.ends.size() == 1);
        CHECK_FALSE(srv.ends[0].keep_alive);
        held.reset();
        CHECK(weak.expired());  // nobody keeps the body (nor its queue) alive
        CHECK(open_fds() == base);
    }
}

TEST_CASE("uv: a client that stops reading is cut by the stall timeout, a slow one is not") {
    rill::UvOptions o;
    o.stall_timeout = Ms(200);
    TestServer srv(o, 4096);
    std::vector<rill::CloseReason> reasons;
    srv.handler = [&](const rill::BodyPtr& body, const std::string& head) {
        body->on_close([&](rill::CloseReason r) { reasons.push_back(r); });
        REQUIRE(body->respond(TestServer::request_of(head), rill::ResponseHead(200)) == rill::HeadStatus::ok);
        std::make_shared<Streamer>(body, 1000000)->step();
    };

    // Slow: 4 KiB every 60 ms (each uv_write takes far longer than 200 ms to complete).
    Client slow(srv.port, 4096);
    slow.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < Ms(900)) {
        run_until(&srv.loop, [] { return false; }, Ms(60));
        slow.read(4096);
    }
    CHECK(reasons.empty());
    CHECK(slow.got.size() > 40000);
    slow.close();
    REQUIRE(run_until(&srv.loop, [&] { return srv.closed_handles == 1; }));
    REQUIRE(reasons.size() == 1);

    // Stalled: never reads.
    Client stalled(srv.port, 4096);
    stalled.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto t1 = Clock::now();
    REQUIRE(run_until(&srv.loop, [&] { return srv.closed_handles == 2; }, Ms(3000)));
    const auto waited = std::chrono::duration_cast<Ms>(Clock::now() - t1).count();
    CHECK(waited >= 200);
    CHECK(waited < 2000);
    REQUIRE(reasons.size() == 2);
    CHECK(reasons[1] == rill::CloseReason::timeout);
}

TEST_CASE("uv: a completed body finishes only after libuv wrote its last byte, and the response arrives whole") {
    // The reproduction: a 4 KiB send buffer and a response that ends the connection.
    for (const bool http10 : {false, true}) {
        CAPTURE(http10);
        TestServer srv({}, 4096);
        std::size_t queue_at_close = 1;
        bool pending_at_close = true;
        rill::CloseReason reason = rill::CloseReason::aborted;
        srv.handler = [&](const rill::BodyPtr& body, const std::string& head) {
            uv_stream_t* stream = srv.last_stream;
            body->on_close([&, stream, raw = body.get()](rill::CloseReason r) {
                reason = r;
                queue_at_close = stream->write_queue_size;  // libuv's own count of unwritten bytes
                pending_at_close = raw->write_pending();
            });
            rill::ResponseHead h(200);
            if (!http10) h.header("Content-Length", std::to_string(64 * 16384)).header("Connection", "close");
            REQUIRE(body->respond(TestServer::request_of(head), h) == rill::HeadStatus::ok);
            std::make_shared<Streamer>(body, 64)->step();
        };
        Client client(srv.port, 4096);
        client.send(http10 ? "GET / HTTP/1.0\r\n\r\n" : "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        run_until(&srv.loop, [] { return false; }, Ms(300));  // the client is slow at first
        CHECK(reason == rill::CloseReason::aborted);           // not finished while bytes wait
        REQUIRE(run_until(&srv.loop, [&] { return client.read(), client.eof; }, Ms(10000)));
        CHECK(reason == rill::CloseReason::completed);
        CHECK(queue_at_close == 0);
        CHECK_FALSE(pending_at_close);
        const std::size_t body_at = client.got.find("\r\n\r\n") + 4;
        CHECK(client.got.substr(body_at) == pattern(64 * 16384));
        REQUIRE(run_until(&srv.loop, [&] { return srv.closed_handles == 1; }));
    }
}

TEST_CASE("uv: keep-alive hands the connection on from the loop, with the pipelined bytes, in order") {
    TestServer srv;
    int served = 0;
    srv.handler = [&](const rill::BodyPtr& body, const std::string& head) {
        const std::string text = "r" + std::to_string(++served);
        rill::ResponseHead h(200);
        h.header("Content-Length", std::to_string(text.size()));
        REQUIRE(body->respond(TestServer::request_of(head), h) == rill::HeadStatus::ok);
        (void)body->send(text);  // completes inside this call: the socket takes it at once
        CHECK(body->state() == rill::BodyState::closed);
    };
    Client client(srv.port);
    client.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n");
    REQUIRE(run_until(&srv.loop, [&] { return served == 2 && srv.ends.size() == 2; }));
    client.send("Connection: close\r\n\r\n");
    REQUIRE(run_until(&srv.loop, [&] { return client.read(), client.eof; }));
    CHECK_FALSE(srv.nested_end);  // never from inside the body call that ended the body
    REQUIRE(srv.ends.size() == 3);
    CHECK(srv.ends[0].keep_alive);
    CHECK(srv.ends[1].keep_alive);
    CHECK_FALSE(srv.ends[2].keep_alive);
    const std::string expected =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr1"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr2"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nr3";
    CHECK(client.got == expected);
    REQUIRE(run_until(&srv.loop, [&] { return srv.closed_handles == 1; }));
}

TEST_CASE("uv: bytes read during a response are handed on whole, past the input limit that pauses reading") {
    rill::UvOptions o;
    o.max_input = 16 * 1024;
    TestServer srv(o, 0, 65536);
    rill::BodyPtr held;
    std::vector<std::string> heads;
    srv.handler = [&](const rill::BodyPtr& body, const std::string& head) {
        heads.push_back(head);
        rill::ResponseHead h(200);
        h.header("Content-Length", "3");
        REQUIRE(body->respond(TestServer::request_of(head), h) == rill::HeadStatus::ok);
        if (heads.size() == 1) {
            held = body;  // answered later, while the client goes on sending
            return;
        }
        (void)body->send("two");
    };
    Client client(srv.port);
    client.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(run_until(&srv.loop, [&] { return held != nullptr; }));
    // Far past max_input, and past what the socket buffers hold while reading is paused.
    const std::string second = std::string(3 << 20, 'j') + "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
    const int sndbuf = 16384;  // else the kernel takes it all at once, read or not
    ::setsockopt(client.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    std::size_t off = 0;
    auto progress = Clock::now();
    REQUIRE(run_until(&srv.loop, [&] {  // until everything went, or nothing for 300 ms
        const ssize_t n = ::send(client.fd, second.data() + off, second.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += static_cast<std::size_t>(n);
            progress = Clock::now();
        }
        return off == second.size() || Clock::now() - progress > Ms(300);
    }, Ms(10000)));
    CHECK(off < second.size());  // the server stopped reading: the client is blocked
    CHECK(srv.ends.empty());
    (void)held->send("one");
    held.reset();
    REQUIRE(run_until(&srv.loop, [&] {
        if (off < second.size()) {
            const ssize_t n = ::send(client.fd, second.data() + off, second.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) off += static_cast<std::size_t>(n);
        }
        client.read();
        return heads.size() == 2 && client.got.size() >= 2 * 41;
    }, Ms(10000)));
    REQUIRE(!srv.ends.empty());
    CHECK(srv.ends[0].keep_alive);
    CHECK(srv.ends[0].input.size() >= o.max_input);  // kept, not dropped, while reading paused
    CHECK(heads[1] == second);  // every byte, in order: nothing lost around the pause
    CHECK(client.got == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
                        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
}

TEST_CASE("uv: UvSink on its own: try_write first, pending beyond, abort while a write is in flight") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    const int small = 4096;
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    uv_pipe_t pipe;
    uv_pipe_init(&loop, &pipe, 0);
    REQUIRE(uv_pipe_open(&pipe, sv[0]) == 0);
    auto* stream = reinterpret_cast<uv_stream_t*>(&pipe);

    std::vector<rill::CloseReason> finished;
    auto body = rill::make_deferred_body<rill::UvSink>();
    body->each(rill::UvSink(stream, body, [&](rill::CloseReason r) { finished.push_back(r); }));
    CHECK(body->send("small") == rill::SendStatus::written);  // uv_try_write took it
    CHECK(body->bytes_sent() == 5);
    CHECK_FALSE(body->write_pending());

    const std::string big = pattern(1 << 20);
    (void)body->send(std::string_view(big));
    CHECK(body->write_pending());  // the rest went to uv_write
    CHECK(body->bytes_queued() > 0);
    CHECK(body->close() == rill::CloseStatus::ok);
    CHECK(finished.empty());  // closing, not finished: bytes still in flight

    // Read a little, then give up: the body ends at once, its pending write does not.
    char buf[65536];
    run_until(&loop, [&] { return ::recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) > 0; });
    std::weak_ptr<rill::Body> weak = body;
    body->abort();
    REQUIRE(finished.size() == 1);
    CHECK(finished[0] == rill::CloseReason::aborted);
    body.reset();
    CHECK_FALSE(weak.expired());  // the write in flight still holds the body and its bytes
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);  // cancels the write
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(weak.expired());
    CHECK(uv_loop_close(&loop) == 0);
    ::close(sv[1]);
}

namespace {
// A readiness sink that takes everything and records when, and how much.
struct RecordingSink {
    std::vector<std::pair<Clock::time_point, std::size_t>>* log;
    rill::WriteResult write(const rill::ConstBuffer* bufs, std::size_t count) {
        const std::size_t n = rill::buffer_size(bufs, count);
        log->emplace_back(Clock::now(), n);
        return rill::WriteResult::ok(n);
    }
    void finish(rill::CloseReason) {}
};
}  // namespace

TEST_CASE("uv: UvTurn writes what a timer callback sent in one write, before the loop waits") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    std::vector<std::pair<Clock::time_point, std::size_t>> writes;
    auto body = rill::make_deferred_body<RecordingSink>();
    body->each(RecordingSink{&writes});
    Clock::time_point sent_at{};
    {
        rill::UvTurn turn(&loop);
        struct Ctx {
            rill::BodyPtr body;
            Clock::time_point* sent_at;
        } ctx{body, &sent_at};
        uv_timer_t send_timer, stop_timer;
        uv_timer_init(&loop, &send_timer);
        uv_timer_init(&loop, &stop_timer);
        send_timer.data = &ctx;
        uv_timer_start(&send_timer, [](uv_timer_t* t) {
            auto* c = static_cast<Ctx*>(t->data);
            *c->sent_at = Clock::now();
            for (const char* part : {"one ", "two ", "three"}) CHECK(c->body->send(part) == rill::SendStatus::queued);
        }, 20, 0);
        // The loop's next event is 400 ms away: the parts must not wait for it.
        uv_timer_start(&stop_timer, [](uv_timer_t*) {}, 400, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_close(reinterpret_cast<uv_handle_t*>(&send_timer), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&stop_timer), nullptr);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    REQUIRE(writes.size() == 1);  // three sends, one write
    CHECK(writes[0].second == 13);
    CHECK(writes[0].first - sent_at < Ms(100));

    // Sent from an I/O callback (poll phase): written before uv_run(UV_RUN_NOWAIT) returns.
    {
        rill::UvTurn turn(&loop);
        uv_async_t wake;
        uv_async_init(&loop, &wake, [](uv_async_t* a) {
            auto* b = static_cast<rill::Body*>(a->data);
            for (const char* part : {"four ", "five"}) CHECK(b->send(part) == rill::SendStatus::queued);
        });
        wake.data = body.get();
        uv_async_send(&wake);
        uv_run(&loop, UV_RUN_NOWAIT);
        REQUIRE(writes.size() == 2);
        CHECK(writes[1].second == 9);
        uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("uv: UvTurn gathers a UvSink body's sends too, and they arrive whole and in order") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    uv_pipe_t pipe;
    uv_pipe_init(&loop, &pipe, 0);
    REQUIRE(uv_pipe_open(&pipe, sv[0]) == 0);
    auto body = rill::make_deferred_body<rill::UvSink>();
    body->each(rill::UvSink(reinterpret_cast<uv_stream_t*>(&pipe), body));
    struct Ctx {
        rill::BodyPtr body;
        std::uint64_t sent_after = 1;
        std::size_t queued_after = 0;
    } ctx{body};
    {
        rill::UvTurn turn(&loop);
        uv_timer_t t;
        uv_timer_init(&loop, &t);
        t.data = &ctx;
        uv_timer_start(&t, [](uv_timer_t* h) {
            auto* c = static_cast<Ctx*>(h->data);
            for (const char* part : {"one ", "two ", "three"}) (void)c->body->send(part);
            c->sent_after = c->body->bytes_sent();      // nothing written yet: gathered
            c->queued_after = c->body->bytes_queued();
            uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
        }, 10, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    CHECK(ctx.sent_after == 0);
    CHECK(ctx.queued_after == 13);
    CHECK(body->bytes_sent() == 13);  // the end of the turn wrote them
    char buf[64] = {};
    CHECK(::recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) == 13);
    CHECK(std::string_view(buf, 13) == "one two three");
    body->abort();
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    ::close(sv[1]);
}

