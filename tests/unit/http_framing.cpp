// HTTP/1.x on the wire: the head, the framing chosen from request and response,
// the keep-alive decision and trailers, checked as exact bytes.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

#include <cstdint>
#include <string>

using rill::CloseReason;
using rill::Framing;
using rill::HeadStatus;
using rill::Request;
using rill::ResponseHead;
using rill::SendStatus;

namespace {

struct Exchange {
    rill::StringSink wire;
    std::shared_ptr<rill::DeferredBody<rill::StringSink>> body = rill::make_deferred_body<rill::StringSink>();
    HeadStatus head_status;

    Exchange(const Request& req, const ResponseHead& head) {
        body->each(wire);
        head_status = body->respond(req, head);
    }
};

const Request http11_get{"GET", 1, "", ""};
const Request http10_get{"GET", 0, "", ""};

}  // namespace

TEST_CASE("HTTP/1.1, length unknown: chunked, persistent") {
    Exchange x(http11_get, ResponseHead(200).header("Content-Type", "text/plain"));
    REQUIRE(x.head_status == HeadStatus::ok);
    CHECK(x.body->framing() == Framing::chunked);
    CHECK(x.body->send("Hello, ") == SendStatus::written);
    CHECK(x.body->send(std::string(300, 'a')) == SendStatus::written);
    x.body->close();
    CHECK(x.wire.str() ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
          "7\r\nHello, \r\n12c\r\n" +
              std::string(300, 'a') + "\r\n0\r\n\r\n");
    CHECK(x.body->keep_alive());
}

TEST_CASE("Content-Length set: identity framing with the count enforced") {
    SUBCASE("exact length completes and keeps the connection") {
        Exchange x(http11_get, ResponseHead(200).header("Content-Length", "12"));
        REQUIRE(x.head_status == HeadStatus::ok);
        CHECK(x.body->framing() == Framing::fixed);
        CHECK(x.body->send("Hello, ") == SendStatus::written);
        CHECK(x.body->state() == rill::BodyState::open);
        CHECK(x.body->send("World") == SendStatus::written);
        // The declared length is reached: the body ended by itself; close() is harmless.
        CHECK(x.body->state() == rill::BodyState::closed);
        CHECK(x.body->close() == rill::CloseStatus::already_closed);
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello, World");
        CHECK(x.body->close_reason() == CloseReason::completed);
        CHECK(x.body->keep_alive());
    }
    SUBCASE("a send past the declared length is refused whole") {
        Exchange x(http11_get, ResponseHead(200).header("Content-Length", "5"));
        CHECK(x.body->send("abc") == SendStatus::written);
        CHECK(x.body->send("def") == SendStatus::length_exceeded);
        CHECK(x.body->send("de") == SendStatus::written);
        CHECK(x.body->send("f") == SendStatus::length_exceeded);  // also once the body has ended
        CHECK(x.body->send("") == SendStatus::closed);
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde");
        CHECK(x.body->keep_alive());
    }
    SUBCASE("a close short of it is truncated and the connection is not reused") {
        std::vector<CloseReason> seen;
        Exchange x(http11_get, ResponseHead(200).header("content-length", "10"));
        x.body->on_close([&](CloseReason r) { seen.push_back(r); });
        CHECK(x.body->send("abc") == SendStatus::written);
        x.body->close();
        CHECK(seen == std::vector<CloseReason>{CloseReason::truncated});
        CHECK(x.wire.finished() == CloseReason::truncated);
        CHECK_FALSE(x.body->keep_alive());
    }
    SUBCASE("Content-Length: 0") {
        Exchange x(http11_get, ResponseHead(200).header("Content-Length", "0"));
        CHECK(x.body->state() == rill::BodyState::closed);  // complete with the head
        CHECK(x.body->send("x") == SendStatus::length_exceeded);
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        CHECK(x.body->keep_alive());
    }
}

