// rill v0.1.0 - single-header distribution
//
// This file is generated from include/ by scripts/amalgamate.py.
// Do not edit it: edit the headers under include/ instead and regenerate.
//
// Copyright (c) 2026 the rill authors. Licensed under the MIT License (see LICENSE).
// SPDX-License-Identifier: MIT

#ifndef RILL_SINGLE_INCLUDE_RILL_HPP
#define RILL_SINGLE_INCLUDE_RILL_HPP

#ifndef RILL_RILL_HPP
#define RILL_RILL_HPP

// rill: deferred, streaming HTTP response bodies. Include this one header.

// #include <rill/version.hpp>
// rill version information.
//
// The build system (CMakeLists.txt) and scripts/amalgamate.py read these
// three lines, so keep them as plain `#define NAME number` definitions.
#ifndef RILL_VERSION_HPP
#define RILL_VERSION_HPP

#define RILL_VERSION_MAJOR 0
#define RILL_VERSION_MINOR 1
#define RILL_VERSION_PATCH 0

#endif  // RILL_VERSION_HPP
// #include <rill/status.hpp>
#ifndef RILL_STATUS_HPP
#define RILL_STATUS_HPP

// The values rill reports instead of throwing: every outcome on the
// streaming path is an enum the caller can switch on and print.

#include <cstdint>

namespace rill {

/// What became of one `send()`.
enum class SendStatus : std::uint8_t {
    written,          ///< handed to the sink at once, nothing queued
    queued,           ///< kept in the body's queue (no sink yet, or the sink is busy)
    backpressure,     ///< queued, but the queue is above the high-water mark: wait for on_drain
    would_block,      ///< refused under the reject policy: the queue is full, nothing was kept
    length_exceeded,  ///< refused: it would pass the declared Content-Length, nothing was kept
    closed,           ///< the body is closing or finished; the part was dropped
};

/// Why a body ended; reported once through on_close and Sink::finish (neither is called
/// for a body destroyed before it ended).
enum class CloseReason : std::uint8_t {
    completed,    ///< every byte was handed to the sink and the framing was finished
    truncated,    ///< closed short of the declared Content-Length
    peer_closed,  ///< the client went away
    write_error,  ///< the sink failed
    aborted,      ///< the application gave up
    shutdown,     ///< the server is shutting down
    timeout,      ///< the server gave up waiting
};

/// Where a body is in its life.
enum class BodyState : std::uint8_t {
    waiting,  ///< no sink yet: parts are kept until each()
    open,     ///< streaming into the sink
    closing,  ///< close() was called; queued bytes are still going out
    closed,   ///< finished (see close_reason())
};

/// What became of `close()`.
enum class CloseStatus : std::uint8_t {
    ok,                ///< the body ends (now or once the queue drains)
    trailers_dropped,  ///< ends, but this framing cannot carry trailers: they were not sent
    invalid_trailer,   ///< refused: a trailer field is malformed or forbidden; nothing changed
    already_closed,    ///< close() or abort() came earlier; nothing changed
};

/// What became of `respond()`: anything but `ok` means nothing was written.
enum class HeadStatus : std::uint8_t {
    ok,
    invalid_status,           ///< not 200-599, or 101 without an Upgrade to switch to
    invalid_reason,           ///< the reason phrase holds a control character
    invalid_field_name,       ///< a header name is not an RFC 9110 token
    invalid_field_value,      ///< a header value holds CR, LF, NUL or another control character
    transfer_encoding_set,    ///< rill chooses Transfer-Encoding itself; the application may not
    connection_specific_field, ///< HTTP/2: Connection, Keep-Alive, Proxy-Connection, Upgrade (RFC 9113 8.2.2)
    invalid_content_length,   ///< Content-Length is not one decimal number, or appears twice
    content_length_forbidden, ///< Content-Length on a 101, 204 or CONNECT 2xx, or non-zero on 205
    already_started,          ///< respond() after respond(), or after body bytes were sent
    body_closed,              ///< the body was already aborted or closed
};

/// A short English description, for logs and error messages.
constexpr const char* to_string(SendStatus s) noexcept {
    switch (s) {
        case SendStatus::written: return "written";
        case SendStatus::queued: return "queued";
        case SendStatus::backpressure: return "backpressure";
        case SendStatus::would_block: return "would block";
        case SendStatus::length_exceeded: return "length exceeded";
        case SendStatus::closed: return "closed";
    }
    return "unknown";
}

constexpr const char* to_string(CloseReason r) noexcept {
    switch (r) {
        case CloseReason::completed: return "completed";
        case CloseReason::truncated: return "truncated";
        case CloseReason::peer_closed: return "peer closed";
        case CloseReason::write_error: return "write error";
        case CloseReason::aborted: return "aborted";
        case CloseReason::shutdown: return "shutdown";
        case CloseReason::timeout: return "timeout";
    }
    return "unknown";
}

constexpr const char* to_string(BodyState s) noexcept {
    switch (s) {
        case BodyState::waiting: return "waiting";
        case BodyState::open: return "open";
        case BodyState::closing: return "closing";
        case BodyState::closed: return "closed";
    }
    return "unknown";
}

constexpr const char* to_string(CloseStatus s) noexcept {
    switch (s) {
        case CloseStatus::ok: return "ok";
        case CloseStatus::trailers_dropped: return "trailers dropped";
        case CloseStatus::invalid_trailer: return "invalid trailer";
        case CloseStatus::already_closed: return "already closed";
    }
    return "unknown";
}

constexpr const char* to_string(HeadStatus s) noexcept {
    switch (s) {
        case HeadStatus::ok: return "ok";
        case HeadStatus::invalid_status: return "invalid status code";
        case HeadStatus::invalid_reason: return "invalid reason phrase";
        case HeadStatus::invalid_field_name: return "header name is not a token";
        case HeadStatus::invalid_field_value: return "header value holds a control character";
        case HeadStatus::transfer_encoding_set: return "Transfer-Encoding is chosen by rill";
        case HeadStatus::connection_specific_field: return "connection-specific field not allowed in HTTP/2";
        case HeadStatus::invalid_content_length: return "invalid or repeated Content-Length";
        case HeadStatus::content_length_forbidden: return "Content-Length not allowed for this response";
        case HeadStatus::already_started: return "response already started";
        case HeadStatus::body_closed: return "body already closed";
    }
    return "unknown";
}

}  // namespace rill

#endif  // RILL_STATUS_HPP
// #include <rill/buffer.hpp>
#ifndef RILL_BUFFER_HPP
#define RILL_BUFFER_HPP

// The vocabulary between a body and its sink: a list of read-only buffers
// going down, and one WriteResult coming back.

#include <cstddef>
#include <string_view>

namespace rill {

/// A read-only span of bytes owned by the caller for the duration of one Sink::write.
struct ConstBuffer {
    const char* data = nullptr;
    std::size_t size = 0;

    constexpr ConstBuffer() noexcept = default;
    constexpr ConstBuffer(const char* d, std::size_t n) noexcept : data(d), size(n) {}
    constexpr ConstBuffer(std::string_view s) noexcept : data(s.data()), size(s.size()) {}  // NOLINT
    constexpr std::string_view view() const noexcept { return {data, size}; }
};

/// How a sink's write went.
enum class WriteStatus : unsigned char {
    ok,           ///< `bytes` were taken (maybe fewer than offered: the body offers the rest at once)
    would_block,  ///< `bytes` were taken (maybe 0) and no more fit now: the body waits for flush()
    closed,       ///< the peer is gone; the body ends with CloseReason::peer_closed
    error,        ///< the transport failed; the body ends with CloseReason::write_error
    pending,      ///< a completion sink started writing `bytes` and calls Body::complete_write later
};

/// Returned by Sink::write: how many bytes were taken from the front of the buffers, and why it stopped.
struct WriteResult {
    std::size_t bytes = 0;
    WriteStatus status = WriteStatus::ok;
    int error = 0;  ///< errno or a transport-specific code when status is closed or error

    static constexpr WriteResult ok(std::size_t n) noexcept { return {n, WriteStatus::ok, 0}; }
    static constexpr WriteResult would_block(std::size_t n = 0) noexcept {
        return {n, WriteStatus::would_block, 0};
    }
    static constexpr WriteResult closed(int err = 0) noexcept { return {0, WriteStatus::closed, err}; }
    static constexpr WriteResult failed(int err = 0) noexcept { return {0, WriteStatus::error, err}; }
    /// Only from a sink with `completes_later`: the first `n` offered bytes are being written.
    static constexpr WriteResult pending(std::size_t n) noexcept { return {n, WriteStatus::pending, 0}; }
};

/// Sum of the sizes of `count` buffers.
constexpr std::size_t buffer_size(const ConstBuffer* bufs, std::size_t count) noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < count; ++i) n += bufs[i].size;
    return n;
}

}  // namespace rill

#endif  // RILL_BUFFER_HPP
// #include <rill/sink.hpp>
#ifndef RILL_SINK_HPP
#define RILL_SINK_HPP

// The Sink requirement: what a server's transport must offer a DeferredBody.
// docs/sink.md holds the table of valid expressions; this header turns a
// wrong type into one readable compile error per missing member.

#include <cstddef>
#include <type_traits>
#include <utility>

// #include <rill/buffer.hpp>
// #include <rill/status.hpp>

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
// #include <rill/string_sink.hpp>
#ifndef RILL_STRING_SINK_HPP
#define RILL_STRING_SINK_HPP

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

// #include <rill/buffer.hpp>
// #include <rill/status.hpp>

namespace rill {

/// A Sink that appends every byte to a string it shares with its copies, so the
/// caller can keep one copy and read what the body wrote after handing the other over.
class StringSink {
public:
    struct State {
        std::string bytes;
        std::size_t writes = 0;                 ///< number of write() calls that took bytes
        std::optional<CloseReason> finished;    ///< set by finish()
    };

    StringSink() : state_(std::make_shared<State>()) {}

    WriteResult write(const ConstBuffer* bufs, std::size_t count) {
        std::size_t n = 0;
        for (std::size_t i = 0; i < count; ++i) {
            state_->bytes.append(bufs[i].data, bufs[i].size);
            n += bufs[i].size;
        }
        if (n != 0) ++state_->writes;
        return WriteResult::ok(n);
    }

    void finish(CloseReason reason) { state_->finished = reason; }

    const std::string& str() const noexcept { return state_->bytes; }
    std::size_t writes() const noexcept { return state_->writes; }
    std::optional<CloseReason> finished() const noexcept { return state_->finished; }
    void clear() { state_->bytes.clear(); }

private:
    std::shared_ptr<State> state_;
};

}  // namespace rill

#endif  // RILL_STRING_SINK_HPP
// #include <rill/function_sink.hpp>
#ifndef RILL_FUNCTION_SINK_HPP
#define RILL_FUNCTION_SINK_HPP

// Adapts any transport (an Asio socket, a libuv stream, an HTTP/2 stream) to
// the Sink requirement with two callables, so no adapter class is needed.

#include <cstddef>
#include <type_traits>
#include <utility>

// #include <rill/buffer.hpp>
// #include <rill/status.hpp>

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
// #include <rill/fields.hpp>
#ifndef RILL_FIELDS_HPP
#define RILL_FIELDS_HPP

// Header and trailer fields, and the RFC 9110 rules that keep a field from
// splitting a response: names are tokens, values hold no CR, LF, NUL or other
// control character.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rill {

/// One header or trailer line. Name case is kept as given; duplicates are allowed.
struct Field {
    std::string name;
    std::string value;
};

using Fields = std::vector<Field>;

namespace detail {

constexpr bool is_tchar(unsigned char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
        case '.': case '^': case '_': case '`': case '|': case '~':
            return true;
        default:
            return false;
    }
}

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

constexpr std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

