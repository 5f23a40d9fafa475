// rill::Producer driven from one thread: the waker only records tasks, the test
// runs them as the loop would, so every wake-up and every batch is counted.

#include <doctest/doctest.h>

#include <rill/producer.hpp>
#include <rill/rill.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_sinks.hpp"

namespace {

using Body = rill::DeferredBody<rill_test::ScriptedSink>;

struct Loop {
    std::vector<std::function<void()>> tasks;
    std::size_t wakeups = 0;
    auto waker() {
        return [this](std::function<void()> task) {
            ++wakeups;
            tasks.push_back(std::move(task));
        };
    }
    std::size_t run() {
        std::vector<std::function<void()>> batch;
        batch.swap(tasks);
        for (auto& t : batch) t();
        return batch.size();
    }
};

struct Fixture {
    Loop loop;
    rill_test::ScriptedSink sink;
    std::shared_ptr<Body> body;
    explicit Fixture(rill::BodyOptions opts = {}) : body(rill::make_deferred_body<rill_test::ScriptedSink>(opts)) {
        body->each(sink);
    }
};

rill::BodyOptions small(rill::OverflowPolicy policy = rill::OverflowPolicy::queue) {
    rill::BodyOptions o;
    o.high_water = 16;
    o.low_water = 4;
    o.overflow = policy;
    return o;
}

}  // namespace

TEST_CASE("producer: one wake-up per batch, the batch leaves in one write") {
    Fixture f;
    rill::Producer p = rill::make_producer(f.body, f.loop.waker());
    CHECK(p.send("a") == rill::SendStatus::queued);
    CHECK(p.send("bc") == rill::SendStatus::queued);
    CHECK(p.send("def") == rill::SendStatus::queued);
    CHECK(f.loop.wakeups == 1);
    CHECK(f.sink.state().bytes.empty());  // nothing reaches the body before the loop runs
    CHECK(f.loop.run() == 1);
    CHECK(f.sink.state().bytes == "abcdef");
    CHECK(f.sink.state().writes == 1);
    // The next part starts a new batch and wakes again.
    CHECK(p.send("g") == rill::SendStatus::queued);
    CHECK(f.loop.wakeups == 2);
    f.loop.run();
    CHECK(f.sink.state().bytes == "abcdefg");
    const rill::ProducerStats st = p.stats();
    CHECK(st.wakeups == 2);
    CHECK(st.batches == 2);
    CHECK(st.parts_accepted == 4);
    CHECK(p.bytes_queued() == 0);
}

TEST_CASE("producer: copies share the stream and keep each caller's order") {
    Fixture f;
    rill::Producer a = rill::make_producer(f.body, f.loop.waker());
    rill::Producer b = a;
    CHECK(a.send("1") == rill::SendStatus::queued);
    CHECK(b.send("2") == rill::SendStatus::queued);
    CHECK(a.send("3") == rill::SendStatus::queued);
    CHECK(f.loop.wakeups == 1);
    f.loop.run();
    CHECK(f.sink.state().bytes == "123");
}

