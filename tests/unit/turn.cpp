// rill::Turn: parts sent during one loop turn leave in one write per body at the
// end of the turn; a part that brings what is gathered to RILL_COALESCE_LIMIT
// leaves at once with it, straight from the caller's memory; with no Turn on the
// thread every part is written at once, as before.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using rill::CloseReason;
using rill::SendStatus;

namespace {

struct Log {
    std::vector<std::vector<rill::ConstBuffer>> writes;  // as offered, pointers included
    std::vector<std::string> bytes;                      // each write's bytes
    std::string wire;
    std::vector<CloseReason> finished;
    std::size_t accept = static_cast<std::size_t>(-1);   // bytes the next writes take in all
};

struct RecordingSink {
    Log* log;
    rill::WriteResult write(const rill::ConstBuffer* bufs, std::size_t n) {
        log->writes.emplace_back(bufs, bufs + n);
        std::string all;
        for (std::size_t i = 0; i < n; ++i) all.append(bufs[i].data, bufs[i].size);
        const std::size_t take = all.size() < log->accept ? all.size() : log->accept;
        log->accept -= take;
        log->bytes.push_back(all);
        log->wire.append(all, 0, take);
        if (take < all.size()) return rill::WriteResult::would_block(take);
        return rill::WriteResult::ok(take);
    }
    void finish(CloseReason r) { log->finished.push_back(r); }
};

std::shared_ptr<rill::DeferredBody<RecordingSink>> raw_body(Log& log) {
    auto body = rill::make_deferred_body<RecordingSink>();
    body->each(RecordingSink{&log});
    return body;
}

bool offered_from(const std::vector<rill::ConstBuffer>& write, const char* p) {
    for (const auto& b : write)
        if (b.data == p) return true;
    return false;
}

}  // namespace

TEST_CASE("turn: parts sent during a turn leave in one write at its end") {
    Log log;
    auto body = raw_body(log);
    std::string expected;
    {
        rill::Turn turn;
        for (int i = 0; i < 100; ++i) {
            const std::string part(64, static_cast<char>('a' + i % 26));
            expected += part;
            CHECK(body->send(std::string_view(part)) == SendStatus::queued);
        }
        CHECK(log.writes.empty());
        CHECK(body->bytes_queued() == expected.size());
        CHECK(turn.pending() == 1);
        turn.end();
        CHECK(log.writes.size() == 1);
        CHECK(log.wire == expected);
        CHECK(body->bytes_queued() == 0);

        SUBCASE("a lone part leaves at the end of its turn") {
            CHECK(body->send("lone") == SendStatus::queued);
            CHECK(log.writes.size() == 1);
            turn.end();
            CHECK(log.writes.size() == 2);
            CHECK(log.bytes.back() == "lone");
        }
    }
}

TEST_CASE("turn: without a Turn on this thread every part is written at once") {
    Log log;
    auto body = raw_body(log);
    for (int i = 0; i < 10; ++i) CHECK(body->send("x") == SendStatus::written);
    CHECK(log.writes.size() == 10);

    SUBCASE("a Turn on another thread does not gather this thread's parts") {
        rill::Turn turn;
        std::thread other([&body] { CHECK(body->send("y") == SendStatus::written); });
        other.join();
        CHECK(log.writes.size() == 11);
    }
    SUBCASE("an ended Turn restores the one installed before it") {
        rill::Turn outer;
        { rill::Turn inner; }
        CHECK(body->send("z") == SendStatus::queued);
        outer.end();
        CHECK(log.bytes.back() == "z");
    }
}

TEST_CASE("turn: head, parts and close() of one turn cost one write") {
    Log log;
    auto body = rill::make_deferred_body<RecordingSink>();
    body->each(RecordingSink{&log});
    rill::Turn turn;
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    (void)body->send("Hello, ");
    (void)body->send(std::string("World"));
    CHECK(body->close() == rill::CloseStatus::ok);
    CHECK(log.writes.empty());
    CHECK(log.finished.empty());
    turn.end();
    REQUIRE(log.writes.size() == 1);
    CHECK(log.wire.substr(log.wire.find("\r\n\r\n") + 4) == "7\r\nHello, \r\n5\r\nWorld\r\n0\r\n\r\n");
    CHECK(log.finished == std::vector<CloseReason>{CloseReason::completed});
    CHECK(body->keep_alive());
}