/// True when a comma-separated list (a Connection header) holds `token`, ignoring case.
constexpr bool list_has_token(std::string_view list, std::string_view token) noexcept {
    while (!list.empty()) {
        std::size_t comma = list.find(',');
        std::string_view item = trim_ows(list.substr(0, comma));
        if (iequals(item, token)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

}  // namespace detail

/// An RFC 9110 token: one or more tchar.
constexpr bool is_valid_field_name(std::string_view name) noexcept {
    if (name.empty()) return false;
    for (char c : name)
        if (!detail::is_tchar(static_cast<unsigned char>(c))) return false;
    return true;
}

/// Visible ASCII, obs-text, and inner spaces or tabs; no leading or trailing whitespace.
constexpr bool is_valid_field_value(std::string_view value) noexcept {
    for (char ch : value) {
        auto c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    return value.empty() || (!detail::is_ows(value.front()) && !detail::is_ows(value.back()));
}

/// Fields that carry framing, routing or response control and so may not travel as trailers
/// (RFC 9110 section 6.5.1).
constexpr bool is_forbidden_trailer(std::string_view name) noexcept {
    constexpr std::string_view forbidden[] = {
        "content-length", "transfer-encoding", "trailer", "host", "connection", "keep-alive",
        "proxy-connection", "te", "upgrade", "content-encoding", "content-type", "content-range",
        "cache-control", "expires", "date", "location", "retry-after", "vary", "age",
        "set-cookie", "authorization", "www-authenticate", "proxy-authenticate", "expect",
        "max-forwards", "pragma", "range"};
    for (std::string_view f : forbidden)
        if (detail::iequals(name, f)) return true;
    return false;
}

}  // namespace rill

#endif  // RILL_FIELDS_HPP
// #include <rill/response.hpp>
#ifndef RILL_RESPONSE_HPP
#define RILL_RESPONSE_HPP

// What rill needs to know of a request, and the head the application answers
// with. The framing is derived from both (framing.hpp), never chosen by hand.

#include <string>
#include <string_view>
#include <utility>

// #include <rill/fields.hpp>

namespace rill {

/// The parts of an HTTP/1.x request that decide how the response is framed.
/// The views must stay valid only for the respond() call.
struct Request {
    std::string_view method = "GET";
    int version_minor = 1;         ///< 0 for HTTP/1.0, 1 for HTTP/1.1
    std::string_view connection;   ///< the Connection header's value(s), comma-joined; empty if absent
    std::string_view upgrade;      ///< the Upgrade header's value; empty if absent
};

/// The reason phrase RFC 9110 gives a status code, or "" for one it does not name.
constexpr std::string_view default_reason(int status) noexcept {
    switch (status) {
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 203: return "Non-Authoritative Information";
        case 204: return "No Content";
        case 205: return "Reset Content";
        case 206: return "Partial Content";
        case 300: return "Multiple Choices";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 416: return "Range Not Satisfiable";
        case 417: return "Expectation Failed";
        case 422: return "Unprocessable Content";
        case 426: return "Upgrade Required";
        case 428: return "Precondition Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "";
    }
}

/// Status line and headers of a response. Nothing is checked until respond(),
/// which refuses a bad head before writing a byte.
class ResponseHead {
public:
    explicit ResponseHead(int status = 200, std::string reason = {})
        : status_(status), reason_(std::move(reason)) {}

    /// Appends a header; repeated names (Set-Cookie) are sent as repeated lines.
    ResponseHead& header(std::string name, std::string value) {
        fields_.push_back(Field{std::move(name), std::move(value)});
        return *this;
    }

    int status() const noexcept { return status_; }
    /// The reason phrase given, or the standard one for the status.
    std::string_view reason() const noexcept {
        return reason_.empty() ? default_reason(status_) : std::string_view(reason_);
    }
    const Fields& fields() const noexcept { return fields_; }

private:
    int status_;
    std::string reason_;
    Fields fields_;
};

}  // namespace rill

#endif  // RILL_RESPONSE_HPP
// #include <rill/framing.hpp>
#ifndef RILL_FRAMING_HPP
#define RILL_FRAMING_HPP

// How the body's bytes are delimited on an HTTP/1.x connection, decided once
// from the request and the response head (RFC 9112 sections 6 and 9.3). The
// table in docs/http.md is this file in prose.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// #include <rill/fields.hpp>
// #include <rill/response.hpp>
// #include <rill/status.hpp>

namespace rill {

/// How body bytes are delimited.
enum class Framing : std::uint8_t {
    raw,              ///< no HTTP/1 framing: bytes pass through (HTTP/2 stream, custom protocol)
    none,             ///< the response has no body (HEAD, 1xx, 204, 304, a CONNECT tunnel): it ends with the head
    chunked,          ///< Transfer-Encoding: chunked, with optional trailers
    fixed,            ///< Content-Length declared by the application, enforced
    close_delimited,  ///< the body ends when the connection closes (HTTP/1.0, length unknown)
};

constexpr const char* to_string(Framing f) noexcept {
    switch (f) {
        case Framing::raw: return "raw";
        case Framing::none: return "none";
        case Framing::chunked: return "chunked";
        case Framing::fixed: return "fixed";
        case Framing::close_delimited: return "close-delimited";
    }
    return "unknown";
}

/// The decision for one response.
struct FramingPlan {
    Framing framing = Framing::raw;
    std::uint64_t content_length = 0;  ///< with Framing::fixed
    bool persistent = false;           ///< the connection may carry another request if the body completes
};

/// The serialized head and its plan, or the reason it was refused (then `bytes` is empty).
struct PreparedHead {
    HeadStatus status = HeadStatus::ok;
    FramingPlan plan;
    std::string bytes;
};

namespace detail {

/// Strict Content-Length: 1 to 19 decimal digits, nothing else.
constexpr bool parse_content_length(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty() || s.size() > 19) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    out = v;
    return true;
}

constexpr std::size_t chunk_header_max = 18;  // 16 hex digits + CRLF

/// Writes "<hex>\r\n" for n into out, returns its length. No allocation, no printf.
inline std::size_t format_chunk_header(char (&out)[chunk_header_max], std::uint64_t n) noexcept {
    constexpr char digits[] = "0123456789abcdef";
    char tmp[16];
    std::size_t len = 0;
    do {
        tmp[len++] = digits[n & 0xfu];
        n >>= 4;
    } while (n != 0);
    for (std::size_t i = 0; i < len; ++i) out[i] = tmp[len - 1 - i];
    out[len] = '\r';
    out[len + 1] = '\n';
    return len + 2;
}

/// A Connection value without its close and keep-alive tokens, the rest joined by ", ".
inline std::string without_persistence_tokens(std::string_view list) {
    std::string out;
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        const std::string_view item = trim_ows(list.substr(0, comma));
        if (!item.empty() && !iequals(item, "close") && !iequals(item, "keep-alive")) {
            if (!out.empty()) out.append(", ");
            out.append(item);
        }
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return out;
}

inline void append_field(std::string& out, std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
}

constexpr bool valid_reason(std::string_view reason) noexcept {
    for (char ch : reason) {
        auto c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    return true;
}

/// True when every trailer may be sent (see is_forbidden_trailer).
inline bool valid_trailers(const Fields& trailers) noexcept {
    for (const Field& f : trailers)
        if (!is_valid_field_name(f.name) || !is_valid_field_value(f.value) ||
            is_forbidden_trailer(f.name))
            return false;
    return true;
}

/// The last-chunk, the trailer section and the final CRLF.
inline std::string last_chunk(const Fields& trailers) {
    std::string out = "0\r\n";
    for (const Field& f : trailers) append_field(out, f.name, f.value);
    out.append("\r\n");
    return out;
}

}  // namespace detail

/// Validates the head against the request, decides the framing and the keep-alive
/// outcome, and serializes the head. Pure: it writes nothing anywhere.
inline PreparedHead prepare_head(const Request& req, const ResponseHead& head) {
    PreparedHead out;
    const int status = head.status();
    bool has_upgrade = false;
    bool response_close = false;
    bool has_length = false;
    std::uint64_t length = 0;

    auto fail = [&out](HeadStatus s) {
        out.status = s;
        return out;
    };

    for (const Field& f : head.fields()) {
        if (!is_valid_field_name(f.name)) return fail(HeadStatus::invalid_field_name);
        if (!is_valid_field_value(f.value)) return fail(HeadStatus::invalid_field_value);
        if (detail::iequals(f.name, "transfer-encoding")) return fail(HeadStatus::transfer_encoding_set);
        if (detail::iequals(f.name, "content-length")) {
            if (has_length || !detail::parse_content_length(f.value, length))
                return fail(HeadStatus::invalid_content_length);
            has_length = true;
        } else if (detail::iequals(f.name, "connection")) {
            response_close = response_close || detail::list_has_token(f.value, "close");
        } else if (detail::iequals(f.name, "upgrade")) {
            has_upgrade = true;
        }
    }

    const bool upgrading = status == 101;
    // A 2xx to CONNECT turns the connection into a tunnel: like 101, no HTTP body follows.
    const bool tunnel = req.method == "CONNECT" && status >= 200 && status < 300;
    const bool switching = upgrading || tunnel;
    if (upgrading) {
        if (!has_upgrade || req.upgrade.empty() || req.version_minor < 1)
            return fail(HeadStatus::invalid_status);
    } else if (status < 200 || status > 599) {
        return fail(HeadStatus::invalid_status);
    }
    if (!detail::valid_reason(head.reason())) return fail(HeadStatus::invalid_reason);
    if (has_length && (switching || status == 204 || (status == 205 && length != 0)))
        return fail(HeadStatus::content_length_forbidden);
    // 205 has no content, and a response that does not say so is read until the connection closes.
    const bool reset_content = status == 205 && !switching;
    const bool add_zero_length = reset_content && !has_length;
    if (reset_content) has_length = true;

    const bool http11 = req.version_minor >= 1;
    const bool request_close = detail::list_has_token(req.connection, "close");
    const bool request_keep_alive = detail::list_has_token(req.connection, "keep-alive");
    const bool head_request = req.method == "HEAD";
    const bool no_body = switching || status == 204 || status == 304 || head_request;
    // A HEAD response carries the framing header its GET would have (RFC 9110 section 9.3.2);
    // clients such as Node's will not reuse a connection after one that has neither.
    const bool announce_chunked = head_request && http11 && !has_length && status != 204 &&
                                  status != 304 && !switching;

    FramingPlan& plan = out.plan;
    plan.persistent = !response_close && !switching &&
                      (http11 ? !request_close : (request_keep_alive && !request_close));
    if (no_body) {
        plan.framing = Framing::none;
    } else if (has_length) {
        plan.framing = Framing::fixed;
        plan.content_length = length;
    } else if (http11) {
        plan.framing = Framing::chunked;
    } else {
        plan.framing = Framing::close_delimited;
        plan.persistent = false;
    }

    std::string& b = out.bytes;
    std::size_t reserve = 64;
    for (const Field& f : head.fields()) reserve += f.name.size() + f.value.size() + 4;
    b.reserve(reserve);
    char code[4] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                    static_cast<char>('0' + status % 10), ' '};
    b.append("HTTP/1.1 ").append(code, 4).append(head.reason()).append("\r\n");
    for (const Field& f : head.fields()) {
        if (detail::iequals(f.name, "connection")) {
            // rill owns the close/keep-alive tokens: it writes its own decision below, so the
            // application's cannot contradict it. Other tokens (Upgrade, ...) stay.
            std::string tokens = detail::without_persistence_tokens(f.value);
            if (!tokens.empty()) detail::append_field(b, f.name, tokens);
        } else {
            detail::append_field(b, f.name, f.value);
        }
    }
    if (add_zero_length) detail::append_field(b, "Content-Length", "0");
    if (plan.framing == Framing::chunked || announce_chunked)
        detail::append_field(b, "Transfer-Encoding", "chunked");
    if (!plan.persistent && !switching)
        detail::append_field(b, "Connection", "close");
    else if (plan.persistent && !http11)
        detail::append_field(b, "Connection", "keep-alive");
    b.append("\r\n");
    return out;
}

}  // namespace rill

#endif  // RILL_FRAMING_HPP
// #include <rill/body.hpp>
#ifndef RILL_BODY_HPP
#define RILL_BODY_HPP

// rill::Body: the transport-neutral half of a deferred response body, and the
// handle application code holds. It keeps the queue, the state machine and the
// callbacks; the transport (a Sink, see deferred_body.hpp) and the protocol
// (HTTP/1.x framing by default, HTTP/2 in rill/nghttp2.hpp) plug in below it,
// so route code written against rill::Body runs on every server.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// #include <rill/buffer.hpp>
// #include <rill/detail/segment_queue.hpp>
#ifndef RILL_DETAIL_SEGMENT_QUEUE_HPP
#define RILL_DETAIL_SEGMENT_QUEUE_HPP

// The bytes a body could not hand to its sink yet, in order. A segment is an
// optional inline prefix (a chunk-size line), owned data and an optional CRLF,
// so a moved-in part is framed without being copied; small copied parts are
// framed into one flat string so that a busy socket gets them in few buffers.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// #include <rill/buffer.hpp>
// #include <rill/framing.hpp>

#ifndef RILL_COALESCE_LIMIT
/// Copied parts are appended to the queue's last flat segment while it is smaller than this.
#define RILL_COALESCE_LIMIT 16384
#endif

namespace rill {
namespace detail {

// Storage for copied parts: grows by doubling without zero-filling, and is handed
// back to the queue (not freed) once written, so that a steady stream of small
// parts allocates nothing.
class ByteBuffer {
public:
    ByteBuffer() = default;
    ByteBuffer(ByteBuffer&& other) noexcept
        : bytes_(std::move(other.bytes_)), size_(other.size_), cap_(other.cap_) {
        other.size_ = 0;
        other.cap_ = 0;
    }
    ByteBuffer& operator=(ByteBuffer&& other) noexcept {
        bytes_ = std::move(other.bytes_);
        size_ = other.size_;
        cap_ = other.cap_;
        other.size_ = 0;
        other.cap_ = 0;
        return *this;
    }
    ByteBuffer(const ByteBuffer&) = delete;
    ByteBuffer& operator=(const ByteBuffer&) = delete;

    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return cap_; }
    const char* data() const noexcept { return bytes_.get(); }
    /// Makes room for `n` more bytes and returns where they go.
    char* extend(std::size_t n) {
        if (cap_ - size_ < n) grow(size_ + n);
        char* out = bytes_.get() + size_;
        size_ += n;
        return out;
    }
    void clear() noexcept { size_ = 0; }

private:
    void grow(std::size_t need) {
        std::size_t cap = cap_ < 256 ? 256 : cap_;
        while (cap < need) cap *= 2;
        std::unique_ptr<char[]> bigger(new char[cap]);
        if (size_ != 0) std::memcpy(bigger.get(), bytes_.get(), size_);
        bytes_ = std::move(bigger);
        cap_ = cap;
    }
    std::unique_ptr<char[]> bytes_;
    std::size_t size_ = 0;
    std::size_t cap_ = 0;
};

struct Segment {
    std::string data;        // a part moved in (owned segment)
    ByteBuffer copied;       // copied parts, framing included (flat segment)
    std::size_t offset = 0;  // framed bytes of this segment already written
    std::uint8_t prefix_len = 0;
    bool crlf = false;
    bool flat = false;
    char prefix[chunk_header_max] = {};

    std::size_t size() const noexcept {
        return flat ? copied.size() : prefix_len + data.size() + (crlf ? 2u : 0u);
    }
};

/// One framed part as up to three views: prefix, data, suffix.
struct Framed {
    std::string_view prefix;
    std::string_view data;
    std::string_view suffix;
    std::size_t size() const noexcept { return prefix.size() + data.size() + suffix.size(); }
};

class SegmentQueue {
public:
    bool empty() const noexcept { return head_ == segs_.size(); }
    std::size_t bytes() const noexcept { return bytes_; }

    /// Queues the framed bytes of `f` from `skip` on, copying them.
    void push_copy(const Framed& f, std::size_t skip) {
        const std::size_t n = f.size() - skip;
        if (n == 0) return;
        char* out = reserve_flat(n);
        for (std::string_view piece : {f.prefix, f.data, f.suffix}) {
            const std::size_t drop = skip < piece.size() ? skip : piece.size();
            skip -= drop;
            const std::size_t len = piece.size() - drop;
            if (len != 0) std::memcpy(out, piece.data() + drop, len);
            out += len;
        }
    }

    /// Queues `data` as one chunk (size line, data, CRLF), framed straight into the
    /// copied storage: the path of every small part gathered during a turn or a cork.
    void push_chunk(std::string_view data) {
        std::size_t digits = 1;
        for (std::size_t v = data.size() >> 4; v != 0; v >>= 4) ++digits;
        char* out = reserve_flat(digits + 2 + data.size() + 2);
        std::size_t v = data.size();
        for (std::size_t i = digits; i != 0; --i, v >>= 4) out[i - 1] = "0123456789abcdef"[v & 0xfu];
        out += digits;
        out[0] = '\r';
        out[1] = '\n';
        std::memcpy(out + 2, data.data(), data.size());
        out += 2 + data.size();
        out[0] = '\r';
        out[1] = '\n';
    }

    /// Queues `data` by move, framed by `prefix` and an optional CRLF, `skip` bytes already written.
    void push_owned(std::string&& data, std::string_view prefix, bool crlf, std::size_t skip) {
        Segment s;
        s.data = std::move(data);
        s.prefix_len = static_cast<std::uint8_t>(prefix.size());
        if (!prefix.empty()) std::memcpy(s.prefix, prefix.data(), prefix.size());
        s.crlf = crlf;
        s.offset = skip;
        const std::size_t n = s.size() - skip;
        if (n == 0) return;
        segs_.push_back(std::move(s));
        bytes_ += n;
    }

    /// Fills up to `max` buffers with the front of the queue; returns how many.
    std::size_t gather(ConstBuffer* out, std::size_t max) const noexcept {
        std::size_t n = 0;
        for (std::size_t i = head_; i < segs_.size() && n < max; ++i) {
            const Segment& s = segs_[i];
            std::size_t skip = s.offset;
            if (s.flat) {
                if (n == max) return n;
                out[n++] = ConstBuffer(s.copied.data() + skip, s.copied.size() - skip);
                continue;
            }
            const std::string_view pieces[3] = {std::string_view(s.prefix, s.prefix_len), s.data,
                                                s.crlf ? std::string_view("\r\n", 2) : std::string_view()};
            for (std::string_view piece : pieces) {
                if (skip >= piece.size()) {
                    skip -= piece.size();
                    continue;
                }
                if (n == max) return n;
                out[n++] = ConstBuffer(piece.data() + skip, piece.size() - skip);
                skip = 0;
            }
        }
        return n;
    }

    /// Drops `n` bytes from the front (they were written).
    void consume(std::size_t n) noexcept {
        bytes_ -= n;
        while (n != 0) {
            Segment& s = segs_[head_];
            const std::size_t left = s.size() - s.offset;
            if (n < left) {
                s.offset += n;
                return;
            }
            n -= left;
            release_front();
        }
        if (empty()) reset();
    }

    /// Moves every segment of `other` behind this queue's, leaving `other` empty.
    void append(SegmentQueue& other) {
        if (other.empty()) return;
        for (std::size_t i = other.head_; i < other.segs_.size(); ++i) segs_.push_back(std::move(other.segs_[i]));
        bytes_ += other.bytes_;
        other.clear();
    }

    void clear() noexcept {
        segs_.clear();
        head_ = 0;
        bytes_ = 0;
    }

private:
    // Room for `n` more copied bytes at the end of the queue.
    char* reserve_flat(std::size_t n) {
        Segment* tail = empty() ? nullptr : &segs_.back();
        if (tail == nullptr || !tail->flat || tail->copied.size() >= RILL_COALESCE_LIMIT) {
            segs_.emplace_back();
            tail = &segs_.back();
            tail->flat = true;
            if (spare_.capacity() != 0) tail->copied = std::move(spare_);
        }
        bytes_ += n;
        return tail->copied.extend(n);
    }

    void release_front() noexcept {
        Segment& s = segs_[head_];
        if (s.flat) {
            if (s.copied.capacity() > spare_.capacity()) {
                s.copied.clear();
                spare_ = std::move(s.copied);
            }
        } else {
            std::string().swap(s.data);
        }
        ++head_;
        if (empty()) {
            reset();
        } else if (head_ >= 64 && head_ * 2 >= segs_.size()) {
            // A queue that never empties must not keep the husks of written segments.
            segs_.erase(segs_.begin(), segs_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }
    void reset() noexcept {
        segs_.clear();  // keeps capacity: the next burst reuses it
        head_ = 0;
    }

    std::vector<Segment> segs_;
    ByteBuffer spare_;  // the largest written flat storage, for the next copied part
    std::size_t head_ = 0;
    std::size_t bytes_ = 0;
};

}  // namespace detail
}  // namespace rill

#endif  // RILL_DETAIL_SEGMENT_QUEUE_HPP
// #include <rill/fields.hpp>
// #include <rill/framing.hpp>
// #include <rill/response.hpp>
// #include <rill/status.hpp>

#ifndef RILL_GATHER_MAX
/// Buffers offered to a sink in one write() when the queue is flushed.
#define RILL_GATHER_MAX 64
#endif

namespace rill {

class Body;
class Turn;

namespace detail {

// The bodies that gathered parts during the current loop turn of this thread
// (rill/turn.hpp installs one; without it every part is written at once).
struct TurnList {
    std::vector<std::shared_ptr<Body>> bodies;
    std::function<void()> on_first_gather;
};

inline TurnList*& current_turn() noexcept {
    static thread_local TurnList* turn = nullptr;
    return turn;
}

}  // namespace detail

/// Thrown for a programming error in the use of a body (each() twice); never for I/O.
class UsageError : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

/// What send() does once the queue reaches the high-water mark.
enum class OverflowPolicy : std::uint8_t {
    queue,   ///< keep the part and answer backpressure: nothing is lost, memory is the producer's duty
    reject,  ///< refuse the part and answer would_block: the queue stays within high-water + one part
};

/// Per-body settings.
struct BodyOptions {
    std::size_t high_water = std::size_t{64} * 1024;  ///< queued bytes above which send() answers backpressure
    std::size_t low_water = std::size_t{16} * 1024;  ///< on_drain fires when the queue falls below this
    OverflowPolicy overflow = OverflowPolicy::queue;
};

/// A deferred HTTP response body, whatever its transport. Application code holds it
/// through a BodyPtr; servers create a DeferredBody<Sink> (deferred_body.hpp) and hand
/// it out as this type. Not thread-safe: call it from the thread that runs the transport.
class Body : public std::enable_shared_from_this<Body> {
public:
    Body(const Body&) = delete;
    Body& operator=(const Body&) = delete;
    virtual ~Body() = default;

    /// Validates the head against the request, chooses the framing and queues the head
    /// (sent at once if the sink is there). Anything but HeadStatus::ok wrote nothing.
    /// A response that can carry no body (HEAD, 204, 304, 101, a 2xx to CONNECT, or a
    /// Content-Length of 0) ends here: state() is no longer open, later sends answer closed.
    /// Without respond() the body is raw: bytes pass through unframed.
    [[nodiscard]] HeadStatus respond(const Request& request, const ResponseHead& head) {
        if (state_ == BodyState::closing || state_ == BodyState::closed) return HeadStatus::body_closed;
        if (responded_ || body_bytes_ != 0 || bytes_sent_ != 0 || bytes_queued() != 0)
            return HeadStatus::already_started;
        PreparedHead prepared = prepare_response(request, head);
        if (prepared.status != HeadStatus::ok) return prepared.status;
        responded_ = true;
        plan_ = prepared.plan;
        remaining_ = plan_.content_length;
        CallScope scope(*this);
        // Nothing may follow the head: the response is complete once it is out, so a
        // keep-alive connection can go on without waiting for the application's close().
        // Closing before the head is written also refuses a part sent from inside that write.
        if (plan_.framing == Framing::none || (plan_.framing == Framing::fixed && remaining_ == 0)) {
            end_reason_ = CloseReason::completed;
            state_ = BodyState::closing;
        }
        (void)emit(detail::Framed{{}, prepared.bytes, {}}, &prepared.bytes);
        return HeadStatus::ok;
    }

    /// Sends one part: written at once when the sink can take it, else queued (copied).
    /// With a declared Content-Length, the part that completes it also ends the body.
    [[nodiscard]] SendStatus send(std::string_view part) { return send_part(part, nullptr); }
    /// Sends one part by move: queued without a copy when it cannot be written at once.
    [[nodiscard]] SendStatus send(std::string&& part) { return send_part(part, &part); }
    [[nodiscard]] SendStatus send(const char* part) { return send_part(std::string_view(part), nullptr); }

    /// Ends the body once every queued byte is out. Idempotent (later calls say already_closed).
    CloseStatus close() { return close_with(nullptr); }
    /// Ends a chunked body with trailer fields (declare them in a Trailer header).
    CloseStatus close(const Fields& trailers) { return close_with(&trailers); }

    /// Ends the body now, dropping what is queued. No-op on an ended body.
    void abort(CloseReason reason = CloseReason::aborted) {
        if (reason == CloseReason::completed) reason = CloseReason::aborted;
        CallScope scope(*this);
        finish_body(reason);
    }

    /// A readiness sink's server calls this when its transport can take more bytes.
    void flush() {
        CallScope scope(*this);
        blocked_ = false;
        pump();
    }

    /// A completion sink (docs/sink.md) calls this once for every write it answered with
    /// WriteResult::pending: ok(n) says n of the pending bytes went out (fewer than pending:
    /// the rest is offered again), closed() or failed() end the body; anything else is a
    /// broken sink (write_error). It must come even when
    /// the body ended meanwhile: the pending bytes stay alive until it does.
    void complete_write(WriteResult result) {
        if (in_write_) {  // completed before write() returned: write_once() takes it from here
            inline_completion_ = result;
            has_inline_completion_ = true;
            return;
        }
        if (!write_pending_) return;
        CallScope scope(*this);
        write_pending_ = false;
        const std::size_t started = pending_bytes_;
        pending_bytes_ = 0;
        if (state_ == BodyState::closed) {  // ended meanwhile: the transport is done with the bytes
            queue_.clear();
            return;
        }
        if (!landed(result, started)) return;
        pump();
    }

    /// While corked, parts are gathered; uncork() writes them in one gather write. Once what
    /// is gathered and a new part reach RILL_COALESCE_LIMIT bytes they leave together at
    /// once, the new part straight from the caller's memory.
    void cork() noexcept { ++cork_; }
    void uncork() {
        if (cork_ == 0) return;
        if (--cork_ == 0) flush();
    }

    /// Called once with the reason the body ended; at once if it already has. Never called
    /// when replaced before the end, or when the body is destroyed before it ended.
    template <class F>
    void on_close(F&& callback) {
        if (state_ == BodyState::closed) {
            CallScope scope(*this);
            hold_self();
            std::forward<F>(callback)(reason_);
            return;
        }
        on_close_ = std::forward<F>(callback);
    }

    /// Called when the queue falls below the low-water mark (or empties) after a send()
    /// answered backpressure or would_block. On a body that has ended it is dropped at once.
    /// The callable stays alive for its whole call, even when it ends the body.
    template <class F>
    void on_drain(F&& callback) {
        ++drain_generation_;
        if (state_ == BodyState::closed) return;  // kept, it would hold its captures forever
        on_drain_ = std::forward<F>(callback);
    }

    BodyState state() const noexcept { return state_; }
    /// True once the body takes no more parts (close(), abort(), a failed sink, or a response
    /// that can have no body); its last bytes may still be going out (state() closing).
    bool ended() const noexcept { return state_ == BodyState::closing || state_ == BodyState::closed; }
    /// Why the body ended; meaningful once state() is closed.
    CloseReason close_reason() const noexcept { return reason_; }
    /// Bytes (head and framing included) not yet confirmed by the sink: queued, and for a
    /// completion sink also those of its pending write. Seen from inside Sink::write, this
    /// includes what is left of a part being written straight to the sink.
    std::size_t bytes_queued() const noexcept {
        if (state_ == BodyState::closed) return 0;
        return queue_.bytes() + reentrant_.bytes() + in_flight_;
    }
    /// Bytes (head and framing included) the sink has taken (a completion sink: confirmed).
    std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }
    /// Body bytes the application has sent and rill accepted.
    std::uint64_t body_bytes() const noexcept { return body_bytes_; }
    Framing framing() const noexcept { return plan_.framing; }
    /// True once the body completed and the connection may carry the next request.
    bool keep_alive() const noexcept {
        return state_ == BodyState::closed && reason_ == CloseReason::completed && plan_.persistent;
    }
    const BodyOptions& options() const noexcept { return opts_; }
    /// True while a completion sink's write is in flight (between pending and complete_write).
    bool write_pending() const noexcept { return write_pending_; }

protected:
    /// `completion_sink`: the transport answers WriteResult::pending and calls complete_write,
    /// so it is offered only the body's own queued bytes, which stay put until then.
    explicit Body(BodyOptions options, bool completion_sink) : opts_(options), completion_sink_(completion_sink) {
        if (opts_.low_water > opts_.high_water) opts_.low_water = opts_.high_water;
    }

    // The transport, implemented by DeferredBody<Sink>.
    virtual WriteResult sink_write(const ConstBuffer* buffers, std::size_t count) = 0;
    /// Tells the sink how the body ended and lets it go.
    virtual void sink_finish(CloseReason reason) = 0;

    // The protocol: HTTP/1.x unless a derived body puts the head and the end elsewhere.
    /// Validates the head; on ok returns the plan and the bytes to send before the body.
    virtual PreparedHead prepare_response(const Request& request, const ResponseHead& head) {
        return rill::prepare_head(request, head);
    }
    /// Called by close() with the state already closing: queues what ends the body.
    virtual CloseStatus end_response(const Fields* trailers) {
        const bool has_trailers = trailers != nullptr && !trailers->empty();
        if (plan_.framing == Framing::chunked) {
            if (has_trailers) {
                std::string last = detail::last_chunk(*trailers);
                (void)emit(detail::Framed{{}, last, {}}, &last);
            } else {
                (void)emit(detail::Framed{{}, "0\r\n\r\n", {}}, nullptr);
            }
            return CloseStatus::ok;
        }
        return has_trailers ? CloseStatus::trailers_dropped : CloseStatus::ok;
    }
    const FramingPlan& plan() const noexcept { return plan_; }

    // For DeferredBody<Sink>::each().
    bool each_called() const noexcept { return each_called_; }
    void mark_each_called() noexcept { each_called_ = true; }
    bool has_sink() const noexcept { return has_sink_; }
    /// The sink is in place: streaming starts with what was sent earlier.
    void attach_sink() {
        has_sink_ = true;
        if (state_ == BodyState::waiting) state_ = BodyState::open;
        pump();
    }
    /// The derived body released its sink (it tells the sink itself).
    void detach_sink() noexcept { has_sink_ = false; }

    // A callback or a sink may drop the last shared_ptr to this body. The outermost
    // public call keeps the body alive until it returns, paying (one reference count)
    // only when it calls out of rill.
    struct CallScope {
        explicit CallScope(Body& b) noexcept : body(b) { ++body.depth_; }
        ~CallScope() {
            if (--body.depth_ == 0 && body.keep_self_) {
                auto last = std::move(body.keep_self_);
            }
        }
        CallScope(const CallScope&) = delete;
        CallScope& operator=(const CallScope&) = delete;
        Body& body;
    };

    // Before any callback: keeps the body alive until the outermost public call returns.
    void hold_self() {
        if (depth_ != 0 && !keep_self_) keep_self_ = weak_from_this().lock();
    }

private:
    friend class Turn;
    enum class Drive : std::uint8_t { done, more, blocked, pending, failed };

    // Turn::end(): what this body gathered during the turn leaves in one write.
    void end_turn() {
        in_turn_ = false;
        if (blocked_) return;  // the sink is full: its flush() comes when it is writable
        CallScope scope(*this);
        pump();
    }

    // True when emit() would only append `n` bytes to a queue that already gathers.
    bool gathering_into_queue(std::size_t n) const noexcept {
        return (in_turn_ || cork_ != 0) && !in_write_ && !write_pending_ && !queue_.empty() &&
               reentrant_.empty() && queue_.bytes() + n < RILL_COALESCE_LIMIT;
    }

    // Gathers rather than writes: corked, or a loop turn is running on this thread.
    bool gathering() noexcept {
        if (cork_ != 0 || in_turn_) return true;
        detail::TurnList* turn = detail::current_turn();
        if (turn == nullptr) return false;
        std::shared_ptr<Body> self = weak_from_this().lock();
        if (!self) return false;  // not owned by a shared_ptr: nothing could flush it later
        in_turn_ = true;
        turn->bodies.push_back(std::move(self));
        if (turn->bodies.size() == 1 && turn->on_first_gather) turn->on_first_gather();
        return true;
    }

    SendStatus send_part(std::string_view data, std::string* owned) {
        CallScope scope(*this);
        const SendStatus status = send_framed(data, owned);
        // Only an answer that tells the producer to wait promises it an on_drain.
        if (status == SendStatus::backpressure || status == SendStatus::would_block) drain_pending_ = true;
        return status;
    }

    SendStatus send_framed(std::string_view data, std::string* owned) {
        if (state_ == BodyState::closing || state_ == BodyState::closed) {
            const bool length_reached = plan_.framing == Framing::fixed && remaining_ == 0 && !data.empty();
            return length_reached ? SendStatus::length_exceeded : SendStatus::closed;
        }
        if (data.empty()) return queue_status(SendStatus::written);
        if (plan_.framing == Framing::fixed && data.size() > remaining_) return SendStatus::length_exceeded;
        if (opts_.overflow == OverflowPolicy::reject && bytes_queued() != 0 &&
            bytes_queued() >= opts_.high_water)
            return SendStatus::would_block;
        if (plan_.framing == Framing::fixed) remaining_ -= data.size();
        body_bytes_ += data.size();
        if (plan_.framing == Framing::chunked) {
            if (owned == nullptr && gathering_into_queue(data.size() + detail::chunk_header_max + 2)) {
                // A small part while a turn or a cork gathers: framed into the queue directly.
                queue_.push_chunk(data);
                return queue_status(SendStatus::queued);
            }
            char header[detail::chunk_header_max];
            const std::size_t len = detail::format_chunk_header(header, data.size());
            return emit(detail::Framed{{header, len}, data, "\r\n"}, owned);
        }
        const SendStatus status = emit(detail::Framed{{}, data, {}}, owned);
        // The declared length is reached: the response is complete on the wire, whether or
        // not the application calls close(), so a client that hangs up now is not an error.
        if (plan_.framing == Framing::fixed && remaining_ == 0 && state_ == BodyState::open)
            (void)close_with(nullptr);
        return status;
    }

    CloseStatus close_with(const Fields* trailers) {
        const bool has_trailers = trailers != nullptr && !trailers->empty();
        if (has_trailers && !detail::valid_trailers(*trailers)) return CloseStatus::invalid_trailer;
        if (state_ == BodyState::closing || state_ == BodyState::closed) {
            // A fixed-length body that ended with its last byte still answers for its trailers.
            const bool dropped = has_trailers && plan_.framing != Framing::chunked;
            return dropped ? CloseStatus::trailers_dropped : CloseStatus::already_closed;
        }
        CallScope scope(*this);
        end_reason_ = (plan_.framing == Framing::fixed && remaining_ != 0) ? CloseReason::truncated
                                                                           : CloseReason::completed;
        state_ = BodyState::closing;
        const CloseStatus status = end_response(trailers);
        // Finishes at once when nothing is left to write; a busy sink finishes on a later flush().
        if (state_ == BodyState::closing && bytes_queued() == 0) pump();
        return status;
    }

    SendStatus queue_status(SendStatus idle) const noexcept {
        if (bytes_queued() > opts_.high_water) return SendStatus::backpressure;
        return bytes_queued() == 0 ? idle : SendStatus::queued;
    }

    // Writes at once when nothing is ahead of this part, queues what is left.
    SendStatus emit(const detail::Framed& f, std::string* owned) {
        if (in_write_ || write_pending_) {
            // Called from inside Sink::write (directly or through a callback), or while a
            // completion sink holds the queue's bytes: the buffers being written point into
            // queue_, so the part waits aside until the write returns or completes.
            push(reentrant_, f, owned, 0);
            return queue_status(SendStatus::queued);
        }
        std::size_t done = 0;
        // A readiness sink that is not known to be full: write now, unless this part can
        // wait for the end of the cork or the loop turn (small, and what is gathered with
        // it stays under the limit). What is gathered leaves with the part, zero-copy.
        if (has_sink_ && !pumping_ && !blocked_ && !completion_sink_ &&
            (queue_.bytes() + f.size() >= RILL_COALESCE_LIMIT || (queue_.empty() && !gathering()))) {
            const std::size_t gathered = queue_.bytes();
            const Drive d = write_through(f, done);
            if (d == Drive::failed) return SendStatus::closed;
            if (d == Drive::more) {  // not written: queued behind what is gathered, then all of it goes
                push(queue_, f, owned, 0);
                return pump_and_answer(SendStatus::written);
            }
            if (gathered == 0 && d == Drive::done && reentrant_.empty() && state_ != BodyState::closing &&
                !drain_pending_)
                return SendStatus::written;
        } else if (has_sink_ && !completion_sink_ && !blocked_) {
            (void)gathering();  // register with the turn (or stay corked)
        }
        if (done < f.size()) push(queue_, f, owned, done);
        if (completion_sink_ && has_sink_ && cork_ == 0 && !pumping_) {
            // A completion sink writes from the queue: start a write unless one is running,
            // or this loop turn gathers and the queue is still under the limit.
            if (queue_.bytes() < RILL_COALESCE_LIMIT && gathering()) return queue_status(SendStatus::queued);
            return pump_and_answer(SendStatus::written);
        }
        if (!reentrant_.empty() || (queue_.empty() && (state_ == BodyState::closing || drain_pending_))) {
            // What the sink sent from inside write() follows now; a body closed from there may
            // be done; a drain promised from there is due. A queue left behind means the sink
            // is busy: the next flush() goes on.
            queue_.append(reentrant_);
            return pump_and_answer(done == f.size() ? SendStatus::written : SendStatus::queued);
        }
        return queue_status(done == f.size() ? SendStatus::written : SendStatus::queued);
    }

    // After a part went into the queue: writes what can go, then answers for the part.
    SendStatus pump_and_answer(SendStatus idle) {
        pump();
        if (state_ == BodyState::closed)
            return reason_ == CloseReason::completed ? SendStatus::written : SendStatus::closed;
        return queue_status(idle);
    }

    static void push(detail::SegmentQueue& q, const detail::Framed& f, std::string* owned, std::size_t skip) {
        if (owned != nullptr)
            q.push_owned(std::move(*owned), f.prefix, !f.suffix.empty(), skip);
        else
            q.push_copy(f, skip);
    }

    // Books `r` against `offered` bytes: false when the body ended (failed or broke the contract).
    bool landed(const WriteResult& r, std::size_t offered) {
        if (r.bytes > offered) {  // a broken sink: never read past what was offered
            finish_body(CloseReason::write_error);
            return false;
        }
        bytes_sent_ += r.bytes;
        if (r.status == WriteStatus::closed) {
            finish_body(CloseReason::peer_closed);
            return false;
        }
        if (r.status != WriteStatus::ok) {  // error; pending or would_block complete nothing
            finish_body(CloseReason::write_error);
            return false;
        }
        if (completion_sink_) {
            queue_.consume(r.bytes);
            queue_.append(reentrant_);
        }
        return true;
    }

    // One Sink::write. `taken` receives the bytes the sink took.
    Drive write_once(const ConstBuffer* bufs, std::size_t n, std::size_t& taken) {
        const std::size_t offered = buffer_size(bufs, n);
        WriteResult r;
        hold_self();  // the sink may drop the last reference to this body
        has_inline_completion_ = false;
        {
            FlagScope writing(in_write_);
            r = sink_write(bufs, n);
        }
        if (state_ == BodyState::closed) {  // the body was ended from inside write()
            if (r.bytes <= offered && r.status != WriteStatus::pending) bytes_sent_ += r.bytes;
            if (r.status == WriteStatus::pending && r.bytes <= offered && !has_inline_completion_) {
                // The transport still reads the queue's bytes: keep them until it completes.
                write_pending_ = true;
                pending_bytes_ = r.bytes;
            } else {
                queue_.clear();
            }
            release_sink(reason_);
            return Drive::failed;
        }
        if (r.bytes > offered || (r.status == WriteStatus::pending && !completion_sink_)) {
            // A broken sink: never read past what was offered; a readiness sink cannot
            // keep caller-owned bytes for later.
            finish_body(CloseReason::write_error);
            return Drive::failed;
        }
        if (r.status == WriteStatus::pending) {
            if (!has_inline_completion_) {
                write_pending_ = true;
                pending_bytes_ = r.bytes;
                return Drive::pending;
            }
            has_inline_completion_ = false;
            const std::size_t started = r.bytes;
            r = inline_completion_;
            const bool valid = r.status == WriteStatus::ok || r.status == WriteStatus::closed ||
                               r.status == WriteStatus::error;
            if (!valid || r.bytes > started) r = WriteResult::failed();
        }
        taken = r.bytes;
        bytes_sent_ += r.bytes;
        switch (r.status) {
            case WriteStatus::ok:
                if (r.bytes == offered) return Drive::done;
                return r.bytes == 0 ? Drive::blocked : Drive::more;  // no progress: wait for flush()
            case WriteStatus::would_block:
                return r.bytes == offered ? Drive::done : Drive::blocked;
            case WriteStatus::closed:
                finish_body(CloseReason::peer_closed);
                return Drive::failed;
            case WriteStatus::error:
            case WriteStatus::pending:
                finish_body(CloseReason::write_error);
                return Drive::failed;
        }
        return Drive::failed;
    }

    // Offers what is gathered and then the part, from the caller's memory, until all is
    // taken, the sink would block, or it fails. `part_done`: the part's bytes taken. The
    // queue's bytes taken are consumed; what is left of the part is the caller's to queue.
    // Drive::more: nothing was written, the queue has too many pieces to go with the part.
    Drive write_through(const detail::Framed& f, std::size_t& part_done) {
        ConstBuffer bufs[RILL_GATHER_MAX + 3];
        std::size_t n = queue_.gather(bufs, RILL_GATHER_MAX);
        const std::size_t gathered = buffer_size(bufs, n);
        if (gathered != queue_.bytes()) {
            // Too many pieces for one write: the part joins the queue, which leaves in order
            // (a part sent from inside those writes must not overtake this one).
            part_done = 0;
            return Drive::more;
        }
        for (std::string_view piece : {f.prefix, f.data, f.suffix})
            if (!piece.empty()) bufs[n++] = ConstBuffer(piece);
        in_flight_ = f.size();
        struct Landed {  // even when the sink throws
            std::size_t& bytes;
            ~Landed() { bytes = 0; }
        } landed{in_flight_};
        std::size_t total = 0;
        std::size_t i = 0;
        Drive d = Drive::done;
        {
            FlagScope pumping(pumping_);  // the buffers point into queue_: nothing may pump it meanwhile
            for (;;) {
                while (i < n && bufs[i].size == 0) ++i;
                if (i == n) break;
                std::size_t taken = 0;
                d = write_once(bufs + i, n - i, taken);
                if (d == Drive::failed) return d;
                total += taken;
                if (total > gathered) in_flight_ = f.size() - (total - gathered);
                while (i < n && taken >= bufs[i].size) taken -= bufs[i++].size;
                if (taken != 0) {
                    bufs[i].data += taken;
                    bufs[i].size -= taken;
                }
                if (d == Drive::blocked) break;
            }
        }
        queue_.consume(total < gathered ? total : gathered);
        part_done = total > gathered ? total - gathered : 0;
        if (i < n) blocked_ = true;  // bytes left behind: the sink is full until flush()
        return i < n ? Drive::blocked : Drive::done;
    }

    // Offers the queue until it is empty, the sink would block, or it fails.
    Drive write_queue() {
        FlagScope pumping(pumping_);
        while (!queue_.empty()) {
            // Gathered afresh each time: a write may have added to the queue.
            ConstBuffer bufs[RILL_GATHER_MAX];
            const std::size_t n = queue_.gather(bufs, RILL_GATHER_MAX);
            std::size_t taken = 0;
            const Drive d = write_once(bufs, n, taken);
            if (d == Drive::failed || d == Drive::pending) return d;
            queue_.consume(taken);
            queue_.append(reentrant_);
            if (d == Drive::blocked) {
                blocked_ = true;
                return d;
            }
        }
        blocked_ = false;
        return Drive::done;
    }

    // Hands queued bytes to the sink, finishes a closing body, and reports a drain.
    void pump() {
        if (!has_sink_ || cork_ != 0 || pumping_ || in_write_ || write_pending_) return;
        // A sink that said it is full is written again only after its flush().
        if (!blocked_ && write_queue() == Drive::failed) return;
        if (write_pending_) {
            // Nothing ends while the transport holds bytes; a drain may be due already.
        } else if (queue_.empty() && state_ == BodyState::closing) {
            finish_body(end_reason_);
            return;
        }
        if (drain_pending_ && (bytes_queued() < opts_.low_water || bytes_queued() == 0)) {
            drain_pending_ = false;
            fire_drain();
        }
    }

    // The callable may end the body (which drops on_drain_), replace itself or throw: it
    // runs from a local, so it lives until it returns, and goes back unless it was replaced
    // or the body ended meanwhile. A drain that falls due while it runs (a send inside it
    // answered backpressure, and the queue emptied) is not nested: the call is repeated.
    void fire_drain() {
        if (in_drain_) {
            drain_again_ = true;
            return;
        }
        if (!on_drain_) return;
        hold_self();
        {
            FlagScope draining(in_drain_);
            struct Running {
                Body& body;
                std::function<void()> callback;
                unsigned generation;
                ~Running() {
                    if (body.drain_generation_ == generation && body.state_ != BodyState::closed)
                        body.on_drain_ = std::move(callback);
                }
            } running{*this, std::move(on_drain_), drain_generation_};
            on_drain_ = nullptr;
            do {
                drain_again_ = false;
                running.callback();
            } while (drain_again_ && state_ != BodyState::closed && drain_generation_ == running.generation);
        }
        // Due while it ran, and it replaced itself meanwhile: the replacement's turn.
        if (drain_again_ && state_ != BodyState::closed) {
            drain_again_ = false;
            fire_drain();
        }
    }

    void finish_body(CloseReason reason) {
        if (state_ == BodyState::closed) return;
        hold_self();
        state_ = BodyState::closed;
        reason_ = reason;
        // A completion sink's transport may still read the pending bytes (or is reading them
        // now, inside write()): complete_write, or write_once, frees them.
        if (!write_pending_ && !in_write_) queue_.clear();
        reentrant_.clear();
        in_flight_ = 0;
        drain_pending_ = false;
        // Callbacks often capture a shared_ptr to this body: dropping them breaks the cycle.
        std::function<void(CloseReason)> on_close = std::move(on_close_);
        on_close_ = nullptr;
        on_drain_ = nullptr;
        if (!in_write_) release_sink(reason);  // else write_once() does it once write() returns
        if (on_close) on_close(reason);
    }

    void release_sink(CloseReason reason) {
        if (!has_sink_) return;
        has_sink_ = false;
        sink_finish(reason);
    }

    // Raises a flag for a scope, and lowers it even if a sink throws.
    struct FlagScope {
        explicit FlagScope(bool& flag) noexcept : flag_(flag) { flag_ = true; }
        ~FlagScope() { flag_ = false; }
        FlagScope(const FlagScope&) = delete;
        FlagScope& operator=(const FlagScope&) = delete;
        bool& flag_;
    };

    BodyOptions opts_;
    bool completion_sink_;
    bool has_sink_ = false;
    detail::SegmentQueue queue_;
    detail::SegmentQueue reentrant_;  // parts sent inside Sink::write or during a pending write
    FramingPlan plan_;
    std::uint64_t remaining_ = 0;
    std::uint64_t bytes_sent_ = 0;
    std::uint64_t body_bytes_ = 0;
    std::function<void(CloseReason)> on_close_;
    std::function<void()> on_drain_;
    unsigned drain_generation_ = 0;  // bumped by on_drain(): tells a running callback it was replaced
    bool in_drain_ = false;          // on_drain is running
    bool drain_again_ = false;       // a drain fell due while it ran
    std::shared_ptr<Body> keep_self_;
    unsigned cork_ = 0;
    unsigned depth_ = 0;
    BodyState state_ = BodyState::waiting;
    CloseReason reason_ = CloseReason::completed;
    CloseReason end_reason_ = CloseReason::completed;
    bool responded_ = false;
    bool each_called_ = false;
    bool pumping_ = false;
    bool in_write_ = false;
    std::size_t in_flight_ = 0;  // what is left of a part offered straight to the sink
    bool drain_pending_ = false;
    bool blocked_ = false;               // a readiness sink left bytes behind: wait for flush()
    bool in_turn_ = false;               // registered with this thread's loop turn
    bool write_pending_ = false;         // a completion sink holds pending_bytes_ of the queue
    std::size_t pending_bytes_ = 0;
    bool has_inline_completion_ = false;  // complete_write() came from inside write()
    WriteResult inline_completion_;
};

/// The handle route code keeps: any server's body, whatever its transport.
using BodyPtr = std::shared_ptr<Body>;

}  // namespace rill

#endif  // RILL_BODY_HPP
// #include <rill/deferred_body.hpp>
#ifndef RILL_DEFERRED_BODY_HPP
#define RILL_DEFERRED_BODY_HPP

// rill::DeferredBody<Sink>: a rill::Body streaming into one server's Sink. The
// server hands its sink over with each(); the application sees only rill::Body.

#include <memory>
#include <new>
#include <utility>

// #include <rill/body.hpp>
// #include <rill/sink.hpp>

namespace rill {

/// A deferred response body streaming into a Sink. Create it with make_deferred_body()
/// so that a callback which drops the last reference cannot destroy it while it is still
/// working; hand it to application code as a BodyPtr.
template <class Sink>
class DeferredBody final : public Body {
    static_assert(detail::sink_check<Sink>::value, "rill: DeferredBody needs a Sink");

public:
    using sink_type = Sink;

    explicit DeferredBody(BodyOptions options = {}) : Body(options, sink_completes_later_v<Sink>) {}
    ~DeferredBody() override {
        if (has_sink()) held_sink()->~Sink();
    }

    /// The server hands over its sink; parts sent earlier are flushed into it first.
    /// Calling it twice throws UsageError. On a body that already ended, the sink is
    /// told how it ended and is not kept.
    void each(Sink sink) {
        if (each_called())
            throw UsageError("rill::DeferredBody::each() called twice: a body streams into one sink");
        mark_each_called();
        CallScope scope(*this);
        if (state() == BodyState::closed) {
            hold_self();
            sink.finish(close_reason());
            return;
        }
        ::new (static_cast<void*>(sink_storage_)) Sink(std::move(sink));
        attach_sink();
    }

    /// The held sink, or nullptr before each() and after the body ended.
    Sink* sink() noexcept { return has_sink() ? held_sink() : nullptr; }

private:
    WriteResult sink_write(const ConstBuffer* buffers, std::size_t count) override {
        return held_sink()->write(buffers, count);
    }
    void sink_finish(CloseReason reason) override {
        Sink sink = std::move(*held_sink());
        held_sink()->~Sink();
        detach_sink();
        sink.finish(reason);
    }

    Sink* held_sink() noexcept { return std::launder(reinterpret_cast<Sink*>(sink_storage_)); }

    // The sink lives here from each() until the body ends. Not a std::optional: GCC 12
    // reports a false -Wmaybe-uninitialized on optional's reset paths at -O2, which would
    // break users' -Werror builds.
    alignas(Sink) unsigned char sink_storage_[sizeof(Sink)];
};

/// Creates a body owned by a shared_ptr: the application keeps one, the server another.
template <class Sink>
std::shared_ptr<DeferredBody<Sink>> make_deferred_body(BodyOptions options = {}) {
    return std::make_shared<DeferredBody<Sink>>(options);
}

/// Corks a body for its lifetime: parts sent meanwhile leave in one gather write.
template <class AnyBody>
class [[nodiscard]] Batch {
public:
    explicit Batch(AnyBody& body) noexcept : body_(&body) { body_->cork(); }
    ~Batch() {
        if (body_ != nullptr) body_->uncork();
    }
    Batch(Batch&& other) noexcept : body_(std::exchange(other.body_, nullptr)) {}
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    Batch& operator=(Batch&&) = delete;

private:
    AnyBody* body_;
};

}  // namespace rill

#endif  // RILL_DEFERRED_BODY_HPP
// #include <rill/turn.hpp>
#ifndef RILL_TURN_HPP
#define RILL_TURN_HPP

// rill::Turn: coalescing without asking. An event loop marks where one of its
// turns ends; parts sent to a body during the turn are gathered and leave in one
// gather write per body at the end of the turn, instead of one system call each.

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

// #include <rill/body.hpp>

namespace rill {

/// One event loop's turns on this thread. While a Turn is installed, a send() to an
/// open body is gathered (up to RILL_COALESCE_LIMIT bytes; then, with a readiness sink,
/// it leaves at once with the part, zero-copy, and with a completion sink its write
/// starts); end() writes what each touched body gathered. Install one per loop thread and call end() where each turn of the loop
/// ends (after dispatching one poll's events and timers). Without a Turn, every part
/// is written at once. Not copyable, not movable: bodies find it through a per-thread slot.
class Turn {
public:
    Turn() : previous_(detail::current_turn()) { detail::current_turn() = &list_; }
    ~Turn() {
        end();
        detail::current_turn() = previous_;
    }
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;

    /// Writes what the bodies gathered during this turn: one write per body (more only if
    /// the sink takes less). What those writes' callbacks (on_drain) send is written too,
    /// before end() returns: a loop may sleep after it.
    void end() {
        while (!list_.bodies.empty()) {
            std::vector<std::shared_ptr<Body>> bodies;
            bodies.swap(list_.bodies);
            for (const std::shared_ptr<Body>& body : bodies) body->end_turn();
            bodies.clear();
            if (list_.bodies.empty()) list_.bodies.swap(bodies);  // keep the capacity for the next turn
        }
    }

    /// Called when the first body gathers in a turn: a loop without a natural end-of-turn
    /// hook schedules end() here (Asio: post it to the executor).
    template <class F>
    void on_first_gather(F&& callback) {
        list_.on_first_gather = std::forward<F>(callback);
    }

    /// Bodies waiting for end().
    std::size_t pending() const noexcept { return list_.bodies.size(); }

private:
    detail::TurnList list_;
    detail::TurnList* previous_;
};

}  // namespace rill

#endif  // RILL_TURN_HPP

#if defined(__unix__) || defined(__APPLE__)
// #include <rill/posix_socket_sink.hpp>
#ifndef RILL_POSIX_SOCKET_SINK_HPP
#define RILL_POSIX_SOCKET_SINK_HPP

// The Sink for a POSIX stream socket, and the read-side helper that notices a
// client that went away while its stream had nothing to send.

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <functional>
#include <utility>

// #include <rill/buffer.hpp>
// #include <rill/status.hpp>

#ifndef RILL_POSIX_IOV_MAX
/// iovecs built on the stack for one sendmsg(); longer lists take several calls.
#define RILL_POSIX_IOV_MAX 64
#endif

namespace rill {

/// A Sink over a connected stream socket (blocking or not). It does not own the fd.
/// Writes use sendmsg(MSG_NOSIGNAL), so a vanished peer is an error value, never a SIGPIPE.
class PosixSocketSink {
public:
    using FinishFn = std::function<void(CloseReason)>;

    /// `on_finish` tells the server the body ended and how (to reuse or close the connection).
    explicit PosixSocketSink(int fd, FinishFn on_finish = {}) noexcept
        : fd_(fd), on_finish_(std::move(on_finish)) {}

    WriteResult write(const ConstBuffer* bufs, std::size_t count) noexcept {
        std::size_t total = 0;
        std::size_t i = 0;
        std::size_t offset = 0;  // into bufs[i]
        while (i < count) {
            iovec iov[RILL_POSIX_IOV_MAX];
            int n = 0;
            for (std::size_t j = i; j < count && n < RILL_POSIX_IOV_MAX; ++j) {
                const std::size_t skip = (j == i) ? offset : 0;
                if (bufs[j].size == skip) continue;
                iov[n].iov_base = const_cast<char*>(bufs[j].data + skip);
                iov[n].iov_len = bufs[j].size - skip;
                ++n;
            }
            if (n == 0) break;
            msghdr msg{};
            msg.msg_iov = iov;
            msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(n);
            const ssize_t w = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
            if (w < 0) {
                const int err = errno;
                if (err == EINTR) continue;
                if (err == EAGAIN || err == EWOULDBLOCK) return WriteResult::would_block(total);
                if (err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ESHUTDOWN)
                    return WriteResult{total, WriteStatus::closed, err};
                return WriteResult{total, WriteStatus::error, err};
            }
            auto left = static_cast<std::size_t>(w);
            total += left;
            while (i < count && left >= bufs[i].size - offset) {
                left -= bufs[i].size - offset;
                offset = 0;
                ++i;
            }
            offset += left;
        }
        return WriteResult::ok(total);
    }

    void finish(CloseReason reason) {
        if (on_finish_) on_finish_(reason);
    }

    int fd() const noexcept { return fd_; }

private:
    int fd_;
    FinishFn on_finish_;
};

/// What a peek at a socket's read side says about the peer.
enum class PeerState : unsigned char {
    open,     ///< nothing to read yet, or data (a pipelined request) waiting
    closed,   ///< the peer sent FIN or RST
};

/// Looks at the read side without consuming anything. Call it when the event loop
/// reports the fd readable (or EPOLLRDHUP) while a body streams.
inline PeerState peek_peer(int fd) noexcept {
    for (;;) {
        char byte;
        const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) return PeerState::open;
        if (n == 0) return PeerState::closed;
        if (errno == EINTR) continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? PeerState::open : PeerState::closed;
    }
}

/// Aborts `body` with CloseReason::peer_closed when the peer on `fd` has gone away.
/// Returns true when it did. Works for a stream that is idle (nothing to send).
template <class Body>
bool abort_if_peer_closed(Body& body, int fd) {
    if (peek_peer(fd) != PeerState::closed) return false;
    body.abort(CloseReason::peer_closed);
    return true;
}

}  // namespace rill

