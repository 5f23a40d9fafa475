// What respond() and close(trailers) refuse, byte by byte, from the grammar of RFC 9110
// (token, field-value, reason-phrase, Content-Length) and the status rules of docs/http.md
// ("Validation: what respond() refuses"). The character classes and the forbidden-trailer
// list are written out here, independently of rill's tables.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <string>
#include <vector>

using rill::HeadStatus;

namespace {

const rill::Request get11{"GET", 1, "", ""};

HeadStatus head_with(const std::string& name, const std::string& value, int status = 200) {
    return rill::prepare_head(get11, rill::ResponseHead(status).header(name, value)).status;
}

// RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//                         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
bool rfc_tchar(int c) {
    if (c >= '0' && c <= '9') return true;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string::npos;
}

// A chunked body, closed with `trailers`: what close() answers and whether the body ended.
struct TrailerOutcome {
    rill::CloseStatus status;
    rill::BodyState state;
    std::string wire;
};

TrailerOutcome close_with_trailers(const rill::Fields& trailers) {
    rill::StringSink wire;
    auto body = rill::make_deferred_body<rill::StringSink>();
    body->each(wire);
    REQUIRE(body->respond(get11, rill::ResponseHead(200)) == HeadStatus::ok);
    const rill::CloseStatus st = body->close(trailers);
    return {st, body->state(), wire.str()};
}

}  // namespace

TEST_CASE("a header name is an RFC 9110 token: every byte value checked against the grammar") {
    for (int c = 0; c < 256; ++c) {
        CAPTURE(c);
        const std::string name = std::string("X") + static_cast<char>(c) + "Y";
        const HeadStatus expected = rfc_tchar(c) ? HeadStatus::ok : HeadStatus::invalid_field_name;
        CHECK(head_with(name, "v") == expected);
        CHECK(rill::is_valid_field_name(name) == rfc_tchar(c));
    }
    CHECK(head_with("", "v") == HeadStatus::invalid_field_name);
    CHECK_FALSE(rill::is_valid_field_name(""));
    CHECK(head_with("!#$%&'*+-.^_`|~09azAZ", "v") == HeadStatus::ok);
}

TEST_CASE("a header value holds no control character but HTAB, and no leading or trailing whitespace") {
    for (int c = 0; c < 256; ++c) {
        CAPTURE(c);
        const std::string value = std::string("a") + static_cast<char>(c) + "b";
        // RFC 9110 5.5: field-vchar = VCHAR / obs-text, with SP and HTAB inside.
        const bool allowed = c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
        CHECK(head_with("X-Test", value) == (allowed ? HeadStatus::ok : HeadStatus::invalid_field_value));
        CHECK(rill::is_valid_field_value(value) == allowed);
    }
    CHECK(head_with("X-Test", "") == HeadStatus::ok);
    CHECK(head_with("X-Test", "\xe2\x82\xac 5") == HeadStatus::ok);  // obs-text: UTF-8 passes through
    CHECK(head_with("X-Test", " a") == HeadStatus::invalid_field_value);
    CHECK(head_with("X-Test", "a ") == HeadStatus::invalid_field_value);
    CHECK(head_with("X-Test", "\ta") == HeadStatus::invalid_field_value);
    CHECK(head_with("X-Test", "a\t") == HeadStatus::invalid_field_value);
    CHECK(head_with("X-Test", "a\r\nX-Injected: y") == HeadStatus::invalid_field_value);
    // The name is checked before the value: both bad reports the name.
    CHECK(head_with("X Bad", "a\r\nb") == HeadStatus::invalid_field_name);
}

TEST_CASE("Transfer-Encoding is rill's, in any case") {
    for (const std::string name : {"Transfer-Encoding", "transfer-encoding", "TRANSFER-ENCODING", "tRANSFER-eNCODING"}) {
        CAPTURE(name);
        CHECK(head_with(name, "chunked") == HeadStatus::transfer_encoding_set);
        CHECK(head_with(name, "identity") == HeadStatus::transfer_encoding_set);
    }
}

