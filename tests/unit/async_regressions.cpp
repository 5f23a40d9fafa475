// Defects found by fuzz/fuzz_async.cpp (docs/fuzzing.md), each replayed here as a
// small deterministic scenario that failed before its fix in include/rill/body.hpp.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using rill::CloseReason;
using rill::WriteResult;

namespace {

// The sink's side of a scenario: each write is answered by `answer` (take all when
// unset), which may call back into the body first.
struct Script {
    std::string wire;  // bytes the sink took (or, for a completion sink, confirmed)
    std::vector<std::string> writes;
    std::vector<CloseReason> finished;
    std::function<WriteResult(const std::string& offered)> answer;
};

std::string concat(const rill::ConstBuffer* bufs, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s.append(bufs[i].data, bufs[i].size);
    return s;
}

struct ReadySink {
    Script* s;
    WriteResult write(const rill::ConstBuffer* bufs, std::size_t n) {
        const std::string offered = concat(bufs, n);
        s->writes.push_back(offered);
        const WriteResult r = s->answer ? s->answer(offered) : WriteResult::ok(offered.size());
        if (r.status == rill::WriteStatus::ok || r.status == rill::WriteStatus::would_block)
            s->wire.append(offered, 0, r.bytes);
        return r;
    }
    void finish(CloseReason r) { s->finished.push_back(r); }
};

struct AsyncSink {
    static constexpr bool completes_later = true;
    Script* s;
    WriteResult write(const rill::ConstBuffer* bufs, std::size_t n) {
        const std::string offered = concat(bufs, n);
        s->writes.push_back(offered);
        const WriteResult r = s->answer ? s->answer(offered) : WriteResult::ok(offered.size());
        if (r.status == rill::WriteStatus::ok || r.status == rill::WriteStatus::would_block)
            s->wire.append(offered, 0, r.bytes);
        return r;
    }
    void finish(CloseReason r) { s->finished.push_back(r); }
};

}  // namespace

// fuzz_async, open finding 1. A send() that reaches RILL_COALESCE_LIMIT with what is
// gathered writes the gathered queue first when it holds more than RILL_GATHER_MAX
// pieces; a part the application sends from inside that write (a callback of the
// sink) is appended to the queue and written before the part whose send() is still
// running: the body's bytes leave out of order.
TEST_CASE("async regressions: a part sent inside the write that flushes a long queue does not overtake the part being sent") {
    Script s;
    auto body = rill::make_deferred_body<ReadySink>();
    body->each(ReadySink{&s});
    std::string expected;
    body->cork();
    for (int i = 0; i < RILL_GATHER_MAX + 6; ++i) {  // one buffer each: more than one write can gather
        std::string piece(2, static_cast<char>('a' + i % 26));
        expected += piece;
        (void)body->send(std::move(piece));
    }
    bool sent_inside = false;
    s.answer = [&](const std::string& offered) {
        if (!sent_inside) {
            sent_inside = true;
            (void)body->send(std::string_view("LATE"));
        }
        return WriteResult::ok(offered.size());
    };
    const std::string big(RILL_COALESCE_LIMIT, 'B');
    expected += big;      // sent first ...
    expected += "LATE";   // ... then this, from inside the write that big's send() started
    (void)body->send(std::string_view(big));
    body->uncork();  // (the queue has too many pieces to go with big: big waits in it for the uncork)
    REQUIRE(sent_inside);
    CHECK(body->close() == rill::CloseStatus::ok);
    CHECK(body->state() == rill::BodyState::closed);
    REQUIRE(s.wire.size() == expected.size());
    CHECK(s.wire.find("LATE") == expected.size() - 4);  // not before the big part
    CHECK((s.wire == expected));  // parenthesised: doctest would print 16 KiB
}

