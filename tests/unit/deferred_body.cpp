// The deferred-body contract: each/send/close/abort and on_close, independent of HTTP.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <functional>
#include <stdexcept>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test_chunked_decoder.hpp"
#include "test_sinks.hpp"

using rill::CloseReason;
using rill::SendStatus;
using rill_test::ScriptedSink;

namespace {

// Records every on_close call so a test can assert "exactly once, with this reason".
struct CloseLog {
    std::vector<CloseReason> reasons;
    auto callback() {
        return [this](CloseReason r) { reasons.push_back(r); };
    }
};

}  // namespace

TEST_CASE("the seed: head at once, 'Hello, ' at once, 'World' later, then close") {
    rill::StringSink wire;
    auto body = rill::make_deferred_body<rill::StringSink>();
    body->each(wire);
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200).header("Content-Type", "text/plain")) ==
            rill::HeadStatus::ok);
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(wire.str() == head);

    CHECK(body->send("Hello, ") == SendStatus::written);
    CHECK(wire.str() == head + "7\r\nHello, \r\n");

    // ... the application waits for its event; nothing more is on the wire meanwhile ...
    CHECK(body->state() == rill::BodyState::open);
    CHECK(body->send("World") == SendStatus::written);
    CHECK(body->close() == rill::CloseStatus::ok);
    CHECK(wire.str() == head + "7\r\nHello, \r\n5\r\nWorld\r\n0\r\n\r\n");
    CHECK(body->state() == rill::BodyState::closed);
    CHECK(body->close_reason() == CloseReason::completed);
    CHECK(body->keep_alive());
    CHECK(wire.finished() == CloseReason::completed);
}

TEST_CASE("a raw body passes bytes through unframed") {
    rill::StringSink wire;
    rill::DeferredBody<rill::StringSink> body;
    body.each(wire);
    CHECK(body.framing() == rill::Framing::raw);
    CHECK(body.send("Hello, ") == SendStatus::written);
    CHECK(body.send(std::string("World")) == SendStatus::written);
    body.close();
    CHECK(wire.str() == "Hello, World");
    CHECK(body.bytes_sent() == 12);
    CHECK(body.body_bytes() == 12);
    CHECK_FALSE(body.keep_alive());  // no HTTP framing: the body cannot vouch for the connection
}

TEST_CASE("parts sent before each() are kept in order and flushed first") {
    rill::StringSink wire;
    rill::DeferredBody<rill::StringSink> body;
    CHECK(body.state() == rill::BodyState::waiting);
    CHECK(body.send("one ") == SendStatus::queued);
    CHECK(body.send(std::string("two ")) == SendStatus::queued);
    CHECK(body.send("three") == SendStatus::queued);
    CHECK(body.bytes_queued() == 13);
    CHECK(wire.str().empty());

    body.each(wire);
    CHECK(wire.str() == "one two three");
    CHECK(body.bytes_queued() == 0);
    CHECK(body.send(" four") == SendStatus::written);
    CHECK(wire.str() == "one two three four");
}

TEST_CASE("close before each(): the body finishes when the sink arrives") {
    rill::StringSink wire;
    CloseLog log;
    rill::DeferredBody<rill::StringSink> body;
    body.on_close(log.callback());
    CHECK(body.send("early") == SendStatus::queued);
    CHECK(body.close() == rill::CloseStatus::ok);
    CHECK(body.state() == rill::BodyState::closing);
    CHECK(log.reasons.empty());
    body.each(wire);
    CHECK(wire.str() == "early");
    REQUIRE(log.reasons.size() == 1);
    CHECK(log.reasons[0] == CloseReason::completed);
}