TEST_CASE("producer: a chunked body gets one chunk per batch and close() ends it after the queued parts") {
    Fixture f;
    rill::CloseReason seen = rill::CloseReason::aborted;
    int closes = 0;
    rill::ProducerOptions cb;
    cb.on_close = [&](rill::CloseReason r) {
        seen = r;
        ++closes;
    };
    REQUIRE(f.body->respond(rill::Request{"GET", 1, {}, {}}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    const std::size_t head = f.sink.state().bytes.size();
    rill::Producer p = rill::make_producer(f.body, f.loop.waker(), cb);
    CHECK(p.send("hello ") == rill::SendStatus::queued);
    CHECK(p.send("world") == rill::SendStatus::queued);
    CHECK(p.close() == rill::CloseStatus::ok);
    CHECK(p.close() == rill::CloseStatus::already_closed);
    CHECK(p.send("late") == rill::SendStatus::closed);  // after close(): refused
    CHECK(f.loop.wakeups == 1);
    f.loop.run();
    CHECK(f.sink.state().bytes.substr(head) == "b\r\nhello world\r\n0\r\n\r\n");
    CHECK(closes == 1);
    CHECK(seen == rill::CloseReason::completed);
    CHECK(p.ended());
    CHECK(p.close_reason() == rill::CloseReason::completed);
    CHECK(p.stats().parts_refused == 1);
}

TEST_CASE("producer: close(trailers) from a producer ends a chunked body with them") {
    Fixture f;
    REQUIRE(f.body->respond(rill::Request{"GET", 1, {}, {}}, rill::ResponseHead(200).header("Trailer", "X-Sum")) ==
            rill::HeadStatus::ok);
    rill::Producer p = rill::make_producer(f.body, f.loop.waker());
    CHECK(p.send("x") == rill::SendStatus::queued);
    CHECK(p.close(rill::Fields{{"X-Sum", "1"}}) == rill::CloseStatus::ok);
    f.loop.run();
    const std::string& bytes = f.sink.state().bytes;
    const std::string tail = "1\r\nx\r\n0\r\nX-Sum: 1\r\n\r\n";
    REQUIRE(bytes.size() > tail.size());
    CHECK(bytes.substr(bytes.size() - tail.size()) == tail);
}

TEST_CASE("producer: the shared queue answers backpressure above high water, queue policy keeps the part") {
    Fixture f(small());
    rill::Producer p = rill::make_producer(f.body, f.loop.waker());
    CHECK(p.send("0123456789") == rill::SendStatus::queued);
    CHECK(p.send("0123456789") == rill::SendStatus::backpressure);  // 20 > 16, kept
    CHECK(p.bytes_queued() == 20);
    CHECK(p.wait_writable(std::chrono::milliseconds(1)) == rill::WaitStatus::timeout);
    f.loop.run();
    CHECK(f.sink.state().bytes.size() == 20);
    CHECK(p.wait_writable(std::chrono::milliseconds(0)) == rill::WaitStatus::ready);
}

TEST_CASE("producer: reject policy refuses once the queue holds high water") {
    Fixture f(small(rill::OverflowPolicy::reject));
    rill::Producer p = rill::make_producer(f.body, f.loop.waker());
    CHECK(p.send("0123456789abcdef") == rill::SendStatus::queued);   // exactly 16: still kept
    CHECK(p.send("x") == rill::SendStatus::would_block);              // refused, not kept
    CHECK(p.bytes_queued() == 16);
    const rill::ProducerStats st = p.stats();
    CHECK(st.parts_refused == 1);
    CHECK(st.parts_accepted == 1);
    f.loop.run();
    CHECK(f.sink.state().bytes == "0123456789abcdef");
    CHECK(p.send("x") == rill::SendStatus::queued);
}

TEST_CASE("producer: a body with the reject policy refuses a batch: it is kept, and sends are refused until the drain") {
    Fixture f(small(rill::OverflowPolicy::reject));
    f.sink.state().blocked = true;
    rill::Producer p = rill::make_producer(f.body, f.loop.waker());
    CHECK(p.send("0123456789abcdef") == rill::SendStatus::queued);
    f.loop.run();  // into the body, which cannot write: 16 bytes queued there, not above its mark
    CHECK(p.send("0123456789") == rill::SendStatus::queued);
    f.loop.run();  // the body refuses it (would_block): it goes back to the shared queue
    CHECK(f.body->bytes_queued() == 16);
    CHECK(p.bytes_queued() == 10);
    CHECK(p.send("x") == rill::SendStatus::would_block);  // refused: the body is full
    CHECK(p.bytes_queued() == 10);
    CHECK(f.loop.tasks.empty());  // paused: nobody woke the loop
    f.sink.state().blocked = false;
    f.body->flush();  // on_drain: the refused batch goes out now, nothing lost
    CHECK(p.send("x") == rill::SendStatus::queued);
    f.loop.run();
    CHECK(f.sink.state().bytes == "0123456789abcdef0123456789x");
    CHECK(p.stats().parts_dropped == 0);
}

TEST_CASE("producer: a refused batch is not stranded when the uncork itself drains the body") {
    Fixture f(small(rill::OverflowPolicy::reject));
    f.sink.state().blocked = true;
    rill::Producer p = rill::make_producer(f.body, f.loop.waker());
    CHECK(p.send("0123456789abcdef") == rill::SendStatus::queued);
    f.loop.run();
    CHECK(f.body->bytes_queued() == 16);
    // The transport became writable, but the server has not called flush() yet.
    f.sink.state().blocked = false;
    CHECK(p.send("XYZ") == rill::SendStatus::queued);
    f.loop.run();  // refused (would_block) under the cork; the uncork writes and fires on_drain
    CHECK(f.sink.state().bytes == "0123456789abcdefXYZ");
    CHECK(p.bytes_queued() == 0);
    CHECK(p.send("!") == rill::SendStatus::queued);
    f.loop.run();
    CHECK(f.sink.state().bytes == "0123456789abcdefXYZ!");
}

TEST_CASE("producer: a full body pauses the draining and on_drain resumes it and on_writable fires once") {
    Fixture f(small());
    int writable = 0;
    rill::ProducerOptions cb;
    cb.on_writable = [&] { ++writable; };
    f.sink.state().blocked = true;
    rill::Producer p = rill::make_producer(f.body, f.loop.waker(), cb);
    CHECK(p.send("0123456789abcdefXYZ") == rill::SendStatus::backpressure);
    f.loop.run();
    CHECK(f.body->bytes_queued() == 19);  // in the body now, above its mark
    CHECK(p.bytes_queued() == 0);
    // The body answered backpressure: producers are told to wait and do not wake the loop.
    CHECK(p.send("more") == rill::SendStatus::backpressure);
    CHECK(p.send("again") == rill::SendStatus::backpressure);
    CHECK(f.loop.wakeups == 1);
    CHECK(f.loop.tasks.empty());
    CHECK(writable == 0);
    CHECK(p.wait_writable(std::chrono::milliseconds(1)) == rill::WaitStatus::timeout);
    // The transport drains: the body's on_drain hands over what waited, no wake-up needed.
    f.sink.state().blocked = false;
    f.body->flush();
    CHECK(f.sink.state().bytes == "0123456789abcdefXYZmoreagain");
    CHECK(writable == 1);
    CHECK(f.loop.wakeups == 1);
    CHECK(p.wait_writable(std::chrono::milliseconds(0)) == rill::WaitStatus::ready);
    CHECK(p.send("z") == rill::SendStatus::queued);
    CHECK(f.loop.wakeups == 2);
}

TEST_CASE("producer: a client that leaves ends the stream and queued parts count as dropped") {
    Fixture f;
    std::vector<rill::CloseReason> reasons;
    rill::ProducerOptions cb;
    cb.on_close = [&](rill::CloseReason r) { reasons.push_back(r); };
    rill::Producer p = rill::make_producer(f.body, f.loop.waker(), cb);
    CHECK(p.send("one") == rill::SendStatus::queued);
    CHECK(p.send("two") == rill::SendStatus::queued);
    f.sink.state().fail_with = rill::WriteStatus::closed;
    f.loop.run();
    CHECK(reasons == std::vector<rill::CloseReason>{rill::CloseReason::peer_closed});
    CHECK(p.ended());
    CHECK(p.close_reason() == rill::CloseReason::peer_closed);
    CHECK(p.stats().parts_dropped == 2);
    CHECK(p.send("three") == rill::SendStatus::closed);
    CHECK(p.wait_writable(std::chrono::hours(1)) == rill::WaitStatus::closed);  // returns at once
    CHECK(f.loop.wakeups == 1);  // no wake-up after the end
}

TEST_CASE("producer: abort() from a producer reaches even a paused body") {
    Fixture f(small());
    f.sink.state().blocked = true;
    rill::Producer p = rill::make_producer(f.body, f.loop.waker());
    CHECK(p.send("0123456789abcdefXYZ") == rill::SendStatus::backpressure);
    f.loop.run();
    CHECK(p.send("q") == rill::SendStatus::backpressure);  // paused: no wake-up
    CHECK(f.loop.tasks.empty());
    p.abort();
    CHECK(f.loop.run() == 1);
    CHECK(f.body->state() == rill::BodyState::closed);
    CHECK(f.body->close_reason() == rill::CloseReason::aborted);
    CHECK(p.send("r") == rill::SendStatus::closed);
}

TEST_CASE("producer: outlives its body") {
    Loop loop;
    rill::Producer p;
    CHECK(p.send("x") == rill::SendStatus::closed);  // an empty handle feeds nothing
    {
        auto body = rill::make_deferred_body<rill::StringSink>();
        body->each(rill::StringSink());
        p = rill::make_producer(body, loop.waker());
        CHECK(p.send("x") == rill::SendStatus::queued);
    }  // destroyed without ending: no on_close; the drain finds it gone
    CHECK(loop.run() == 1);
    CHECK(p.ended());
    CHECK(p.close_reason() == rill::CloseReason::aborted);
    CHECK(p.send("y") == rill::SendStatus::closed);
    CHECK(loop.wakeups == 1);

    // A body that completed and was dropped: sends answer closed without waking anyone.
    rill::Producer q;
    {
        auto body = rill::make_deferred_body<rill::StringSink>();
        body->each(rill::StringSink());
        q = rill::make_producer(body, loop.waker());
        body->close();
    }
    CHECK(q.ended());
    CHECK(q.send("z") == rill::SendStatus::closed);
    CHECK(loop.wakeups == 1);
}

TEST_CASE("producer: parts and close() from handles dropped before the loop ran still arrive") {
    Fixture f;
    {
        rill::Producer p = rill::make_producer(f.body, f.loop.waker());
        CHECK(p.send("last words") == rill::SendStatus::queued);
        CHECK(p.close() == rill::CloseStatus::ok);
    }  // every handle is gone; the wake-up task is still queued
    CHECK(f.loop.run() == 1);
    CHECK(f.sink.state().bytes == "last words");
    CHECK(f.body->state() == rill::BodyState::closed);
    CHECK(f.body->close_reason() == rill::CloseReason::completed);
}

TEST_CASE("producer: parts sent before the sink arrives wait in the body") {
    Loop loop;
    auto body = rill::make_deferred_body<rill::StringSink>();
    rill::Producer p = rill::make_producer(body, loop.waker());
    CHECK(p.send("early") == rill::SendStatus::queued);
    loop.run();
    rill::StringSink sink;
    body->each(sink);
    CHECK(sink.str() == "early");
}
