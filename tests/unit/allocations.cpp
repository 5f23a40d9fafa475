// The fast path allocates nothing: a part the sink takes at once is framed on
// the stack and written from the caller's buffer. Counted with a replaced
// global operator new, armed only around the code under test.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <cstdlib>
#include <new>
#include <string>

namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;

void* counted_alloc(std::size_t n) {
    if (counting) ++allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}

struct CountAllocations {
    CountAllocations() {
        allocations = 0;
        counting = true;
    }
    ~CountAllocations() { counting = false; }
    std::size_t count() const { return allocations; }
};
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
// The nothrow forms too: left to the runtime, they would pair its allocator with
// the free() above, which ASan reports as a mismatch.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    if (counting) ++allocations;
    return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept { return operator new(n, tag); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

TEST_CASE("no heap allocation per send when the sink takes the bytes at once") {
    std::size_t taken = 0;
    auto sink = rill::make_function_sink([&taken](const rill::ConstBuffer* b, std::size_t n) {
        taken += rill::buffer_size(b, n);
        return rill::WriteResult::ok(rill::buffer_size(b, n));
    });
    auto body = rill::make_deferred_body<decltype(sink)>();
    body->each(sink);
    const std::string part(1000, 'p');

    SUBCASE("chunked") {
        REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
        const std::size_t before = taken;
        {
            CountAllocations guard;
            for (int i = 0; i < 1000; ++i) REQUIRE(body->send(part) == rill::SendStatus::written);
            CHECK(body->close() == rill::CloseStatus::ok);
            CHECK(guard.count() == 0);
        }
        CHECK(taken - before == 1000 * (part.size() + 7) + 5);  // "3e8\r\n" + data + "\r\n", then "0\r\n\r\n"
    }
    SUBCASE("raw") {
        CountAllocations guard;
        for (int i = 0; i < 1000; ++i) REQUIRE(body->send(part) == rill::SendStatus::written);
        CHECK(guard.count() == 0);
        CHECK(taken == 1000 * part.size());
    }
    SUBCASE("the counter does see a queued part") {
        rill::DeferredBody<rill::StringSink> waiting;  // no sink yet: the part must be copied
        CountAllocations guard;
        CHECK(waiting.send(part) == rill::SendStatus::queued);
        CHECK(guard.count() > 0);
    }
}

TEST_CASE("no heap allocation in the steady state of small parts gathered per loop turn") {
    std::size_t taken = 0;
    auto sink = rill::make_function_sink([&taken](const rill::ConstBuffer* b, std::size_t n) {
        taken += rill::buffer_size(b, n);
        return rill::WriteResult::ok(rill::buffer_size(b, n));
    });
    auto body = rill::make_deferred_body<decltype(sink)>();
    body->each(sink);
    REQUIRE(body->respond(rill::Request{}, rill::ResponseHead(200)) == rill::HeadStatus::ok);
    const std::string part(64, 'p');
    rill::Turn turn;
    const auto one_turn = [&] {
        for (int i = 0; i < 64; ++i) REQUIRE(body->send(std::string_view(part)) == rill::SendStatus::queued);
        turn.end();
    };
    one_turn();  // the first turn sizes the queue's storage and the turn's list
    const std::size_t before = taken;
    {
        CountAllocations count;
        for (int t = 0; t < 100; ++t) one_turn();
        CHECK(count.count() == 0);
    }
    CHECK(taken - before == 100u * 64u * (64u + 4u + 2u));  // "40\r\n" + 64 bytes + CRLF each

    SUBCASE("and with Batch") {
        {
            rill::Batch<rill::Body> warm(*body);
            for (int i = 0; i < 64; ++i) (void)body->send(std::string_view(part));
        }
        CountAllocations count;
        for (int t = 0; t < 100; ++t) {
            rill::Batch<rill::Body> batch(*body);
            for (int i = 0; i < 64; ++i) (void)body->send(std::string_view(part));
        }
        CHECK(count.count() == 0);
    }
}