TEST_CASE("after close, sends answer closed and drop the data") {
    rill::StringSink wire;
    rill::DeferredBody<rill::StringSink> body;
    body.each(wire);
    CHECK(body.send("a") == SendStatus::written);
    body.close();
    CHECK(body.send("b") == SendStatus::closed);
    CHECK(body.send(std::string("c")) == SendStatus::closed);
    CHECK(wire.str() == "a");

    SUBCASE("also while the body is still closing") {
        ScriptedSink sink;
        sink.state().blocked = true;
        rill::DeferredBody<ScriptedSink> slow;
        slow.each(sink);
        CHECK(slow.send("x") == SendStatus::queued);
        slow.close();
        CHECK(slow.state() == rill::BodyState::closing);
        CHECK(slow.send("y") == SendStatus::closed);
        sink.state().blocked = false;
        slow.flush();
        CHECK(sink.state().bytes == "x");
        CHECK(slow.state() == rill::BodyState::closed);
    }
}

TEST_CASE("close twice is harmless and on_close fires once") {
    rill::StringSink wire;
    CloseLog log;
    rill::DeferredBody<rill::StringSink> body;
    body.on_close(log.callback());
    body.each(wire);
    CHECK(body.close() == rill::CloseStatus::ok);
    CHECK(body.close() == rill::CloseStatus::already_closed);
    body.abort();
    CHECK(log.reasons == std::vector<CloseReason>{CloseReason::completed});
    CHECK(body.close_reason() == CloseReason::completed);
}

TEST_CASE("on_close fires exactly once, with the reason, on every path") {
    CloseLog log;
    ScriptedSink sink;

    SUBCASE("completed") {
        rill::DeferredBody<ScriptedSink> body;
        body.on_close(log.callback());
        body.each(sink);
        body.close();
        body.close();
        CHECK(log.reasons == std::vector<CloseReason>{CloseReason::completed});
    }
    SUBCASE("aborted by the application, queue dropped") {
        sink.state().blocked = true;
        rill::DeferredBody<ScriptedSink> body;
        body.on_close(log.callback());
        body.each(sink);
        CHECK(body.send("never") == SendStatus::queued);
        body.abort();
        body.abort(CloseReason::shutdown);
        body.close();
        CHECK(body.bytes_queued() == 0);
        CHECK(log.reasons == std::vector<CloseReason>{CloseReason::aborted});
        CHECK(sink.state().finished == CloseReason::aborted);
    }
    SUBCASE("aborted before each(): the sink learns at once and is not kept") {
        rill::DeferredBody<ScriptedSink> body;
        body.on_close(log.callback());
        body.abort(CloseReason::shutdown);
        body.each(sink);
        CHECK(sink.state().finished == CloseReason::shutdown);
        CHECK(body.sink() == nullptr);
        CHECK(log.reasons == std::vector<CloseReason>{CloseReason::shutdown});
    }
    SUBCASE("peer closed, reported by the sink") {
        rill::DeferredBody<ScriptedSink> body;
        body.on_close(log.callback());
        body.each(sink);
        sink.state().fail_with = rill::WriteStatus::closed;
        CHECK(body.send("x") == SendStatus::closed);
        CHECK(body.send("y") == SendStatus::closed);
        CHECK(log.reasons == std::vector<CloseReason>{CloseReason::peer_closed});
    }
    SUBCASE("write error while flushing the queue") {
        sink.state().blocked = true;
        rill::DeferredBody<ScriptedSink> body;
        body.on_close(log.callback());
        body.each(sink);
        CHECK(body.send("x") == SendStatus::queued);
        sink.state().fail_with = rill::WriteStatus::error;
        body.flush();
        body.flush();
        CHECK(body.send("z") == SendStatus::closed);
        CHECK(log.reasons == std::vector<CloseReason>{CloseReason::write_error});
        CHECK(sink.state().finish_calls == 1);
    }
    SUBCASE("registered after the end: fires at once") {
        rill::DeferredBody<ScriptedSink> body;
        body.each(sink);
        body.close();
        body.on_close(log.callback());
        CHECK(log.reasons == std::vector<CloseReason>{CloseReason::completed});
    }
}

