#ifndef RILL_SINK_HPP
#define RILL_SINK_HPP

// The Sink requirement: what a server's transport must offer a DeferredBody.
// docs/sink.md holds the table of valid expressions; this header turns a
// wrong type into one readable compile error per missing member.

#include <cstddef>
#include <type_traits>
#include <utility>

#include "rill/buffer.hpp"
#include "rill/status.hpp"

namespace rill {
namespace detail {

template <class S, class = void>
struct has_write : std::false_type {};
template <class S>
struct has_write<S, std::void_t<decltype(std::declval<S&>().write(
                        std::declval<const ConstBuffer*>(), std::declval<std::size_t>()))>>
    : std::is_convertible<decltype(std::declval<S&>().write(std::declval<const ConstBuffer*>(),
                                                            std::declval<std::size_t>())),
                          WriteResult> {};

template <class S, class = void>
struct has_finish : std::false_type {};
template <class S>
struct has_finish<S, std::void_t<decltype(std::declval<S&>().finish(CloseReason::completed))>>
    : std::true_type {};

template <class S, class = void>
struct completes_later : std::false_type {};
template <class S>
struct completes_later<S, std::void_t<decltype(S::completes_later)>>
    : std::bool_constant<static_cast<bool>(S::completes_later)> {};

}  // namespace detail

/// True when S declares `static constexpr bool completes_later = true;`: its write() may
/// answer WriteResult::pending and report the end through Body::complete_write (docs/sink.md).
template <class S>
inline constexpr bool sink_completes_later_v = detail::completes_later<S>::value;

/// True when S meets the Sink requirement (see docs/sink.md).
template <class S>
inline constexpr bool is_sink_v = detail::has_write<S>::value && detail::has_finish<S>::value &&
                                  std::is_move_constructible_v<S> && !std::is_reference_v<S>;

#if defined(__cpp_concepts) && __cpp_concepts >= 201907L
/// C++20 spelling of is_sink_v, for constraining your own templates.
template <class S>
concept Sink = is_sink_v<S>;
#endif

namespace detail {

// One static_assert per member, so the first line of the error names what is missing.
template <class S>
struct sink_check {
    static_assert(!std::is_reference_v<S>, "rill: the Sink type is not a rill Sink: pass a value type, not a reference");
    static_assert(has_write<S>::value,
                  "rill: the Sink type is not a rill Sink: it needs a member "
                  "`rill::WriteResult write(const rill::ConstBuffer* buffers, std::size_t count)`");
    static_assert(has_finish<S>::value,
                  "rill: the Sink type is not a rill Sink: it needs a member "
                  "`void finish(rill::CloseReason reason)`");
    static_assert(std::is_move_constructible_v<S>,
                  "rill: the Sink type is not a rill Sink: it must be move constructible");
    static constexpr bool value = true;
};

}  // namespace detail
}  // namespace rill

#endif  // RILL_SINK_HPP
