// rill/uv.hpp compiles on its own (and twice), and its templates instantiate.
#include <rill/uv.hpp>
#include <rill/uv.hpp>

namespace {
[[maybe_unused]] void instantiate(uv_stream_t* stream, uv_loop_t* loop) {
    rill::UvConnection connection(stream, nullptr);
    const rill::BodyPtr body = connection.start_response([](rill::UvEnd) {});
    auto plain = rill::make_deferred_body<rill::UvSink>();
    plain->each(rill::UvSink(stream, plain));
    rill::UvTurn turn(loop);
    static_assert(rill::sink_completes_later_v<rill::UvSink>, "UvSink completes its writes later");
}
}  // namespace
