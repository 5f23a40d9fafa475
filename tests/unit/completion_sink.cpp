// Completion sinks (async_write, uv_write, TLS, HTTP/2): the sink answers
// WriteResult::pending and reports the end later through Body::complete_write.
// The body must keep the pending bytes alive and unchanged, count them as queued,
// write nothing else meanwhile, and end (finish, on_close, keep_alive) only after
// the transport confirmed the last byte. A scripted transport plays the network.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

using rill::CloseReason;
using rill::SendStatus;
using rill::WriteResult;

namespace {

// What the scripted transport has in flight: the offered buffers as the sink saw
// them (pointers, not copies), so a test can check they are still intact later.
struct Transport {
    std::vector<rill::ConstBuffer> in_flight;
    std::string wire;                  // bytes confirmed, in order
    std::vector<std::string> writes;   // each write's offered bytes, as a string
    std::vector<CloseReason> finished;
    std::size_t writes_started = 0;
    // How the next write() answers: nothing set = pending(all offered).
    std::function<WriteResult(const rill::ConstBuffer*, std::size_t)> answer;
    std::weak_ptr<rill::Body> body;

    std::size_t pending_size() const { return rill::buffer_size(in_flight.data(), in_flight.size()); }
    std::string pending_bytes() const {
        std::string s;
        for (const auto& b : in_flight) s.append(b.data, b.size);
        return s;
    }
    // The transport finishes `n` of the pending bytes (all by default).
    void complete(std::size_t n = static_cast<std::size_t>(-1)) {
        const std::string bytes = pending_bytes();
        if (n > bytes.size()) n = bytes.size();
        wire.append(bytes, 0, n);
        in_flight.clear();
        if (auto b = body.lock()) b->complete_write(WriteResult::ok(n));
    }
    void fail(WriteResult r) {
        in_flight.clear();
        if (auto b = body.lock()) b->complete_write(r);
    }
};

struct AsyncSink {
    static constexpr bool completes_later = true;
    Transport* t;
    WriteResult write(const rill::ConstBuffer* bufs, std::size_t n) {
        ++t->writes_started;
        std::string offered;
        for (std::size_t i = 0; i < n; ++i) offered.append(bufs[i].data, bufs[i].size);
        t->writes.push_back(offered);
        if (t->answer) return t->answer(bufs, n);
        t->in_flight.assign(bufs, bufs + n);
        return WriteResult::pending(offered.size());
    }
    void finish(CloseReason r) { t->finished.push_back(r); }
};

static_assert(rill::sink_completes_later_v<AsyncSink>);
static_assert(!rill::sink_completes_later_v<rill::StringSink>);

struct Fixture {
    Transport t;
    std::shared_ptr<rill::DeferredBody<AsyncSink>> body;
    std::vector<CloseReason> closes;
    explicit Fixture(rill::BodyOptions opts = {}) {
        body = rill::make_deferred_body<AsyncSink>(opts);
        t.body = body;
        body->on_close([this](CloseReason r) { closes.push_back(r); });
    }
    void start() { body->each(AsyncSink{&t}); }
};

rill::Request get11() { return rill::Request{"GET", 1, "", ""}; }

}  // namespace

TEST_CASE("completion sink: nothing ends before the transport confirms the last byte") {
    Fixture f;
    f.start();
    REQUIRE(f.body->respond(get11(), rill::ResponseHead(200)) == rill::HeadStatus::ok);
    REQUIRE(f.t.writes.size() == 1);  // the head went out at once, as one pending write
    CHECK(f.body->write_pending());
    CHECK(f.body->bytes_queued() == f.t.pending_size());
    CHECK(f.body->bytes_sent() == 0);  // offered is not sent: only a completion says so

    CHECK(f.body->send("Hello, ") == SendStatus::queued);
    CHECK(f.body->send("World") == SendStatus::queued);
    CHECK(f.body->close() == rill::CloseStatus::ok);
    f.body->flush();  // a server that also watches writability must not start a second write
    CHECK(f.t.writes.size() == 1);  // one write at a time
    CHECK(f.body->state() == rill::BodyState::closing);

    f.t.complete();  // the head: the three queued pieces leave in one write
    REQUIRE(f.t.writes.size() == 2);
    CHECK(f.t.writes[1] == "7\r\nHello, \r\n5\r\nWorld\r\n0\r\n\r\n");
    CHECK(f.t.finished.empty());
    CHECK(f.closes.empty());
    CHECK_FALSE(f.body->keep_alive());

    f.t.complete();
    CHECK(f.t.finished == std::vector<CloseReason>{CloseReason::completed});
    CHECK(f.closes == std::vector<CloseReason>{CloseReason::completed});
    CHECK(f.body->keep_alive());
    CHECK(f.body->bytes_queued() == 0);
    CHECK(f.body->bytes_sent() == f.t.wire.size());
    CHECK(f.t.wire.substr(f.t.wire.find("\r\n\r\n") + 4) == "7\r\nHello, \r\n5\r\nWorld\r\n0\r\n\r\n");
}

