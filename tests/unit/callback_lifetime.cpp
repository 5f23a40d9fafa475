// Every call rill makes into user code (on_drain, on_close, Sink::write, Sink::finish)
// may end the body, re-enter it or drop the last reference to it: the callable being
// run must stay alive until it returns. Each case watches a token captured by the
// callable: were the callable destroyed mid-call, the token would already be gone.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_sinks.hpp"

using rill::CloseReason;
using rill::SendStatus;
using rill_test::ScriptedSink;

namespace {

using Body = rill::DeferredBody<ScriptedSink>;

// A body over a blocked sink with a drain promised: the next flush() runs on_drain.
struct DrainSetup {
    ScriptedSink sink;
    std::shared_ptr<Body> body;
    explicit DrainSetup(rill::BodyOptions opts = {4, 0, rill::OverflowPolicy::queue}) {
        body = rill::make_deferred_body<ScriptedSink>(opts);
        body->each(sink);
        sink.state().blocked = true;
        REQUIRE(body->send("12345") == SendStatus::backpressure);
        sink.state().blocked = false;
    }
};

}  // namespace

TEST_CASE("on_drain's callable outlives a call that ends the body") {
    auto token = std::make_shared<std::string>("alive");
    std::weak_ptr<std::string> watch = token;
    std::vector<std::string> seen;

    SUBCASE("close() inside on_drain") {
        DrainSetup s;
        Body* raw = s.body.get();
        raw->on_drain([raw, token, &seen] {
            raw->close();
            seen.push_back(*token);  // a freed closure would read freed memory here
        });
        token.reset();
        raw->flush();
        CHECK(watch.expired());  // released once the body has ended, not before the call returned
        CHECK(seen == std::vector<std::string>{"alive"});
        CHECK(raw->state() == rill::BodyState::closed);
        CHECK(raw->close_reason() == CloseReason::completed);
    }
    SUBCASE("a send inside on_drain completes the Content-Length") {
        auto body = rill::make_deferred_body<ScriptedSink>(rill::BodyOptions{4, 0, rill::OverflowPolicy::queue});
        ScriptedSink sink;
        body->each(sink);
        REQUIRE(body->respond(rill::Request{"GET", 1, "", ""},
                              rill::ResponseHead(200).header("Content-Length", "10")) == rill::HeadStatus::ok);
        sink.state().blocked = true;
        REQUIRE(body->send("12345") == SendStatus::backpressure);
        sink.state().blocked = false;
        Body* raw = body.get();
        raw->on_drain([raw, token, &seen] {
            CHECK(raw->send("67890") == SendStatus::written);  // the last byte ends the body
            seen.push_back(*token);
        });
        token.reset();
        raw->flush();
        CHECK(watch.expired());  // released once the body has ended, not before the call returned
        CHECK(seen == std::vector<std::string>{"alive"});
        CHECK(raw->keep_alive());
        CHECK(sink.state().bytes == "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n1234567890");
    }
    SUBCASE("the peer resets during a send inside on_drain") {
        DrainSetup s;
        Body* raw = s.body.get();
        ScriptedSink sink = s.sink;
        raw->on_drain([raw, token, sink, &seen] {
            sink.state().fail_with = rill::WriteStatus::closed;
            CHECK(raw->send("more") == SendStatus::closed);
            seen.push_back(*token);
        });
        token.reset();
        raw->flush();
        CHECK(watch.expired());  // released once the body has ended, not before the call returned
        CHECK(seen == std::vector<std::string>{"alive"});
        CHECK(raw->close_reason() == CloseReason::peer_closed);
    }
    SUBCASE("abort() and dropping the last reference inside on_drain") {
        DrainSetup s;
        std::weak_ptr<Body> body_watch = s.body;
        Body* raw = s.body.get();
        raw->on_drain([raw, token, &s, &seen] {
            raw->abort();
            s.body.reset();  // the server forgets the connection
            seen.push_back(*token);
        });
        token.reset();
        raw->flush();
        CHECK(watch.expired());  // released once the body has ended, not before the call returned
        CHECK(seen == std::vector<std::string>{"alive"});
        CHECK(body_watch.expired());
    }
}

