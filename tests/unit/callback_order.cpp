// The order and count of everything a body calls out to (Sink::write, Sink::finish,
// on_close, on_drain), the water marks, cork nesting and what each status promises,
// as docs/api.md and docs/backpressure.md state them. Expected values are written out
// here; the sinks record what happened and never consult the body's own view.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_sinks.hpp"

using rill::BodyState;
using rill::CloseReason;
using rill::SendStatus;

namespace {

// Takes at most `budget` bytes in total (then answers would_block), answers `fail_with`
// when set, and logs every call. Copies share the state.
struct LogState {
    std::vector<std::string> log;
    std::string bytes;
    std::size_t budget = static_cast<std::size_t>(-1);  // in total, then would_block
    std::size_t per_call = static_cast<std::size_t>(-1);  // per write, answering ok
    std::size_t writes = 0;
    std::size_t finishes = 0;
    std::size_t extra_claim = 0;  // reported on top of what was taken
    bool fail = false;
    rill::WriteStatus fail_with = rill::WriteStatus::error;
    std::vector<std::size_t> queued_at_entry;
    std::function<void()> inside_write;
};

class LogSink {
public:
    explicit LogSink(std::shared_ptr<LogState> s) : s_(std::move(s)) {}
    rill::WriteResult write(const rill::ConstBuffer* bufs, std::size_t count) {
        ++s_->writes;
        s_->log.push_back("write");
        if (s_->inside_write) {
            auto f = s_->inside_write;
            f();
        }
        if (s_->fail) return rill::WriteResult{0, s_->fail_with, 5};
        std::size_t taken = 0;
        for (std::size_t i = 0; i < count && s_->budget != 0 && taken < s_->per_call; ++i) {
            const std::size_t n = std::min({bufs[i].size, s_->budget, s_->per_call - taken});
            s_->bytes.append(bufs[i].data, n);
            s_->budget -= n;
            taken += n;
            if (n < bufs[i].size) break;
        }
        const std::size_t offered = rill::buffer_size(bufs, count);
        if (taken < offered && s_->budget == 0) return rill::WriteResult::would_block(taken);
        return rill::WriteResult::ok(taken + s_->extra_claim);
    }
    void finish(CloseReason r) {
        ++s_->finishes;
        s_->log.push_back(std::string("finish:") + rill::to_string(r));
    }

private:
    std::shared_ptr<LogState> s_;
};

using Body = rill::DeferredBody<LogSink>;

struct Rig {
    std::shared_ptr<LogState> sink = std::make_shared<LogState>();
    std::shared_ptr<Body> body;
    int closes = 0;
    int drains = 0;
    explicit Rig(rill::BodyOptions opts = {}, bool hand_sink = true) : body(rill::make_deferred_body<LogSink>(opts)) {
        body->on_close([this](CloseReason r) {
            ++closes;
            sink->log.push_back(std::string("on_close:") + rill::to_string(r));
        });
        body->on_drain([this] { ++drains; });
        if (hand_sink) body->each(LogSink(sink));
    }
};

const rill::Request get11{"GET", 1, "", ""};

rill::BodyOptions marks(std::size_t high, std::size_t low,
                        rill::OverflowPolicy policy = rill::OverflowPolicy::queue) {
    rill::BodyOptions o;
    o.high_water = high;
    o.low_water = low;
    o.overflow = policy;
    return o;
}

// For the on_drain lifetime test: touched after the callable may be gone, so not captured.
int probes_destroyed = 0;
int probes_destroyed_inside = -1;

struct Probe {
    bool live = true;
    Probe() = default;
    Probe(const Probe&) = default;
    Probe(Probe&& other) noexcept : live(other.live) { other.live = false; }
    Probe& operator=(const Probe&) = delete;
    Probe& operator=(Probe&&) = delete;
    ~Probe() {
        if (live) ++probes_destroyed;
    }
};

}  // namespace

