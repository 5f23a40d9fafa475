#ifndef RILL_FUNCTION_SINK_HPP
#define RILL_FUNCTION_SINK_HPP

// Adapts any transport (an Asio socket, a libuv stream, an HTTP/2 stream) to
// the Sink requirement with two callables, so no adapter class is needed.

#include <cstddef>
#include <type_traits>
#include <utility>

#include "rill/buffer.hpp"
#include "rill/status.hpp"

namespace rill {
namespace detail {
struct IgnoreFinish {
    void operator()(CloseReason) const noexcept {}
};
}  // namespace detail

/// A Sink made of a write callable `WriteResult(const ConstBuffer*, std::size_t)` and
/// an optional finish callable `void(CloseReason)`.
template <class Write, class Finish = detail::IgnoreFinish>
class FunctionSink {
    static_assert(std::is_invocable_r_v<WriteResult, Write&, const ConstBuffer*, std::size_t>,
                  "rill::FunctionSink: the write callable must be invocable as "
                  "`rill::WriteResult(const rill::ConstBuffer*, std::size_t)`");
    static_assert(std::is_invocable_v<Finish&, CloseReason>,
                  "rill::FunctionSink: the finish callable must be invocable as `void(rill::CloseReason)`");

public:
    explicit FunctionSink(Write write, Finish finish = Finish{})
        : write_(std::move(write)), finish_(std::move(finish)) {}

    WriteResult write(const ConstBuffer* bufs, std::size_t count) { return write_(bufs, count); }
    void finish(CloseReason reason) { finish_(reason); }

private:
    Write write_;
    Finish finish_;
};

/// Builds a FunctionSink, deducing the callables' types.
template <class Write, class Finish = detail::IgnoreFinish>
FunctionSink<std::decay_t<Write>, std::decay_t<Finish>> make_function_sink(Write&& write,
                                                                           Finish&& finish = Finish{}) {
    return FunctionSink<std::decay_t<Write>, std::decay_t<Finish>>(std::forward<Write>(write),
                                                                   std::forward<Finish>(finish));
}

}  // namespace rill

#endif  // RILL_FUNCTION_SINK_HPP
