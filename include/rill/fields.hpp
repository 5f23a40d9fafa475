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
