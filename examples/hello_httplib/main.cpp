// hello_httplib: hello_deferred's routes on cpp-httplib, a thread-per-connection
// server. Each response body is fed by its own producer thread through a
// rill::PullStream; httplib's worker thread pulls and writes (rill/httplib.hpp).
//
//   /                     "Hello, " at once, "World" after --delay-ms
//   /stream?parts&size&interval-ms   chunked parts of the pattern
//   /fixed?...            the same with Content-Length
//   /trailers?...         the same, chunked — WITHOUT the X-Checksum trailer:
//                         cpp-httplib 0.11 cannot send trailers (docs/threading.md)
//
// Command line as hello_deferred: --host, --port (0 picks a free one), --delay-ms;
// the first stdout line is "listening on http://HOST:PORT/"; SIGTERM exits 0.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <rill/httplib.hpp>
#include <rill/pull.hpp>

// The command line of every example server, and the query parser and body pattern
// of the shared routes: shared, not copied.
#include "../common/cli_args.hpp"
#include "../common/routes.hpp"

namespace {

using namespace std::chrono_literals;

constexpr const char* kUsage =
    "usage: hello_httplib [--host ADDR] [--port N] [--delay-ms N]\n"
    "  --host      address to listen on (default 127.0.0.1)\n"
    "  --port      TCP port, 0 picks a free one (default 8080)\n"
    "  --delay-ms  delay before \"World\" on / (default 1000)\n";


// Producer threads, one per stream; joined at shutdown, reaped as they finish.
class ProducerThreads {
public:
    ~ProducerThreads() { stop_and_join(); }

    // Runs `body` on a new thread, unless shutdown began (then the stream simply
    // gets no producer: httplib is stopping its worker too).
    template <class F>
    void start(F&& body) {
        std::lock_guard<std::mutex> lock(m_);
        if (stopping()) return;
        reap_locked();
        auto done = std::make_shared<std::atomic<bool>>(false);
        threads_.push_back({std::thread([this, done, body = std::forward<F>(body)]() mutable {
                                body(*this);
                                *done = true;
                            }),
                            done});
    }
    // Sleeps up to `d`; false once shutdown began.
    bool sleep(std::chrono::milliseconds d) {
        std::unique_lock<std::mutex> lock(stop_m_);
        return !stop_cv_.wait_for(lock, d, [&] { return stopping_; });
    }
    bool stopping() {
        std::lock_guard<std::mutex> lock(stop_m_);
        return stopping_;
    }
    void stop_and_join() {
        {
            std::lock_guard<std::mutex> lock(stop_m_);
            stopping_ = true;
        }
        stop_cv_.notify_all();
        std::lock_guard<std::mutex> lock(m_);
        for (auto& t : threads_) t.thread.join();
        threads_.clear();
    }

private:
    struct Entry {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
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
    std::mutex m_;
    std::list<Entry> threads_;
    std::mutex stop_m_;
    std::condition_variable stop_cv_;
    bool stopping_ = false;
};

// Sends one part, waiting out backpressure; false when the stream is over.
bool send_part(rill::Producer& p, std::string_view part, ProducerThreads& threads) {
    rill::SendStatus s = p.send(part);
    if (s == rill::SendStatus::closed) return false;
    while (s == rill::SendStatus::backpressure) {
        switch (p.wait_writable(100ms)) {
            case rill::WaitStatus::ready: return true;
            case rill::WaitStatus::closed: return false;
            case rill::WaitStatus::timeout:
                if (threads.stopping()) return false;
                break;
        }
    }
    return true;
}

// The producer of /stream, /fixed and /trailers: the same bytes as hello_deferred.
void produce_parts(rill::Producer p, rill_example::PartsQuery q, ProducerThreads& threads) {
    std::uint64_t offset = 0;
    const auto interval = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(q.interval_ms));
    for (std::uint64_t i = 0; i < q.parts; ++i) {
        if (i != 0 && q.interval_ms != 0 && !threads.sleep(interval)) return p.abort();
        if (!send_part(p, rill_example::pattern_slice(offset, static_cast<std::size_t>(q.size)), threads))
            return p.abort();
        offset += q.size;
    }
    (void)p.close();
}

void text(httplib::Response& res, int status, const std::string& msg) {
    res.status = status;
    res.set_content(msg, "text/plain");
}

}  // namespace

