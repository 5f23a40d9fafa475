#ifndef RILL_HTTPLIB_HPP
#define RILL_HTTPLIB_HPP

// Glue between rill::PullStream and cpp-httplib's content providers
// (https://github.com/yhirose/cpp-httplib; Debian: libcpp-httplib-dev).
// Not part of rill/rill.hpp nor of the single header: include it after, or
// instead of, <httplib.h> in the file that sets up your routes.
//
// httplib runs each connection on a worker thread and calls the content
// provider there; its DataSink is valid only inside that call, frames the body
// itself (chunked or Content-Length) and blocks in write(). So the worker pulls
// from the stream (waiting at most `poll` for bytes, no busy loop) and writes
// with httplib's own blocking write, holding no lock. See docs/threading.md.

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "rill/pull.hpp"

namespace rill {
namespace detail {

// One call of httplib's provider loop: false makes httplib drop the connection.
// `remaining` is the Content-Length still owed (or npos for chunked).
inline bool httplib_step(PullStream& stream, std::string& buf, std::chrono::milliseconds poll,
                         ::httplib::DataSink& sink, std::size_t remaining, bool chunked) {
    switch (stream.pull(buf, poll)) {
        case PullStatus::data: {
            std::size_t n = buf.size();
            if (!chunked && n > remaining) n = remaining;  // httplib would write past its own Content-Length
            if (!sink.write(buf.data(), n)) {
                stream.finish(CloseReason::peer_closed);  // the client left: the producers hear it now
                return false;
            }
            if (!chunked && n == remaining) stream.finish(CloseReason::completed);
            return true;
        }
        case PullStatus::timeout:
            return true;  // httplib checks that the socket is writable and calls again
        case PullStatus::end:
            if (!chunked) return remaining == 0;  // short of the declared length: drop the connection
            sink.done();
            return true;
        case PullStatus::closed:
            return false;
    }
    return false;
}

}  // namespace detail

/// Serves `stream` as the body of `res`, chunked (length unknown). Producers send
/// through stream.producer() from any thread and close() at the end. If the client
/// leaves, the stream ends with CloseReason::peer_closed at the next write.
inline void serve_chunked(::httplib::Response& res, const std::string& content_type, PullStream stream,
                          std::chrono::milliseconds poll = std::chrono::milliseconds(100)) {
    auto buf = std::make_shared<std::string>();
    res.set_chunked_content_provider(
        content_type,
        [stream, buf, poll](std::size_t, ::httplib::DataSink& sink) mutable {
            return detail::httplib_step(stream, *buf, poll, sink, static_cast<std::size_t>(-1), true);
        },
        [stream](bool success) mutable {
            if (!success) stream.finish(CloseReason::peer_closed);
        });
}

/// The same with a declared Content-Length: the producers send exactly `length` bytes.
/// Bytes beyond it are dropped; a stream closed short of it drops the connection.
inline void serve_with_length(::httplib::Response& res, std::size_t length, const std::string& content_type,
                              PullStream stream, std::chrono::milliseconds poll = std::chrono::milliseconds(100)) {
    auto buf = std::make_shared<std::string>();
    res.set_content_provider(
        length, content_type,
        [stream, buf, poll](std::size_t, std::size_t remaining, ::httplib::DataSink& sink) mutable {
            return detail::httplib_step(stream, *buf, poll, sink, remaining, false);
        },
        [stream](bool success) mutable {
            if (!success) stream.finish(CloseReason::peer_closed);
        });
}

}  // namespace rill

#endif  // RILL_HTTPLIB_HPP