// The same path with close() called from inside that write: the last chunk leaves
// before the part whose send() is running, so a client reads the end of the body and
// then the part as the start of the next response on a keep-alive connection.
TEST_CASE("async regressions: the last chunk queued inside the write that flushes a long queue comes last") {
    Script s;
    auto body = rill::make_deferred_body<ReadySink>();
    body->each(ReadySink{&s});
    REQUIRE(body->respond(rill::Request{"GET", 1, "", ""}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    body->cork();
    for (int i = 0; i < RILL_GATHER_MAX; ++i) (void)body->send(std::string(2, 'p'));  // 3 buffers each, chunked
    bool closed_inside = false;
    s.answer = [&](const std::string& offered) {
        if (!closed_inside) {
            closed_inside = true;
            (void)body->close();
        }
        return WriteResult::ok(offered.size());
    };
    (void)body->send(std::string_view(std::string(RILL_COALESCE_LIMIT, 'B')));
    body->uncork();
    REQUIRE(closed_inside);
    CHECK(body->state() == rill::BodyState::closed);
    const std::string tail = "4000\r\n" + std::string(RILL_COALESCE_LIMIT, 'B') + "\r\n0\r\n\r\n";
    REQUIRE(s.wire.size() > tail.size());
    CHECK(s.wire.find("0\r\n\r\n") == s.wire.size() - 5);  // the last chunk only at the end
    CHECK((s.wire.compare(s.wire.size() - tail.size(), tail.size(), tail) == 0));
}

// fuzz_async, open finding 2. A readiness sink answers would_block to a write inside
// which the application sent a part: the body writes again at once, before the server
// said (flush()) that the sink can take more.
TEST_CASE("async regressions: no write to a readiness sink that answered would_block until flush()") {
    Script s;
    auto body = rill::make_deferred_body<ReadySink>();
    body->each(ReadySink{&s});
    bool full = false;
    s.answer = [&](const std::string&) {
        if (!full) {
            full = true;
            (void)body->send(std::string_view("x"));  // the application, called back from the write
        }
        return WriteResult::would_block(0);
    };
    (void)body->send(std::string_view("a"));
    CHECK(s.writes.size() == 1);  // the sink is full: nothing more until flush()
    s.answer = nullptr;
    body->flush();
    CHECK(s.wire == "ax");
}

// fuzz_async, open finding 3. A completion sink may answer would_block at once (sink.md:
// "as before"); the next send() writes to it again without a flush().
TEST_CASE("async regressions: no write to a completion sink that answered would_block until flush()") {
    Script s;
    auto body = rill::make_deferred_body<AsyncSink>();
    body->each(AsyncSink{&s});
    s.answer = [](const std::string&) { return WriteResult::would_block(0); };
    (void)body->send(std::string_view("a"));
    REQUIRE(s.writes.size() == 1);
    (void)body->send(std::string_view("b"));
    CHECK(s.writes.size() == 1);  // still full: the part waits for flush()
    s.answer = nullptr;
    body->flush();
    CHECK(s.wire == "ab");
}

// fuzz_async, finding 4, settled as documented behaviour (docs/sink.md): a completion
// that confirms nothing from inside write() is the same answer as a synchronous ok(0)
// or would_block(0): the sink cannot take bytes now and the body waits for flush().
// Offering again at once would spin on a sink that keeps answering so.
TEST_CASE("async regressions: a completion sink's inline ok(0) waits for flush(), then the body ends") {
    Script s;
    auto body = rill::make_deferred_body<AsyncSink>();
    body->each(AsyncSink{&s});
    bool first = true;
    s.answer = [&](const std::string& offered) {
        const std::size_t m = first ? 0 : offered.size();
        first = false;
        body->complete_write(WriteResult::ok(m));
        return WriteResult::pending(offered.size());
    };
    (void)body->send(std::string_view("abc"));
    CHECK(body->close() == rill::CloseStatus::ok);
    CHECK(s.writes.size() == 1);
    CHECK(body->state() == rill::BodyState::closing);
    body->flush();
    CHECK(body->state() == rill::BodyState::closed);
    CHECK(s.finished == std::vector<CloseReason>{CloseReason::completed});
    CHECK(s.writes == std::vector<std::string>{"abc", "abc"});  // offered again whole after flush()
}
