#ifndef RILL_RESPONSE_HPP
#define RILL_RESPONSE_HPP

// What rill needs to know of a request, and the head the application answers
// with. The framing is derived from both (framing.hpp), never chosen by hand.

#include <string>
#include <string_view>
#include <utility>

#include "rill/fields.hpp"

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