#endif  // RILL_POSIX_SOCKET_SINK_HPP
#endif

// After posix_socket_sink.hpp, which it uses for heartbeats where it exists.
// #include <rill/sse.hpp>
#ifndef RILL_SSE_HPP
#define RILL_SSE_HPP

// Server-Sent Events: the text/event-stream format of the WHATWG HTML standard
// ("Server-sent events", section 9.2), written into a caller's buffer or
// straight into a DeferredBody. Every event the encoder accepts is read back
// by a conforming client (EventSource) as exactly the fields it was given, up
// to one normalisation the format itself makes: a CRLF or a lone CR in data
// arrives as LF. Anything that cannot survive the trip is refused, not mangled.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

// #include <rill/fields.hpp>
// #include <rill/response.hpp>
// #include <rill/status.hpp>

#if defined(__unix__) || defined(__APPLE__)
// #include <rill/posix_socket_sink.hpp>
#endif

#ifndef RILL_SSE_STACK_BUFFER
/// Events (and comments) up to this many encoded bytes are built on the stack by
/// send_event()/send_comment(): no heap allocation when the sink takes them at once.
#define RILL_SSE_STACK_BUFFER 512
#endif

namespace rill {
namespace sse {

/// What became of encoding an event; anything but `ok` wrote nothing.
enum class EncodeStatus : std::uint8_t {
    ok,
    buffer_too_small,  ///< the size needed is returned; nothing was written
    invalid_type,      ///< the event type holds CR or LF (it would end the field early)
    invalid_id,        ///< the id holds CR or LF, or NUL (a client would ignore the whole id)
    invalid_retry,     ///< the retry time is negative or above max_retry_ms
};

constexpr const char* to_string(EncodeStatus s) noexcept {
    switch (s) {
        case EncodeStatus::ok: return "ok";
        case EncodeStatus::buffer_too_small: return "buffer too small";
        case EncodeStatus::invalid_type: return "event type holds CR or LF";
        case EncodeStatus::invalid_id: return "event id holds CR, LF or NUL";
        case EncodeStatus::invalid_retry: return "retry time is negative or too large";
    }
    return "unknown";
}

/// The largest retry time accepted, in milliseconds (about 24.8 days): the largest
/// delay every client's timers take without wrapping (a JavaScript timer's limit).
inline constexpr std::int64_t max_retry_ms = 2147483647;

/// One message of the stream. Fields left empty (nullopt) are not sent.
struct Event {
    /// The payload. CRLF, LF and lone CR each end a line; every line becomes a `data:`
    /// line and the client joins them with LF. An empty string is one empty `data:` line
    /// (the client dispatches an event with empty data); nullopt sends no data line, so
    /// the client dispatches nothing, but still takes the id and retry.
    std::optional<std::string_view> data;
    /// The `event:` field, the type the client dispatches; empty sends none ("message").
    std::string_view type;
    /// The `id:` field: the client's last event id, sent back in Last-Event-ID when it
    /// reconnects. An empty id (not nullopt) resets it.
    std::optional<std::string_view> id;
    /// The `retry:` field: the client's reconnection delay, in milliseconds.
    std::optional<std::int64_t> retry;