TEST_CASE("HTTP/1.0 client, length unknown: close-delimited, never chunked") {
    Exchange x(http10_get, ResponseHead(200));
    REQUIRE(x.head_status == HeadStatus::ok);
    CHECK(x.body->framing() == Framing::close_delimited);
    CHECK(x.body->send("Hello, ") == SendStatus::written);
    CHECK(x.body->send("World") == SendStatus::written);
    x.body->close();
    CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello, World");
    CHECK(x.body->close_reason() == CloseReason::completed);
    CHECK_FALSE(x.body->keep_alive());
}

TEST_CASE("HTTP/1.0 keep-alive needs the client's keep-alive and a self-delimited body") {
    SUBCASE("keep-alive + Content-Length: persistent, says so") {
        Exchange x(Request{"GET", 0, "Keep-Alive", ""}, ResponseHead(200).header("Content-Length", "2"));
        CHECK(x.body->send("hi") == SendStatus::written);
        x.body->close();
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi");
        CHECK(x.body->keep_alive());
    }
    SUBCASE("keep-alive but length unknown: close-delimited") {
        Exchange x(Request{"GET", 0, "keep-alive", ""}, ResponseHead(200));
        x.body->close();
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        CHECK_FALSE(x.body->keep_alive());
    }
    SUBCASE("no keep-alive: not persistent even with a length") {
        Exchange x(http10_get, ResponseHead(200).header("Content-Length", "0"));
        x.body->close();
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        CHECK_FALSE(x.body->keep_alive());
    }
}

