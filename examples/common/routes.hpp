#ifndef RILL_EXAMPLE_ROUTES_HPP
#define RILL_EXAMPLE_ROUTES_HPP

// The application every example server runs (hello_deferred on the epoll server,
// hello_asio, hello_uv, hello_h2; hello_httplib reuses its query parser and
// pattern). It answers each request through a rill::Body, mostly later than the
// request arrived, and knows nothing of the server: it sees the request as a
// RouteRequest and the loop as a Scheduler. Routes:
//
//   /                      "Hello, " at once, "World" after the configured delay
//   /stream?parts&size&interval-ms   chunked parts of a fixed pattern
//   /fixed?parts&size&interval-ms    the same with Content-Length
//   /trailers?parts&size&interval-ms the same, chunked, ending in an X-Checksum trailer
//   other paths 404; methods other than GET and HEAD 405 (Allow: GET, HEAD); bad query 400
//
// Pattern: body byte k is kPatternAlphabet[k % 62]. Checksum: 64-bit FNV-1a of
// the body, 16 lowercase hex digits. Errors found before routing (400 malformed
// request, 431 oversized head, 413 request body too large) are the server's.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <rill/body.hpp>
#include <rill/fields.hpp>
#include <rill/response.hpp>
#include <rill/status.hpp>

namespace rill_example {

/// What routes need from a server's loop. Each server implements it on its own timers.
class Scheduler {
public:
    using TimerId = std::uint64_t;  ///< 0 names no timer
    virtual ~Scheduler() = default;
    /// Runs `fn` once on the loop thread after `delay`; returns a non-zero id.
    virtual TimerId add_timer(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
    /// Drops a pending timer; a no-op for 0, a fired or an already cancelled id.
    virtual void cancel_timer(TimerId id) = 0;
    /// Runs `fn` soon on the loop thread, never inside the current call.
    virtual void post(std::function<void()> fn) = 0;
};

/// A request as the routes see it; the server's parser fills it. Views stay valid
/// only during the call.
struct RouteRequest {
    std::string_view method;
    std::string_view path;   ///< without the query
    std::string_view query;  ///< after '?', without it
    rill::Request framing;   ///< what rill needs to frame the response
};

constexpr std::string_view kPatternAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

struct PartsLimits {
    static constexpr std::uint64_t max_parts = 1000000;
    static constexpr std::uint64_t max_size = 1024 * 1024;
    static constexpr std::uint64_t max_interval_ms = 60000;
};

/// Query of /stream, /fixed and /trailers. Defaults apply to absent keys.
struct PartsQuery {
    std::uint64_t parts = 10;
    std::uint64_t size = 64;
    std::uint64_t interval_ms = 0;
};

/// Strict: only the three known keys, each at most once, plain decimal digits, in range.
inline bool parse_parts_query(std::string_view query, PartsQuery& out) {
    bool seen[3] = {false, false, false};
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const std::size_t eq = item.find('=');
        if (eq == std::string_view::npos) return false;
        const std::string_view key = item.substr(0, eq);
        const std::string_view digits = item.substr(eq + 1);
        // Seven digits hold every limit below and cannot overflow.
        if (digits.empty() || digits.size() > 7) return false;
        std::uint64_t value = 0;
        for (char c : digits) {
            if (c < '0' || c > '9') return false;
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
        }
        int index = -1;
        std::uint64_t max = 0;
        if (key == "parts") {
            index = 0;
            max = PartsLimits::max_parts;
        } else if (key == "size") {
            index = 1;
            max = PartsLimits::max_size;
        } else if (key == "interval-ms") {
            index = 2;
            max = PartsLimits::max_interval_ms;
        }
        if (index < 0 || seen[index] || value > max) return false;
        seen[index] = true;
        (index == 0 ? out.parts : index == 1 ? out.size : out.interval_ms) = value;
    }
    return true;
}

inline std::uint64_t fnv1a64(std::uint64_t hash, std::string_view bytes) noexcept {
    for (char c : bytes) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ULL;
    }
    return hash;
}
constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;

inline std::string to_hex64(std::uint64_t v) {
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = "0123456789abcdef"[v & 0xfu];
    return s;
}

/// `size` bytes of the body pattern starting at body offset `offset`; no allocation after the first call.
inline std::string_view pattern_slice(std::uint64_t offset, std::size_t size) {
    static const std::string pattern = [] {
        std::string p;
        p.reserve(PartsLimits::max_size + kPatternAlphabet.size());
        while (p.size() < PartsLimits::max_size + kPatternAlphabet.size()) p.append(kPatternAlphabet);
        return p;
    }();
    return std::string_view(pattern).substr(static_cast<std::size_t>(offset % kPatternAlphabet.size()), size);
}

/// Sends `parts` slices of the pattern, paced by a timer or by the client's reading.
class PartStream : public std::enable_shared_from_this<PartStream> {
public:
    PartStream(Scheduler& loop, rill::BodyPtr body, const PartsQuery& q, bool trailers)
        : loop_(loop), body_(std::move(body)), left_(q.parts), size_(static_cast<std::size_t>(q.size)),
          interval_(static_cast<std::chrono::milliseconds::rep>(q.interval_ms)), trailers_(trailers) {}

    void start() {
        auto self = shared_from_this();
        // Both callbacks hold the stream; rill drops them when the body ends.
        body_->on_close([self](rill::CloseReason) {
            self->done_ = true;
            self->loop_.cancel_timer(self->timer_);
        });
        body_->on_drain([self] {
            if (self->interval_.count() == 0) {
                self->step();
            } else {
                self->schedule();
            }
        });
        step();
    }

private:
    void schedule() {
        auto self = shared_from_this();
        timer_ = loop_.add_timer(interval_, [self] {
            self->timer_ = 0;
            self->step();
        });
    }

