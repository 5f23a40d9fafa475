#ifndef RILL_EXAMPLE_SSE_TOKENS_HPP
#define RILL_EXAMPLE_SSE_TOKENS_HPP

// /tokens?count=N&threads=T — an LLM-style token stream fed from other threads.
// T worker threads (never the loop thread) each send count/T Server-Sent Events
// whose data line is "<thread> <seq>" (thread 0..T-1, seq from 0) through one
// rill::Producer; the last worker to finish closes the stream. The bytes reach
// the body on the loop thread through EventLoop::post_from_any_thread (an
// eventfd), one wake-up per batch. See docs/threading.md.

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <rill/producer.hpp>
#include <rill/sse.hpp>

#include "../server/event_loop.hpp"
#include "../server/http_request_parser.hpp"
#include "../server/server.hpp"

namespace rill_example {

struct TokensQuery {
    std::uint64_t count = 100;
    std::uint64_t threads = 1;
    static constexpr std::uint64_t max_count = 100000000;
    static constexpr std::uint64_t max_threads = 64;
};

/// Strict: only count and threads, each at most once, decimal, count <= 1e8, 1 <= threads <= 64.
inline bool parse_tokens_query(std::string_view query, TokensQuery& out) {
    bool seen_count = false;
    bool seen_threads = false;
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const std::size_t eq = item.find('=');
        if (eq == std::string_view::npos || item.size() - eq - 1 > 9) return false;
        std::uint64_t value = 0;
        if (!detail::parse_decimal(item.substr(eq + 1), value)) return false;
        const std::string_view key = item.substr(0, eq);
        if (key == "count" && !seen_count && value <= TokensQuery::max_count) {
            seen_count = true;
            out.count = value;
        } else if (key == "threads" && !seen_threads && value >= 1 && value <= TokensQuery::max_threads) {
            seen_threads = true;
            out.threads = value;
        } else {
            return false;
        }
    }
    return true;
}

class TokensApp {
public:
    explicit TokensApp(EventLoop& loop) : loop_(loop) {}
    ~TokensApp() { join_all(); }
    TokensApp(const TokensApp&) = delete;
    TokensApp& operator=(const TokensApp&) = delete;

    /// On the loop thread, for /tokens.
    void operator()(const HttpRequest& req, const BodyPtr& body) {
        const rill::Request framing = req.framing_request();
        TokensQuery q;
        if (!parse_tokens_query(req.query, q)) {
            const std::string_view msg = "query: count<=100000000, 1<=threads<=64, decimal, each once\n";
            rill::ResponseHead head(400);
            head.header("Content-Type", "text/plain").header("Content-Length", std::to_string(msg.size()));
            if (body->respond(framing, head) != rill::HeadStatus::ok) return body->abort();
            (void)body->send(msg);
            body->close();
            return;
        }
        if (body->respond(framing, rill::sse::response_head()) != rill::HeadStatus::ok) return body->abort();
        if (body->ended()) return;  // HEAD
        if (!loop_.ensure_wake_fd()) return body->abort();
        EventLoop& loop = loop_;
        rill::Producer producer = rill::make_producer(
            body, [&loop](std::function<void()> task) { loop.post_from_any_thread(std::move(task)); });
        const std::uint64_t each = q.count / q.threads;
        auto running = std::make_shared<std::atomic<std::uint64_t>>(q.threads);
        std::lock_guard<std::mutex> lock(mutex_);
        reap_locked();
        for (std::uint64_t t = 0; t < q.threads; ++t) {
            auto done = std::make_shared<std::atomic<bool>>(false);
            threads_.push_back({std::thread([producer, t, each, running, done]() mutable {
                                    produce(producer, t, each);
                                    // The last worker to finish ends the stream.
                                    if (running->fetch_sub(1) == 1) (void)producer.close();
                                    *done = true;
                                }),
                                done});
        }
    }

    /// Joins every worker; call it after the server ended the streams (their sends then answer closed).
    void join_all() {
        std::lock_guard<std::mutex> lock(mutex_);
        for (Worker& w : threads_) w.thread.join();
        threads_.clear();
    }

private:
    struct Worker {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };

    // rill::sse::send_event works on a Producer as on a body: it encodes on this
    // thread, on the stack, and hands the bytes over in one send().
    static void produce(rill::Producer& producer, std::uint64_t thread, std::uint64_t count) {
        char data[48];
        auto [tend, terr] = std::to_chars(data, data + 20, thread);
        (void)terr;
        *tend++ = ' ';
        for (std::uint64_t seq = 0; seq < count; ++seq) {
            const auto [end, err] = std::to_chars(tend, data + sizeof data, seq);
            (void)err;
            const rill::sse::Event ev{std::string_view(data, static_cast<std::size_t>(end - data))};
            const rill::SendStatus s = rill::sse::send_event(producer, ev).send.value_or(rill::SendStatus::closed);
            if (s == rill::SendStatus::closed) return;
            if (s == rill::SendStatus::backpressure) {
                // Wait for the loop to drain it; a client that left ends the wait (closed),
                // one that reads nothing for a minute is given up.
                if (producer.wait_writable(std::chrono::seconds(60)) != rill::WaitStatus::ready)
                    return producer.abort();
            }
        }
    }

    void reap_locked() {
        for (auto it = threads_.begin(); it != threads_.end();) {
            if (*it->done) {
                it->thread.join();
                it = threads_.erase(it);
            } else {
                ++it;
            }
        }
    }

    EventLoop& loop_;
    std::mutex mutex_;
    std::list<Worker> threads_;
};

}  // namespace rill_example

#endif  // RILL_EXAMPLE_SSE_TOKENS_HPP
