// Fuzz target for the example server's request-head parser
// (examples/server/http_request_parser.hpp): any bytes, raw or assembled from
// the lines that request smuggling is made of.
//
// The harness judges the raw input with its own reading of RFC 9112 and of the
// parser's documented limits, and checks both ways: a head the parser accepts
// breaks none of these rules (so no duplicate or conflicting Content-Length, no
// Transfer-Encoding, no bare CR or LF, no obs-fold, no whitespace before a colon,
// no second Host, ...), and a head that breaks none of them is accepted, with the
// method, target, version, Host and Content-Length the harness read itself.

#include "server/http_request_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"

namespace {

using rill_fuzz::ByteReader;

// ---------------------------------------------------------------------------
// The harness's own rules (RFC 9110 section 5, RFC 9112 sections 2-6), and the
// limits the parser documents: 8 KiB of head, 64 fields, Content-Length up to
// 18 digits, origin-form targets only, HTTP/1.0 and HTTP/1.1 only.
// ---------------------------------------------------------------------------

constexpr std::size_t max_head = 8 * 1024;
constexpr std::size_t max_fields = 64;

bool tchar(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

bool token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!tchar(c)) return false;
    return true;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool same(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

struct Verdict {
    bool clean = false;       // a complete head that breaks no rule
    std::size_t size = 0;     // bytes of the head, blank line included
    std::string_view method, target;
    int minor = 1;
    std::string_view host;
    std::uint64_t length = 0;
    std::string why;          // the first rule broken, for the report
};

// Reads the head at the front of `in` by the rules above.
Verdict judge(std::string_view in) {
    Verdict v;
    auto broken = [&v](std::string why) {
        v.clean = false;
        v.why = std::move(why);
        return v;
    };
    // The head: up to the first empty line after the request line, every line ended by CRLF.
    std::vector<std::string_view> lines;
    std::size_t pos = 0;
    bool seen_request_line = false;
    for (;;) {
        const std::size_t crlf = in.find("\r\n", pos);
        if (crlf == std::string_view::npos) return broken("no complete head");
        const std::string_view line = in.substr(pos, crlf - pos);
        pos = crlf + 2;
        if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos)
            return broken("a bare CR or LF");
        if (line.empty() && !seen_request_line) continue;  // RFC 9112 2.2: empty lines before it are ignored
        if (line.empty()) break;
        seen_request_line = true;
        lines.push_back(line);
    }
    v.size = pos;
    if (v.size > max_head) return broken("the head is over 8 KiB");

    // request-line = method SP request-target SP HTTP-version
    const std::string_view rl = lines.front();
    const std::size_t sp1 = rl.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || rl.find(' ', sp2 + 1) != std::string_view::npos)
        return broken("not three parts separated by single spaces");
    v.method = rl.substr(0, sp1);
    v.target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = rl.substr(sp2 + 1);
    if (!token(v.method)) return broken("the method is not a token");
    if (v.target.empty() || v.target.front() != '/') return broken("not an origin-form target");
    for (char ch : v.target) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f) return broken("a target byte outside visible ASCII");
    }
    if (version == "HTTP/1.1") v.minor = 1;
    else if (version == "HTTP/1.0") v.minor = 0;
    else return broken("a version other than HTTP/1.0 or HTTP/1.1");

    if (lines.size() - 1 > max_fields) return broken("more than 64 fields");
    std::size_t hosts = 0, lengths = 0;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const std::string_view line = lines[i];
        if (line.front() == ' ' || line.front() == '\t') return broken("obs-fold (a line starting with SP or HTAB)");
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return broken("a field line without a colon");
        const std::string_view name = line.substr(0, colon);
        if (!token(name)) return broken("a field name that is not a token (whitespace before the colon?)");
        const std::string_view raw_value = line.substr(colon + 1);
        for (char ch : raw_value) {
            const auto c = static_cast<unsigned char>(ch);
            if ((c < 0x20 && c != '\t') || c == 0x7f) return broken("a control byte in a field value");
        }
        const std::string_view value = trim(raw_value);
        if (same(name, "Host")) {
            ++hosts;
            v.host = value;
        } else if (same(name, "Transfer-Encoding")) {
            // The server decodes no request body in Transfer-Encoding; with Content-Length
            // it is the classic smuggling shape (RFC 9112 6.3). Never accepted.
            return broken("Transfer-Encoding");
        } else if (same(name, "Content-Length")) {
            if (++lengths > 1) return broken("a second Content-Length");
            if (value.empty() || value.size() > 18) return broken("an empty Content-Length, or one over 18 digits");
            std::uint64_t n = 0;
            for (char c : value) {
                if (c < '0' || c > '9') return broken("a Content-Length that is not one decimal number");
                n = n * 10 + static_cast<std::uint64_t>(c - '0');
            }
            v.length = n;
        }
    }
    if (hosts > 1) return broken("a second Host");
    if (v.minor == 1 && hosts == 0) return broken("HTTP/1.1 without Host");
    v.clean = true;
    return v;
}

std::string printable(std::string_view s) {
    std::string out;
    for (char ch : s.substr(0, 600)) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n\n";
        else if (c < 0x20 || c >= 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15u];
        } else {
            out += ch;
        }
    }
    return out;
}

