#ifndef RILL_TEST_CHUNKED_DECODER_HPP
#define RILL_TEST_CHUNKED_DECODER_HPP

// A strict decoder for a complete chunked body (RFC 9112 section 7.1), used by
// the tests to check what actually reached a socket. It is deliberately
// unforgiving: a bare LF, a missing CRLF, a size that is not hex, a truncated
// message or a byte after the final CRLF is an error, because a lenient
// decoder would hide exactly the framing bugs the tests look for.
//
//   std::string body, error;
//   std::vector<std::pair<std::string, std::string>> trailers;
//   bool ok = rill::test::decode_chunked(wire_after_head, body, trailers, error);

#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rill {
namespace test {
namespace chunked_detail {

inline bool is_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

inline unsigned hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
    return static_cast<unsigned>(c - 'A' + 10);
}

inline bool is_tchar(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
        case '.': case '^': case '_': case '`': case '|': case '~':
            return true;
        default:
            return false;
    }
}

// A field value may hold HTAB, SP, VCHAR and obs-text, never another control byte.
inline bool is_field_value_char(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

// One line up to CRLF; a bare CR or LF inside it is rejected by the callers'
// character checks, and a line without CRLF means the message is truncated.
inline bool take_line(std::string_view wire, std::size_t& pos, std::string_view& line,
                      std::string& error) {
    const std::size_t crlf = wire.find("\r\n", pos);
    if (crlf == std::string_view::npos) {
        error = "truncated: no CRLF after offset " + std::to_string(pos);
        return false;
    }
    line = wire.substr(pos, crlf - pos);
    pos = crlf + 2;
    return true;
}

// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val a token
// or a quoted-string. rill never sends extensions; accepting well-formed ones
// keeps the decoder usable for other producers while still refusing junk.
inline bool valid_extensions(std::string_view ext) noexcept {
    std::size_t i = 0;
    auto skip_bws = [&] {
        while (i < ext.size() && (ext[i] == ' ' || ext[i] == '\t')) ++i;
    };
    auto take_token = [&] {
        const std::size_t start = i;
        while (i < ext.size() && is_tchar(ext[i])) ++i;
        return i > start;
    };
    if (ext.empty()) return true;
    skip_bws();
    if (i == ext.size()) return false;  // whitespace after the size with no extension
    while (i < ext.size()) {
        if (ext[i] != ';') return false;
        ++i;
        skip_bws();
        if (!take_token()) return false;
        skip_bws();
        if (i < ext.size() && ext[i] == '=') {
            ++i;
            skip_bws();
            if (i < ext.size() && ext[i] == '"') {
                ++i;
                bool closed = false;
                while (i < ext.size()) {
                    const char c = ext[i];
                    if (c == '"') {
                        ++i;
                        closed = true;
                        break;
                    }
                    if (c == '\\') {
                        if (++i == ext.size()) return false;
                    } else if (!is_field_value_char(c)) {
                        return false;
                    }
                    ++i;
                }
                if (!closed) return false;
            } else if (!take_token()) {
                return false;
            }
            skip_bws();
        }
    }
    return true;
}

}  // namespace chunked_detail

/// Decodes `wire`, which must be exactly one chunked body: chunks, the last
/// chunk, the trailer section and its final CRLF, and nothing after it.
/// On success `body` holds the concatenated chunk data and `trailers` the
/// trailer fields in order (name as sent, value without surrounding OWS).
/// On failure it returns false and `error` says what and where.
inline bool decode_chunked(std::string_view wire, std::string& body,
                           std::vector<std::pair<std::string, std::string>>& trailers,
                           std::string& error) {
    using namespace chunked_detail;
    body.clear();
    trailers.clear();
    error.clear();
    std::size_t pos = 0;
    for (;;) {
        const std::size_t line_start = pos;
        std::string_view line;
        if (!take_line(wire, pos, line, error)) return false;
        std::size_t digits = 0;
        std::uint64_t size = 0;
        while (digits < line.size() && is_hex(line[digits])) {
            if (size > (UINT64_MAX >> 4)) {
                error = "chunk size overflows at offset " + std::to_string(line_start);
                return false;
            }
            size = (size << 4) | hex_value(line[digits]);
            ++digits;
        }
        if (digits == 0) {
            error = "chunk size is not hex at offset " + std::to_string(line_start);
            return false;
        }
        if (!valid_extensions(line.substr(digits))) {
            error = "malformed chunk extension at offset " + std::to_string(line_start);
            return false;
        }
        if (size == 0) break;
        if (size > wire.size() - pos || wire.size() - pos - static_cast<std::size_t>(size) < 2) {
            error = "truncated: chunk of " + std::to_string(size) + " bytes at offset " +
                    std::to_string(line_start) + " runs past the end";
            return false;
        }
        const auto n = static_cast<std::size_t>(size);
        body.append(wire.data() + pos, n);
        pos += n;
        if (wire[pos] != '\r' || wire[pos + 1] != '\n') {
            error = "chunk data not followed by CRLF at offset " + std::to_string(pos);
            return false;
        }
        pos += 2;
    }
    for (;;) {
        const std::size_t line_start = pos;
        std::string_view line;
        if (!take_line(wire, pos, line, error)) return false;
        if (line.empty()) break;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            error = "trailer line without a field name at offset " + std::to_string(line_start);
            return false;
        }
        const std::string_view name = line.substr(0, colon);
        for (char c : name) {
            if (!is_tchar(c)) {
                error = "trailer name is not a token at offset " + std::to_string(line_start);
                return false;
            }
        }
        std::string_view value = line.substr(colon + 1);
        for (char c : value) {
            if (!is_field_value_char(c)) {
                error = "control byte in trailer value at offset " + std::to_string(line_start);
                return false;
            }
        }
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        trailers.emplace_back(std::string(name), std::string(value));
    }
    if (pos != wire.size()) {
        error = std::to_string(wire.size() - pos) + " bytes after the end of the chunked body";
        return false;
    }
    return true;
}

/// `n` bytes from `rng`, every value 0-255 possible.
inline std::string random_bytes(std::mt19937& rng, std::size_t n) {
    std::uniform_int_distribution<int> byte(0, 255);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    return s;
}

/// One chunk framed independently of rill, so a framing bug cannot cancel out.
inline std::string chunk_of(std::string_view part) {
    char size_line[32];
    const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", part.size());
    std::string out(size_line, static_cast<std::size_t>(n));
    out.append(part).append("\r\n");
    return out;
}

}  // namespace test
}  // namespace rill

#endif  // RILL_TEST_CHUNKED_DECODER_HPP
