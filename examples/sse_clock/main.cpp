// sse_clock: Server-Sent Events from the example server (examples/server/) through
// rill/sse.hpp. See docs/sse.md for a walk through the code.
//
//   /                     an HTML page whose EventSource shows the clock (page.hpp)
//   /tokens?count=N&threads=T  T worker threads each send count/T events "<thread> <seq>"
//                         through a rill::Producer, then the stream ends (tokens.hpp)
//   /events[?drop-after=N]  the event stream: a `hello` event, then one `tick` event per
//                         interval with an incrementing id and the UTC time as data, and
//                         heartbeat comments every --heartbeat-ms. A Last-Event-ID
//                         header resumes after that id. With drop-after, the response
//                         ends after N ticks, so a browser reconnects with Last-Event-ID.
//
// Each /events request is logged on stdout (after the `listening on` line):
//   events <stream>: last-event-id=<id or -> next=<id>
//   events <stream>: ended (<close reason>) after <n> ticks

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rill/sse.hpp>

#include "../server/cli.hpp"
#include "../server/event_loop.hpp"
#include "../server/http_request_parser.hpp"
#include "../server/server.hpp"
#include "page.hpp"
#include "tokens.hpp"  // /tokens: events from worker threads through rill::Producer

namespace rill_example {
namespace {

constexpr const char* kUsage =
    "usage: sse_clock [--host ADDR] [--port N] [--interval-ms N] [--heartbeat-ms N]\n"
    "  --host          address to listen on (default 127.0.0.1)\n"
    "  --port          TCP port, 0 picks a free one (default 8080)\n"
    "  --interval-ms   time between two ticks, also the clients' retry time (default 1000)\n"
    "  --heartbeat-ms  time between two heartbeat comments (default 15000)\n";

// Heartbeats in a row that find a stream's earlier bytes still unread before the
// stream is given up as stalled (the client is connected but reads nothing).
constexpr unsigned kMaxStalledBeats = 4;

// The raw value of a request header, "" when absent. The example parser keeps only the
// fields that frame a response; while the handler runs, the head it parsed is still in
// the connection's buffer, from the request line to the blank line, every line ended by
// CRLF and free of bare CR or LF (the parser checked all of it). The scan goes byte by
// byte and stops at the blank line, so it never reads past the head.
std::string_view request_header(const HttpRequest& req, std::string_view name) {
    const char* p = req.target.data() + req.target.size();
    while (*p != '\n') ++p;  // the rest of the request line
    ++p;
    for (;;) {
        const char* const line = p;
        while (*p != '\r') ++p;
        const std::string_view field(line, static_cast<std::size_t>(p - line));
        p += 2;  // CRLF
        if (field.empty()) return {};  // the blank line: not there
        const std::size_t colon = field.find(':');
        if (colon != std::string_view::npos && rill::detail::iequals(field.substr(0, colon), name))
            return rill::detail::trim_ows(field.substr(colon + 1));
    }
}

std::string utc_time_of_day() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t secs = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

struct ClockOptions {
    std::chrono::milliseconds interval{1000};
    std::chrono::milliseconds heartbeat{15000};
};

class ClockApp {
public:
    ClockApp(EventLoop& loop, ClockOptions options) : loop_(loop), opts_(options) {}

    /// The routes: one line each.
    void operator()(const HttpRequest& req, const BodyPtr& body) {
        using Handler = void (ClockApp::*)(const HttpRequest&, const BodyPtr&);
        struct Route {
            std::string_view path;
            Handler handler;
        };
        static constexpr Route routes[] = {
            {"/", &ClockApp::page},
            {"/events", &ClockApp::events},
        };
        for (const Route& route : routes) {
            if (req.path != route.path) continue;
            if (req.method != "GET" && req.method != "HEAD")
                return text(*body, req.framing_request(), 405, "method not allowed\n", "GET, HEAD");
            return (this->*route.handler)(req, body);
        }
        text(*body, req.framing_request(), 404, "not found\n");
    }

