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

#include "rill/fields.hpp"
#include "rill/response.hpp"
#include "rill/status.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include "rill/posix_socket_sink.hpp"
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
