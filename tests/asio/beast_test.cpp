// rill/beast.hpp: a Beast request seen as rill::Request, Beast header fields as a
// rill::ResponseHead. The expected values are written out by hand, and the framing
// rill derives from them is checked through prepare_head (no server involved).

#include <doctest/doctest.h>

#include <string>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <rill/beast.hpp>
#include <rill/framing.hpp>

namespace http = boost::beast::http;

TEST_CASE("beast bridge: method, version, Connection values joined, Upgrade") {
    http::request<http::string_body> req{http::verb::head, "/x", 11};
    {
        const rill::beast::RequestView view(req);
        const rill::Request& r = view;
        CHECK(r.method == "HEAD");
        CHECK(r.version_minor == 1);
        CHECK(r.connection.empty());
        CHECK(r.upgrade.empty());
    }
    req.version(10);
    req.method_string("PURGE");  // a method Beast has no verb for
    req.insert(http::field::connection, "keep-alive");
    {
        const rill::beast::RequestView view(req);
        CHECK(view.get().method == "PURGE");
        CHECK(view.get().version_minor == 0);
        CHECK(view.get().connection == "keep-alive");
    }
    req.version(11);
    req.insert(http::field::connection, "Upgrade");
    req.insert(http::field::connection, "close");
    req.insert(http::field::upgrade, "websocket");
    const rill::beast::RequestView view(req);
    CHECK(view.get().connection == "keep-alive, Upgrade, close");
    CHECK(view.get().upgrade == "websocket");
    // The joined value decides persistence: "close" in the third field closes.
    const rill::PreparedHead prepared = rill::prepare_head(view, rill::ResponseHead(200));
    CHECK(prepared.status == rill::HeadStatus::ok);
    CHECK_FALSE(prepared.plan.persistent);
}

TEST_CASE("beast bridge: an HTTP/1.0 request with Connection: keep-alive stays persistent with a length") {
    http::request<http::empty_body> req{http::verb::get, "/", 10};
    req.set(http::field::connection, "Keep-Alive");
    const rill::beast::RequestView view(req);
    rill::ResponseHead head(200);
    head.header("Content-Length", "2");
    const rill::PreparedHead prepared = rill::prepare_head(view, head);
    CHECK(prepared.plan.persistent);
    CHECK(prepared.bytes == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
}

TEST_CASE("beast bridge: response status, reason and fields in Beast's order, repeated names kept") {
    http::response<http::empty_body> res{http::status::not_found, 11};
    res.insert(http::field::content_type, "text/plain");
    res.insert(http::field::set_cookie, "a=1");
    res.insert("X-Custom", "v");
    res.insert(http::field::set_cookie, "b=2");
    rill::ResponseHead head = rill::beast::to_response_head(res);
    CHECK(head.status() == 404);
    CHECK(head.reason() == "Not Found");  // rill's own phrase: none was set
    // Beast's order: a repeated name goes right after the last field of that name.
    REQUIRE(head.fields().size() == 4);
    CHECK(head.fields()[0].name == "Content-Type");
    CHECK(head.fields()[0].value == "text/plain");
    CHECK(head.fields()[1].name == "Set-Cookie");
    CHECK(head.fields()[1].value == "a=1");
    CHECK(head.fields()[2].name == "Set-Cookie");
    CHECK(head.fields()[2].value == "b=2");
    CHECK(head.fields()[3].name == "X-Custom");
    CHECK(head.fields()[3].value == "v");

    res.result(413);  // Beast says "Payload Too Large", rill "Content Too Large"
    CHECK(rill::beast::to_response_head(res).reason() == "Content Too Large");
    res.reason("Too Much");
    CHECK(rill::beast::to_response_head(res).reason() == "Too Much");
    res.result(299);  // a code neither names
    res.reason("");
    CHECK(rill::beast::to_response_head(res).status() == 299);
}

TEST_CASE("beast bridge: a head from prepare_payload() carries Transfer-Encoding, which rill refuses") {
    http::response<http::string_body> res{http::status::ok, 11};
    res.chunked(true);
    const rill::ResponseHead head = rill::beast::to_response_head(res);
    const rill::Request req{"GET", 1, {}, {}};
    CHECK(rill::prepare_head(req, head).status == rill::HeadStatus::transfer_encoding_set);
}
