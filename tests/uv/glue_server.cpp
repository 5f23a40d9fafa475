// The glue docs/adapters.md shows for libuv: a small libuv HTTP server as a user has it
// (listen, accept, read, a parser of its own), plus the lines that add rill, each with
// a trailing "+rill" comment (glue_lines.cmake counts them). Built and run by tests/uv.
//
// Routes: "/" answers "Hello, " at once and "World" 200 ms later; "/big" streams
// 1 MiB in 16 KiB parts under backpressure. Usage: glue_server [--port N] (0: a free
// one); SIGTERM stops it.

#include <signal.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <rill/uv.hpp>  // +rill

namespace {

uv_loop_t* loop;

// --- The application: written against rill::Body, knows nothing of libuv's streams. ---

void stream_big(const rill::BodyPtr& body, std::shared_ptr<std::size_t> left) {
    static const std::string part(16 * 1024, 'x');
    while (*left != 0) {
        --*left;
        if (body->send(part) == rill::SendStatus::backpressure) {
            body->on_drain([body, left] { stream_big(body, left); });
            return;
        }
    }
    body->close();
}

void app(const rill::Request& request, std::string_view path, const rill::BodyPtr& body) {
    const bool big = path == "/big";
    if (body->respond(request, rill::ResponseHead(path == "/" || big ? 200 : 404)) != rill::HeadStatus::ok)
        return body->abort();
    if (body->ended()) return;  // HEAD
    if (big) return stream_big(body, std::make_shared<std::size_t>(64));
    if (path != "/") {
        (void)body->send("not found\n");
        body->close();
        return;
    }
    (void)body->send("Hello, ");
    auto* timer = new uv_timer_t;
    uv_timer_init(loop, timer);
    timer->data = new rill::BodyPtr(body);
    uv_timer_start(timer, [](uv_timer_t* t) {
        auto* held = static_cast<rill::BodyPtr*>(t->data);
        (void)(*held)->send("World");
        (*held)->close();
        delete held;
        uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    }, 200, 0);
}

// --- The server, as it was before rill, with the glue. ---

void on_closed(uv_handle_t* handle);

struct Conn {
    uv_tcp_t tcp{};
    std::string in;
    rill::UvConnection rill{reinterpret_cast<uv_stream_t*>(&tcp), on_closed};  // +rill
};

void on_closed(uv_handle_t* handle) { delete static_cast<Conn*>(handle->data); }

std::string_view header(std::string_view head, std::string_view name) {  // the user's own parsing
    for (std::size_t at = head.find("\r\n"); at != std::string_view::npos; at = head.find("\r\n", at + 2)) {
        const std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
        if (line.size() > name.size() && line[name.size()] == ':' &&
            std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) { return (a | 32) == (b | 32); }))
            return line.substr(line.find_first_not_of(' ', name.size() + 1));
    }
    return {};
}

void parse(Conn* c) {
    if (!c->rill.idle()) return;  // +rill  one response at a time
    const std::size_t head_end = c->in.find("\r\n\r\n");
    if (head_end == std::string::npos) return;
    const std::string head = c->in.substr(0, head_end + 4);
    c->in.erase(0, head_end + 4);
    const std::size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
    const std::string_view method(head.data(), sp1);
    const std::string_view path(head.data() + sp1 + 1, sp2 - sp1 - 1);
    const int minor = head.compare(sp2 + 1, 8, "HTTP/1.0") == 0 ? 0 : 1;
    rill::BodyPtr body = c->rill.start_response([c](rill::UvEnd end) {  // +rill
        if (!end.keep_alive) return;                                   // +rill  rill closes it
        c->in += end.input;                                            // +rill  read meanwhile
        parse(c);                                                      // +rill  the next request
    });                                                                // +rill
    app(rill::Request{method, minor, header(head, "Connection"), header(head, "Upgrade")}, path, body);  // +rill
}

void on_alloc(uv_handle_t*, std::size_t size, uv_buf_t* buf) {
    buf->base = static_cast<char*>(std::malloc(size));
    buf->len = size;
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<Conn*>(stream->data);
    if (c->rill.on_read(nread, buf)) return std::free(buf->base);  // +rill
    if (nread > 0) c->in.append(buf->base, static_cast<std::size_t>(nread));
    std::free(buf->base);
    if (nread < 0) return c->rill.close();  // +rill  (was: uv_close(stream, on_closed))
    parse(c);
}

void on_connection(uv_stream_t* server, int status) {
    if (status < 0) return;
    auto* c = new Conn;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return c->rill.close();  // +rill (was: uv_close)
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
}

}  // namespace

int main(int argc, char** argv) {
    loop = uv_default_loop();
    ::signal(SIGPIPE, SIG_IGN);
    rill::UvTurn turn(loop);  // +rill
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", argc > 2 ? std::atoi(argv[2]) : 8080, &addr);
    if (uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&addr), 0) != 0 ||
        uv_listen(reinterpret_cast<uv_stream_t*>(&server), 128, on_connection) != 0)
        return 1;
    int len = sizeof addr;
    uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&addr), &len);
    std::printf("listening on http://127.0.0.1:%u/\n", ntohs(addr.sin_port));
    std::fflush(stdout);
    uv_signal_t term;
    uv_signal_init(loop, &term);
    uv_signal_start(&term, [](uv_signal_t* s, int) { uv_stop(s->loop); }, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