    Event() = default;
    /// The fields in the order of the members: `sse::Event{"12:00", "tick", "7"}`.
    explicit Event(std::optional<std::string_view> data_field, std::string_view type_field = {},
                   std::optional<std::string_view> id_field = std::nullopt,
                   std::optional<std::int64_t> retry_field = std::nullopt) noexcept
        : data(data_field), type(type_field), id(id_field), retry(retry_field) {}
};

/// The outcome of encoding, and the bytes written (or needed, with buffer_too_small).
struct EncodeResult {
    EncodeStatus status = EncodeStatus::ok;
    std::size_t size = 0;
};

namespace detail {

// One walk over an event serves both to measure and to write it.
struct CountBytes {
    std::size_t n = 0;
    void put(std::string_view s) noexcept { n += s.size(); }
    void put(char) noexcept { ++n; }
};

struct WriteBytes {
    char* p;
    void put(std::string_view s) noexcept {
        if (!s.empty()) std::memcpy(p, s.data(), s.size());
        p += s.size();
    }
    void put(char c) noexcept { *p++ = c; }
};

// "name: value\n", or "name:\n" for an empty value. The space is always written
// before a value because a client strips exactly one leading space: a value that
// itself starts with a space keeps it.
template <class Out>
void put_field(Out& out, std::string_view name, std::string_view value) noexcept {
    out.put(name);
    out.put(':');
    if (!value.empty()) {
        out.put(' ');
        out.put(value);
    }
    out.put('\n');
}

// Every line of `text` as its own field; CRLF, LF and a lone CR each end a line,
// as a client's line splitting does.
template <class Out>
void put_lines(Out& out, std::string_view name, std::string_view text) noexcept {
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\r' && text[i] != '\n') continue;
        put_field(out, name, text.substr(start, i - start));
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
        start = i + 1;
    }
    put_field(out, name, text.substr(start));
}

inline std::string_view format_decimal(char (&buf)[20], std::uint64_t v) noexcept {
    std::size_t i = sizeof buf;
    do {
        buf[--i] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return std::string_view(buf + i, sizeof buf - i);
}

inline EncodeStatus check(const Event& e) noexcept {
    if (e.type.find_first_of("\r\n") != std::string_view::npos) return EncodeStatus::invalid_type;
    if (e.id && e.id->find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
        return EncodeStatus::invalid_id;
    if (e.retry && (*e.retry < 0 || *e.retry > max_retry_ms)) return EncodeStatus::invalid_retry;
    return EncodeStatus::ok;
}

// Field order: event, id, retry, data, then the blank line that dispatches. The
// order is not significant to a client: all fields apply at the blank line.
template <class Out>
void put_event(Out& out, const Event& e) noexcept {
    if (!e.type.empty()) put_field(out, "event", e.type);
    if (e.id) put_field(out, "id", *e.id);
    if (e.retry) {
        char digits[20];
        put_field(out, "retry", format_decimal(digits, static_cast<std::uint64_t>(*e.retry)));
    }
    if (e.data) put_lines(out, "data", *e.data);
    out.put('\n');
}

}  // namespace detail

/// The bytes `event` encodes to, or why it cannot be encoded (then size is 0).
[[nodiscard]] inline EncodeResult encoded_size(const Event& event) noexcept {
    const EncodeStatus status = detail::check(event);
    if (status != EncodeStatus::ok) return {status, 0};
    detail::CountBytes count;
    detail::put_event(count, event);
    return {EncodeStatus::ok, count.n};
}

/// Writes `event` into out[0, capacity). Returns ok and the bytes written, a refusal,
/// or buffer_too_small and the size needed; only `ok` wrote anything.
[[nodiscard]] inline EncodeResult encode(const Event& event, char* out, std::size_t capacity) noexcept {
    const EncodeResult need = encoded_size(event);
    if (need.status != EncodeStatus::ok) return need;
    if (need.size > capacity) return {EncodeStatus::buffer_too_small, need.size};
    detail::WriteBytes writer{out};
    detail::put_event(writer, event);
    return need;
}

/// Appends `event` to `out`; a refused event appends nothing.
[[nodiscard]] inline EncodeStatus append(std::string& out, const Event& event) {
    const EncodeResult need = encoded_size(event);
    if (need.status != EncodeStatus::ok) return need.status;
    const std::size_t at = out.size();
    out.resize(at + need.size);
    detail::WriteBytes writer{&out[at]};
    detail::put_event(writer, event);
    return EncodeStatus::ok;
}

/// Bytes of a comment line (or lines): `:` lines that every client ignores, used as
/// heartbeats. A CR or LF in `text` starts another comment line rather than being
/// refused: no text can turn a comment into a field. An empty text is `:\n`.
[[nodiscard]] inline std::size_t comment_size(std::string_view text) noexcept {
    detail::CountBytes count;
    detail::put_lines(count, "", text);
    return count.n;
}

/// Writes a comment into out[0, capacity): ok, or buffer_too_small with the size needed.
[[nodiscard]] inline EncodeResult encode_comment(std::string_view text, char* out, std::size_t capacity) noexcept {
    const std::size_t size = comment_size(text);
    if (size > capacity) return {EncodeStatus::buffer_too_small, size};
    detail::WriteBytes writer{out};
    detail::put_lines(writer, "", text);
    return {EncodeStatus::ok, size};
}

inline void append_comment(std::string& out, std::string_view text) {
    const std::size_t at = out.size();
    out.resize(at + comment_size(text));
    detail::WriteBytes writer{&out[at]};
    detail::put_lines(writer, "", text);
}

/// What send_event() did: a refusal sends nothing; otherwise the body's answer.
struct [[nodiscard]] SendResult {
    EncodeStatus encode = EncodeStatus::ok;  ///< anything but ok: refused, nothing was sent
    std::optional<SendStatus> send;          ///< the body's answer to the one send(); empty when refused
};

/// Sends `event` as one part of `body` (any DeferredBody<Sink>, or a type with its
/// send(std::string_view) and send(std::string&&)). An event of up to
/// RILL_SSE_STACK_BUFFER bytes is built on the stack: with a sink that takes it at
/// once, nothing is allocated. A larger one is built in one string, moved into the body.
template <class Body>
SendResult send_event(Body& body, const Event& event) {
    const EncodeResult need = encoded_size(event);
    if (need.status != EncodeStatus::ok) return {need.status, std::nullopt};
    if (need.size <= RILL_SSE_STACK_BUFFER) {
        char buf[RILL_SSE_STACK_BUFFER];
        detail::WriteBytes writer{buf};
        detail::put_event(writer, event);
        return {EncodeStatus::ok, body.send(std::string_view(buf, need.size))};
    }
    std::string bytes(need.size, '\0');
    detail::WriteBytes writer{&bytes[0]};
    detail::put_event(writer, event);
    return {EncodeStatus::ok, body.send(std::move(bytes))};
}

/// Sends a comment (see comment_size()) as one part of `body`; stack-built like send_event().
template <class Body>
[[nodiscard]] SendStatus send_comment(Body& body, std::string_view text) {
    const std::size_t size = comment_size(text);
    if (size <= RILL_SSE_STACK_BUFFER) {
        char buf[RILL_SSE_STACK_BUFFER];
        detail::WriteBytes writer{buf};
        detail::put_lines(writer, "", text);
        return body.send(std::string_view(buf, size));
    }
    std::string bytes(size, '\0');
    detail::WriteBytes writer{&bytes[0]};
    detail::put_lines(writer, "", text);
    return body.send(std::move(bytes));
}

/// What a heartbeat found out about the client.
enum class HeartbeatStatus : std::uint8_t {
    alive,    ///< the comment was handed to the sink (or queued behind nothing else)
    stalled,  ///< earlier bytes are still queued: the client is connected but not reading;
              ///< nothing was added (the app decides how long a stall it tolerates)
    gone,     ///< the peer closed, the transport failed, or the body has ended: stop producing
};

constexpr const char* to_string(HeartbeatStatus s) noexcept {
    switch (s) {
        case HeartbeatStatus::alive: return "alive";
        case HeartbeatStatus::stalled: return "stalled";
        case HeartbeatStatus::gone: return "gone";
    }
    return "unknown";
}

/// Sends a comment on an idle stream and says whether the client is still there. Call it
/// from the integration's timer every N seconds (15 s keeps most proxies from timing an
/// idle stream out). A client that vanished shows up as a send that answers `closed` (on
/// TCP often only at the second write after it left: the first is answered by a reset).
/// With a PosixSocketSink a peer that closed its side is seen at once, before any write,
/// by a peek at the socket (rill::abort_if_peer_closed); the body is then aborted with
/// CloseReason::peer_closed.
template <class Body>
[[nodiscard]] HeartbeatStatus heartbeat(Body& body, std::string_view comment = {}) {
    if (body.ended()) return HeartbeatStatus::gone;
#if defined(__unix__) || defined(__APPLE__)
    if constexpr (std::is_same_v<typename Body::sink_type, PosixSocketSink>) {
        if (PosixSocketSink* sink = body.sink(); sink != nullptr && abort_if_peer_closed(body, sink->fd()))
            return HeartbeatStatus::gone;
    }
#endif
    if (body.bytes_queued() != 0) return HeartbeatStatus::stalled;
    if (send_comment(body, comment) == SendStatus::closed || body.ended()) return HeartbeatStatus::gone;
    return HeartbeatStatus::alive;
}

/// The head of an event stream: 200, `Content-Type: text/event-stream`, `Cache-Control:
/// no-cache` (no cache may replay a live stream), `X-Accel-Buffering: no` (nginx passes each
/// event on at once). No Content-Length: rill frames it chunked on HTTP/1.1 and
/// close-delimited on HTTP/1.0.
inline ResponseHead response_head() {
    ResponseHead head(200);
    head.header("Content-Type", "text/event-stream")
        .header("Cache-Control", "no-cache")
        .header("X-Accel-Buffering", "no");
    return head;
}

/// The id to resume after, from the raw value of a Last-Event-ID request header (the
/// server's parser hands it in; "" when absent). A client sends back the last id it
/// received. Surrounding spaces and tabs are trimmed, as HTTP trims every field value.
/// nullopt when absent or empty, longer than `max_size` bytes, or holding a control
/// character (no client sends one: an id with CR, LF or NUL is never accepted).
[[nodiscard]] inline std::optional<std::string_view> last_event_id(std::string_view raw,
                                                                   std::size_t max_size = 256) noexcept {
    const std::string_view value = rill::detail::trim_ows(raw);
    if (value.empty() || value.size() > max_size || !is_valid_field_value(value)) return std::nullopt;
    return value;
}

}  // namespace sse
}  // namespace rill

#endif  // RILL_SSE_HPP

// Producers on any thread (push into a body, or pulled by a thread-per-connection
// server) and, with C++20, co_await; rill/httplib.hpp is not included: it needs cpp-httplib.
// #include <rill/producer.hpp>
#ifndef RILL_PRODUCER_HPP
#define RILL_PRODUCER_HPP

// rill::Producer: sends parts to a body from any thread. The body stays
// single-threaded; the producer appends to a shared, locked queue and the
// first part of each batch wakes the body's thread through a waker the
// integration supplies. See docs/threading.md.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

// #include <rill/deferred_body.hpp>
// #include <rill/fields.hpp>
// #include <rill/status.hpp>

namespace rill {

/// What became of Producer::wait_writable().
enum class WaitStatus : std::uint8_t {
    ready,    ///< the queue is below the low-water mark: send again
    closed,   ///< the stream ended (or close() was called): stop producing
    timeout,  ///< still above the mark when the timeout passed
};

constexpr const char* to_string(WaitStatus s) noexcept {
    switch (s) {
        case WaitStatus::ready: return "ready";
        case WaitStatus::closed: return "closed";
        case WaitStatus::timeout: return "timeout";
    }
    return "unknown";
}

/// Callbacks for the producer's side. Both run on the consumer's thread (the
/// body's loop thread, or the worker thread of a PullStream), never under a lock.
struct ProducerOptions {
    /// Once after each episode of backpressure, when the queue fell below the low-water mark.
    std::function<void()> on_writable;
    /// Once, when the stream ended, with the reason.
    std::function<void(CloseReason)> on_close;
};

/// Counters, for tests and benchmarks. Read with Producer::stats().
struct ProducerStats {
    std::uint64_t parts_accepted = 0;  ///< sends answered queued or backpressure
    std::uint64_t parts_refused = 0;   ///< sends answered would_block or closed
    std::uint64_t parts_dropped = 0;   ///< accepted, but the stream ended before they left the queue
    std::uint64_t wakeups = 0;         ///< calls of the waker (push) or consumer notifications (pull)
    std::uint64_t batches = 0;         ///< times the consumer took bytes from the queue
    std::size_t max_queued = 0;        ///< the most bytes the shared queue ever held
};

namespace detail {

// The state shared by every copy of a Producer and by its consumer (a body's
// loop thread, or a pull worker). Everything mutable is guarded by `mutex`.
class ProducerState {
public:
    ProducerState(BodyOptions body, ProducerOptions callbacks)
        : opts_(body), callbacks_(std::move(callbacks)) {
        if (opts_.low_water > opts_.high_water) opts_.low_water = opts_.high_water;
    }

