// rill::AwaitableBody (C++20). Under C++17 rill/coro.hpp defines only
// RILL_HAS_COROUTINES (0) and this file checks just that.

#include <doctest/doctest.h>

#include <rill/coro.hpp>
#include <rill/rill.hpp>

#if RILL_HAS_COROUTINES

#include <coroutine>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "test_sinks.hpp"

namespace {

// The smallest task that can run a producer: starts at once, keeps its frame
// until the Task object goes, records that it finished.
struct Task {
    struct promise_type {
        Task get_return_object() { return Task{std::coroutine_handle<promise_type>::from_promise(*this)}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() { std::terminate(); }
    };
    explicit Task(std::coroutine_handle<promise_type> h) : handle(h) {}
    Task(Task&& o) noexcept : handle(std::exchange(o.handle, nullptr)) {}
    Task(const Task&) = delete;
    ~Task() {
        if (handle) handle.destroy();
    }
    bool done() const { return handle.done(); }
    std::coroutine_handle<promise_type> handle;
};

using Body = rill::DeferredBody<rill_test::ScriptedSink>;

Task produce(std::shared_ptr<Body> body, int parts, std::vector<rill::SendStatus>& results, int& sent) {
    rill::AwaitableBody stream(body);
    for (int i = 0; i < parts; ++i) {
        const rill::SendStatus s = co_await stream.send(std::string(8, static_cast<char>('a' + i)));
        results.push_back(s);
        if (s == rill::SendStatus::closed) co_return;
        ++sent;
    }
    body->close();
}

rill::BodyOptions small(rill::OverflowPolicy policy = rill::OverflowPolicy::queue) {
    rill::BodyOptions o;
    o.high_water = 16;
    o.low_water = 4;
    o.overflow = policy;
    return o;
}

}  // namespace

TEST_CASE("coro: a producer loop suspends above high water and resumes on drain") {
    auto body = rill::make_deferred_body<rill_test::ScriptedSink>(small());
    rill_test::ScriptedSink sink;
    sink.state().blocked = true;
    body->each(sink);
    std::vector<rill::SendStatus> results;
    int sent = 0;
    Task t = produce(body, 6, results, sent);
    // 8 + 8 = 16 is not above the mark; the third part (24) is: the loop waits there.
    CHECK(sent == 2);
    CHECK(!t.done());
    CHECK(body->bytes_queued() == 24);
    sink.state().blocked = false;
    body->flush();  // drains, on_drain resumes the loop, which runs to the end
    CHECK(t.done());
    CHECK(sent == 6);
    CHECK(sink.state().bytes == "aaaaaaaabbbbbbbbccccccccddddddddeeeeeeeeffffffff");
    CHECK(body->state() == rill::BodyState::closed);
    CHECK(results.size() == 6);
    CHECK(results[2] == rill::SendStatus::queued);  // waited for, then reported kept
}

TEST_CASE("coro: a body that ends while the producer waits resumes it with closed") {
    auto body = rill::make_deferred_body<rill_test::ScriptedSink>(small());
    rill_test::ScriptedSink sink;
    sink.state().blocked = true;
    body->each(sink);
    std::vector<rill::SendStatus> results;
    int sent = 0;
    Task t = produce(body, 6, results, sent);
    CHECK(!t.done());
    body->abort(rill::CloseReason::peer_closed);
    CHECK(t.done());
    CHECK(sent == 2);
    REQUIRE(!results.empty());
    CHECK(results.back() == rill::SendStatus::closed);
}

TEST_CASE("coro: under the reject policy a refused part waits and is sent once more") {
    auto body = rill::make_deferred_body<rill_test::ScriptedSink>(small(rill::OverflowPolicy::reject));
    rill_test::ScriptedSink sink;
    sink.state().blocked = true;
    body->each(sink);
    std::vector<rill::SendStatus> results;
    int sent = 0;
    Task t = produce(body, 4, results, sent);
    CHECK(sent == 2);  // the third part was refused: nothing of it was kept
    CHECK(body->bytes_queued() == 16);
    sink.state().blocked = false;
    body->flush();
    CHECK(t.done());
    CHECK(sink.state().bytes == "aaaaaaaabbbbbbbbccccccccdddddddd");
}

TEST_CASE("coro: a coroutine destroyed while it waits leaves the body's callbacks harmless") {
    auto body = rill::make_deferred_body<rill_test::ScriptedSink>(small());
    rill_test::ScriptedSink sink;
    sink.state().blocked = true;
    body->each(sink);
    std::vector<rill::SendStatus> results;
    int sent = 0;
    {
        Task t = produce(body, 6, results, sent);
        CHECK(!t.done());
    }
    sink.state().blocked = false;
    body->flush();  // on_drain finds nobody to resume
    CHECK(sent == 2);
    CHECK(sink.state().bytes.size() == 24);
}

#else

TEST_CASE("coro: compiled as C++17, rill/coro.hpp offers nothing (RILL_HAS_COROUTINES is 0)") {
    CHECK(RILL_HAS_COROUTINES == 0);
#if defined(__cplusplus) && __cplusplus >= 202002L && defined(__cpp_impl_coroutine)
    FAIL("a C++20 compiler with coroutines must see RILL_HAS_COROUTINES == 1");
#endif
}

#endif
