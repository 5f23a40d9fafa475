// rill::PullStream: the worker side of a thread-per-connection server.

#include <doctest/doctest.h>

#include <rill/pull.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("pull: bytes sent so far come out in one pull, in order") {
    rill::PullStream stream;
    rill::Producer p = stream.producer();
    CHECK(p.send("ab") == rill::SendStatus::queued);
    CHECK(p.send("cd") == rill::SendStatus::queued);
    std::string out = "stale";
    CHECK(stream.pull(out, 0ms) == rill::PullStatus::data);
    CHECK(out == "abcd");
    CHECK(p.stats().wakeups == 1);
    CHECK(p.stats().batches == 1);
}

TEST_CASE("pull: an empty stream times out after the timeout, not before") {
    rill::PullStream stream;
    std::string out = "stale";
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(stream.pull(out, 50ms) == rill::PullStatus::timeout);
    CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);
    CHECK(out.empty());
}

TEST_CASE("pull: close() ends the stream after the queued bytes") {
    int closes = 0;
    rill::ProducerOptions cb;
    cb.on_close = [&](rill::CloseReason r) {
        CHECK(r == rill::CloseReason::completed);
        ++closes;
    };
    rill::PullStream stream({}, cb);
    rill::Producer p = stream.producer();
    CHECK(p.send("last") == rill::SendStatus::queued);
    CHECK(p.close() == rill::CloseStatus::ok);
    std::string out;
    CHECK(stream.pull(out, 0ms) == rill::PullStatus::data);
    CHECK(out == "last");
    CHECK(closes == 0);
    CHECK(stream.pull(out, 0ms) == rill::PullStatus::end);
    CHECK(closes == 1);
    CHECK(stream.pull(out, 0ms) == rill::PullStatus::end);
    CHECK(closes == 1);
    stream.finish(rill::CloseReason::peer_closed);  // too late: the stream already ended
    CHECK(closes == 1);
    CHECK(stream.close_reason() == rill::CloseReason::completed);
    CHECK(p.send("x") == rill::SendStatus::closed);
}

TEST_CASE("pull: finish() by the worker tells the producers") {
    std::vector<rill::CloseReason> reasons;
    rill::ProducerOptions cb;
    cb.on_close = [&](rill::CloseReason r) { reasons.push_back(r); };
    rill::PullStream stream({}, cb);
    rill::Producer p = stream.producer();
    CHECK(p.send("unsent") == rill::SendStatus::queued);
    stream.finish(rill::CloseReason::peer_closed);
    CHECK(reasons == std::vector<rill::CloseReason>{rill::CloseReason::peer_closed});
    CHECK(p.ended());
    CHECK(p.stats().parts_dropped == 1);
    CHECK(p.send("x") == rill::SendStatus::closed);
    std::string out;
    CHECK(stream.pull(out, 0ms) == rill::PullStatus::closed);
    CHECK(p.wait_writable(1h) == rill::WaitStatus::closed);
}

TEST_CASE("pull: abort() from a producer ends the stream as closed") {
    rill::PullStream stream;
    rill::Producer p = stream.producer();
    CHECK(p.send("x") == rill::SendStatus::queued);
    p.abort();
    std::string out;
    CHECK(stream.pull(out, 0ms) == rill::PullStatus::closed);
    CHECK(p.close_reason() == rill::CloseReason::aborted);
}

TEST_CASE("pull: the watermarks bound the queue and pulling makes it writable again") {
    rill::BodyOptions o;
    o.high_water = 8;
    o.low_water = 2;
    int writable = 0;
    rill::ProducerOptions cb;
    cb.on_writable = [&] { ++writable; };
    rill::PullStream stream(o, cb);
    rill::Producer p = stream.producer();
    CHECK(p.send("12345") == rill::SendStatus::queued);
    CHECK(p.send("6789") == rill::SendStatus::backpressure);
    CHECK(p.wait_writable(1ms) == rill::WaitStatus::timeout);
    std::string out;
    CHECK(stream.pull(out, 0ms) == rill::PullStatus::data);
    CHECK(writable == 1);
    CHECK(p.wait_writable(0ms) == rill::WaitStatus::ready);

    o.overflow = rill::OverflowPolicy::reject;
    rill::PullStream strict(o);
    rill::Producer q = strict.producer();
    CHECK(q.send("12345678") == rill::SendStatus::queued);
    CHECK(q.send("9") == rill::SendStatus::would_block);
    CHECK(strict.pull(out, 0ms) == rill::PullStatus::data);
    CHECK(out == "12345678");
}

TEST_CASE("pull: a waiting worker wakes as soon as a producer thread sends, not at the timeout") {
    rill::PullStream stream;
    rill::Producer p = stream.producer();
    std::thread producer([p]() mutable {
        std::this_thread::sleep_for(20ms);
        (void)p.send("ping");
        std::this_thread::sleep_for(20ms);
        (void)p.close();
    });
    std::string out;
    std::string got;
    const auto t0 = std::chrono::steady_clock::now();
    rill::PullStatus s = rill::PullStatus::timeout;
    for (int i = 0; i < 100 && s != rill::PullStatus::end; ++i) {
        s = stream.pull(out, 10s);
        got += out;
    }
    producer.join();
    CHECK(s == rill::PullStatus::end);
    CHECK(got == "ping");
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}