TEST_CASE("completion sink: a moved-in part is not copied, a string_view part is copied once") {
    Fixture f;
    f.start();
    SUBCASE("std::string&&") {
        std::string big(4096, 'x');
        const char* original = big.data();
        (void)f.body->send(std::move(big));
        REQUIRE(f.t.in_flight.size() == 1);
        CHECK(f.t.in_flight[0].data == original);  // the very bytes the caller moved in
    }
    SUBCASE("std::string_view") {
        std::string caller(100, 'a');
        (void)f.body->send(std::string_view(caller));
        REQUIRE(f.t.in_flight.size() == 1);
        CHECK(f.t.in_flight[0].data != caller.data());
        caller.assign(100, 'b');  // the caller may reuse its buffer at once
        f.t.complete();
        CHECK(f.t.wire == std::string(100, 'a'));
    }
}

TEST_CASE("completion sink: pending bytes stay intact while later parts queue beside them") {
    Fixture f;
    f.start();
    (void)f.body->send(std::string(20, 'a'));
    const std::string first = f.t.pending_bytes();
    // Many more parts, copied and moved, while the first write is in flight: were the
    // queue's storage to grow or move under the transport, the first bytes would change.
    for (int i = 0; i < 200; ++i) {
        (void)f.body->send(std::string_view("0123456789"));
        (void)f.body->send(std::string(40, static_cast<char>('A' + i % 26)));
    }
    CHECK(f.t.pending_bytes() == first);
    CHECK(f.t.writes.size() == 1);
    CHECK(f.body->bytes_queued() == 20 + 200 * 50);
    while (f.body->write_pending()) f.t.complete();
    std::string expected(20, 'a');
    for (int i = 0; i < 200; ++i) expected += "0123456789" + std::string(40, static_cast<char>('A' + i % 26));
    CHECK(f.t.wire == expected);
}

TEST_CASE("completion sink: a partial completion offers the rest again") {
    Fixture f;
    f.start();
    (void)f.body->send(std::string_view("abcdefghij"));
    f.t.complete(4);
    REQUIRE(f.t.writes.size() == 2);
    CHECK(f.t.writes[1] == "efghij");
    CHECK(f.body->bytes_sent() == 4);
    f.t.complete();
    CHECK(f.t.wire == "abcdefghij");
    CHECK(f.body->bytes_sent() == 10);
}

TEST_CASE("completion sink: completion inside write() is an ordinary synchronous write") {
    Fixture f;
    f.t.answer = [&f](const rill::ConstBuffer* bufs, std::size_t n) {
        std::size_t size = rill::buffer_size(bufs, n);
        for (std::size_t i = 0; i < n; ++i) f.t.wire.append(bufs[i].data, bufs[i].size);
        f.body->complete_write(WriteResult::ok(size));
        return WriteResult::pending(size);
    };
    f.start();
    CHECK(f.body->send("one") == SendStatus::written);
    CHECK_FALSE(f.body->write_pending());
    CHECK(f.body->send("two") == SendStatus::written);
    CHECK(f.body->close() == rill::CloseStatus::ok);
    CHECK(f.t.wire == "onetwo");
    CHECK(f.closes == std::vector<CloseReason>{CloseReason::completed});

    SUBCASE("an inline completion of more than was started is a broken sink") {
        Fixture g;
        g.t.answer = [&g](const rill::ConstBuffer*, std::size_t) {
            g.body->complete_write(WriteResult::ok(100));
            return WriteResult::pending(3);
        };
        g.start();
        CHECK(g.body->send("abc") == SendStatus::closed);
        CHECK(g.closes == std::vector<CloseReason>{CloseReason::write_error});
    }
}

TEST_CASE("completion sink: a failed completion ends the body once") {
    Fixture f;
    f.start();
    (void)f.body->send("abc");
    (void)f.body->send("def");
    SUBCASE("the peer left") {
        f.t.fail(WriteResult::closed(104));
        CHECK(f.closes == std::vector<CloseReason>{CloseReason::peer_closed});
        CHECK(f.t.finished == std::vector<CloseReason>{CloseReason::peer_closed});
    }
    SUBCASE("the transport failed") {
        f.t.fail(WriteResult::failed(5));
        CHECK(f.closes == std::vector<CloseReason>{CloseReason::write_error});
    }
    SUBCASE("a completion of more bytes than were started is a broken sink") {
        f.t.in_flight.clear();
        f.body->complete_write(WriteResult::ok(4));  // 3 were pending
        CHECK(f.closes == std::vector<CloseReason>{CloseReason::write_error});
    }
    SUBCASE("a completion that is neither ok, closed nor failed is a broken sink") {
        f.t.fail(WriteResult::would_block(3));
        CHECK(f.closes == std::vector<CloseReason>{CloseReason::write_error});
    }
    CHECK(f.body->send("ghi") == SendStatus::closed);
    CHECK(f.body->bytes_queued() == 0);
    CHECK(f.t.writes.size() == 1);
}