TEST_CASE("a failing sink ends the body with write_error and later sends answer closed") {
    ScriptedSink sink;
    CloseLog log;
    auto body = rill::make_deferred_body<ScriptedSink>();
    body->on_close(log.callback());
    body->each(sink);
    CHECK(body->send("ok") == SendStatus::written);
    sink.state().fail_with = rill::WriteStatus::error;
    CHECK(body->send("boom") == SendStatus::closed);
    CHECK(body->state() == rill::BodyState::closed);
    CHECK(body->send("after") == SendStatus::closed);
    CHECK(body->close() == rill::CloseStatus::already_closed);
    CHECK(log.reasons == std::vector<CloseReason>{CloseReason::write_error});
    CHECK(sink.state().bytes == "ok");
    CHECK(sink.state().finish_calls == 1);
    CHECK(body->sink() == nullptr);
}

TEST_CASE("a sink that claims more bytes than offered is treated as failed") {
    auto liar = rill::make_function_sink(
        [](const rill::ConstBuffer* b, std::size_t n) { return rill::WriteResult::ok(rill::buffer_size(b, n) + 1); });
    rill::DeferredBody<decltype(liar)> body;
    body.each(liar);
    CHECK(body.send("abc") == SendStatus::closed);
    CHECK(body.close_reason() == CloseReason::write_error);
}

TEST_CASE("a sink that takes one byte per call still yields the exact byte stream") {
    std::mt19937 rng(20261127);
    std::uniform_int_distribution<int> size(0, 300);
    std::uniform_int_distribution<int> byte(0, 255);
    ScriptedSink sink;
    sink.state().max_per_write = 1;
    auto body = rill::make_deferred_body<ScriptedSink>();
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);

    std::string expected_body;
    std::string expected_wire;
    bool handed_over = false;
    for (int i = 0; i < 400; ++i) {
        std::string part(static_cast<std::size_t>(size(rng)), '\0');
        for (char& c : part) c = static_cast<char>(byte(rng));
        expected_body += part;
        if (!part.empty()) expected_wire += rill::test::chunk_of(part);
        const SendStatus st = (i % 2 == 0) ? body->send(std::string_view(part)) : body->send(std::move(part));
        CHECK((st == SendStatus::written || st == SendStatus::queued));
        if (i == 50 && !handed_over) {
            body->each(sink);
            handed_over = true;
        }
    }
    body->close();
    CHECK(body->state() == rill::BodyState::closed);
    const std::string& wire = sink.state().bytes;
    const std::size_t head_end = wire.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    CHECK(wire.substr(head_end + 4) == expected_wire + "0\r\n\r\n");
    CHECK(body->body_bytes() == expected_body.size());
    CHECK(body->bytes_sent() == wire.size());
}

TEST_CASE("a sink that would block keeps the bytes queued until flush()") {
    ScriptedSink sink;
    auto body = rill::make_deferred_body<ScriptedSink>();
    body->each(sink);
    sink.state().blocked = true;
    CHECK(body->send("abc") == SendStatus::queued);
    CHECK(body->send(std::string("def")) == SendStatus::queued);
    CHECK(body->bytes_queued() == 6);
    body->flush();  // still blocked: nothing lost, nothing written
    CHECK(sink.state().bytes.empty());
    sink.state().blocked = false;
    body->flush();
    CHECK(sink.state().bytes == "abcdef");
    CHECK(body->bytes_queued() == 0);
}

TEST_CASE("each() twice is a usage error with a clear message") {
    rill::DeferredBody<rill::StringSink> body;
    body.each(rill::StringSink{});
    CHECK_THROWS_WITH_AS(body.each(rill::StringSink{}),
                         "rill::DeferredBody::each() called twice: a body streams into one sink",
                         rill::UsageError);
}

TEST_CASE("an empty part is a no-op") {
    rill::StringSink wire;
    auto body = rill::make_deferred_body<rill::StringSink>();
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    body->each(wire);
    const std::size_t head = wire.str().size();
    CHECK(body->send("") == SendStatus::written);
    CHECK(body->send(std::string()) == SendStatus::written);
    CHECK(wire.str().size() == head);  // in particular no "0\r\n\r\n" last-chunk
    CHECK(body->state() == rill::BodyState::open);
}

