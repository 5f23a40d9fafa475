#ifndef RILL_EXAMPLE_HTTP_REQUEST_PARSER_HPP
#define RILL_EXAMPLE_HTTP_REQUEST_PARSER_HPP

// A strict, bounded HTTP/1.x request-head parser (RFC 9112 sections 2-6).
// It parses from the start of the buffer on every call: the head is capped at
// a few KiB, so re-scanning costs less than keeping parser state per connection.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <rill/fields.hpp>
#include <rill/response.hpp>

namespace rill_example {

enum class ParseStatus : std::uint8_t {
    incomplete,       ///< no complete head yet, and nothing wrong so far
    complete,         ///< `head_size` bytes hold one valid request head
    bad_request,      ///< 400: malformed; the connection cannot be trusted any more
    too_large,        ///< 431: the head passed the limit (or too many fields)
    bad_version,      ///< 505: a well-formed HTTP version other than 1.0 and 1.1
    not_implemented,  ///< 501: a request body in Transfer-Encoding, which this server does not decode
};

/// One parsed request head. Views point into the parsed buffer.
struct HttpRequest {
    std::string_view method;
    std::string_view target;  ///< as sent: path and query
    std::string_view path;
    std::string_view query;   ///< after '?', without it
    int version_minor = 1;
    std::string_view host;
    std::string_view connection;  ///< every Connection field, comma-joined
    std::string_view upgrade;
    std::uint64_t content_length = 0;
    std::size_t head_size = 0;  ///< bytes of the buffer the head (with its blank line) took

    /// What rill needs to frame the response; valid as long as this request.
    rill::Request framing_request() const noexcept {
        return rill::Request{method, version_minor, connection, upgrade};
    }

    std::string connection_joined;  ///< storage when Connection appears more than once
};

struct ParseLimits {
    std::size_t max_head = 8 * 1024;  ///< request line, fields and blank lines
    std::size_t max_fields = 64;
};

namespace detail {

inline bool is_token(std::string_view s) noexcept { return rill::is_valid_field_name(s); }

inline bool is_target_char(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7f;
}

inline bool is_value_char(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

inline bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty() || s.size() > 18) return false;  // 18 digits cannot overflow
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    out = v;
    return true;
}

}  // namespace detail

/// Parses the request head at the front of `in`.
inline ParseStatus parse_request(std::string_view in, HttpRequest& req, const ParseLimits& limits = {}) {
    req = HttpRequest{};
    const std::size_t scan = in.size() < limits.max_head ? in.size() : limits.max_head;
    std::size_t pos = 0;

    // Returns the next CRLF-terminated line, or false when it is not there yet.
    // A CR or LF anywhere else makes the request malformed: no bare-LF leniency.
    bool malformed = false;
    auto next_line = [&](std::string_view& line) {
        const std::size_t lf = in.find('\n', pos);
        if (lf == std::string_view::npos || lf >= scan) {
            if (in.substr(pos, scan - pos).find('\r') < scan - pos - 1) malformed = true;
            return false;
        }
        if (lf == pos || in[lf - 1] != '\r') {
            malformed = true;
            return false;
        }
        line = in.substr(pos, lf - 1 - pos);
        if (line.find('\r') != std::string_view::npos) {
            malformed = true;
            return false;
        }
        pos = lf + 1;
        return true;
    };
    auto stalled = [&] {
        if (malformed) return ParseStatus::bad_request;
        return in.size() >= limits.max_head ? ParseStatus::too_large : ParseStatus::incomplete;
    };

    // RFC 9112 2.2: empty lines before the request line are ignored.
    std::string_view line;
    do {
        if (!next_line(line)) return stalled();
    } while (line.empty());

    // request-line = method SP request-target SP HTTP-version
    const std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return ParseStatus::bad_request;
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        return ParseStatus::bad_request;
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!detail::is_token(req.method) || req.target.empty()) return ParseStatus::bad_request;
    for (char c : req.target)
        if (!detail::is_target_char(c)) return ParseStatus::bad_request;
    // Only origin-form: this server is no proxy.
    if (req.target.front() != '/') return ParseStatus::bad_request;
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
        version[5] > '9' || version[7] < '0' || version[7] > '9')
        return ParseStatus::bad_request;
    if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) return ParseStatus::bad_version;
    req.version_minor = version[7] - '0';
    const std::size_t q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string_view::npos) req.query = req.target.substr(q + 1);

    std::size_t fields = 0;
    std::size_t hosts = 0;
    std::size_t connections = 0;
    bool has_length = false;
    bool chunked_body = false;
    for (;;) {
        if (!next_line(line)) return stalled();
        if (line.empty()) break;
        if (++fields > limits.max_fields) return ParseStatus::too_large;
        // obs-fold and whitespace before the colon are both refused (RFC 9112 5.1, 5.2).
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return ParseStatus::bad_request;
        const std::string_view name = line.substr(0, colon);
        if (!detail::is_token(name)) return ParseStatus::bad_request;
        for (char c : line.substr(colon + 1))
            if (!detail::is_value_char(c)) return ParseStatus::bad_request;
        const std::string_view value = rill::detail::trim_ows(line.substr(colon + 1));

        using rill::detail::iequals;
        if (iequals(name, "host")) {
            ++hosts;
            req.host = value;
        } else if (iequals(name, "connection")) {
            if (++connections == 1) {
                req.connection = value;
            } else {
                if (connections == 2) req.connection_joined.assign(req.connection);
                req.connection_joined.append(", ").append(value);
            }
        } else if (iequals(name, "upgrade")) {
            req.upgrade = value;
        } else if (iequals(name, "content-length")) {
            std::uint64_t n = 0;
            // Repeated or list-valued lengths are a smuggling vector: refuse them outright.
            if (has_length || !detail::parse_decimal(value, n)) return ParseStatus::bad_request;
            has_length = true;
            req.content_length = n;
        } else if (iequals(name, "transfer-encoding")) {
            chunked_body = true;
        }
    }
    if (connections > 1) req.connection = req.connection_joined;
    if (hosts > 1 || (req.version_minor == 1 && hosts == 0)) return ParseStatus::bad_request;
    if (chunked_body) {
        // Both framings at once is the classic smuggling shape (RFC 9112 6.3).
        if (has_length || req.version_minor == 0) return ParseStatus::bad_request;
        return ParseStatus::not_implemented;
    }
    req.head_size = pos;
    return ParseStatus::complete;
}

}  // namespace rill_example

#endif  // RILL_EXAMPLE_HTTP_REQUEST_PARSER_HPP
