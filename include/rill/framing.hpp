#ifndef RILL_FRAMING_HPP
#define RILL_FRAMING_HPP

// How the body's bytes are delimited on an HTTP/1.x connection, decided once
// from the request and the response head (RFC 9112 sections 6 and 9.3). The
// table in docs/http.md is this file in prose.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rill/fields.hpp"
#include "rill/response.hpp"
#include "rill/status.hpp"

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