TEST_CASE("on_drain stays registered across drains and may replace itself") {
    DrainSetup s;
    Body* raw = s.body.get();
    std::vector<std::string> log;
    SUBCASE("kept for the next episode") {
        raw->on_drain([&log] { log.push_back("first"); });
        raw->flush();
        s.sink.state().blocked = true;
        REQUIRE(raw->send("12345") == SendStatus::backpressure);
        s.sink.state().blocked = false;
        raw->flush();
        CHECK(log == std::vector<std::string>{"first", "first"});
    }
    SUBCASE("a replacement made inside the call wins") {
        raw->on_drain([raw, &log] {
            log.push_back("first");
            raw->on_drain([&log] { log.push_back("second"); });
        });
        raw->flush();
        s.sink.state().blocked = true;
        REQUIRE(raw->send("12345") == SendStatus::backpressure);
        s.sink.state().blocked = false;
        raw->flush();
        CHECK(log == std::vector<std::string>{"first", "second"});
    }
    SUBCASE("a callable that throws is kept and the body stays usable") {
        int calls = 0;
        raw->on_drain([&calls] {
            ++calls;
            throw std::runtime_error("producer failed");
        });
        CHECK_THROWS_AS(raw->flush(), std::runtime_error);
        s.sink.state().blocked = true;
        REQUIRE(raw->send("12345") == SendStatus::backpressure);
        s.sink.state().blocked = false;
        CHECK_THROWS_AS(raw->flush(), std::runtime_error);
        CHECK(calls == 2);
        CHECK(raw->close() == rill::CloseStatus::ok);
        CHECK(raw->state() == rill::BodyState::closed);
    }
}

TEST_CASE("callbacks registered on an ended body are not kept") {
    auto body = rill::make_deferred_body<ScriptedSink>();
    body->each(ScriptedSink{});
    body->close();
    REQUIRE(body->state() == rill::BodyState::closed);
    auto token = std::make_shared<int>(1);
    std::weak_ptr<int> watch = token;
    std::vector<CloseReason> closes;
    body->on_drain([token] {});
    body->on_close([token, &closes](CloseReason r) { closes.push_back(r); });
    token.reset();
    CHECK(watch.expired());  // neither closure is held: no body -> closure -> body cycle
    CHECK(closes == std::vector<CloseReason>{CloseReason::completed});
}

TEST_CASE("a sink may drop the last reference to its body from inside write() and finish()") {
    using WriteFn = std::function<rill::WriteResult(const rill::ConstBuffer*, std::size_t)>;
    using FinishFn = std::function<void(CloseReason)>;
    using Sink = rill::FunctionSink<WriteFn, FinishFn>;
    struct Owner {  // the server's connection table, holding the only reference
        std::shared_ptr<rill::DeferredBody<Sink>> body;
    };
    auto owner = std::make_shared<Owner>();
    std::string wire;
    std::vector<CloseReason> finished;
    SUBCASE("write() fails and the server forgets the connection at once") {
        owner->body = rill::make_deferred_body<Sink>();
        std::weak_ptr<rill::DeferredBody<Sink>> watch = owner->body;
        auto* raw = owner->body.get();
        raw->each(Sink(
            WriteFn([owner](const rill::ConstBuffer*, std::size_t) {
                owner->body.reset();  // the last reference goes while write() runs
                return rill::WriteResult{0, rill::WriteStatus::error, 32};
            }),
            FinishFn([&finished](CloseReason r) { finished.push_back(r); })));
        CHECK(raw->send("x") == SendStatus::closed);  // must not touch freed memory
        CHECK(finished == std::vector<CloseReason>{CloseReason::write_error});
        CHECK(watch.expired());
    }
    SUBCASE("finish() drops it when the sink arrives after the end") {
        owner->body = rill::make_deferred_body<Sink>();
        std::weak_ptr<rill::DeferredBody<Sink>> watch = owner->body;
        auto* raw = owner->body.get();
        raw->abort();
        raw->each(Sink(WriteFn([&wire](const rill::ConstBuffer* b, std::size_t n) {
                           for (std::size_t i = 0; i < n; ++i) wire.append(b[i].data, b[i].size);
                           return rill::WriteResult::ok(rill::buffer_size(b, n));
                       }),
                       FinishFn([owner, &finished](CloseReason r) {
                           owner->body.reset();
                           finished.push_back(r);
                       })));
        CHECK(finished == std::vector<CloseReason>{CloseReason::aborted});
        CHECK(watch.expired());
        CHECK(wire.empty());
    }
}