TEST_CASE("turn: a part reaching the limit leaves at once with what is gathered, not copied") {
    Log log;
    auto body = raw_body(log);
    rill::Turn turn;
    (void)body->send(std::string_view("small-1 "));
    (void)body->send(std::string_view("small-2 "));
    const std::string big(RILL_COALESCE_LIMIT, 'B');
    CHECK(body->send(std::string_view(big)) == SendStatus::written);
    REQUIRE(log.writes.size() == 1);
    CHECK(offered_from(log.writes[0], big.data()));  // pointer identity: no copy of the big part
    CHECK(log.wire == "small-1 small-2 " + big);
    CHECK(turn.pending() == 1);
    turn.end();  // nothing left: no second write
    CHECK(log.writes.size() == 1);

    SUBCASE("small parts that add up to the limit leave when they reach it") {
        Log small_log;
        auto b = raw_body(small_log);
        const std::string part(100, 's');
        std::size_t sent = 0;
        while (small_log.writes.empty()) {
            (void)b->send(std::string_view(part));
            sent += part.size();
            REQUIRE(sent <= 2 * RILL_COALESCE_LIMIT);
        }
        CHECK(sent >= RILL_COALESCE_LIMIT);
        CHECK(sent < RILL_COALESCE_LIMIT + part.size());
        CHECK(small_log.wire.size() == sent);
    }
}

TEST_CASE("Batch: big parts are written from the caller's memory, small ones gathered") {
    Log log;
    auto body = raw_body(log);
    std::vector<std::string> parts;
    for (int i = 0; i < 8; ++i) parts.emplace_back(16384, static_cast<char>('A' + i));
    {
        rill::Batch<rill::Body> batch(*body);
        for (const std::string& p : parts) CHECK(body->send(std::string_view(p)) == SendStatus::written);
    }
    REQUIRE(log.writes.size() == parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) CHECK(offered_from(log.writes[i], parts[i].data()));

    SUBCASE("small parts wait for the end of the Batch") {
        Log small_log;
        auto b = raw_body(small_log);
        {
            rill::Batch<rill::Body> batch(*b);
            for (int i = 0; i < 10; ++i) (void)b->send("0123456789");
            CHECK(small_log.writes.empty());
        }
        CHECK(small_log.writes.size() == 1);
        CHECK(small_log.wire.size() == 100);
    }
}

TEST_CASE("turn: a full sink is left alone until its flush()") {
    Log log;
    auto body = raw_body(log);
    log.accept = 10;
    rill::Turn turn;
    (void)body->send("first ");  // gathered: the body joins the turn
    (void)body->send(std::string(RILL_COALESCE_LIMIT, 'x'));  // takes 10 bytes, the sink is full
    REQUIRE(log.writes.size() == 1);
    CHECK(turn.pending() == 1);
    (void)body->send("more");
    (void)body->send(std::string(RILL_COALESCE_LIMIT, 'y'));  // past the limit, but the sink is full
    turn.end();
    CHECK(log.writes.size() == 1);  // no write into a full sink
    log.accept = static_cast<std::size_t>(-1);
    body->flush();
    CHECK(log.writes.size() == 2);
    CHECK(log.wire == "first " + std::string(RILL_COALESCE_LIMIT, 'x') + "more" + std::string(RILL_COALESCE_LIMIT, 'y'));
}

TEST_CASE("turn: the Turn keeps a gathering body until its end") {
    Log log;
    std::weak_ptr<rill::Body> watch;
    rill::Turn turn;
    {
        auto body = raw_body(log);
        watch = body;
        (void)body->send("last words");
        body->close();
    }
    CHECK_FALSE(watch.expired());
    turn.end();
    CHECK(log.wire == "last words");
    CHECK(log.finished == std::vector<CloseReason>{CloseReason::completed});
    CHECK(watch.expired());
}

TEST_CASE("turn: on_first_gather runs once per turn") {
    Log log;
    auto a = raw_body(log);
    auto b = raw_body(log);
    rill::Turn turn;
    int calls = 0;
    turn.on_first_gather([&calls] { ++calls; });
    (void)a->send("1");
    (void)b->send("2");
    (void)a->send("3");
    CHECK(calls == 1);
    turn.end();
    CHECK(log.bytes == std::vector<std::string>{"13", "2"});
    (void)b->send("4");
    CHECK(calls == 2);
}

TEST_CASE("turn: a body not owned by a shared_ptr writes at once") {
    Log log;
    rill::DeferredBody<RecordingSink> body;
    body.each(RecordingSink{&log});
    rill::Turn turn;
    CHECK(body.send("now") == SendStatus::written);
    CHECK(log.writes.size() == 1);
}

TEST_CASE("turn: what on_drain sends during end() leaves before end() returns") {
    Log log;
    rill::BodyOptions opts;
    opts.high_water = 8;
    opts.low_water = 0;
    auto body = rill::make_deferred_body<RecordingSink>(opts);
    body->each(RecordingSink{&log});
    rill::Turn turn;
    int more = 3;
    body->on_drain([&] {
        if (more-- > 0) (void)body->send("0123456789");  // gathered again, above high water
    });
    CHECK(body->send("0123456789") == SendStatus::backpressure);
    turn.end();
    CHECK(more < 0);
    CHECK(log.wire.size() == 40);
    CHECK(turn.pending() == 0);
}