int main(int argc, char** argv) {
    rill_example::CommonArgs args;
    const int status =
        rill_example::parse_args(argc, argv, "hello_httplib", kUsage, args, rill_example::no_extra_flags);
    if (status >= 0) return status;
    const std::string& host = args.host;
    const std::uint64_t port = args.port;

    // SIGTERM and SIGINT are taken by one thread with sigwait; every other thread
    // (httplib's workers too) inherits the blocked mask. SIGPIPE: a client that left.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    signal(SIGPIPE, SIG_IGN);

    (void)rill_example::pattern_slice(0, 0);  // build the pattern before the first stream
    ProducerThreads producers;
    httplib::Server svr;
    // One worker per open stream is httplib's model: allow plenty of them.
    svr.new_task_queue = [] { return new httplib::ThreadPool(64); };
    const auto delay = args.delay;

    svr.Get("/", [&](const httplib::Request& req, httplib::Response& res) {
        if (req.target != "/") return text(res, 400, "/ takes no query\n");
        rill::PullStream stream;
        rill::serve_chunked(res, "text/plain", stream);
        if (req.method == "HEAD") return;  // httplib sends the head only; nobody would pull
        producers.start([p = stream.producer(), delay](ProducerThreads& threads) mutable {
            if (p.send("Hello, ") == rill::SendStatus::closed) return;
            if (!threads.sleep(delay)) return p.abort();
            (void)p.send("World");
            (void)p.close();
        });
    });

    auto parts_route = [&](bool fixed) {
        return [&, fixed](const httplib::Request& req, httplib::Response& res) {
            const std::size_t qmark = req.target.find('?');
            const std::string_view query =
                qmark == std::string::npos ? std::string_view() : std::string_view(req.target).substr(qmark + 1);
            rill_example::PartsQuery q;
            if (!rill_example::parse_parts_query(query, q))
                return text(res, 400,
                            "query: parts<=1000000, size<=1048576, interval-ms<=60000, decimal, each once\n");
            if (fixed && q.parts * q.size == 0) {
                // httplib's provider loop never completes a zero length: no stream at all.
                res.set_content("", "text/plain");
                return;
            }
            rill::PullStream stream;
            if (fixed) {
                rill::serve_with_length(res, static_cast<std::size_t>(q.parts * q.size), "text/plain", stream);
            } else {
                rill::serve_chunked(res, "text/plain", stream);
            }
            if (req.method == "HEAD") return;  // httplib sends the head only; nobody would pull
            producers.start([p = stream.producer(), q](ProducerThreads& threads) { produce_parts(p, q, threads); });
        };
    };
    svr.Get("/stream", parts_route(false));
    svr.Get("/fixed", parts_route(true));
    svr.Get("/trailers", parts_route(false));  // no trailer: httplib 0.11 has no way to send one
    svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (res.status == 404) res.set_content("not found\n", "text/plain");
    });

    int bound = -1;
    if (port == 0) {
        bound = svr.bind_to_any_port(host);
    } else if (svr.bind_to_port(host, static_cast<int>(port))) {
        bound = static_cast<int>(port);
    }
    if (bound <= 0) {
        std::fprintf(stderr, "hello_httplib: cannot listen on %s:%llu\n", host.c_str(),
                     static_cast<unsigned long long>(port));
        return 1;
    }
    rill_example::announce_listening(host, static_cast<unsigned>(bound));

    std::atomic<bool> listening_done{false};
    std::thread signals([&] {
        int sig = 0;
        sigwait(&mask, &sig);
        producers.stop_and_join();  // producers abort their streams; pulling workers see closed
        svr.stop();
        // listen_after_bind() returns once httplib's workers are joined; a worker that
        // waits for the next request of an idle keep-alive connection may hold it for
        // httplib's read timeout (5 s). The process has nothing left to finish: do not wait.
        for (int i = 0; i < 80 && !listening_done.load(); ++i) std::this_thread::sleep_for(10ms);
        if (!listening_done.load()) std::_Exit(0);
    });
    svr.listen_after_bind();
    listening_done = true;
    signals.join();
    return 0;
}