    // ---- producer side: any thread ----

    SendStatus send(std::string_view part) {
        bool wake_now = false;
        SendStatus status = SendStatus::queued;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (ended_ || close_requested_) {
                ++stats_.parts_refused;
                return SendStatus::closed;
            }
            if (opts_.overflow == OverflowPolicy::reject &&
                (paused_ || (!queue_.empty() && queue_.size() >= opts_.high_water))) {
                ++stats_.parts_refused;
                blocked_ = true;
                return SendStatus::would_block;
            }
            if (part.empty()) return over_locked() ? SendStatus::backpressure : SendStatus::queued;
            queue_.append(part.data(), part.size());
            ++queued_parts_;
            ++stats_.parts_accepted;
            if (queue_.size() > stats_.max_queued) stats_.max_queued = queue_.size();
            wake_now = schedule_locked();
            if (over_locked()) {
                blocked_ = true;
                status = SendStatus::backpressure;
            }
        }
        if (wake_now) wake_();
        return status;
    }

    CloseStatus request_end(const Fields* trailers, bool abort) {
        bool wake_now = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (ended_ || (close_requested_ && !abort)) return CloseStatus::already_closed;
            close_requested_ = true;
            if (abort) abort_requested_ = true;
            if (trailers != nullptr) trailers_ = *trailers;
            // An abort must reach a paused body too; a close waits behind the queued bytes.
            wake_now = abort ? force_schedule_locked() : schedule_locked();
        }
        writable_cv_.notify_all();
        if (wake_now) wake_();
        return CloseStatus::ok;
    }