void check(std::string_view in) {
    rill_example::HttpRequest req;
    const rill_example::ParseStatus status = rill_example::parse_request(in, req);
    const Verdict v = judge(in);
    using rill_example::ParseStatus;
    const std::string what = "status " + std::to_string(static_cast<int>(status)) + ", harness: " +
                             (v.clean ? std::string("clean") : v.why) + "\n" + printable(in);

    if (status == ParseStatus::complete) {
        // Never accept a head the rules refuse, and read it the way the harness does.
        RILL_FUZZ_CHECK(v.clean, what);
        RILL_FUZZ_CHECK(req.head_size == v.size, what);
        RILL_FUZZ_CHECK(req.method == v.method && req.target == v.target, what);
        RILL_FUZZ_CHECK(req.version_minor == v.minor, what);
        RILL_FUZZ_CHECK(req.host == v.host, what);
        RILL_FUZZ_CHECK(req.content_length == v.length, what);
        const std::size_t q = v.target.find('?');
        RILL_FUZZ_CHECK(req.path == v.target.substr(0, q), what);
        if (q != std::string_view::npos) RILL_FUZZ_CHECK(req.query == v.target.substr(q + 1), what);
        // The views point into the input.
        RILL_FUZZ_CHECK(req.method.data() >= in.data() && req.method.data() + req.method.size() <= in.data() + in.size(),
                        what);
    } else {
        // And accept every head that breaks none.
        RILL_FUZZ_CHECK(!v.clean, what);
        if (status == ParseStatus::incomplete) {
            // Waiting for more is right only while no complete head is there and the limit is
            // not reached: a server that waits on a complete head hangs its client.
            RILL_FUZZ_CHECK(in.size() < max_head && v.why == "no complete head", what);
        }
    }
}

// ---------------------------------------------------------------------------
// Assembling a head from the pieces smuggling is made of.
// ---------------------------------------------------------------------------

constexpr std::string_view methods[] = {"GET", "HEAD", "POST", "CONNECT", "get", "G\tET", "", "GET /"};
constexpr std::string_view targets[] = {"/", "/a?b=c", "/download?mb=1", "*", "http://x/", "/a b", "/\x7f", "", "/%00"};
constexpr std::string_view versions[] = {"HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "http/1.1", "HTTP/1.10", "HTTP/1.", "HTTP/0.9"};
constexpr std::string_view eols[] = {"\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "\r\r\n", "\n\r"};
constexpr std::string_view names[] = {
    "Host", "Host", "Content-Length", "Content-Length", "content-length", "Transfer-Encoding",
    "transfer-encoding", "Connection", "Upgrade", "X-A", "Host ", "Content-Length ", " Host",
    "Content-Length\t", "Transfer-Encoding ", "", "X A", "Content_Length"};
constexpr std::string_view separators[] = {": ", ": ", ":", ":\t", " : ", ":  "};
constexpr std::string_view values[] = {
    "example", "", "0", "5", "05", "1, 1", "1,1", "+1", "-1", " 5 ", "5 ", "chunked", "identity",
    "gzip, chunked", "chunked, identity", "close", "keep-alive", "a\tb", "\x80\xff",
    "123456789012345678", "1234567890123456789", "0x10", "5\x00", "a\x7f" "b", "a\rb", "a\nb", "1e3"};

std::string assemble(ByteReader& in) {
    std::string head;
    for (std::size_t n = in.below(8) == 0 ? in.below(3) : 0; n != 0; --n) head += "\r\n";
    head += methods[in.below(std::size(methods))];
    head += ' ';
    head += targets[in.below(std::size(targets))];
    head += ' ';
    head += versions[in.below(std::size(versions))];
    head += in.below(4) == 0 ? eols[in.below(std::size(eols))] : "\r\n";
    const bool host_first = in.below(4) != 0;
    if (host_first) head += "Host: example\r\n";
    for (std::size_t n = in.below(7); n != 0; --n) {
        const std::uint8_t sel = in.byte();
        if ((sel & 0xf0u) == 0xf0u) {  // a raw line
            head += in.bytes(24);
        } else {
            head += names[sel % std::size(names)];
            head += separators[in.below(std::size(separators))];
            head += values[in.below(std::size(values))];
        }
        head += in.below(4) == 0 ? eols[in.below(std::size(eols))] : "\r\n";
        if (in.below(12) == 0) head += in.flag() ? " folded\r\n" : "\tfolded\r\n";  // obs-fold
    }
    head += in.below(8) == 0 ? eols[in.below(std::size(eols))] : "\r\n";
    head += in.bytes(64);  // a body or a pipelined request
    return head;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    if ((data[0] & 1u) == 0) {
        // Raw: the bytes as they came off the wire.
        check(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
        return 0;
    }
    ByteReader in(data + 1, size - 1);
    const std::string assembled = assemble(in);
    check(assembled);
    // And every prefix of it, as a server sees a head arriving in pieces.
    const std::size_t cut = in.below(assembled.size() + 1);
    check(std::string_view(assembled).substr(0, cut));
    return 0;
}