TEST_CASE("a moved part is queued without a copy") {
    ScriptedSink sink;
    std::vector<const char*> seen;
    auto recorder = rill::make_function_sink([&](const rill::ConstBuffer* b, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) seen.push_back(b[i].data);
        return sink.write(b, n);
    });
    rill::DeferredBody<decltype(recorder)> body;
    std::string big(100000, 'x');
    const char* original = big.data();
    CHECK(body.send(std::move(big)) == SendStatus::backpressure);  // 100 KB > 64 KiB high-water
    body.each(recorder);
    REQUIRE_FALSE(seen.empty());
    CHECK(seen.front() == original);
    CHECK(sink.state().bytes.size() == 100000);
}

TEST_CASE("the application's handle may outlive the connection") {
    std::shared_ptr<rill::DeferredBody<ScriptedSink>> app_handle;
    CloseLog log;
    {
        auto server_handle = rill::make_deferred_body<ScriptedSink>();
        app_handle = server_handle;
        app_handle->on_close(log.callback());
        server_handle->each(ScriptedSink{});
        server_handle->abort(CloseReason::peer_closed);  // the server drops the connection
    }
    CHECK(app_handle->send("late") == SendStatus::closed);
    CHECK(app_handle->close() == rill::CloseStatus::already_closed);
    CHECK(log.reasons == std::vector<CloseReason>{CloseReason::peer_closed});
}

TEST_CASE("a callback may drop the last reference to the body") {
    ScriptedSink sink;
    auto body = rill::make_deferred_body<ScriptedSink>();
    std::weak_ptr<rill::DeferredBody<ScriptedSink>> watch = body;
    auto* raw = body.get();
    int calls = 0;
    raw->on_close([&body, &calls](CloseReason) {
        ++calls;
        body.reset();  // the server forgets the connection from inside the callback
    });
    raw->each(sink);
    CHECK(raw->send("x") == SendStatus::written);
    raw->close();  // must not touch freed memory (ASan would report it)
    CHECK(calls == 1);
    CHECK(watch.expired());
}

TEST_CASE("callbacks are released when the body ends, breaking shared_ptr cycles") {
    std::weak_ptr<rill::DeferredBody<rill::StringSink>> watch;
    {
        auto body = rill::make_deferred_body<rill::StringSink>();
        watch = body;
        body->on_close([body](CloseReason) {});  // a cycle until the body ends
        body->on_drain([body]() {});
        body->each(rill::StringSink{});
        body->close();
    }
    CHECK(watch.expired());
}

TEST_CASE("introspection: state, bytes queued, bytes sent") {
    ScriptedSink sink;
    rill::DeferredBody<ScriptedSink> body;
    CHECK(body.state() == rill::BodyState::waiting);
    CHECK(body.sink() == nullptr);
    body.each(sink);
    CHECK(body.state() == rill::BodyState::open);
    CHECK(body.sink() != nullptr);
    sink.state().max_per_write = 4;
    sink.state().blocked = false;
    CHECK(body.send("0123456789") == SendStatus::written);  // taken four bytes at a time
    CHECK(body.bytes_sent() == 10);
    sink.state().blocked = true;
    CHECK(body.send("abc") == SendStatus::queued);
    CHECK(body.bytes_queued() == 3);
    CHECK(body.bytes_sent() == 10);
}

TEST_CASE("the reject policy refuses only when something is queued") {
    ScriptedSink sink;
    rill::BodyOptions options;
    options.high_water = 0;
    options.low_water = 0;
    options.overflow = rill::OverflowPolicy::reject;
    rill::DeferredBody<ScriptedSink> body(options);
    body.each(sink);
    CHECK(body.send("direct") == SendStatus::written);  // an idle sink takes it: nothing to bound
    sink.state().blocked = true;
    CHECK(body.send("kept") == SendStatus::backpressure);
    CHECK(body.send("refused") == SendStatus::would_block);
    int drains = 0;
    body.on_drain([&drains] { ++drains; });
    sink.state().blocked = false;
    body.flush();
    CHECK(sink.state().bytes == "directkept");
    CHECK(drains == 1);  // an empty queue counts as drained even with a low-water mark of 0
}

namespace {
using WriteFn = std::function<rill::WriteResult(const rill::ConstBuffer*, std::size_t)>;
using CallbackSink = rill::FunctionSink<WriteFn, std::function<void(CloseReason)>>;
}  // namespace

