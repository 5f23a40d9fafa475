// Fuzz target for rill::prepare_head(): any request and any response head.
//
// A refused head must produce no bytes. An accepted one must parse as exactly
// one well-formed HTTP/1.1 response head (checked by the strict parser below,
// written independently of rill's serializer), its framing headers must say
// what the plan says, and the status and plan must match a model written from
// the rules in docs/http.md.

#include <rill/rill.hpp>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"

namespace {

using rill_fuzz::ByteReader;

// ---------------------------------------------------------------------------
// Decoding the input. Dictionaries steer the fuzzer towards the values the
// rules single out; a selector with its top bit set takes raw bytes instead.
// ---------------------------------------------------------------------------

constexpr std::string_view methods[] = {"GET", "HEAD", "CONNECT", "POST", "head", "", "OPTIONS", "connect"};
constexpr int statuses[] = {101, 200, 204, 205, 206, 299, 304, 404, 500, 599,
                            100, 199, 600, 0,   -1,  -204, 1000, 1204, INT_MAX, INT_MIN};
constexpr std::string_view connections[] = {
    "", "close", "keep-alive", "Keep-Alive", "Upgrade", "Upgrade, close", "keep-alive, close",
    " close ", "close,", "x, ,keep-alive", "CLOSE", "closed", "keep-alive;q=1"};
constexpr std::string_view upgrades[] = {"", "websocket", "h2c"};
constexpr std::string_view names[] = {
    "Content-Length", "content-length", "Connection", "CONNECTION", "Transfer-Encoding",
    "transfer-encoding", "Upgrade", "Content-Type", "X-Custom", "Trailer", "Keep-Alive",
    "Set-Cookie", "X:Y", "X Y", "", "X-\xff"};
constexpr std::string_view values[] = {
    "", "0", "5", "00", "1234567890123456789", "12345678901234567890", "1, 1", " 5", "-1", "+1",
    "close", "keep-alive", "Upgrade", "close, Upgrade", "keep-alive, close", "chunked",
    "a\r\nX-Injected: y", "text/plain", "\t", "a\tb", "\x80\xff", "x ", "18446744073709551615",
    "Upgrade, ,keep-alive,", "a\x7f"};

template <class T, std::size_t N>
const T& pick(ByteReader& in, const T (&dict)[N]) {
    return dict[in.below(N)];
}

template <std::size_t N>
std::string pick_or_raw(ByteReader& in, const std::string_view (&dict)[N], std::size_t max_raw) {
    const std::uint8_t sel = in.byte();
    if ((sel & 0x80u) != 0) return in.bytes(max_raw);
    return std::string(dict[sel % N]);
}

// ---------------------------------------------------------------------------
// The strict parser: HTTP/1.1 status line, "name: value" lines, final CRLF.
// ---------------------------------------------------------------------------

bool is_tchar(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

// HTAB, SP, VCHAR and obs-text; never CR, LF, NUL, DEL or another control byte.
bool is_text(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool valid_value(std::string_view v) {
    for (char c : v)
        if (!is_text(c)) return false;
    return v.empty() || (!is_ows(v.front()) && !is_ows(v.back()));
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_name(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> list_items(std::string_view list) {
    std::vector<std::string_view> items;
    for (;;) {
        const std::size_t comma = list.find(',');
        const std::string_view item = trim(list.substr(0, comma));
        if (!item.empty()) items.push_back(item);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return items;
}

bool has_item(std::string_view list, std::string_view token) {
    for (std::string_view item : list_items(list))
        if (same_name(item, token)) return true;
    return false;
}

struct ParsedHead {
    int status = 0;
    std::string_view reason;
    std::vector<std::pair<std::string_view, std::string_view>> fields;
};

bool parse_head(std::string_view wire, ParsedHead& out) {
    constexpr std::string_view version = "HTTP/1.1 ";
    if (wire.substr(0, version.size()) != version) return false;
    std::size_t pos = version.size();
    if (wire.size() < pos + 4) return false;
    int status = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        const char c = wire[pos + i];
        if (c < '0' || c > '9') return false;
        status = status * 10 + (c - '0');
    }
    if (wire[pos + 3] != ' ') return false;
    pos += 4;
    out.status = status;
    std::size_t eol = wire.find("\r\n", pos);
    if (eol == std::string_view::npos) return false;
    out.reason = wire.substr(pos, eol - pos);
    for (char c : out.reason)
        if (!is_text(c)) return false;
    pos = eol + 2;
    for (;;) {
        eol = wire.find("\r\n", pos);
        if (eol == std::string_view::npos) return false;
        const std::string_view line = wire.substr(pos, eol - pos);
        pos = eol + 2;
        if (line.empty()) break;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return false;
        const std::string_view name = line.substr(0, colon);
        if (!is_token(name)) return false;
        if (line.size() < colon + 2 || line[colon + 1] != ' ') return false;
        const std::string_view value = line.substr(colon + 2);
        if (!valid_value(value)) return false;
        out.fields.emplace_back(name, value);
    }
    return pos == wire.size();
}

// ---------------------------------------------------------------------------
// The model: docs/http.md's validation order, framing table and persistence rule.
// ---------------------------------------------------------------------------

struct Model {
    rill::HeadStatus status = rill::HeadStatus::ok;
    rill::FramingPlan plan;
    bool switching = false;
};

bool strict_length(std::string_view s, std::uint64_t& out) {
    if (s.empty() || s.size() > 19) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    out = v;
    return true;
}

Model model(const rill::Request& req, const rill::ResponseHead& head) {
    using rill::HeadStatus;
    Model m;
    bool has_length = false, has_upgrade = false, response_close = false;
    std::uint64_t length = 0;
    for (const rill::Field& f : head.fields()) {
        if (!is_token(f.name)) return m.status = HeadStatus::invalid_field_name, m;
        if (!valid_value(f.value)) return m.status = HeadStatus::invalid_field_value, m;
        if (same_name(f.name, "Transfer-Encoding")) return m.status = HeadStatus::transfer_encoding_set, m;
        if (same_name(f.name, "Content-Length")) {
            if (has_length || !strict_length(f.value, length))
                return m.status = HeadStatus::invalid_content_length, m;
            has_length = true;
        }
        if (same_name(f.name, "Connection") && has_item(f.value, "close")) response_close = true;
        if (same_name(f.name, "Upgrade")) has_upgrade = true;
    }
    const int status = head.status();
    const bool http11 = req.version_minor >= 1;
    const bool upgrading = status == 101;
    const bool tunnel = req.method == "CONNECT" && status >= 200 && status <= 299;
    m.switching = upgrading || tunnel;
    if (upgrading) {
        if (!has_upgrade || req.upgrade.empty() || !http11) return m.status = HeadStatus::invalid_status, m;
    } else if (status < 200 || status > 599) {
        return m.status = HeadStatus::invalid_status, m;
    }
    for (char c : head.reason())
        if (!is_text(c)) return m.status = HeadStatus::invalid_reason, m;
    if (has_length && (m.switching || status == 204 || (status == 205 && length != 0)))
        return m.status = HeadStatus::content_length_forbidden, m;

    const bool request_close = has_item(req.connection, "close");
    const bool request_keep_alive = has_item(req.connection, "keep-alive");
    m.plan.persistent = !m.switching && !response_close &&
                        (http11 ? !request_close : (request_keep_alive && !request_close));
    if (req.method == "HEAD" || status == 204 || status == 304 || m.switching) {
        m.plan.framing = rill::Framing::none;
    } else if (status == 205) {
        m.plan.framing = rill::Framing::fixed;
    } else if (has_length) {
        m.plan.framing = rill::Framing::fixed;
        m.plan.content_length = length;
    } else if (http11) {
        m.plan.framing = rill::Framing::chunked;
    } else {
        m.plan.framing = rill::Framing::close_delimited;
        m.plan.persistent = false;
    }
    return m;
}

std::string describe(const rill::Request& req, const rill::ResponseHead& head, const rill::PreparedHead& p) {
    std::string s = "request: method=\"" + std::string(req.method) + "\" HTTP/1." +
                    std::to_string(req.version_minor) + " connection=\"" + std::string(req.connection) +
                    "\" upgrade=\"" + std::string(req.upgrade) + "\"; status " + std::to_string(head.status()) +
                    "; fields:";
    for (const rill::Field& f : head.fields()) s += " [" + f.name + ": " + f.value + "]";
    s += "; answer: ";
    s += rill::to_string(p.status);
    s += ", framing ";
    s += rill::to_string(p.plan.framing);
    s += "\n  bytes:\n" + p.bytes;
    return s;
}

void check(const rill::Request& req, const rill::ResponseHead& head) {
    const rill::PreparedHead p = rill::prepare_head(req, head);
    const std::string what = describe(req, head, p);
    const Model m = model(req, head);

    RILL_FUZZ_CHECK(p.status == m.status, what);
    if (p.status != rill::HeadStatus::ok) {
        RILL_FUZZ_CHECK(p.bytes.empty(), what);
        return;
    }
    RILL_FUZZ_CHECK(p.plan.framing == m.plan.framing, what);
    RILL_FUZZ_CHECK(p.plan.persistent == m.plan.persistent, what);
    if (p.plan.framing == rill::Framing::fixed)
        RILL_FUZZ_CHECK(p.plan.content_length == m.plan.content_length, what);

    ParsedHead parsed;
    RILL_FUZZ_CHECK(parse_head(p.bytes, parsed), what);
    RILL_FUZZ_CHECK(parsed.status == head.status(), what);
    RILL_FUZZ_CHECK(parsed.reason == head.reason(), what);

    const bool http11 = req.version_minor >= 1;
    const bool head_request = req.method == "HEAD";
    bool app_length = false;  // the application gave a Content-Length (validated above, so one)
    for (const rill::Field& f : head.fields()) app_length = app_length || same_name(f.name, "Content-Length");
    std::size_t lengths = 0, encodings = 0, persistence_lines = 0;
    std::string_view length_value;
    bool close_token = false, keep_alive_token = false;
    for (const auto& [name, value] : parsed.fields) {
        if (same_name(name, "Content-Length")) {
            ++lengths;
            length_value = value;
        } else if (same_name(name, "Transfer-Encoding")) {
            ++encodings;
            RILL_FUZZ_CHECK(value == "chunked", what);
        } else if (same_name(name, "Connection")) {
            const bool c = has_item(value, "close"), k = has_item(value, "keep-alive");
            RILL_FUZZ_CHECK(!(c && k), what);
            if (c || k) ++persistence_lines;
            close_token = close_token || c;
            keep_alive_token = keep_alive_token || k;
        }
    }
    RILL_FUZZ_CHECK(lengths <= 1 && encodings <= 1, what);
    RILL_FUZZ_CHECK(lengths == 0 || encodings == 0, what);
    RILL_FUZZ_CHECK(persistence_lines <= 1, what);

    // Framing headers say exactly what the plan says.
    switch (p.plan.framing) {
        case rill::Framing::chunked:
            RILL_FUZZ_CHECK(encodings == 1, what);
            break;
        case rill::Framing::fixed:
        {
            // Compared as numbers: the application's own spelling ("007") is kept.
            std::uint64_t declared = 0;
            RILL_FUZZ_CHECK(lengths == 1 && strict_length(length_value, declared), what);
            RILL_FUZZ_CHECK(declared == p.plan.content_length, what);
            break;
        }
        case rill::Framing::close_delimited:
            RILL_FUZZ_CHECK(lengths == 0 && encodings == 0 && close_token, what);
            break;
        case rill::Framing::none: {
            // A HEAD response announces the framing its GET would carry (RFC 9110 9.3.2): chunked
            // for HTTP/1.1 when the application gave no length. But RFC 9112 6.1: a server MUST NOT
            // send Transfer-Encoding in a 204 or a 304, whatever the method (nor in a 1xx or a 2xx
            // to CONNECT, RFC 9110 9.3.6).
            const bool no_te_allowed = head.status() == 204 || head.status() == 304 || m.switching;
            // A 205 announces its Content-Length: 0 (rill's own), so it announces no chunking.
            const bool announces = head_request && http11 && !no_te_allowed && !app_length && head.status() != 205;
            RILL_FUZZ_CHECK(encodings == (announces ? 1u : 0u), what);
            // RFC 9110 9.3.6 and 15.2.2: a tunnel or a switched protocol has no HTTP framing at all.
            RILL_FUZZ_CHECK(lengths == 0 || head_request || head.status() == 304, what);
            RILL_FUZZ_CHECK(!m.switching || (lengths == 0 && encodings == 0), what);
            break;
        }
        case rill::Framing::raw:
            RILL_FUZZ_CHECK(false, what);
    }
    if (encodings == 1)
        RILL_FUZZ_CHECK(p.plan.framing == rill::Framing::chunked ||
                            (head_request && head.status() != 204 && head.status() != 304),
                        what);
    if (head.status() == 204 || head.status() == 304) RILL_FUZZ_CHECK(encodings == 0, what);

    // Persistence is said once and never contradicted.
    if (!p.plan.persistent && !m.switching) RILL_FUZZ_CHECK(close_token, what);
    if (p.plan.persistent) RILL_FUZZ_CHECK(!close_token, what);
    if (p.plan.persistent && !http11) RILL_FUZZ_CHECK(keep_alive_token, what);

    // The application's fields come first, in order and unchanged, except that rill
    // takes the close and keep-alive tokens out of Connection; then rill's own.
    std::size_t at = 0;
    for (const rill::Field& f : head.fields()) {
        std::string value = f.value;
        if (same_name(f.name, "Connection")) {
            value.clear();
            for (std::string_view item : list_items(f.value)) {
                if (same_name(item, "close") || same_name(item, "keep-alive")) continue;
                if (!value.empty()) value += ", ";
                value += item;
            }
            if (value.empty()) continue;
        }
        RILL_FUZZ_CHECK(at < parsed.fields.size(), what);
        RILL_FUZZ_CHECK(parsed.fields[at].first == f.name && parsed.fields[at].second == value, what);
        ++at;
    }
    for (; at < parsed.fields.size(); ++at) {
        const auto& [name, value] = parsed.fields[at];
        const bool known = (name == "Content-Length" && value == "0" && head.status() == 205) ||
                           (name == "Transfer-Encoding" && value == "chunked") ||
                           (name == "Connection" && (value == "close" || value == "keep-alive"));
        RILL_FUZZ_CHECK(known, what);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ByteReader in(data, size);

    const std::uint8_t method_sel = in.byte();
    const std::string method =
        (method_sel & 0x80u) != 0 ? in.bytes(12) : std::string(methods[method_sel % std::size(methods)]);
    const int version_minor = in.flag() ? 1 : 0;
    const std::string connection = pick_or_raw(in, connections, 40);
    const std::string upgrade = pick_or_raw(in, upgrades, 16);

    const std::uint8_t status_sel = in.byte();
    const int status = (status_sel & 0x80u) != 0 ? static_cast<int>(in.u32()) : pick(in, statuses);
    const std::uint8_t reason_sel = in.byte();
    std::string reason;
    if ((reason_sel & 0x80u) != 0) reason = in.bytes(32);
    else if ((reason_sel & 0x40u) != 0) reason = "Fine";

    rill::ResponseHead head(status, std::move(reason));
    const std::size_t fields = in.below(9);
    for (std::size_t i = 0; i < fields && !in.empty(); ++i) {
        std::string name = pick_or_raw(in, names, 24);
        std::string value = pick_or_raw(in, values, 48);
        head.header(std::move(name), std::move(value));
    }
    check(rill::Request{method, version_minor, connection, upgrade}, head);
    return 0;
}