TEST_CASE("a response that can have no body ends as soon as its head is out") {
    struct Row {
        const char* name;
        rill::Request request;
        rill::ResponseHead head;
        const char* wire;
        bool keep_alive;
    };
    const Row rows[] = {
        {"HEAD with a Content-Length", {"HEAD", 1, "", ""}, rill::ResponseHead(200).header("Content-Length", "12"),
         "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", true},
        {"HEAD without a length", {"HEAD", 1, "", ""}, rill::ResponseHead(200),
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true},
        {"204", {"GET", 1, "", ""}, rill::ResponseHead(204), "HTTP/1.1 204 No Content\r\n\r\n", true},
        {"304", {"GET", 1, "", ""}, rill::ResponseHead(304), "HTTP/1.1 304 Not Modified\r\n\r\n", true},
        {"HTTP/1.0 HEAD", {"HEAD", 0, "", ""}, rill::ResponseHead(200),
         "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false},
        {"2xx to CONNECT", {"CONNECT", 1, "", ""}, rill::ResponseHead(200), "HTTP/1.1 200 OK\r\n\r\n", false},
        {"Content-Length: 0", {"GET", 1, "", ""}, rill::ResponseHead(200).header("Content-Length", "0"),
         "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
    };
    for (const Row& row : rows) {
        CAPTURE(row.name);
        ScriptedSink sink;
        auto body = rill::make_deferred_body<ScriptedSink>();
        std::vector<CloseReason> closes;
        body->on_close([&closes](CloseReason r) { closes.push_back(r); });
        CHECK_FALSE(body->ended());  // waiting
        body->each(sink);
        CHECK_FALSE(body->ended());  // open
        REQUIRE(body->respond(row.request, row.head) == rill::HeadStatus::ok);
        // No close() from the application: the connection may go on at once.
        CHECK(body->state() == rill::BodyState::closed);
        CHECK(closes == std::vector<CloseReason>{CloseReason::completed});
        CHECK(sink.state().finished == CloseReason::completed);
        CHECK(body->keep_alive() == row.keep_alive);
        CHECK(sink.state().bytes == row.wire);
        // The application can tell that nothing will be sent.
        CHECK(body->ended());
        CHECK(body->send("ignored") == (std::string(row.name) == "Content-Length: 0" ? SendStatus::length_exceeded
                                                                                    : SendStatus::closed));
        CHECK(body->close() == rill::CloseStatus::already_closed);
        CHECK(sink.state().bytes == row.wire);
    }
}

TEST_CASE("a head that waits for a busy sink ends the body once it is out") {
    ScriptedSink sink;
    auto body = rill::make_deferred_body<ScriptedSink>();
    body->each(sink);
    sink.state().blocked = true;
    REQUIRE(body->respond(rill::Request{"HEAD", 1, "", ""}, rill::ResponseHead(200).header("Content-Length", "5")) ==
            rill::HeadStatus::ok);
    CHECK(body->state() == rill::BodyState::closing);
    CHECK(body->ended());
    CHECK_FALSE(sink.state().finished.has_value());
    sink.state().blocked = false;
    body->flush();
    CHECK(body->state() == rill::BodyState::closed);
    CHECK(body->keep_alive());
    CHECK(sink.state().bytes == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
}

TEST_CASE("a part sent from inside the write of a no-body head is refused, not written after it") {
    // Found by fuzz_body (corpus: no_body_part_sent_inside_head_write). A server whose sink
    // calls back into the application while it writes must not see body bytes after a HEAD
    // answer: they would be read as the start of the next response.
    for (const char* method : {"HEAD", "CONNECT"}) {
        CAPTURE(method);
        std::string wire;
        std::vector<SendStatus> inner;
        using WriteFn = std::function<rill::WriteResult(const rill::ConstBuffer*, std::size_t)>;
        using FinishFn = std::function<void(CloseReason)>;
        auto body = rill::make_deferred_body<rill::FunctionSink<WriteFn, FinishFn>>();
        auto* raw = body.get();
        body->each(rill::FunctionSink<WriteFn, FinishFn>(
            WriteFn([&wire, &inner, raw](const rill::ConstBuffer* b, std::size_t n) {
                if (inner.empty()) inner.push_back(raw->send("body-byte"));
                for (std::size_t i = 0; i < n; ++i) wire.append(b[i].data, b[i].size);
                return rill::WriteResult::ok(rill::buffer_size(b, n));
            }),
            FinishFn([](CloseReason) {})));
        REQUIRE(body->respond(rill::Request{method, 1, "", ""}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
        CHECK(inner == std::vector<SendStatus>{SendStatus::closed});
        CHECK(wire.find("body-byte") == std::string::npos);
        CHECK(wire.substr(0, 17) == "HTTP/1.1 200 OK\r\n");
        CHECK(wire.size() >= 4);
        CHECK(wire.substr(wire.size() - 4) == "\r\n\r\n");
        CHECK(body->state() == rill::BodyState::closed);
    }
}

TEST_CASE("a drain that falls due while on_drain runs is delivered after it returns, not lost") {
    // Found by fuzz_body (corpus: drain_promised_inside_on_drain). Inside on_drain the
    // producer sends, is told to wait, and the sink takes everything before on_drain returns:
    // the promised drain must still come, or an edge-triggered producer waits forever.
    DrainSetup s;
    Body* raw = s.body.get();
    ScriptedSink sink = s.sink;
    int calls = 0;
    raw->on_drain([raw, sink, &calls] {
        ++calls;
        if (calls == 1) {
            sink.state().blocked = true;
            CHECK(raw->send("abcdef") == SendStatus::backpressure);  // a drain is promised
            sink.state().blocked = false;
            raw->flush();  // the queue empties while this call still runs
        }
    });
    raw->flush();
    CHECK(calls == 2);
    CHECK(raw->bytes_queued() == 0);
    CHECK(sink.state().bytes == "12345abcdef");
}