    void step() {
        // Without an interval the client's reading paces the stream; a budget per
        // turn keeps one fast client from starving the others.
        std::size_t budget = 256 * 1024;
        while (!done_ && left_ != 0) {
            const std::string_view part = pattern_slice(offset_, size_);
            if (trailers_) hash_ = fnv1a64(hash_, part);  // only /trailers sends the checksum
            offset_ += size_;
            --left_;
            const rill::SendStatus s = body_->send(part);
            if (s == rill::SendStatus::closed || s == rill::SendStatus::length_exceeded) return;
            if (left_ == 0) break;
            if (s == rill::SendStatus::backpressure) return;  // on_drain resumes
            if (interval_.count() != 0) {
                schedule();
                return;
            }
            if (budget <= size_ + 64) {
                auto self = shared_from_this();
                loop_.post([self] { self->step(); });
                return;
            }
            budget -= size_ + 64;
        }
        if (done_) return;
        if (trailers_) {
            body_->close(rill::Fields{{"X-Checksum", to_hex64(hash_)}});
        } else {
            body_->close();
        }
    }

    Scheduler& loop_;
    rill::BodyPtr body_;
    Scheduler::TimerId timer_ = 0;
    std::uint64_t left_;
    std::size_t size_;
    std::chrono::milliseconds interval_;
    std::uint64_t offset_ = 0;
    std::uint64_t hash_ = kFnvOffsetBasis;
    bool trailers_;
    bool done_ = false;
};

/// The routes above, on any server: it hands each request and its body to operator().
class HelloApp {
public:
    HelloApp(Scheduler& loop, std::chrono::milliseconds delay) : loop_(loop), delay_(delay) {
        // Build the 1 MiB pattern now, so that it is part of the startup footprint
        // rather than a jump in memory on the first stream.
        (void)pattern_slice(0, 0);
    }

    /// Answers one request; it may respond now or keep `body` and respond later.
    void operator()(const RouteRequest& req, const rill::BodyPtr& body) {
        const rill::Request& framing = req.framing;
        enum class Route { hello, stream, fixed, trailers };
        Route route;
        if (req.path == "/") {
            route = Route::hello;
        } else if (req.path == "/stream") {
            route = Route::stream;
        } else if (req.path == "/fixed") {
            route = Route::fixed;
        } else if (req.path == "/trailers") {
            route = Route::trailers;
        } else {
            return text(*body, framing, 404, "not found\n");
        }
        if (req.method != "GET" && req.method != "HEAD")
            return text(*body, framing, 405, "method not allowed\n", "GET, HEAD");

        if (route == Route::hello) {
            if (!req.query.empty()) return text(*body, framing, 400, "/ takes no query\n");
            return hello(framing, body);
        }
        PartsQuery q;
        if (!parse_parts_query(req.query, q))
            return text(*body, framing, 400,
                        "query: parts<=1000000, size<=1048576, interval-ms<=60000, decimal, each once\n");
        rill::ResponseHead head(200);
        head.header("Content-Type", "text/plain");
        if (route == Route::fixed) head.header("Content-Length", std::to_string(q.parts * q.size));
        if (route == Route::trailers) head.header("Trailer", "X-Checksum");
        if (body->respond(framing, head) != rill::HeadStatus::ok) return body->abort();
        // HEAD, or a Content-Length of 0: the head was the whole response and the body has ended.
        if (body->ended()) return;
        std::make_shared<PartStream>(loop_, body, q, route == Route::trailers)->start();
    }

private:
    void hello(const rill::Request& framing, const rill::BodyPtr& body) {
        rill::ResponseHead head(200);
        head.header("Content-Type", "text/plain");
        if (body->respond(framing, head) != rill::HeadStatus::ok) return body->abort();
        if (body->ended()) return;  // HEAD: the head was the whole response
        (void)body->send("Hello, ");
        // The timer owns the body until it fires; on_close cancels it if the client
        // leaves first, so an abandoned stream frees its memory at once.
        const Scheduler::TimerId id = loop_.add_timer(delay_, [body] {
            (void)body->send("World");
            body->close();
        });
        body->on_close([&loop = loop_, id](rill::CloseReason) { loop.cancel_timer(id); });
    }

    static void text(rill::Body& body, const rill::Request& framing, int status, std::string_view msg,
                     std::string_view allow = {}) {
        rill::ResponseHead head(status);
        head.header("Content-Type", "text/plain").header("Content-Length", std::to_string(msg.size()));
        if (!allow.empty()) head.header("Allow", std::string(allow));
        if (body.respond(framing, head) != rill::HeadStatus::ok) return body.abort();
        (void)body.send(msg);
        body.close();
    }

    Scheduler& loop_;
    std::chrono::milliseconds delay_;
};

/// Answers a request the server could not trust (a malformed head, a body too large)
/// with `status` and `text`, as to HTTP/1.1 with Connection: close, and closes the body.
/// What it sends before the close is the adapter's business.
inline void respond_error_and_close(const rill::BodyPtr& body, int status, std::string_view text) {
    rill::ResponseHead head(status);
    head.header("Content-Type", "text/plain")
        .header("Content-Length", std::to_string(text.size()))
        .header("Connection", "close");
    const rill::Request request{"GET", 1, "close", {}};
    if (body->respond(request, head) == rill::HeadStatus::ok) (void)body->send(text);
    body->close();
}

}  // namespace rill_example

#endif  // RILL_EXAMPLE_ROUTES_HPP