    /// One loop-wide timer sends every stream its heartbeat: a stream whose client is
    /// gone ends there (rill::sse::heartbeat aborts it), one that stalls too long too.
    void start_heartbeats() {
        heartbeat_timer_ = loop_.add_timer(opts_.heartbeat, [this] {
            heartbeat_timer_ = EventLoop::TimerId{};
            std::vector<std::shared_ptr<Stream>> open;
            open.reserve(streams_.size());
            for (const auto& entry : streams_) open.push_back(entry.second);
            // A stream may end (and leave streams_) inside heartbeat(): walk a copy.
            for (const auto& s : open) {
                switch (rill::sse::heartbeat(*s->body)) {
                    case rill::sse::HeartbeatStatus::alive: s->stalled_beats = 0; break;
                    case rill::sse::HeartbeatStatus::stalled:
                        if (++s->stalled_beats > kMaxStalledBeats) s->body->abort(rill::CloseReason::timeout);
                        break;
                    case rill::sse::HeartbeatStatus::gone: break;  // ended: on_close cleans up
                }
            }
            start_heartbeats();
        });
    }

private:
    struct Stream {
        std::uint64_t serial = 0;
        BodyPtr body;
        std::uint64_t next_id = 1;
        std::uint64_t ticks = 0;
        std::uint64_t drop_after = 0;  // 0: never
        unsigned stalled_beats = 0;
        EventLoop::TimerId timer;
        bool waiting_for_drain = false;
    };

    void page(const HttpRequest& req, const BodyPtr& body) {
        rill::ResponseHead head(200);
        head.header("Content-Type", "text/html; charset=utf-8")
            .header("Content-Length", std::to_string(kClockPage.size()));
        if (body->respond(req.framing_request(), head) != rill::HeadStatus::ok) return body->abort();
        (void)body->send(kClockPage);  // ends the body: the declared length is reached
    }

    void events(const HttpRequest& req, const BodyPtr& body) {
        auto s = std::make_shared<Stream>();
        if (!parse_events_query(req.query, s->drop_after))
            return text(*body, req.framing_request(), 400, "query: drop-after=N, 1 <= N <= 1000000\n");
        // Resumption: a client that reconnects sends back the last id it received.
        const std::optional<std::string_view> last = rill::sse::last_event_id(request_header(req, "Last-Event-ID"));
        std::uint64_t last_number = 0;
        const bool resumed = last && detail::parse_decimal(*last, last_number);
        s->next_id = resumed ? last_number + 1 : 1;

        if (body->respond(req.framing_request(), rill::sse::response_head()) != rill::HeadStatus::ok)
            return body->abort();
        if (body->ended()) return;  // HEAD: the head was the whole response
        s->serial = ++serial_;
        s->body = body;
        const std::string last_text = last ? std::string(*last) : std::string("-");
        std::printf("events %llu: last-event-id=%s next=%llu\n", static_cast<unsigned long long>(s->serial),
                    last_text.c_str(), static_cast<unsigned long long>(s->next_id));
        std::fflush(stdout);

        streams_.emplace(s->serial, s);
        // Both callbacks hold the stream; rill drops them when the body ends.
        body->on_close([this, s](rill::CloseReason why) {
            loop_.cancel_timer(s->timer);
            streams_.erase(s->serial);
            std::printf("events %llu: ended (%s) after %llu ticks\n", static_cast<unsigned long long>(s->serial),
                        rill::to_string(why), static_cast<unsigned long long>(s->ticks));
            std::fflush(stdout);
        });
        body->on_drain([this, s] {
            if (!s->waiting_for_drain) return;
            s->waiting_for_drain = false;
            schedule(s);
        });

        // The greeting tells the client its reconnection delay, and says what the server
        // made of Last-Event-ID. Its lines end in CRLF, CR and LF on purpose: every client
        // must read all three as line ends (tests/browser checks that Chromium does).
        const std::string hello = "sse_clock stream " + std::to_string(s->serial) + "\r\nlast-event-id: " +
                                  (resumed ? std::to_string(last_number) : std::string("none")) +
                                  "\rnext id: " + std::to_string(s->next_id) + "\nretry-ms: " +
                                  std::to_string(opts_.interval.count());
        const rill::sse::SendResult greeted =
            rill::sse::send_event(*body, rill::sse::Event{hello, "hello", std::nullopt, opts_.interval.count()});
        if (greeted.send == rill::SendStatus::closed) return;
        tick(s);
    }