    WaitStatus wait_writable(std::chrono::nanoseconds timeout) {
        std::unique_lock<std::mutex> lock(mutex_);
        ++waiters_;
        const bool ready = writable_cv_.wait_for(
            lock, timeout, [&] { return ended_ || close_requested_ || writable_locked(); });
        --waiters_;
        if (ended_ || close_requested_) return WaitStatus::closed;
        return ready ? WaitStatus::ready : WaitStatus::timeout;
    }

    bool ended() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return ended_;
    }
    CloseReason close_reason() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return reason_;
    }
    std::size_t bytes_queued() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return queue_.size();
    }
    ProducerStats stats() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return stats_;
    }
    const BodyOptions& options() const noexcept { return opts_; }

    // ---- consumer side: one thread at a time ----

    // Set once, before the first Producer is handed out.
    void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }

    // What the consumer takes in one go.
    struct Take {
        bool ended = false;       // the stream already ended: nothing to do
        bool paused = false;      // the consumer said it is full: nothing was taken
        bool close = false;       // end the stream after these bytes
        bool abort = false;       // end it now, dropping the bytes
        bool has_trailers = false;
        Fields trailers;
        std::uint64_t parts = 0;
    };

    // Swaps the queued bytes into `out` (whose old contents are dropped, its
    // capacity reused by the queue) and clears the "wake-up on its way" flag in
    // the same critical section, so a part appended afterwards wakes again.
    Take take(std::string& out) {
        Take t;
        out.clear();
        std::lock_guard<std::mutex> lock(mutex_);
        scheduled_ = false;
        if (ended_) return t.ended = true, t;
        if (abort_requested_) return t.abort = true, t;
        if (paused_) return t.paused = true, t;
        out.swap(queue_);
        t.parts = queued_parts_;
        queued_parts_ = 0;
        if (!out.empty()) ++stats_.batches;
        t.close = close_requested_;
        if (t.close && !trailers_.empty()) {
            t.has_trailers = true;
            t.trailers = trailers_;
        }
        return t;
    }

    // The body refused a batch (its reject policy answered would_block): the bytes go
    // back in front of whatever arrived since, and the consumer waits for its drain.
    void put_back(std::string& batch, std::uint64_t parts) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (ended_) return;
        batch.append(queue_);
        queue_.swap(batch);
        queued_parts_ += parts;
        paused_ = true;
        batch.clear();
    }

    // The consumer is above its own high-water mark (true) or drained (false).
    void set_paused(bool paused) {
        std::lock_guard<std::mutex> lock(mutex_);
        paused_ = paused;
    }

    // After bytes left the queue: tells producers that were told to wait. Returns
    // true when the caller should run on_writable.
    bool notify_writable() {
        bool fire = false;
        bool wake_waiters = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!writable_locked() || ended_) return false;
            fire = blocked_;
            blocked_ = false;
            wake_waiters = waiters_ != 0;
        }
        if (wake_waiters) writable_cv_.notify_all();
        if (fire && callbacks_.on_writable) callbacks_.on_writable();
        return fire;
    }

    // Says whether bytes are queued or an end is due (read under the lock).
    bool has_work() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return !ended_ && (!queue_.empty() || close_requested_);
    }

    // Parts the consumer took but its body refused.
    void count_dropped(std::uint64_t parts) {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.parts_dropped += parts;
    }

    // The stream ended (on the consumer's thread): later sends answer closed,
    // waiters return, on_close runs once. Parts still queued count as dropped.
    void end(CloseReason reason) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (ended_) return;
            ended_ = true;
            reason_ = reason;
            stats_.parts_dropped += queued_parts_;
            queued_parts_ = 0;
            std::string().swap(queue_);
            trailers_.clear();
        }
        writable_cv_.notify_all();
        if (callbacks_.on_close) {
            auto on_close = std::move(callbacks_.on_close);
            callbacks_.on_close = nullptr;
            on_close(reason);
        }
    }

    // For a consumer that waits for work itself (PullStream).
    std::mutex& mutex() const noexcept { return mutex_; }
    std::condition_variable& data_cv() noexcept { return data_cv_; }
    // Under mutex(): the pull consumer's predicate.
    bool ready_locked() const noexcept {
        return ended_ || abort_requested_ || !queue_.empty() || close_requested_;
    }