TEST_CASE("responses without a body: HEAD, 204, 304, 101") {
    SUBCASE("HEAD: the body ended with the head; sends answer closed") {
        Exchange x(Request{"HEAD", 1, "", ""}, ResponseHead(200).header("Content-Length", "12"));
        CHECK(x.body->framing() == Framing::none);
        CHECK(x.body->send("Hello, World") == SendStatus::closed);
        x.body->close();
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        CHECK(x.body->close_reason() == CloseReason::completed);
        CHECK(x.body->keep_alive());
    }
    SUBCASE("HEAD without a length: the head says what GET would, no body follows") {
        Exchange x(Request{"HEAD", 1, "", ""}, ResponseHead(200));
        CHECK(x.body->framing() == Framing::none);
        CHECK(x.body->send("ignored") == SendStatus::closed);
        x.body->close();
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        CHECK(x.body->keep_alive());
    }
    SUBCASE("HEAD from an HTTP/1.0 client without a length: no chunked, not persistent") {
        Exchange x(Request{"HEAD", 0, "", ""}, ResponseHead(200));
        x.body->close();
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        CHECK_FALSE(x.body->keep_alive());
    }
    SUBCASE("204") {
        Exchange x(http11_get, ResponseHead(204));
        CHECK(x.body->send("ignored") == SendStatus::closed);
        x.body->close();
        CHECK(x.wire.str() == "HTTP/1.1 204 No Content\r\n\r\n");
        CHECK(x.body->keep_alive());
    }
    SUBCASE("304 keeps a Content-Length it was given") {
        Exchange x(http11_get, ResponseHead(304).header("ETag", "\"v1\"").header("Content-Length", "99"));
        CHECK(x.body->send("ignored") == SendStatus::closed);
        x.body->close();
        CHECK(x.wire.str() == "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 99\r\n\r\n");
        CHECK(x.body->keep_alive());
    }
    SUBCASE("101 with an Upgrade the client asked for; the connection leaves HTTP") {
        Exchange x(Request{"GET", 1, "Upgrade", "websocket"},
                   ResponseHead(101).header("Connection", "Upgrade").header("Upgrade", "websocket"));
        REQUIRE(x.head_status == HeadStatus::ok);
        x.body->close();
        CHECK(x.wire.str() ==
              "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
        CHECK_FALSE(x.body->keep_alive());
    }
}

TEST_CASE("205 Reset Content says it has no content") {
    Exchange x(http11_get, ResponseHead(205));
    CHECK(x.body->framing() == Framing::fixed);
    CHECK(x.wire.str() == "HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n");
    CHECK(x.body->send("x") == SendStatus::length_exceeded);
    CHECK(x.body->keep_alive());
}

TEST_CASE("a 2xx to CONNECT opens a tunnel: no framing, no HTTP after it") {
    Exchange x(Request{"CONNECT", 1, "", ""}, ResponseHead(200));
    REQUIRE(x.head_status == HeadStatus::ok);
    CHECK(x.body->framing() == Framing::none);
    x.body->close();
    CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\n\r\n");
    CHECK_FALSE(x.body->keep_alive());
    SUBCASE("a refused CONNECT is an ordinary response") {
        Exchange refused(Request{"CONNECT", 1, "", ""}, ResponseHead(403).header("Content-Length", "0"));
        CHECK(refused.wire.str() == "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        CHECK(refused.body->keep_alive());
    }
}

TEST_CASE("Connection: close from either side ends persistence") {
    SUBCASE("the request says close") {
        Exchange x(Request{"GET", 1, "foo, Close", ""}, ResponseHead(200));
        x.body->close();
        CHECK(x.wire.str() ==
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n");
        CHECK_FALSE(x.body->keep_alive());
    }
    SUBCASE("the response says close: said once, by rill") {
        Exchange x(http11_get, ResponseHead(200).header("Connection", "close"));
        x.body->close();
        CHECK(x.wire.str() ==
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n");
        CHECK_FALSE(x.body->keep_alive());
    }
    SUBCASE("an application keep-alive cannot contradict the decision") {
        Exchange x(Request{"GET", 1, "close", ""}, ResponseHead(200).header("Connection", "keep-alive"));
        x.body->close();
        CHECK(x.wire.str() ==
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n");
        CHECK_FALSE(x.body->keep_alive());
    }
    SUBCASE("HTTP/1.0 keep-alive is said once even when the application says it too") {
        Exchange x(Request{"GET", 0, "keep-alive", ""},
                   ResponseHead(200).header("Connection", "Keep-Alive, X-Custom").header("Content-Length", "0"));
        CHECK(x.wire.str() ==
              "HTTP/1.1 200 OK\r\nConnection: X-Custom\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(x.body->keep_alive());
    }
    SUBCASE("abort never keeps the connection") {
        Exchange x(http11_get, ResponseHead(200));
        x.body->abort();
        CHECK_FALSE(x.body->keep_alive());
    }
}

TEST_CASE("trailers") {
    const rill::Fields trailers{{"X-Checksum", "abc123"}, {"X-Count", "2"}};
    SUBCASE("declared up front, sent with the last chunk") {
        Exchange x(http11_get, ResponseHead(200).header("Trailer", "X-Checksum, X-Count"));
        CHECK(x.body->send("hi") == SendStatus::written);
        CHECK(x.body->close(trailers) == rill::CloseStatus::ok);
        CHECK(x.wire.str() ==
              "HTTP/1.1 200 OK\r\nTrailer: X-Checksum, X-Count\r\nTransfer-Encoding: chunked\r\n\r\n"
              "2\r\nhi\r\n0\r\nX-Checksum: abc123\r\nX-Count: 2\r\n\r\n");
        CHECK(x.body->keep_alive());
    }
    SUBCASE("fixed length cannot carry them: dropped, visibly") {
        Exchange x(http11_get, ResponseHead(200).header("Content-Length", "4"));
        CHECK(x.body->send("hi") == SendStatus::written);
        CHECK(x.body->close(trailers) == rill::CloseStatus::trailers_dropped);
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhi");
        CHECK(x.body->close_reason() == CloseReason::truncated);
    }
    SUBCASE("a fixed body that ended with its last byte still reports them dropped") {
        Exchange x(http11_get, ResponseHead(200).header("Content-Length", "2"));
        CHECK(x.body->send("hi") == SendStatus::written);
        CHECK(x.body->close(trailers) == rill::CloseStatus::trailers_dropped);
        CHECK(x.body->close() == rill::CloseStatus::already_closed);
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    }
    SUBCASE("a response without a body cannot carry them: dropped, visibly") {
        Exchange x(Request{"HEAD", 1, "", ""}, ResponseHead(200).header("Trailer", "X-Count"));
        CHECK(x.body->close(rill::Fields{{"X-Count", "2"}}) == rill::CloseStatus::trailers_dropped);
        CHECK(x.wire.str().find("X-Count: 2") == std::string::npos);
        CHECK(x.body->close_reason() == CloseReason::completed);
    }
    SUBCASE("HTTP/1.0 cannot carry them: dropped, visibly") {
        Exchange x(http10_get, ResponseHead(200));
        CHECK(x.body->close(trailers) == rill::CloseStatus::trailers_dropped);
        CHECK(x.wire.str() == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    }
    SUBCASE("framing and routing fields are refused and nothing changes") {
        for (const char* name : {"Content-Length", "transfer-encoding", "Host", "Trailer", "Connection"}) {
            Exchange x(http11_get, ResponseHead(200));
            CHECK(x.body->close(rill::Fields{{name, "1"}}) == rill::CloseStatus::invalid_trailer);
            CHECK(x.body->state() == rill::BodyState::open);
            CHECK(x.body->close() == rill::CloseStatus::ok);
            CHECK(x.wire.str().find(name) == std::string::npos);
        }
    }
    SUBCASE("a trailer with CR LF is refused") {
        Exchange x(http11_get, ResponseHead(200));
        CHECK(x.body->close(rill::Fields{{"X-A", "1\r\nX-B: 2"}}) == rill::CloseStatus::invalid_trailer);
        CHECK(x.body->close(rill::Fields{{"X A", "1"}}) == rill::CloseStatus::invalid_trailer);
        CHECK(x.body->state() == rill::BodyState::open);
    }
}

TEST_CASE("a bad head is refused with a clear status and writes nothing") {
    struct Case {
        ResponseHead head;
        Request req;
        HeadStatus expected;
    };
    const Case cases[] = {
        {ResponseHead(200).header("X-A", "a\r\nX-Injected: y"), http11_get, HeadStatus::invalid_field_value},
        {ResponseHead(200).header("X-A", std::string("a\0b", 3)), http11_get, HeadStatus::invalid_field_value},
        {ResponseHead(200).header("X-A", "a\nb"), http11_get, HeadStatus::invalid_field_value},
        {ResponseHead(200).header("X-A", " padded"), http11_get, HeadStatus::invalid_field_value},
        {ResponseHead(200).header("a\r\nX-Injected", "y"), http11_get, HeadStatus::invalid_field_name},
        {ResponseHead(200).header("", "y"), http11_get, HeadStatus::invalid_field_name},
        {ResponseHead(200).header("X A", "y"), http11_get, HeadStatus::invalid_field_name},
        {ResponseHead(200).header("X:A", "y"), http11_get, HeadStatus::invalid_field_name},
        {ResponseHead(200, "OK\r\nX-Injected: y"), http11_get, HeadStatus::invalid_reason},
        {ResponseHead(99), http11_get, HeadStatus::invalid_status},
        {ResponseHead(100), http11_get, HeadStatus::invalid_status},
        {ResponseHead(199), http11_get, HeadStatus::invalid_status},
        {ResponseHead(600), http11_get, HeadStatus::invalid_status},
        {ResponseHead(-200), http11_get, HeadStatus::invalid_status},
        {ResponseHead(101).header("Upgrade", "websocket"), http11_get, HeadStatus::invalid_status},
        {ResponseHead(101), Request{"GET", 1, "Upgrade", "websocket"}, HeadStatus::invalid_status},
        {ResponseHead(200).header("Transfer-Encoding", "chunked"), http11_get, HeadStatus::transfer_encoding_set},
        {ResponseHead(200).header("Content-Length", "1").header("Content-Length", "1"), http11_get,
         HeadStatus::invalid_content_length},
        {ResponseHead(200).header("Content-Length", "-1"), http11_get, HeadStatus::invalid_content_length},
        {ResponseHead(200).header("Content-Length", "1 2"), http11_get, HeadStatus::invalid_content_length},
        {ResponseHead(200).header("Content-Length", ""), http11_get, HeadStatus::invalid_content_length},
        {ResponseHead(200).header("Content-Length", "99999999999999999999"), http11_get,
         HeadStatus::invalid_content_length},
        {ResponseHead(204).header("Content-Length", "0"), http11_get, HeadStatus::content_length_forbidden},
        {ResponseHead(205).header("Content-Length", "3"), http11_get, HeadStatus::content_length_forbidden},
        {ResponseHead(200).header("Content-Length", "3"), Request{"CONNECT", 1, "", ""},
         HeadStatus::content_length_forbidden},
    };
    for (const Case& c : cases) {
        Exchange x(c.req, c.head);
        CAPTURE(rill::to_string(c.expected));
        CHECK(x.head_status == c.expected);
        CHECK(x.wire.str().empty());
        CHECK(x.body->bytes_sent() == 0);
        // The body stays usable: the server can still answer with a head it builds itself.
        CHECK(x.body->respond(http11_get, ResponseHead(500).header("Content-Length", "0")) == HeadStatus::ok);
        x.body->close();
        CHECK(x.wire.str() == "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
        CHECK(x.wire.str().find("Injected") == std::string::npos);
    }
}

TEST_CASE("respond() comes first, once") {
    SUBCASE("twice") {
        Exchange x(http11_get, ResponseHead(200));
        CHECK(x.body->respond(http11_get, ResponseHead(200)) == HeadStatus::already_started);
    }
    SUBCASE("after body bytes") {
        rill::DeferredBody<rill::StringSink> body;
        CHECK(body.send("raw") == SendStatus::queued);
        CHECK(body.respond(http11_get, ResponseHead(200)) == HeadStatus::already_started);
    }
    SUBCASE("after abort") {
        rill::DeferredBody<rill::StringSink> body;
        body.abort();
        CHECK(body.respond(http11_get, ResponseHead(200)) == HeadStatus::body_closed);
    }
}

TEST_CASE("the head goes out before any body part exists") {
    rill::StringSink wire;
    rill::DeferredBody<rill::StringSink> body;
    body.each(wire);
    REQUIRE(body.respond(http11_get, ResponseHead(200).header("Set-Cookie", "a=1").header("Set-Cookie", "b=2")) ==
            HeadStatus::ok);
    CHECK(wire.str() == "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(wire.writes() == 1);  // one buffer, one write
}

TEST_CASE("chunk-size lines are lower-case hex without leading zeros") {
    char buf[rill::detail::chunk_header_max];
    const auto fmt = [&](std::uint64_t n) { return std::string(buf, rill::detail::format_chunk_header(buf, n)); };
    CHECK(fmt(0) == "0\r\n");
    CHECK(fmt(1) == "1\r\n");
    CHECK(fmt(15) == "f\r\n");
    CHECK(fmt(16) == "10\r\n");
    CHECK(fmt(0xabcdef) == "abcdef\r\n");
    CHECK(fmt(UINT64_MAX) == "ffffffffffffffff\r\n");
}

TEST_CASE("a chunk goes out as one gather write: size line, data, CRLF") {
    std::vector<std::size_t> counts;
    std::string out;
    auto sink = rill::make_function_sink([&](const rill::ConstBuffer* b, std::size_t n) {
        counts.push_back(n);
        for (std::size_t i = 0; i < n; ++i) out.append(b[i].data, b[i].size);
        return rill::WriteResult::ok(rill::buffer_size(b, n));
    });
    rill::DeferredBody<decltype(sink)> body;
    body.each(sink);
    REQUIRE(body.respond(http11_get, ResponseHead(200)) == HeadStatus::ok);
    CHECK(body.send("payload") == SendStatus::written);
    CHECK(counts == std::vector<std::size_t>{1, 3});
    CHECK(out.substr(out.size() - 12) == "7\r\npayload\r\n");
}
