// A small single-threaded HTTP/1.x server built on rill, for the wire tests.
// Independent clients (curl, Node's llhttp, Python's http.client) talk to it over
// loopback; the query string picks the response so that every request x response
// combination can be produced. It prints "listening on PORT" first and exits on
// SIGTERM/SIGINT, after --idle-seconds without traffic, or after --max-seconds.
//
// Query parameters (all optional):
//   status=N      response status (default 200)
//   cl=N          declare Content-Length: N (the raw text is used, so bad values can be tried)
//   parts=a,b,c   the parts to send; an all-digit item N is N copies of a letter
//                 ('a' + index % 26), anything else is sent literally (percent-decoded);
//                 an empty item is an empty send
//   delay-ms=N    wait N ms (poll timeout) before each part
//   pre=N         send the first N parts before each() hands the socket over
//   trailers=1    declare "Trailer: X-Checksum, X-Count" and close with them
//   trailers=bad  close with a forbidden trailer first (must be refused), then plainly
//   close=1       the application sets "Connection: close"
//   rconn=V       the application sets "Connection: V"
//   short=1       close short of Content-Length (cl defaults to the parts' size + 1)
//   over=1        after the parts, try to send 8 more bytes past Content-Length
//   abort=1       abort the body after the parts instead of closing it
//   inject=1      try a CRLF in a header value, then in a header name, then answer 500
//   bad=KIND      try a bad head (te, cl-dup, cl-bad, cl-204, status, reason), then answer 500
//   tag=T         label for the outcome record
//
// GET /__log?tag=T answers the outcome records of the responses tagged T, one a line:
// what respond(), send() and close() answered, how the body ended, keep_alive().

#include <rill/rill.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wire {

using Clock = std::chrono::steady_clock;
using Body = rill::DeferredBody<rill::PosixSocketSink>;

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_signal(int) { g_stop = 1; }

constexpr std::size_t max_head_bytes = 8192;
constexpr std::size_t max_request_body = 8192;
constexpr auto linger_time = std::chrono::seconds(2);
constexpr auto keep_alive_idle = std::chrono::seconds(30);

const char* head_name(rill::HeadStatus s) {
    switch (s) {
        case rill::HeadStatus::ok: return "ok";
        case rill::HeadStatus::invalid_status: return "invalid_status";
        case rill::HeadStatus::invalid_reason: return "invalid_reason";
        case rill::HeadStatus::invalid_field_name: return "invalid_field_name";
        case rill::HeadStatus::invalid_field_value: return "invalid_field_value";
        case rill::HeadStatus::transfer_encoding_set: return "transfer_encoding_set";
        case rill::HeadStatus::connection_specific_field: return "connection_specific_field";
        case rill::HeadStatus::invalid_content_length: return "invalid_content_length";
        case rill::HeadStatus::content_length_forbidden: return "content_length_forbidden";
        case rill::HeadStatus::already_started: return "already_started";
        case rill::HeadStatus::body_closed: return "body_closed";
    }
    return "unknown";
}

// rill's to_string() spells some values with spaces; records are space-separated.
std::string token_of(const char* text) {
    std::string s(text);
    std::replace(s.begin(), s.end(), ' ', '_');
    return s;
}