TEST_CASE("Sink::finish comes before on_close, each exactly once, on every path") {
    SUBCASE("completed") {
        Rig r;
        REQUIRE(r.body->respond(get11, rill::ResponseHead(200)) == rill::HeadStatus::ok);
        CHECK(r.body->close() == rill::CloseStatus::ok);
        CHECK(r.sink->log == std::vector<std::string>{"write", "write", "finish:completed", "on_close:completed"});
    }
    SUBCASE("truncated") {
        Rig r;
        REQUIRE(r.body->respond(get11, rill::ResponseHead(200).header("Content-Length", "9")) ==
                rill::HeadStatus::ok);
        CHECK(r.body->close() == rill::CloseStatus::ok);
        CHECK(r.sink->log == std::vector<std::string>{"write", "finish:truncated", "on_close:truncated"});
        CHECK_FALSE(r.body->keep_alive());
    }
    SUBCASE("aborted") {
        Rig r;
        r.body->abort();
        CHECK(r.sink->log == std::vector<std::string>{"finish:aborted", "on_close:aborted"});
    }
    SUBCASE("peer closed") {
        Rig r;
        r.sink->fail = true;
        r.sink->fail_with = rill::WriteStatus::closed;
        CHECK(r.body->send("abc") == SendStatus::closed);
        CHECK(r.sink->log == std::vector<std::string>{"write", "finish:peer closed", "on_close:peer closed"});
    }
    SUBCASE("write error") {
        Rig r;
        r.sink->fail = true;
        r.sink->fail_with = rill::WriteStatus::error;
        CHECK(r.body->send("abc") == SendStatus::closed);
        CHECK(r.sink->log == std::vector<std::string>{"write", "finish:write error", "on_close:write error"});
    }
    SUBCASE("a sink reporting one byte more than offered") {
        Rig r;
        r.sink->extra_claim = 1;
        CHECK(r.body->send("abc") == SendStatus::closed);
        CHECK(r.body->close_reason() == CloseReason::write_error);
        CHECK(r.body->bytes_sent() == 0);
        CHECK(r.sink->log == std::vector<std::string>{"write", "finish:write error", "on_close:write error"});
    }
    SUBCASE("ended before the sink came: the sink hears the real reason") {
        Rig r({}, false);
        r.body->abort(CloseReason::shutdown);
        CHECK(r.sink->log == std::vector<std::string>{"on_close:shutdown"});
        r.body->each(LogSink(r.sink));
        CHECK(r.sink->log == std::vector<std::string>{"on_close:shutdown", "finish:shutdown"});
    }
    SUBCASE("on_close registered after the end hears the real reason") {
        Rig r;
        r.body->abort(CloseReason::timeout);
        CloseReason late = CloseReason::completed;
        r.body->on_close([&](CloseReason why) { late = why; });
        CHECK(late == CloseReason::timeout);
    }
}

TEST_CASE("a body ends once: nothing after the end changes how it ended") {
    Rig r;
    REQUIRE(r.body->respond(get11, rill::ResponseHead(200).header("Content-Length", "2")) == rill::HeadStatus::ok);
    CHECK(r.body->send("ab") == SendStatus::written);
    REQUIRE(r.body->state() == BodyState::closed);
    r.body->abort(CloseReason::peer_closed);
    r.body->abort();
    CHECK(r.body->close() == rill::CloseStatus::already_closed);
    CHECK(r.body->close_reason() == CloseReason::completed);
    CHECK(r.body->keep_alive());
    CHECK(r.closes == 1);
    CHECK(r.sink->finishes == 1);
}

