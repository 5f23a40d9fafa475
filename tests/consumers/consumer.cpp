// A consumer project: it only sees rill through the way it was given it.
#include <rill/rill.hpp>

#include <cstdio>

static_assert(RILL_VERSION_MAJOR >= 0, "version macros are visible");

int main() {
    rill::StringSink wire;
    auto body = rill::make_deferred_body<rill::StringSink>();
    body->each(wire);
    if (body->respond(rill::Request{}, rill::ResponseHead(200)) != rill::HeadStatus::ok) return 1;
    (void)body->send("Hello, ");
    (void)body->send("World");
    body->close();
    const char* expected =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nHello, \r\n5\r\nWorld\r\n0\r\n\r\n";
    if (wire.str() != expected) {
        std::fprintf(stderr, "unexpected bytes: %s\n", wire.str().c_str());
        return 1;
    }
    return body->keep_alive() ? 0 : 1;
}