TEST_CASE("completion sink: abort while a write is pending keeps its bytes until the transport lets go") {
    Fixture f;
    f.start();
    (void)f.body->send(std::string(3000, 'q'));
    const std::string pending = f.t.pending_bytes();
    std::weak_ptr<rill::Body> watch = f.body;
    rill::BodyPtr handler_ref = f.body;  // what an async completion handler holds
    f.body->abort();
    CHECK(f.t.finished == std::vector<CloseReason>{CloseReason::aborted});  // the sink may cancel now
    CHECK(f.closes == std::vector<CloseReason>{CloseReason::aborted});
    f.body.reset();
    REQUIRE_FALSE(watch.expired());
    CHECK(f.t.pending_bytes() == pending);  // still readable (ASan: no use after free)
    f.t.fail(WriteResult::closed(125));     // the cancelled operation completes
    CHECK(f.closes.size() == 1);
    handler_ref.reset();
    CHECK(watch.expired());
}

TEST_CASE("completion sink: pending bytes count for the watermarks and on_drain") {
    Fixture f(rill::BodyOptions{100, 10, rill::OverflowPolicy::queue});
    f.start();
    int drains = 0;
    f.body->on_drain([&drains] { ++drains; });
    CHECK(f.body->send(std::string(80, 'x')) == SendStatus::queued);
    CHECK(f.body->send(std::string(80, 'y')) == SendStatus::backpressure);
    f.t.complete();  // 80 left, above low water: no drain yet
    CHECK(drains == 0);
    CHECK(f.body->bytes_queued() == 80);
    f.t.complete();
    CHECK(drains == 1);

    SUBCASE("reject policy refuses while the transport holds the bytes") {
        Fixture g(rill::BodyOptions{50, 10, rill::OverflowPolicy::reject});
        g.start();
        (void)g.body->send(std::string(60, 'x'));
        CHECK(g.body->send("more") == SendStatus::would_block);
        g.t.complete();
        CHECK(g.body->send("more") == SendStatus::queued);
    }
}

TEST_CASE("completion sink: a response without a body ends after its head is confirmed") {
    Fixture f;
    f.start();
    REQUIRE(f.body->respond(rill::Request{"HEAD", 1, "", ""}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    CHECK(f.body->ended());
    CHECK(f.t.finished.empty());
    CHECK_FALSE(f.body->keep_alive());
    f.t.complete();
    CHECK(f.t.finished == std::vector<CloseReason>{CloseReason::completed});
    CHECK(f.body->keep_alive());
}

TEST_CASE("completion sink: parts sent before each() leave in the first write") {
    Fixture f;
    (void)f.body->send("early ");
    (void)f.body->send(std::string("bird"));
    f.body->close();
    f.start();
    REQUIRE(f.t.writes.size() == 1);
    CHECK(f.t.writes[0] == "early bird");
    f.t.complete();
    CHECK(f.closes == std::vector<CloseReason>{CloseReason::completed});
}

TEST_CASE("a readiness sink that answers pending is a broken sink") {
    struct LyingSink {
        WriteResult write(const rill::ConstBuffer* bufs, std::size_t n) {
            return WriteResult::pending(rill::buffer_size(bufs, n));
        }
        void finish(CloseReason) {}
    };
    auto body = rill::make_deferred_body<LyingSink>();
    CloseReason why = CloseReason::completed;
    body->on_close([&why](CloseReason r) { why = r; });
    body->each(LyingSink{});
    CHECK(body->send("abc") == SendStatus::closed);
    CHECK(why == CloseReason::write_error);
}

TEST_CASE("route code holds rill::Body and never names the sink") {
    // The same function drives a string sink and a completion sink.
    const auto route = [](const rill::BodyPtr& b) {
        (void)b->send("part");
        b->close();
    };
    rill::StringSink out;
    auto plain = rill::make_deferred_body<rill::StringSink>();
    plain->each(out);
    route(plain);
    CHECK(out.str() == "part");

    Fixture f;
    f.start();
    route(f.body);
    f.t.complete();
    CHECK(f.t.wire == "part");
    CHECK(f.closes == std::vector<CloseReason>{CloseReason::completed});
}

TEST_CASE("completion sink: parts of one loop turn leave in one write") {
    Fixture f;
    f.start();
    rill::Turn turn;
    for (int i = 0; i < 50; ++i) CHECK(f.body->send(std::string_view("0123456789")) == SendStatus::queued);
    f.body->close();
    CHECK(f.t.writes.empty());
    turn.end();
    REQUIRE(f.t.writes.size() == 1);
    CHECK(f.t.writes[0].size() == 500);
    f.t.complete();
    CHECK(f.closes == std::vector<CloseReason>{CloseReason::completed});

    SUBCASE("past the limit a write starts without waiting for the turn's end") {
        Fixture g;
        g.start();
        (void)g.body->send(std::string(RILL_COALESCE_LIMIT, 'z'));
        CHECK(g.t.writes.size() == 1);
    }
}