TEST_CASE("a sink may call back into the body from inside write()") {
    std::shared_ptr<rill::DeferredBody<CallbackSink>> body = rill::make_deferred_body<CallbackSink>();
    std::string out;
    bool writable = false;
    int calls = 0;
    int finishes = 0;
    CloseLog log;
    body->on_close(log.callback());
    std::function<void()> on_first_write;
    WriteFn write = [&](const rill::ConstBuffer* b, std::size_t n) {
        if (!writable) return rill::WriteResult::would_block();
        out.push_back(b[0].data[0]);  // reads the buffer before calling back
        if (++calls == 1 && on_first_write) on_first_write();
        for (std::size_t i = 0; i < n; ++i) REQUIRE(b[i].data != nullptr);
        return rill::WriteResult::ok(1);
    };
    body->each(CallbackSink(write, [&finishes](CloseReason) { ++finishes; }));
    CHECK(body->send("a first part longer than a small string") == SendStatus::queued);

    SUBCASE("sends are kept in order behind the bytes being written") {
        std::string expected = "a first part longer than a small string";
        on_first_write = [&] {
            for (int i = 0; i < 100; ++i) {
                const std::string part = "part " + std::to_string(i) + ";";
                expected += part;
                CHECK(body->send(part) != SendStatus::closed);
            }
            CHECK(body->close() == rill::CloseStatus::ok);  // finishes only once all is out
            CHECK(log.reasons.empty());
        };
        writable = true;
        body->flush();
        CHECK(out == expected);
        CHECK(log.reasons == std::vector<CloseReason>{CloseReason::completed});
        CHECK(finishes == 1);
    }
    SUBCASE("an abort from inside write ends the body once, after write returns") {
        on_first_write = [&] {
            body->abort(CloseReason::shutdown);
            CHECK(finishes == 0);  // the sink is still in use: it is told once write returns
        };
        writable = true;
        body->flush();
        CHECK(out == "a");
        CHECK(finishes == 1);
        CHECK(log.reasons == std::vector<CloseReason>{CloseReason::shutdown});
        CHECK(body->send("late") == SendStatus::closed);
    }
    SUBCASE("a close from inside a direct write of a raw body finishes it") {
        writable = true;
        body->flush();
        out.clear();
        calls = 0;
        on_first_write = [&] { CHECK(body->close() == rill::CloseStatus::ok); };
        CHECK(body->send("z") == SendStatus::written);
        CHECK(out == "z");
        CHECK(body->state() == rill::BodyState::closed);
        CHECK(log.reasons == std::vector<CloseReason>{CloseReason::completed});
        CHECK(finishes == 1);
    }
    SUBCASE("a flush from inside write is ignored, not nested") {
        on_first_write = [&] { body->flush(); };
        writable = true;
        body->flush();
        CHECK(out == "a first part longer than a small string");
        CHECK(calls == 39);
    }
}

TEST_CASE("a sink that throws leaves the body usable") {
    bool throw_now = true;
    std::string out;
    WriteFn write = [&](const rill::ConstBuffer* b, std::size_t n) {
        if (throw_now) throw std::runtime_error("transport exploded");
        for (std::size_t i = 0; i < n; ++i) out.append(b[i].data, b[i].size);
        return rill::WriteResult::ok(rill::buffer_size(b, n));
    };
    rill::DeferredBody<CallbackSink> body;
    body.cork();
    CHECK(body.send("queued") == SendStatus::queued);
    body.each(CallbackSink(write, [](CloseReason) {}));
    CHECK_THROWS_AS(body.uncork(), std::runtime_error);
    throw_now = false;
    body.flush();  // not stuck in "already flushing"
    CHECK(out == "queued");
}