private:
    bool over_locked() const noexcept { return paused_ || queue_.size() > opts_.high_water; }
    bool writable_locked() const noexcept {
        return !paused_ && (queue_.size() < opts_.low_water || queue_.empty());
    }
    // The producer that makes work appear for an idle consumer wakes it; nobody
    // else does. A paused consumer is resumed by its own drain, not by producers.
    bool schedule_locked() noexcept {
        if (scheduled_ || paused_) return false;
        return force_schedule_locked();
    }
    bool force_schedule_locked() noexcept {
        if (scheduled_) return false;
        scheduled_ = true;
        ++stats_.wakeups;
        return true;
    }

    mutable std::mutex mutex_;
    std::condition_variable writable_cv_;
    std::condition_variable data_cv_;
    std::string queue_;
    std::uint64_t queued_parts_ = 0;
    BodyOptions opts_;
    ProducerOptions callbacks_;
    std::function<void()> wake_;
    Fields trailers_;
    ProducerStats stats_;
    unsigned waiters_ = 0;
    CloseReason reason_ = CloseReason::completed;
    bool scheduled_ = false;        // a wake-up is on its way and the consumer has not taken the bytes yet
    bool paused_ = false;           // the consumer is full: producers do not wake it
    bool blocked_ = false;          // a producer was told to wait: on_writable is owed
    bool close_requested_ = false;
    bool abort_requested_ = false;
    bool ended_ = false;
};

}  // namespace detail

/// A handle for sending parts from any thread. Copyable; every copy feeds the same
/// stream. Safe to outlive the body: sends then answer SendStatus::closed.
class Producer {
public:
    /// A handle that feeds nothing: every send answers closed.
    Producer() = default;
    explicit Producer(std::shared_ptr<detail::ProducerState> state) noexcept : state_(std::move(state)) {}