TEST_CASE("abort(CloseReason::completed) is an abort, never a completion") {
    Rig r;
    REQUIRE(r.body->respond(get11, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    r.body->abort(CloseReason::completed);
    CHECK(r.body->close_reason() == CloseReason::aborted);
    CHECK_FALSE(r.body->keep_alive());
    CHECK(r.sink->log.back() == "on_close:aborted");
}

TEST_CASE("a body destroyed while it holds the sink lets it go without finishing it") {
    auto state = std::make_shared<LogState>();
    {
        auto body = rill::make_deferred_body<LogSink>();
        body->each(LogSink(state));
        CHECK(body->send("abc") == SendStatus::written);
    }
    CHECK(state->finishes == 0);
    CHECK(state->log == std::vector<std::string>{"write"});
    CHECK(state.use_count() == 1);  // the held sink (and its copy of the state) is gone
}

TEST_CASE("cork() nests: only the outermost uncork() writes") {
    Rig r;
    r.body->cork();
    r.body->cork();
    CHECK(r.body->send("ab") == SendStatus::queued);
    CHECK(r.sink->writes == 0);
    r.body->uncork();
    CHECK(r.sink->writes == 0);
    {
        rill::Batch<Body> inner(*r.body);
        CHECK(r.body->send("cd") == SendStatus::queued);
    }
    CHECK(r.sink->writes == 0);
    r.body->flush();  // still corked: flush() writes nothing either
    CHECK(r.sink->writes == 0);
    r.body->uncork();
    CHECK(r.sink->writes == 1);
    CHECK(r.sink->bytes == "abcd");
    r.body->uncork();  // one too many: harmless, and the body is not left corked
    CHECK(r.body->send("ef") == SendStatus::written);
    CHECK(r.sink->bytes == "abcdef");
}

TEST_CASE("uncork() without cork() leaves the body uncorked") {
    Rig r;
    r.body->uncork();
    CHECK(r.body->send("ab") == SendStatus::written);
    CHECK(r.sink->writes == 1);
}

TEST_CASE("backpressure is answered above high water, not at it, and a waiting part answers queued") {
    auto s = std::make_shared<LogState>();
    s->budget = 0;
    auto body = rill::make_deferred_body<LogSink>(marks(10, 4));
    body->each(LogSink(s));
    CHECK(body->send("abcdefghij") == SendStatus::queued);  // 10 queued: at high water
    CHECK(body->bytes_queued() == 10);
    CHECK(body->send("") == SendStatus::queued);
    CHECK(body->send("k") == SendStatus::backpressure);  // 11: above
    CHECK(body->send("") == SendStatus::backpressure);
}

TEST_CASE("the reject policy refuses from high water on, and never into an empty queue") {
    SUBCASE("at high water") {
        auto s = std::make_shared<LogState>();
        s->budget = 0;
        auto body = rill::make_deferred_body<LogSink>(marks(10, 4, rill::OverflowPolicy::reject));
        body->each(LogSink(s));
        CHECK(body->send("abcdefghi") == SendStatus::queued);  // 9
        CHECK(body->send("jk") == SendStatus::backpressure);   // 11: accepted, the queue was below
        CHECK(body->send("l") == SendStatus::would_block);
        CHECK(body->bytes_queued() == 11);
    }
    SUBCASE("exactly at high water") {
        auto s = std::make_shared<LogState>();
        s->budget = 0;
        auto body = rill::make_deferred_body<LogSink>(marks(10, 4, rill::OverflowPolicy::reject));
        body->each(LogSink(s));
        CHECK(body->send("abcdefghij") == SendStatus::queued);  // 10
        CHECK(body->send("k") == SendStatus::would_block);
        CHECK(body->bytes_queued() == 10);
    }
    SUBCASE("high water 0: the first part is taken") {
        auto s = std::make_shared<LogState>();
        s->budget = 0;
        auto body = rill::make_deferred_body<LogSink>(marks(0, 0, rill::OverflowPolicy::reject));
        body->each(LogSink(s));
        CHECK(body->send("abc") == SendStatus::backpressure);
        CHECK(body->send("d") == SendStatus::would_block);
    }
}

TEST_CASE("on_drain fires once the queue is below low water, not at it") {
    auto s = std::make_shared<LogState>();
    s->budget = 0;
    int drains = 0;
    auto body = rill::make_deferred_body<LogSink>(marks(10, 5));
    body->on_drain([&] { ++drains; });
    body->each(LogSink(s));
    CHECK(body->send("abcdefghijkl") == SendStatus::backpressure);  // 12
    s->budget = 7;
    body->flush();
    CHECK(body->bytes_queued() == 5);
    CHECK(drains == 0);
    s->budget = 1;
    body->flush();
    CHECK(body->bytes_queued() == 4);
    CHECK(drains == 1);
}

TEST_CASE("would_block promises an on_drain, queued does not") {
    SUBCASE("would_block") {
        auto s = std::make_shared<LogState>();
        s->budget = 0;
        int drains = 0;
        auto body = rill::make_deferred_body<LogSink>(marks(4, 2, rill::OverflowPolicy::reject));
        body->on_drain([&] { ++drains; });
        body->each(LogSink(s));
        CHECK(body->send("abcd") == SendStatus::queued);
        CHECK(body->send("e") == SendStatus::would_block);
        s->budget = static_cast<std::size_t>(-1);
        body->flush();
        CHECK(drains == 1);
    }
    SUBCASE("queued") {
        auto s = std::make_shared<LogState>();
        s->budget = 0;
        int drains = 0;
        auto body = rill::make_deferred_body<LogSink>(marks(4, 2));
        body->on_drain([&] { ++drains; });
        body->each(LogSink(s));
        CHECK(body->send("abc") == SendStatus::queued);
        s->budget = static_cast<std::size_t>(-1);
        body->flush();
        CHECK(s->bytes == "abc");
        CHECK(drains == 0);
    }
}

TEST_CASE("a low water above high water is lowered to high water") {
    auto body = rill::make_deferred_body<LogSink>(marks(8, 100));
    CHECK(body->options().low_water == 8);
    CHECK(body->options().high_water == 8);
}

TEST_CASE("on_drain registered on an ended body is dropped at once, with its captures") {
    auto token = std::make_shared<int>(7);
    auto body = rill::make_deferred_body<LogSink>();
    body->abort();
    body->on_drain([token] { (void)*token; });
    CHECK(token.use_count() == 1);
}

TEST_CASE("on_drain's callable lives until it returns, even when it ends the body") {
    probes_destroyed = 0;
    probes_destroyed_inside = -1;
    auto s = std::make_shared<LogState>();
    s->budget = 0;
    auto body = rill::make_deferred_body<LogSink>(marks(2, 1));
    Body* raw = body.get();
    body->on_drain([raw, probe = Probe()] {
        (void)probe;
        raw->abort();
        // Only globals from here on: a callable destroyed mid-call has no captures left.
        probes_destroyed_inside = probes_destroyed;
    });
    body->each(LogSink(s));
    CHECK(body->send("abc") == SendStatus::backpressure);
    s->budget = static_cast<std::size_t>(-1);
    body->flush();
    CHECK(probes_destroyed_inside == 0);
    CHECK(body->close_reason() == CloseReason::aborted);
    CHECK(probes_destroyed == 1);  // dropped once it returned: the body has ended
}

TEST_CASE("an on_drain that replaces itself stays replaced") {
    auto s = std::make_shared<LogState>();
    s->budget = 0;
    std::vector<char> fired;
    auto body = rill::make_deferred_body<LogSink>(marks(2, 1));
    Body* raw = body.get();
    body->on_drain([&fired, raw] {
        fired.push_back('A');
        raw->on_drain([&fired] { fired.push_back('B'); });
    });
    body->each(LogSink(s));
    for (int episode = 0; episode < 2; ++episode) {
        s->budget = 0;
        CHECK(body->send("abc") == SendStatus::backpressure);
        s->budget = static_cast<std::size_t>(-1);
        body->flush();
    }
    CHECK(fired == std::vector<char>{'A', 'B'});
}

TEST_CASE("while the last bytes are queued the body has ended but keep_alive() is not yet true") {
    Rig r;
    r.sink->budget = 0;
    REQUIRE(r.body->respond(get11, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    CHECK(r.body->close() == rill::CloseStatus::ok);
    CHECK(r.body->state() == BodyState::closing);
    CHECK(r.body->ended());
    CHECK_FALSE(r.body->keep_alive());
    r.sink->budget = static_cast<std::size_t>(-1);
    r.body->flush();
    CHECK(r.body->state() == BodyState::closed);
    CHECK(r.body->keep_alive());
}

TEST_CASE("after the declared length: an empty part answers closed, a byte length_exceeded") {
    Rig r;
    REQUIRE(r.body->respond(get11, rill::ResponseHead(200).header("Content-Length", "3")) == rill::HeadStatus::ok);
    CHECK(r.body->send("ab") == SendStatus::written);
    CHECK(r.body->send("cd") == SendStatus::length_exceeded);
    CHECK(r.body->send("c") == SendStatus::written);
    CHECK(r.body->send("") == SendStatus::closed);
    CHECK(r.body->send("d") == SendStatus::length_exceeded);
    CHECK(r.sink->bytes == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
}

TEST_CASE("trailers: dropped visibly where they cannot go, already_closed after a chunked end") {
    SUBCASE("fixed length") {
        Rig r;
        REQUIRE(r.body->respond(get11, rill::ResponseHead(200).header("Content-Length", "3")) ==
                rill::HeadStatus::ok);
        CHECK(r.body->close({{"X-Sum", "1"}}) == rill::CloseStatus::trailers_dropped);
    }
    SUBCASE("raw") {
        Rig r;
        CHECK(r.body->close({{"X-Sum", "1"}}) == rill::CloseStatus::trailers_dropped);
        CHECK(r.body->close_reason() == CloseReason::completed);
    }
    SUBCASE("chunked, closed twice") {
        Rig r;
        REQUIRE(r.body->respond(get11, rill::ResponseHead(200)) == rill::HeadStatus::ok);
        CHECK(r.body->close({{"X-Sum", "1"}}) == rill::CloseStatus::ok);
        CHECK(r.body->close({{"X-Sum", "2"}}) == rill::CloseStatus::already_closed);
        CHECK(r.sink->bytes.find("X-Sum: 2") == std::string::npos);
    }
}

TEST_CASE("a sink that took part of the bytes is offered the rest at once, unless it would block") {
    SUBCASE("would_block after part of the bytes: nothing more until flush()") {
        auto s = std::make_shared<LogState>();
        auto body = rill::make_deferred_body<LogSink>();
        body->each(LogSink(s));
        int calls = 0;
        s->inside_write = [&] {
            if (++calls == 1) s->budget = 2;
        };
        // The first write takes 2 and answers would_block; nothing more until flush().
        CHECK(body->send("abcdef") == SendStatus::queued);
        CHECK(s->writes == 1);
        CHECK(s->bytes == "ab");
        s->inside_write = nullptr;
        s->budget = static_cast<std::size_t>(-1);
        body->flush();
        CHECK(s->writes == 2);
        CHECK(s->bytes == "abcdef");
    }
    SUBCASE("a short ok write") {
        rill_test::ScriptedSink sink;
        sink.state().max_per_write = 2;
        auto body = rill::make_deferred_body<rill_test::ScriptedSink>();
        body->each(sink);
        CHECK(body->send("abcde") == SendStatus::written);
        CHECK(sink.state().writes == 3);
        CHECK(sink.state().bytes == "abcde");
    }
}

TEST_CASE("bytes_queued() seen from inside a write counts what is left in flight and what was sent meanwhile") {
    auto s = std::make_shared<LogState>();
    s->per_call = 3;
    auto body = rill::make_deferred_body<LogSink>();
    body->each(LogSink(s));
    std::vector<std::size_t> seen;
    int calls = 0;
    s->inside_write = [&] {
        seen.push_back(body->bytes_queued());
        if (++calls == 1) {
            CHECK(body->send("XY") == SendStatus::queued);
            seen.push_back(body->bytes_queued());
        }
    };
    CHECK(body->send("hello") == SendStatus::written);
    CHECK(s->bytes == "helloXY");
    // write 1: all of "hello" in flight, then "XY" sent from inside it; write 2: "lo" left
    // in flight plus "XY"; write 3: "XY", queued behind.
    CHECK(seen == std::vector<std::size_t>{5, 7, 4, 2});
    CHECK(body->bytes_queued() == 0);
}

TEST_CASE("a drain that falls due while on_drain runs calls it again once it returns") {
    auto s = std::make_shared<LogState>();
    s->budget = 0;
    auto body = rill::make_deferred_body<LogSink>(marks(2, 1));
    Body* raw = body.get();
    int calls = 0;
    body->on_drain([&calls, raw, s] {
        if (++calls != 1) return;
        s->budget = 0;
        CHECK(raw->send("def") == SendStatus::backpressure);  // a new drain is promised...
        s->budget = static_cast<std::size_t>(-1);
        raw->flush();  // ...and falls due here, while this call still runs
    });
    body->each(LogSink(s));
    CHECK(body->send("abc") == SendStatus::backpressure);
    s->budget = static_cast<std::size_t>(-1);
    body->flush();
    CHECK(s->bytes == "abcdef");
    CHECK(calls == 2);
}

TEST_CASE("a part sent from inside the write of a no-body head is refused: nothing follows the head") {
    struct Case {
        rill::Request request;
        int status;
        const char* head;
    };
    const Case cases[] = {
        {{"HEAD", 1, "", ""}, 200, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"},
        {{"GET", 1, "", ""}, 304, "HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.status);
        auto s = std::make_shared<LogState>();
        auto body = rill::make_deferred_body<LogSink>();
        body->each(LogSink(s));
        Body* raw = body.get();
        SendStatus inside = SendStatus::written;
        bool sent = false;
        s->inside_write = [&inside, &sent, raw] {
            if (sent) return;
            sent = true;
            inside = raw->send("leak");
        };
        REQUIRE(body->respond(c.request, rill::ResponseHead(c.status).header("Content-Length", "4")) ==
                rill::HeadStatus::ok);
        CHECK(sent);
        CHECK(inside == SendStatus::closed);
        CHECK(s->bytes == c.head);
        CHECK(body->state() == BodyState::closed);
        CHECK(body->keep_alive());
    }
}