std::uint32_t fnv1a(std::string_view data, std::uint32_t h = 2166136261u) {
    for (char c : data) {
        h ^= static_cast<unsigned char>(c);
        h *= 16777619u;
    }
    return h;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
            i += 2;
        } else if (s[i] == '+') {
            out.push_back(' ');
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

bool all_digits(std::string_view s) {
    if (s.empty() || s.size() > 9) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_token(std::string_view s) { return rill::is_valid_field_name(s); }

struct HttpRequest {
    std::string method;
    std::string path;
    std::map<std::string, std::string> query;
    int version_minor = 1;
    std::string connection;  // every Connection line, comma-joined
    std::string upgrade;
    std::size_t content_length = 0;
};

enum class Parse : std::uint8_t { incomplete, ok, bad, too_large };

// A strict request parser: request line, headers, an optional Content-Length body.
// `consumed` is the request's size in `in` when the result is ok.
Parse parse_request(const std::string& in, HttpRequest& req, std::size_t& consumed) {
    const std::size_t end = in.find("\r\n\r\n");
    if (end == std::string::npos) return in.size() > max_head_bytes ? Parse::too_large : Parse::incomplete;
    if (end + 4 > max_head_bytes) return Parse::too_large;
    std::string_view head(in.data(), end + 2);

    const std::size_t line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    const std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return Parse::bad;
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return Parse::bad;
    req.method = std::string(line.substr(0, sp1));
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (!is_token(req.method) || target.empty() || target.front() != '/') return Parse::bad;
    if (version == "HTTP/1.1") {
        req.version_minor = 1;
    } else if (version == "HTTP/1.0") {
        req.version_minor = 0;
    } else {
        return Parse::bad;
    }

    const std::size_t qmark = target.find('?');
    req.path = std::string(target.substr(0, qmark));
    if (qmark != std::string_view::npos) {
        std::string_view q = target.substr(qmark + 1);
        while (!q.empty()) {
            const std::size_t amp = q.find('&');
            std::string_view kv = q.substr(0, amp);
            const std::size_t eq = kv.find('=');
            std::string key = percent_decode(kv.substr(0, eq));
            std::string value = eq == std::string_view::npos ? std::string() : percent_decode(kv.substr(eq + 1));
            if (!key.empty()) req.query[key] = value;
            if (amp == std::string_view::npos) break;
            q.remove_prefix(amp + 1);
        }
    }

    bool has_length = false;
    std::string_view rest = head.substr(line_end + 2);
    while (!rest.empty()) {
        const std::size_t eol = rest.find("\r\n");
        std::string_view field = rest.substr(0, eol);
        rest.remove_prefix(eol + 2);
        const std::size_t colon = field.find(':');
        if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) return Parse::bad;
        std::string_view name = field.substr(0, colon);
        std::string_view value = field.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        for (char c : value)
            if (c == '\0' || c == '\r' || c == '\n') return Parse::bad;
        if (rill::detail::iequals(name, "connection")) {
            if (!req.connection.empty()) req.connection += ", ";
            req.connection += std::string(value);
        } else if (rill::detail::iequals(name, "upgrade")) {
            req.upgrade = std::string(value);
        } else if (rill::detail::iequals(name, "transfer-encoding")) {
            return Parse::bad;  // request bodies are not needed by the tests
        } else if (rill::detail::iequals(name, "content-length")) {
            std::uint64_t n = 0;
            if (has_length || !rill::detail::parse_content_length(value, n) || n > max_request_body)
                return Parse::bad;
            has_length = true;
            req.content_length = static_cast<std::size_t>(n);
        }
    }
    if (in.size() < end + 4 + req.content_length) return Parse::incomplete;
    consumed = end + 4 + req.content_length;
    return Parse::ok;
}

// What the query string asks the response to be.
struct Plan {
    int status = 200;
    std::optional<std::string> content_length;
    std::vector<std::string> parts{"hello\n"};
    int delay_ms = 0;
    std::size_t pre = 0;
    std::string trailers;  // "", "1" or "bad"
    bool app_close = false;
    std::string rconn;
    bool short_body = false;
    bool over = false;
    bool abort_body = false;
    bool inject = false;
    std::string bad;
    std::string tag;
};

Plan make_plan(const HttpRequest& req) {
    Plan p;
    auto get = [&req](const char* key) -> const std::string* {
        auto it = req.query.find(key);
        return it == req.query.end() ? nullptr : &it->second;
    };
    if (auto v = get("status"); v && all_digits(*v)) p.status = std::atoi(v->c_str());
    if (auto v = get("cl")) p.content_length = *v;
    if (auto v = get("parts")) {
        p.parts.clear();
        std::string_view s = *v;
        for (std::size_t index = 0;; ++index) {
            const std::size_t comma = s.find(',');
            std::string_view item = s.substr(0, comma);
            if (all_digits(item)) {
                p.parts.emplace_back(static_cast<std::size_t>(std::atoi(std::string(item).c_str())),
                                     static_cast<char>('a' + index % 26));
            } else {
                p.parts.emplace_back(item);
            }
            if (comma == std::string_view::npos) break;
            s.remove_prefix(comma + 1);
        }
    }
    if (auto v = get("delay-ms"); v && all_digits(*v)) p.delay_ms = std::min(std::atoi(v->c_str()), 2000);
    if (auto v = get("pre"); v && all_digits(*v)) p.pre = static_cast<std::size_t>(std::atoi(v->c_str()));
    if (auto v = get("trailers")) p.trailers = *v;
    if (auto v = get("close")) p.app_close = *v == "1";
    if (auto v = get("rconn")) p.rconn = *v;
    if (auto v = get("short")) p.short_body = *v == "1";
    if (auto v = get("over")) p.over = *v == "1";
    if (auto v = get("abort")) p.abort_body = *v == "1";
    if (auto v = get("inject")) p.inject = *v == "1";
    if (auto v = get("bad")) p.bad = *v;
    if (auto v = get("tag")) p.tag = *v;
    if (p.short_body && !p.content_length) {
        std::size_t total = 0;
        for (const auto& part : p.parts) total += part.size();
        p.content_length = std::to_string(total + 1);
    }
    return p;
}

enum class ConnState : std::uint8_t { reading, streaming, lingering };

struct Conn {
    int fd = -1;
    ConnState state = ConnState::reading;
    std::string in;
    Clock::time_point deadline;  // keep-alive idle limit, or end of lingering
    // the response in progress
    std::shared_ptr<Body> body;
    Plan plan;
    std::size_t next_part = 0;
    Clock::time_point next_at;
    bool blocked = false;     // the socket would block: wait for POLLOUT, then flush()
    bool finished = false;    // the sink was told the body ended
    bool recorded = false;
    std::string record;       // the outcome line being built
    std::string checksum_input;
    std::size_t accepted_parts = 0;
};

class Server {
public:
    Server(int listen_fd, std::chrono::seconds idle, std::chrono::seconds max_life)
        : listen_fd_(listen_fd), idle_(idle), max_life_(max_life) {}

    int run() {
        const auto started = Clock::now();
        last_activity_ = started;
        // Bounded by time: the idle limit and the hard lifetime; each pass waits in poll().
        while (g_stop == 0) {
            const auto now = Clock::now();
            if (now - started > max_life_) {
                std::fprintf(stderr, "wire_server: lifetime limit reached\n");
                break;
            }
            if (conns_.empty() && now - last_activity_ > idle_) {
                std::fprintf(stderr, "wire_server: idle limit reached\n");
                break;
            }
            run_timers(now);
            std::vector<pollfd> fds;
            fds.push_back(pollfd{listen_fd_, POLLIN, 0});
            for (auto& [fd, c] : conns_) {
                short events = 0;
                if (c->state == ConnState::reading || c->state == ConnState::lingering) events = POLLIN;
                if (c->state == ConnState::streaming) events = static_cast<short>(POLLRDHUP | (c->blocked ? POLLOUT : 0));
                fds.push_back(pollfd{fd, events, 0});
            }
            const int rc = ::poll(fds.data(), static_cast<nfds_t>(fds.size()), poll_timeout_ms());
            if (rc < 0) {
                if (errno == EINTR) continue;
                std::perror("poll");
                return 1;
            }
            if (rc > 0) last_activity_ = Clock::now();
            if (fds[0].revents & POLLIN) accept_one();
            for (std::size_t i = 1; i < fds.size(); ++i)
                if (fds[i].revents != 0) on_ready(fds[i].fd, fds[i].revents);
            reap();
        }
        for (auto& [fd, c] : conns_) {
            if (c->body) c->body->abort(rill::CloseReason::shutdown);
            ::close(fd);
        }
        conns_.clear();
        return 0;
    }

private:
    int poll_timeout_ms() const {
        auto wake = Clock::now() + std::chrono::milliseconds(1000);
        for (const auto& [fd, c] : conns_) {
            if (c->state == ConnState::streaming && !c->blocked && c->next_part <= c->plan.parts.size())
                wake = std::min(wake, c->next_at);
            if (c->state != ConnState::streaming) wake = std::min(wake, c->deadline);
        }
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now()).count();
        return static_cast<int>(std::clamp<long long>(static_cast<long long>(ms), 0, 1000));
    }

    void accept_one() {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        const int one = 1;
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto c = std::make_unique<Conn>();
        c->fd = fd;
        c->deadline = Clock::now() + keep_alive_idle;
        conns_.emplace(fd, std::move(c));
    }

    void on_ready(int fd, short revents) {
        auto it = conns_.find(fd);
        if (it == conns_.end()) return;
        Conn& c = *it->second;
        if (c.state == ConnState::streaming) {
            if (revents & (POLLRDHUP | POLLHUP | POLLERR)) {
                if (rill::abort_if_peer_closed(*c.body, c.fd)) after_body_call(c);
                if (c.state == ConnState::streaming && (revents & (POLLHUP | POLLERR))) {
                    c.body->abort(rill::CloseReason::peer_closed);
                    after_body_call(c);
                }
            }
            if (c.state == ConnState::streaming && c.blocked && (revents & POLLOUT)) {
                c.blocked = false;
                c.body->flush();
                after_body_call(c);
            }
            return;
        }
        char buf[16384];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {
            drop(c);
            return;
        }
        if (c.state == ConnState::lingering) return;  // discarded: the response is over
        c.in.append(buf, static_cast<std::size_t>(n));
        serve_buffered(c);
    }

    // Starts the response to the next complete request waiting in the buffer, if any.
    void serve_buffered(Conn& c) {
        HttpRequest req;
        std::size_t consumed = 0;
        const Parse p = parse_request(c.in, req, consumed);
        if (p == Parse::incomplete) return;
        if (p != Parse::ok) {
            HttpRequest fallback;
            fallback.method = "GET";
            fallback.version_minor = 1;
            fallback.connection = "close";
            c.in.clear();
            start_plain(c, fallback, p == Parse::too_large ? 431 : 400, "bad request\n");
            return;
        }
        c.in.erase(0, consumed);
        if (req.path == "/__log") {
            std::string text;
            const auto tag = req.query.count("tag") ? req.query.at("tag") : std::string();
            for (const auto& line : log_)
                if (tag.empty() || line.rfind("tag=" + tag + " ", 0) == 0) text += line + "\n";
            start_plain(c, req, 200, text);
            return;
        }
        start_response(c, req);
    }

    std::shared_ptr<Body> new_body(Conn& c) {
        c.body = rill::make_deferred_body<Body::sink_type>();
        c.finished = false;
        c.recorded = false;
        c.blocked = false;
        c.next_part = 0;
        c.record.clear();
        c.checksum_input.clear();
        c.accepted_parts = 0;
        return c.body;
    }

    rill::PosixSocketSink make_sink(Conn& c) {
        Conn* conn = &c;
        return rill::PosixSocketSink(c.fd, [conn](rill::CloseReason) { conn->finished = true; });
    }

    // A response built by the server itself (errors, the log): fixed length, sent at once.
    void start_plain(Conn& c, const HttpRequest& req, int status, const std::string& text) {
        c.plan = Plan{};
        c.plan.parts = {text};
        auto body = new_body(c);
        const rill::Request rq{req.method, req.version_minor, req.connection, req.upgrade};
        const auto hs = body->respond(rq, rill::ResponseHead(status)
                                              .header("Content-Type", "text/plain")
                                              .header("Content-Length", std::to_string(text.size())));
        c.record = "internal head=" + std::string(head_name(hs));
        c.state = ConnState::streaming;
        c.recorded = true;  // not part of the log
        c.next_part = c.plan.parts.size() + 1;  // no timer: everything is sent here
        body->each(make_sink(c));
        (void)body->send(text);
        (void)body->close();
        after_body_call(c);
    }

    void start_response(Conn& c, const HttpRequest& req) {
        c.plan = make_plan(req);
        const Plan& p = c.plan;
        auto body = new_body(c);
        const rill::Request rq{req.method, req.version_minor, req.connection, req.upgrade};
        c.record = "tag=" + (p.tag.empty() ? std::string("-") : p.tag) + " method=" + req.method +
                   " version=1." + std::to_string(req.version_minor) + " head=";

        std::string refused;  // the first HeadStatus that was not ok, if any
        auto try_head = [&](const rill::ResponseHead& head) {
            const auto hs = body->respond(rq, head);
            c.record += head_name(hs);
            c.record += ',';
            if (hs != rill::HeadStatus::ok) {
                // A refused head must leave nothing behind: not queued, not written.
                if (body->bytes_queued() != 0 || body->bytes_sent() != 0) c.record += "LEAKED,";
                if (refused.empty()) refused = head_name(hs);
            }
            return hs;
        };

        if (p.inject) {
            (void)try_head(rill::ResponseHead(200).header("X-Test", "a\r\nX-Injected: y"));
            (void)try_head(rill::ResponseHead(200).header("X-Test\r\nX-Injected", "y"));
        } else if (!p.bad.empty()) {
            rill::ResponseHead head(p.status);
            if (p.bad == "te") head.header("Transfer-Encoding", "chunked");
            if (p.bad == "cl-dup") head.header("Content-Length", "3").header("Content-Length", "3");
            if (p.bad == "cl-bad") head.header("Content-Length", "+3");
            if (p.bad == "cl-204") head = rill::ResponseHead(204).header("Content-Length", "0");
            if (p.bad == "status") head = rill::ResponseHead(99);
            if (p.bad == "reason") head = rill::ResponseHead(200, "OK\r\nX-Injected: y");
            if (p.bad == "lead-ws") head.header("X-Test", " padded");
            if (p.bad == "nul") head.header("X-Test", std::string("a\0b", 3));
            (void)try_head(head);
        } else {
            rill::ResponseHead head(p.status);
            head.header("Content-Type", "text/plain");
            if (p.content_length) head.header("Content-Length", *p.content_length);
            if (!p.trailers.empty()) head.header("Trailer", "X-Checksum, X-Count");
            if (p.app_close) head.header("Connection", "close");
            if (!p.rconn.empty()) head.header("Connection", p.rconn);
            (void)try_head(head);
        }

        if (!refused.empty()) {
            // The server's own clean answer to a head rill refused.
            const std::string text = "refused: " + refused + "\n";
            c.plan.parts = {text};
            c.plan.content_length = std::to_string(text.size());
            c.plan.trailers.clear();
            c.plan.over = c.plan.short_body = c.plan.abort_body = false;
            c.plan.pre = 0;
            (void)try_head(rill::ResponseHead(500)
                               .header("Content-Type", "text/plain")
                               .header("Content-Length", *c.plan.content_length));
        }
        c.record += " framing=";
        c.record += rill::to_string(body->framing());
        c.record += " sends=";

        c.state = ConnState::streaming;
        const std::size_t pre = std::min(c.plan.pre, c.plan.parts.size());
        for (std::size_t i = 0; i < pre; ++i) send_part(c, c.plan.parts[i]);
        c.next_part = pre;
        c.next_at = Clock::now() + std::chrono::milliseconds(c.plan.delay_ms);
        body->each(make_sink(c));
        after_body_call(c);
    }

    void send_part(Conn& c, const std::string& part) {
        const auto st = c.body->send(part);
        c.record += token_of(rill::to_string(st));
        c.record += ',';
        if (st == rill::SendStatus::written || st == rill::SendStatus::queued ||
            st == rill::SendStatus::backpressure) {
            c.checksum_input += part;
            if (!part.empty()) ++c.accepted_parts;
        }
    }

    // Sends the next part when its time has come; after the last one, ends the body.
    void run_timers(Clock::time_point now) {
        for (auto& [fd, cp] : conns_) {
            Conn& c = *cp;
            if (c.state != ConnState::streaming) {
                if (now >= c.deadline) drop(c);  // lingered long enough, or idle/stalled request
                continue;
            }
            if (c.blocked || c.finished || c.next_part > c.plan.parts.size() || now < c.next_at) continue;
            if (c.next_part < c.plan.parts.size()) {
                send_part(c, c.plan.parts[c.next_part]);
                ++c.next_part;
                c.next_at = now + std::chrono::milliseconds(c.plan.delay_ms);
            }
            // The end follows the last part at once. A fixed-length body has usually ended by
            // itself with its last byte; end_body() still runs so that what the application does
            // next (a send past the length, close with trailers) is logged.
            if (c.next_part == c.plan.parts.size()) {
                ++c.next_part;
                end_body(c);
            }
            after_body_call(c);
        }
    }

    void end_body(Conn& c) {
        const Plan& p = c.plan;
        if (p.over) send_part(c, "OVERFLOW");
        if (p.abort_body) {
            c.body->abort();
            c.record += " close=aborted";
            return;
        }
        rill::CloseStatus cs = rill::CloseStatus::ok;
        if (p.trailers == "bad") {
            cs = c.body->close(rill::Fields{{"Content-Length", "5"}});
            c.record += " close=" + token_of(rill::to_string(cs)) + ",";
            cs = c.body->close();
        } else if (p.trailers == "1") {
            char sum[16];
            std::snprintf(sum, sizeof sum, "%08x", static_cast<unsigned>(fnv1a(c.checksum_input)));
            cs = c.body->close(rill::Fields{{"X-Checksum", sum}, {"X-Count", std::to_string(c.accepted_parts)}});
            c.record += " close=";
        } else {
            cs = c.body->close();
            c.record += " close=";
        }
        c.record += token_of(rill::to_string(cs));
    }

    // After any call into the body: notice a blocked socket, log an ended body, and
    // either serve the next request on the connection or close it.
    void after_body_call(Conn& c) {
        if (c.state != ConnState::streaming) return;
        if (!c.finished) {
            c.blocked = c.body->bytes_queued() != 0;
            return;
        }
        const bool keep = c.body->keep_alive();
        if (!c.recorded) {
            c.record += " reason=" + token_of(rill::to_string(c.body->close_reason())) +
                        " keep_alive=" + (keep ? "1" : "0") +
                        " body_bytes=" + std::to_string(c.body->body_bytes());
            log_.push_back(c.record);
            c.recorded = true;
        }
        c.body.reset();
        c.blocked = false;
        if (keep) {
            c.state = ConnState::reading;
            c.deadline = Clock::now() + keep_alive_idle;
            serve_buffered(c);  // a pipelined request may be waiting already
        } else {
            // Half-close, then read until the client closes, so that unread request bytes
            // cannot turn the close into a reset that destroys the response in flight.
            ::shutdown(c.fd, SHUT_WR);
            c.state = ConnState::lingering;
            c.deadline = Clock::now() + linger_time;
            c.in.clear();
        }
    }

    void drop(Conn& c) {
        if (c.fd < 0) return;
        if (c.body) {
            c.body->abort(rill::CloseReason::peer_closed);
            c.body.reset();
        }
        c.state = ConnState::lingering;
        c.fd = -c.fd - 1;  // marked for reap()
    }

    void reap() {
        for (auto it = conns_.begin(); it != conns_.end();) {
            if (it->second->fd < 0) {
                ::close(it->first);
                it = conns_.erase(it);
            } else {
                ++it;
            }
        }
    }

    int listen_fd_;
    std::chrono::seconds idle_;
    std::chrono::seconds max_life_;
    Clock::time_point last_activity_;
    std::map<int, std::unique_ptr<Conn>> conns_;
    std::vector<std::string> log_;
};

}  // namespace wire

int main(int argc, char** argv) {
    int port = 0;
    long idle = 60;
    long max_life = 300;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view opt = argv[i];
        const long v = std::strtol(argv[i + 1], nullptr, 10);
        if (opt == "--port") port = static_cast<int>(v);
        else if (opt == "--idle-seconds") idle = v;
        else if (opt == "--max-seconds") max_life = v;
        else {
            std::fprintf(stderr, "usage: wire_server [--port N] [--idle-seconds N] [--max-seconds N]\n");
            return 2;
        }
    }

    struct sigaction sa {};
    sa.sa_handler = wire::on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: poll() must return EINTR so the loop sees the flag
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        std::perror("socket");
        return 1;
    }
    const int one = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
        std::perror("bind/listen");
        return 1;
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    std::printf("listening on %u\n", static_cast<unsigned>(ntohs(addr.sin_port)));
    std::fflush(stdout);

    wire::Server server(fd, std::chrono::seconds(idle), std::chrono::seconds(max_life));
    const int rc = server.run();
    ::close(fd);
    return rc;
}