    /// Queues a copy of `part`. Answers queued, backpressure (kept: wait before the next
    /// one), would_block (OverflowPolicy::reject: not kept) or closed (not kept).
    [[nodiscard]] SendStatus send(std::string_view part) {
        return state_ ? state_->send(part) : SendStatus::closed;
    }
    /// Ends the stream after every part accepted before this call. Any thread.
    CloseStatus close() { return state_ ? state_->request_end(nullptr, false) : CloseStatus::already_closed; }
    /// The same, ending a chunked body with trailer fields.
    CloseStatus close(const Fields& trailers) {
        return state_ ? state_->request_end(&trailers, false) : CloseStatus::already_closed;
    }
    /// Ends the stream as soon as the consumer runs, dropping what is queued.
    void abort() {
        if (state_) (void)state_->request_end(nullptr, true);
    }
    /// Blocks until the queue is below the low-water mark (ready), the stream ends or
    /// close() was called (closed), or the timeout passes (timeout).
    template <class Rep, class Period>
    WaitStatus wait_writable(std::chrono::duration<Rep, Period> timeout) {
        if (!state_) return WaitStatus::closed;
        return state_->wait_writable(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
    }
    /// True once the stream ended (the reason is close_reason()).
    bool ended() const { return !state_ || state_->ended(); }
    CloseReason close_reason() const { return state_ ? state_->close_reason() : CloseReason::aborted; }
    /// Bytes waiting in the shared queue (not yet handed to the body or the worker).
    std::size_t bytes_queued() const { return state_ ? state_->bytes_queued() : 0; }
    ProducerStats stats() const { return state_ ? state_->stats() : ProducerStats{}; }
    explicit operator bool() const noexcept { return static_cast<bool>(state_); }

private:
    std::shared_ptr<detail::ProducerState> state_;
};

namespace detail {

// The loop-thread side of a pushed stream: moves the shared queue into the body.
// The state is handed in by whoever holds it: a waker task (taken from the
// producer that woke) or the body's callbacks. The state's waker holds the pump,
// so the pump must not hold the state.
template <class Body>
class ProducerPump {
public:
    explicit ProducerPump(std::weak_ptr<Body> body) : body_(std::move(body)) {}

    // On the loop thread: the task the waker runs, and the body's on_drain.
    void drain(const std::shared_ptr<ProducerState>& state) {
        // The uncork in drain_once() may fire the body's on_drain, which lands here
        // again: the outer call goes round once more instead, after the batch is settled
        // (a batch the body refused must not wait for a drain that already happened).
        if (draining_) {
            again_ = true;
            return;
        }
        struct Draining {
            bool& flag;
            explicit Draining(bool& f) : flag(f) { flag = true; }
            ~Draining() { flag = false; }
        } draining(draining_);
        do {
            again_ = false;
            drain_once(state);
        } while (again_);
    }

private:
    void drain_once(const std::shared_ptr<ProducerState>& state) {
        std::shared_ptr<Body> body = body_.lock();
        if (!body) {
            state->end(CloseReason::aborted);  // destroyed before it ended: no on_close came
            return;
        }
        // A body above its own high-water mark gets nothing more: its send answered
        // backpressure, so its on_drain will call us again.
        state->set_paused(full(*body));
        ProducerState::Take t = state->take(batch_);
        if (t.ended || t.paused) return;
        if (t.abort) {
            body->abort();
            state->end(CloseReason::aborted);
            return;
        }
        SendStatus s = SendStatus::written;
        if (!batch_.empty()) {
            Batch<Body> cork(*body);
            s = body->send(std::string_view(batch_));
        }
        const bool failed = body->state() == BodyState::closed && body->close_reason() != CloseReason::completed;
        if (s == SendStatus::closed || s == SendStatus::length_exceeded || failed) {
            // Refused, or lost with a transport that failed on its way out (the uncork
            // writes it); a body that ended has told the state through on_close already.
            state->count_dropped(t.parts);
            if (!body->ended()) body->abort();
            state->end(body->close_reason());
            return;
        }
        if (s == SendStatus::would_block) {
            // The body's reject policy refused the batch whole; its on_drain brings us back.
            state->put_back(batch_, t.parts);
            return;
        }
        if (t.close) {
            if (t.has_trailers) {
                (void)body->close(t.trailers);
            } else {
                (void)body->close();
            }
            return;
        }
        // Judged after the uncork: a corked send answers backpressure for bytes the uncork
        // then wrote. Still full means the body owes us an on_drain.
        const bool still_full = full(*body);
        state->set_paused(still_full);
        if (!still_full) (void)state->notify_writable();
    }

    static bool full(const Body& body) noexcept { return body.bytes_queued() > body.options().high_water; }

    std::weak_ptr<Body> body_;
    std::string batch_;  // the loop thread's buffer; its capacity travels back to the queue
    bool draining_ = false;
    bool again_ = false;  // on_drain fired while draining
};

}  // namespace detail

/// Creates a Producer feeding `body` (a shared_ptr to a DeferredBody) from any thread.
///
/// `waker` is a thread-safe callable `void(std::function<void()> task)` that runs `task`
/// on the body's thread soon (asio::post, an eventfd, uv_async_send). It is called once
/// per batch, from the producer thread whose part made the queue non-empty, and never
/// after the body has ended. Call make_producer on the body's thread: it takes the
/// body's on_drain and on_close slots (use the options' on_writable and on_close
/// instead). The body's watermarks and overflow policy apply to the shared queue too.
template <class Body, class Waker>
Producer make_producer(const std::shared_ptr<Body>& body, Waker waker, ProducerOptions options = {}) {
    auto state = std::make_shared<detail::ProducerState>(body->options(), std::move(options));
    auto pump = std::make_shared<detail::ProducerPump<Body>>(body);
    // The task holds the state, taken from the producer that wakes (it holds it): parts
    // sent just before every handle was dropped still arrive, and so does a close().
    std::weak_ptr<detail::ProducerState> weak = state;
    state->set_wake([waker = std::move(waker), pump, weak] {
        if (auto s = weak.lock()) waker(std::function<void()>([pump, s] { pump->drain(s); }));
    });
    // The body's callbacks hold the state and the pump until it ends; an ended body
    // calls on_close at once.
    body->on_drain([pump, state] { pump->drain(state); });
    body->on_close([state](CloseReason reason) { state->end(reason); });
    return Producer(std::move(state));
}

}  // namespace rill

#endif  // RILL_PRODUCER_HPP
// #include <rill/pull.hpp>
#ifndef RILL_PULL_HPP
#define RILL_PULL_HPP

// rill::PullStream: the pull side for thread-per-connection servers. Producers
// on any thread send through a rill::Producer; the server's worker thread
// waits (with a timeout, no busy loop) for the next bytes and writes them with
// its own blocking write, outside any lock. No HTTP framing is added: the
// server frames the body itself. See docs/threading.md.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

// #include <rill/deferred_body.hpp>
// #include <rill/producer.hpp>
// #include <rill/status.hpp>

namespace rill {

/// What became of PullStream::pull().
enum class PullStatus : std::uint8_t {
    data,     ///< `out` holds the next bytes: write them, then pull again
    timeout,  ///< nothing arrived in time (`out` is empty): check your connection, pull again
    end,      ///< the producers closed the stream and every byte was pulled: finish the response
    closed,   ///< the stream ended otherwise (aborted, or finish() was called): give up the response
};

constexpr const char* to_string(PullStatus s) noexcept {
    switch (s) {
        case PullStatus::data: return "data";
        case PullStatus::timeout: return "timeout";
        case PullStatus::end: return "end";
        case PullStatus::closed: return "closed";
    }
    return "unknown";
}

/// A stream of bytes from producers on any thread to one consumer thread. Copyable
/// (copies share the stream); one thread at a time may call pull() and finish().
class PullStream {
public:
    /// `options`' watermarks and overflow policy bound the queue between producers
    /// and the worker; `callbacks` run on the worker's thread.
    explicit PullStream(BodyOptions options = {}, ProducerOptions callbacks = {})
        : state_(std::make_shared<detail::ProducerState>(options, std::move(callbacks))) {
        detail::ProducerState* s = state_.get();  // the state owns the waker: a plain pointer is enough
        state_->set_wake([s] { s->data_cv().notify_one(); });
    }

    /// A handle for the producers (as many copies as you like, on any threads).
    Producer producer() const { return Producer(state_); }

    /// Waits up to `timeout` for bytes or the end, then moves every queued byte into
    /// `out` (its previous contents are dropped; its capacity is reused by the queue).
    template <class Rep, class Period>
    PullStatus pull(std::string& out, std::chrono::duration<Rep, Period> timeout) {
        out.clear();
        {
            std::unique_lock<std::mutex> lock(state_->mutex());
            if (!state_->data_cv().wait_for(lock, timeout, [&] { return state_->ready_locked(); }))
                return PullStatus::timeout;
        }
        detail::ProducerState::Take t = state_->take(out);
        if (t.ended) return state_->close_reason() == CloseReason::completed ? PullStatus::end : PullStatus::closed;
        if (t.abort) {
            state_->end(CloseReason::aborted);
            return PullStatus::closed;
        }
        if (!out.empty()) {
            (void)state_->notify_writable();
            return PullStatus::data;
        }
        if (t.close) {
            state_->end(CloseReason::completed);
            return PullStatus::end;
        }
        return PullStatus::timeout;  // another consumer call took the bytes
    }

    /// The worker ends the stream: CloseReason::peer_closed when its write failed,
    /// shutdown when the server stops. Producers' sends answer closed from now on.
    void finish(CloseReason reason) { state_->end(reason); }

    bool ended() const { return state_->ended(); }
    CloseReason close_reason() const { return state_->close_reason(); }
    ProducerStats stats() const { return state_->stats(); }

private:
    std::shared_ptr<detail::ProducerState> state_;
};

}  // namespace rill

#endif  // RILL_PULL_HPP
// #include <rill/coro.hpp>
#ifndef RILL_CORO_HPP
#define RILL_CORO_HPP

// rill::AwaitableBody (C++20): a producer written as a plain coroutine loop,
//
//     rill::AwaitableBody stream(body);
//     while (more()) if (co_await stream.send(next()) == rill::SendStatus::closed) co_return;
//
// suspends while the body is above its high-water mark, resumes on drain, and
// reports close. Single-threaded like the body: the coroutine runs on the
// body's loop thread and is resumed from its on_drain / on_close. From other
// threads, use rill::Producer (rill/producer.hpp).
//
// Compiled as C++17 (or without coroutine support) this header defines nothing
// but RILL_HAS_COROUTINES, which is 0.

#if defined(__cpp_impl_coroutine) && __cpp_impl_coroutine >= 201902L && defined(__has_include)
#if __has_include(<coroutine>)
#define RILL_HAS_COROUTINES 1
#endif
#endif
#ifndef RILL_HAS_COROUTINES
#define RILL_HAS_COROUTINES 0
#endif

#if RILL_HAS_COROUTINES

#include <coroutine>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

// #include <rill/deferred_body.hpp>
// #include <rill/status.hpp>

namespace rill {

/// Sends into a body from a coroutine, waiting out backpressure. Takes the body's
/// on_drain and on_close slots (on_close() here forwards the reason).
template <class Body>
class AwaitableBody {
    struct Shared {
        std::coroutine_handle<> waiting;
        bool drained = false;
        std::function<void(CloseReason)> on_close;
        void resume() {
            if (auto h = std::exchange(waiting, nullptr)) h.resume();
        }
    };

public:
    explicit AwaitableBody(std::shared_ptr<Body> body) : body_(std::move(body)), shared_(std::make_shared<Shared>()) {
        // The callbacks hold the shared part only: a coroutine destroyed while it
        // waits leaves nothing dangling (its destructor forgets the handle).
        std::weak_ptr<Shared> weak = shared_;
        body_->on_drain([weak] {
            if (auto s = weak.lock()) {
                s->drained = true;
                s->resume();
            }
        });
        body_->on_close([weak](CloseReason reason) {
            if (auto s = weak.lock()) {
                if (s->on_close) s->on_close(reason);
                s->resume();
            }
        });
    }
    ~AwaitableBody() {
        if (shared_) shared_->waiting = nullptr;
    }
    AwaitableBody(const AwaitableBody&) = delete;
    AwaitableBody& operator=(const AwaitableBody&) = delete;

    /// co_await it: the part is sent at once. The result is the part's status —
    /// written or queued (kept), closed or length_exceeded (dropped) — after waiting,
    /// if the body was above its high-water mark, until it drained or ended (then closed).
    /// A would_block (reject policy) waits for the drain and tries the part once more.
    class SendAwaiter {
    public:
        SendAwaiter(AwaitableBody& owner, std::string_view part) noexcept : owner_(owner), part_(part) {}
        bool await_ready() {
            status_ = owner_.body_->send(part_);
            return status_ != SendStatus::backpressure && status_ != SendStatus::would_block;
        }
        void await_suspend(std::coroutine_handle<> h) noexcept {
            owner_.shared_->drained = false;
            owner_.shared_->waiting = h;
        }
        SendStatus await_resume() {
            if (status_ != SendStatus::backpressure && status_ != SendStatus::would_block) return status_;
            if (owner_.body_->ended()) return SendStatus::closed;
            if (status_ == SendStatus::would_block) return owner_.body_->send(part_);
            return SendStatus::queued;
        }

    private:
        AwaitableBody& owner_;
        std::string_view part_;
        SendStatus status_ = SendStatus::written;
    };

    /// The part must stay valid until the co_await expression completes (a temporary does).
    [[nodiscard]] SendAwaiter send(std::string_view part) noexcept { return SendAwaiter(*this, part); }

    /// Called with the reason when the body ends (on the loop thread).
    template <class F>
    void on_close(F&& callback) {
        shared_->on_close = std::forward<F>(callback);
    }

    Body& body() noexcept { return *body_; }

private:
    std::shared_ptr<Body> body_;
    std::shared_ptr<Shared> shared_;
};

template <class Body>
AwaitableBody(std::shared_ptr<Body>) -> AwaitableBody<Body>;

}  // namespace rill

#endif  // RILL_HAS_COROUTINES

#endif  // RILL_CORO_HPP

#endif  // RILL_RILL_HPP

#endif  // RILL_SINGLE_INCLUDE_RILL_HPP