TEST_CASE("with a declared length the body completes when the last byte is sent") {
    // A client that has every byte may hang up before the application calls close():
    // that is a complete response, not a lost one.
    rill::StringSink wire;
    CloseLog log;
    auto body = rill::make_deferred_body<rill::StringSink>();
    body->on_close(log.callback());
    body->each(wire);
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200).header("Content-Length", "5")) ==
            rill::HeadStatus::ok);
    CHECK(body->send("abc") == SendStatus::written);
    CHECK(log.reasons.empty());
    CHECK(body->send("de") == SendStatus::written);
    CHECK(log.reasons == std::vector<CloseReason>{CloseReason::completed});
    body->abort(CloseReason::peer_closed);  // the server notices the hang-up later: no effect
    CHECK(body->keep_alive());
    CHECK(log.reasons.size() == 1);
}

namespace {
// Counts live instances, so a sink destroyed twice or never shows up.
struct CountedSink {
    static inline int live = 0;
    bool moved_from = false;
    CountedSink() { ++live; }
    CountedSink(CountedSink&& other) noexcept { ++live; other.moved_from = true; }
    CountedSink(const CountedSink&) = delete;
    CountedSink& operator=(const CountedSink&) = delete;
    ~CountedSink() { --live; }
    rill::WriteResult write(const rill::ConstBuffer* b, std::size_t n) {
        REQUIRE_FALSE(moved_from);
        return rill::WriteResult::ok(rill::buffer_size(b, n));
    }
    void finish(CloseReason) { REQUIRE_FALSE(moved_from); }
};
}  // namespace

TEST_CASE("the held sink is destroyed exactly once, on every path") {
    CountedSink::live = 0;
    SUBCASE("the body ends") {
        rill::DeferredBody<CountedSink> body;
        body.each(CountedSink{});
        CHECK(CountedSink::live == 1);
        body.close();
        CHECK(CountedSink::live == 0);
    }
    SUBCASE("the body is destroyed while it still holds the sink") {
        {
            rill::DeferredBody<CountedSink> body;
            body.each(CountedSink{});
            CHECK(body.send("x") == SendStatus::written);
            CHECK(CountedSink::live == 1);
        }
        CHECK(CountedSink::live == 0);
    }
    SUBCASE("each() on an ended body does not keep the sink") {
        rill::DeferredBody<CountedSink> body;
        body.abort();
        body.each(CountedSink{});
        CHECK(CountedSink::live == 0);
    }
}

TEST_CASE("close() on a busy sink queues the end and waits for flush(), without a write attempt") {
    ScriptedSink sink;
    auto body = rill::make_deferred_body<ScriptedSink>();
    body->each(sink);
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    sink.state().blocked = true;
    CHECK(body->send("part") == SendStatus::queued);
    const std::size_t attempts = sink.state().writes;
    CHECK(body->close() == rill::CloseStatus::ok);
    CHECK(sink.state().writes == attempts);  // the sink said it was full: no point asking again
    CHECK(body->state() == rill::BodyState::closing);
    sink.state().blocked = false;
    body->flush();
    CHECK(sink.state().writes == attempts + 1);  // the part and the last chunk in one write
    CHECK(body->state() == rill::BodyState::closed);
    CHECK(sink.state().bytes.substr(sink.state().bytes.size() - 14) == "4\r\npart\r\n0\r\n\r\n");
}

TEST_CASE("a drain promised from inside write() comes even when nothing is left queued") {
    // Under the reject policy a part sent while another is still being written is refused;
    // the producer then waits for on_drain, which must come without another flush(): an
    // edge-triggered loop sees no EPOLLOUT when the socket never filled.
    rill::BodyOptions options;
    options.high_water = 1;
    options.overflow = rill::OverflowPolicy::reject;
    auto body = rill::make_deferred_body<CallbackSink>(options);
    std::string out;
    bool reenter = true;
    WriteFn write = [&](const rill::ConstBuffer* b, std::size_t) {
        out.push_back(b[0].data[0]);
        if (reenter) {
            reenter = false;
            CHECK(body->send(std::string(100, 'r')) == SendStatus::would_block);
        }
        return rill::WriteResult::ok(1);  // one byte per call
    };
    body->each(CallbackSink(write, [](CloseReason) {}));
    int drains = 0;
    body->on_drain([&drains] { ++drains; });
    CHECK(body->send("zz") == SendStatus::written);
    CHECK(out == "zz");
    CHECK(drains == 1);
}