TEST_CASE("Content-Length is 1 to 19 digits, once") {
    CHECK(head_with("Content-Length", "0") == HeadStatus::ok);
    CHECK(head_with("Content-Length", "9999999999999999999") == HeadStatus::ok);  // 19 digits
    CHECK(rill::prepare_head(get11, rill::ResponseHead(200).header("Content-Length", "9999999999999999999"))
              .plan.content_length == 9999999999999999999ull);
    for (const std::string bad : {"", "18446744073709551616", "00000000000000000001", "+5", "-5", "5\t5", "3, 3",
                                  "0x10", "5a", "1e3"}) {
        CAPTURE(bad);
        CHECK(head_with("Content-Length", bad) == HeadStatus::invalid_content_length);
    }
    // Surrounding whitespace fails the value check first, as any header's would.
    CHECK(head_with("Content-Length", " 5") == HeadStatus::invalid_field_value);
    CHECK(head_with("Content-Length", "5 ") == HeadStatus::invalid_field_value);
    for (const char* second : {"5", "6"}) {
        CAPTURE(second);
        CHECK(rill::prepare_head(get11, rill::ResponseHead(200)
                                            .header("Content-Length", "5")
                                            .header("content-length", second))
                  .status == HeadStatus::invalid_content_length);
    }
}

TEST_CASE("the status is 200 to 599, or a 101 that answers an HTTP/1.1 Upgrade with one") {
    for (int status : {0, 99, 100, 102, 103, 199, 600, 999, 1000}) {
        CAPTURE(status);
        CHECK(rill::prepare_head(get11, rill::ResponseHead(status)).status == HeadStatus::invalid_status);
    }
    for (int status : {200, 299, 404, 599}) {
        CAPTURE(status);
        CHECK(rill::prepare_head(get11, rill::ResponseHead(status)).status == HeadStatus::ok);
    }
    const rill::Request upgrade11{"GET", 1, "upgrade", "websocket"};
    const rill::Request upgrade10{"GET", 0, "upgrade", "websocket"};
    const auto switching = rill::ResponseHead(101).header("Upgrade", "websocket").header("Connection", "upgrade");
    CHECK(rill::prepare_head(upgrade11, switching).status == HeadStatus::ok);
    CHECK(rill::prepare_head(upgrade11, rill::ResponseHead(101)).status == HeadStatus::invalid_status);
    CHECK(rill::prepare_head(get11, switching).status == HeadStatus::invalid_status);
    CHECK(rill::prepare_head(upgrade10, switching).status == HeadStatus::invalid_status);
}

TEST_CASE("Content-Length where the status allows no content is refused") {
    const rill::Request upgrade11{"GET", 1, "upgrade", "websocket"};
    const rill::Request connect{"CONNECT", 1, "", ""};
    CHECK(head_with("Content-Length", "0", 204) == HeadStatus::content_length_forbidden);
    CHECK(head_with("Content-Length", "5", 204) == HeadStatus::content_length_forbidden);
    CHECK(head_with("Content-Length", "5", 205) == HeadStatus::content_length_forbidden);
    CHECK(head_with("Content-Length", "1", 205) == HeadStatus::content_length_forbidden);
    CHECK(head_with("Content-Length", "0", 205) == HeadStatus::ok);
    CHECK(head_with("Content-Length", "5", 304) == HeadStatus::ok);
    CHECK(rill::prepare_head(upgrade11, rill::ResponseHead(101).header("Upgrade", "websocket").header(
                                            "Content-Length", "0"))
              .status == HeadStatus::content_length_forbidden);
    CHECK(rill::prepare_head(connect, rill::ResponseHead(200).header("Content-Length", "0")).status ==
          HeadStatus::content_length_forbidden);
    CHECK(rill::prepare_head(connect, rill::ResponseHead(403).header("Content-Length", "0")).status ==
          HeadStatus::ok);
    CHECK(rill::prepare_head(rill::Request{"HEAD", 1, "", ""}, rill::ResponseHead(200).header("Content-Length", "9"))
              .status == HeadStatus::ok);
}

TEST_CASE("a reason phrase holds no control character but HTAB") {
    for (int c = 0; c < 256; ++c) {
        CAPTURE(c);
        const std::string reason = std::string("O") + static_cast<char>(c) + "K";
        // RFC 9112 4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
        const bool allowed = c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
        CHECK(rill::prepare_head(get11, rill::ResponseHead(200, reason)).status ==
              (allowed ? HeadStatus::ok : HeadStatus::invalid_reason));
    }
}

