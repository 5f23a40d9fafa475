// The Sink requirement as a trait (and a C++20 concept): the types rill ships
// meet it, types that miss a member do not. tests/compile_fail/ checks the message.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <string>

#include "test_sinks.hpp"

namespace {

struct OnlyWrite {
    rill::WriteResult write(const rill::ConstBuffer*, std::size_t) { return {}; }
};
struct OnlyFinish {
    void finish(rill::CloseReason) {}
};
struct WrongWrite {
    int write(const rill::ConstBuffer*, std::size_t) { return 0; }
    void finish(rill::CloseReason) {}
};
struct NotMovable {
    NotMovable() = default;
    NotMovable(NotMovable&&) = delete;
    rill::WriteResult write(const rill::ConstBuffer*, std::size_t) { return {}; }
    void finish(rill::CloseReason) {}
};

struct WriteFn {
    rill::WriteResult operator()(const rill::ConstBuffer*, std::size_t) const { return {}; }
};
using Lambda = rill::FunctionSink<WriteFn>;

}  // namespace

static_assert(rill::is_sink_v<rill::StringSink>);
static_assert(rill::is_sink_v<rill::PosixSocketSink>);
static_assert(rill::is_sink_v<Lambda>);
static_assert(rill::is_sink_v<rill_test::ScriptedSink>);
static_assert(!rill::is_sink_v<int>);
static_assert(!rill::is_sink_v<std::string>);
static_assert(!rill::is_sink_v<OnlyWrite>);
static_assert(!rill::is_sink_v<OnlyFinish>);
static_assert(!rill::is_sink_v<WrongWrite>);
static_assert(!rill::is_sink_v<NotMovable>);
static_assert(!rill::is_sink_v<rill::StringSink&>);

#if defined(__cpp_concepts) && __cpp_concepts >= 201907L
static_assert(rill::Sink<rill::StringSink>);
static_assert(!rill::Sink<OnlyWrite>);
#endif

// What the streaming path promises not to throw, and what it reports as values.
static_assert(noexcept(std::declval<rill::PosixSocketSink&>().write(nullptr, 0)));
static_assert(noexcept(std::declval<rill::DeferredBody<rill::StringSink>&>().bytes_queued()));
static_assert(std::is_same_v<decltype(std::declval<rill::DeferredBody<rill::StringSink>&>().send("")),
                             rill::SendStatus>);

TEST_CASE("a FunctionSink adapts any transport with a lambda") {
    std::string out;
    rill::CloseReason seen = rill::CloseReason::aborted;
    auto sink = rill::make_function_sink(
        [&out](const rill::ConstBuffer* b, std::size_t n) {
            for (std::size_t i = 0; i < n; ++i) out.append(b[i].data, b[i].size);
            return rill::WriteResult::ok(rill::buffer_size(b, n));
        },
        [&seen](rill::CloseReason r) { seen = r; });
    rill::DeferredBody<decltype(sink)> body;
    body.each(std::move(sink));
    CHECK(body.send("via lambda") == rill::SendStatus::written);
    body.close();
    CHECK(out == "via lambda");
    CHECK(seen == rill::CloseReason::completed);
}

TEST_CASE("every status has a readable name") {
    CHECK(std::string(rill::to_string(rill::SendStatus::backpressure)) == "backpressure");
    CHECK(std::string(rill::to_string(rill::CloseReason::peer_closed)) == "peer closed");
    CHECK(std::string(rill::to_string(rill::BodyState::closing)) == "closing");
    CHECK(std::string(rill::to_string(rill::CloseStatus::trailers_dropped)) == "trailers dropped");
    CHECK(std::string(rill::to_string(rill::HeadStatus::invalid_field_value)) ==
          "header value holds a control character");
    CHECK(std::string(rill::to_string(rill::Framing::close_delimited)) == "close-delimited");
}