    void tick(const std::shared_ptr<Stream>& s) {
        char id[24];
        const int id_len = std::snprintf(id, sizeof id, "%llu", static_cast<unsigned long long>(s->next_id));
        const std::string now = utc_time_of_day();
        const rill::sse::SendResult r = rill::sse::send_event(
            *s->body, rill::sse::Event{now, "tick", std::string_view(id, static_cast<std::size_t>(id_len))});
        if (r.send == rill::SendStatus::closed) return;  // on_close has cleaned up
        ++s->next_id;
        if (++s->ticks == s->drop_after) {
            // Ends the response cleanly (the last chunk): the client reconnects by itself.
            s->body->close();
            return;
        }
        if (r.send == rill::SendStatus::backpressure) {
            s->waiting_for_drain = true;  // a clock that cannot be read skips ticks
            return;
        }
        schedule(s);
    }

    void schedule(const std::shared_ptr<Stream>& s) {
        s->timer = loop_.add_timer(opts_.interval, [this, s] {
            s->timer = EventLoop::TimerId{};
            tick(s);
        });
    }

    static bool parse_events_query(std::string_view query, std::uint64_t& drop_after) {
        if (query.empty()) return true;
        constexpr std::string_view key = "drop-after=";
        if (query.substr(0, key.size()) != key) return false;
        return detail::parse_decimal(query.substr(key.size()), drop_after) && drop_after >= 1 &&
               drop_after <= 1000000;
    }

    static void text(Body& body, const rill::Request& framing, int status, std::string_view msg,
                     std::string_view allow = {}) {
        rill::ResponseHead head(status);
        head.header("Content-Type", "text/plain").header("Content-Length", std::to_string(msg.size()));
        if (!allow.empty()) head.header("Allow", std::string(allow));
        if (body.respond(framing, head) != rill::HeadStatus::ok) return body.abort();
        (void)body.send(msg);
        body.close();
    }

    EventLoop& loop_;
    ClockOptions opts_;
    std::map<std::uint64_t, std::shared_ptr<Stream>> streams_;  // by serial, while open
    std::uint64_t serial_ = 0;
    EventLoop::TimerId heartbeat_timer_;
};

bool parse_ms(const char* text, std::chrono::milliseconds& out) {
    std::uint64_t v = 0;
    if (!detail::parse_decimal(text, v) || v == 0 || v > static_cast<std::uint64_t>(rill::sse::max_retry_ms))
        return false;
    out = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(v));
    return true;
}

}  // namespace
}  // namespace rill_example

int main(int argc, char** argv) {
    using namespace rill_example;
    ServerOptions opts;
    ClockOptions clock;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg(argv[i]);
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "sse_clock: %s needs a value\n%s", argv[i], kUsage);
            return 2;
        }
        const char* value = argv[++i];
        bool ok = true;
        if (arg == "--host") {
            opts.host = value;
        } else if (arg == "--port") {
            std::uint64_t port = 0;
            ok = detail::parse_decimal(value, port) && port <= 65535;
            opts.port = static_cast<std::uint16_t>(port);
        } else if (arg == "--interval-ms") {
            ok = parse_ms(value, clock.interval);
        } else if (arg == "--heartbeat-ms") {
            ok = parse_ms(value, clock.heartbeat);
        } else {
            std::fprintf(stderr, "sse_clock: unknown option %s\n%s", argv[i - 1], kUsage);
            return 2;
        }
        if (!ok) {
            std::fprintf(stderr, "sse_clock: bad value for %s: %s\n", argv[i - 1], value);
            return 2;
        }
    }

    rill_example::StopSignals signals("sse_clock");  // before any thread starts
    if (!signals.ok()) return 1;

    EventLoop loop;
    if (!loop.ok()) {
        std::perror("sse_clock: epoll");
        return 1;
    }
    ClockApp app(loop, clock);  // outlives the server, whose shutdown ends the streams
    TokensApp tokens(loop);     // joins its worker threads after the server ended their streams
    Server server(loop, opts, [&](const HttpRequest& req, const BodyPtr& body) {
        if (req.path == "/tokens") return tokens(req, body);
        app(req, body);
    });
    if (const std::string err = server.listen(); !err.empty()) {
        std::fprintf(stderr, "sse_clock: %s\n", err.c_str());
        return 1;
    }
    app.start_heartbeats();

    rill_example::announce_listening(opts.host, server.local_port());

    return signals.run(loop, [&] { server.shutdown(); });
}