TEST_CASE("a trailer may not be a field that frames, routes or controls the response (RFC 9110 6.5.1)") {
    // docs/http.md "Trailers", in the order given there.
    const std::vector<std::string> forbidden = {
        "Content-Length", "Transfer-Encoding", "Trailer", "Host", "Connection", "Keep-Alive",
        "Proxy-Connection", "TE", "Upgrade", "Content-Encoding", "Content-Type", "Content-Range",
        "Cache-Control", "Expires", "Date", "Location", "Retry-After", "Vary", "Age", "Set-Cookie",
        "Authorization", "WWW-Authenticate", "Proxy-Authenticate", "Expect", "Max-Forwards", "Pragma",
        "Range"};
    for (const std::string& name : forbidden) {
        std::string upper = name;
        std::string lower = name;
        for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
        for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        for (const std::string& spelled : {name, upper, lower}) {
            CAPTURE(spelled);
            CHECK(rill::is_forbidden_trailer(spelled));
            const TrailerOutcome out = close_with_trailers({{"X-Fine", "1"}, {spelled, "1"}});
            CHECK(out.status == rill::CloseStatus::invalid_trailer);
            CHECK(out.state == rill::BodyState::open);  // nothing changed: close() again
            CHECK(out.wire.find("0\r\n") == std::string::npos);
        }
    }
    for (const std::string allowed : {"X-Checksum", "Server-Timing", "ETag", "Digest", "Content-MD5", "Hosts"}) {
        CAPTURE(allowed);
        CHECK_FALSE(rill::is_forbidden_trailer(allowed));
    }
    const TrailerOutcome ok = close_with_trailers({{"X-Checksum", "abc"}, {"Server-Timing", "db;dur=5"}});
    CHECK(ok.status == rill::CloseStatus::ok);
    const std::string last_chunk = "0\r\nX-Checksum: abc\r\nServer-Timing: db;dur=5\r\n\r\n";
    REQUIRE(ok.wire.size() > last_chunk.size());
    CHECK(ok.wire.substr(ok.wire.size() - last_chunk.size()) == last_chunk);
}

TEST_CASE("a trailer's name and value follow the header rules") {
    for (const rill::Field& bad : std::vector<rill::Field>{{"Bad Name", "1"},
                                                           {"Bad:Name", "1"},
                                                           {"", "1"},
                                                           {"X-A", "a\r\nInjected: 1"},
                                                           {"X-A", "a\nb"},
                                                           {"X-A", std::string("a\0b", 3)},
                                                           {"X-A", "a\x7f"},
                                                           {"X-A", " a"}}) {
        CAPTURE(bad.name);
        CAPTURE(bad.value);
        const TrailerOutcome out = close_with_trailers({bad});
        CHECK(out.status == rill::CloseStatus::invalid_trailer);
        CHECK(out.state == rill::BodyState::open);
    }
    CHECK(close_with_trailers({{"X-A", "a\tb \xc3\xa9"}}).status == rill::CloseStatus::ok);
}

TEST_CASE("every status and reason has the name docs/api.md gives it") {
    using rill::to_string;
    CHECK(std::string(to_string(rill::SendStatus::written)) == "written");
    CHECK(std::string(to_string(rill::SendStatus::queued)) == "queued");
    CHECK(std::string(to_string(rill::SendStatus::would_block)) == "would block");
    CHECK(std::string(to_string(rill::SendStatus::length_exceeded)) == "length exceeded");
    CHECK(std::string(to_string(rill::SendStatus::closed)) == "closed");
    CHECK(std::string(to_string(rill::CloseStatus::ok)) == "ok");
    CHECK(std::string(to_string(rill::CloseStatus::invalid_trailer)) == "invalid trailer");
    CHECK(std::string(to_string(rill::CloseStatus::already_closed)) == "already closed");
    CHECK(std::string(to_string(HeadStatus::invalid_content_length)) == "invalid or repeated Content-Length");
    CHECK(std::string(to_string(HeadStatus::content_length_forbidden)) ==
          "Content-Length not allowed for this response");
    CHECK(std::string(to_string(HeadStatus::transfer_encoding_set)) == "Transfer-Encoding is chosen by rill");
    CHECK(std::string(to_string(rill::CloseReason::write_error)) == "write error");
}
