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
