// rill_bench_tokens: what a producer on another thread costs, end to end and per part.
//
// 1. /tokens end to end. A child process runs the example server (one epoll loop
//    thread, examples/server/) with examples/sse_clock/tokens.hpp as its only route.
//    The parent first opens a stalled stream (/tokens with 1 producer thread and a
//    client that never reads, receive buffer shrunk), then reads
//    /tokens?count=N&threads=4 to the end, checking every event ("<thread> <seq>",
//    each thread's seq in order, none missing), and reports tokens per second
//    (request sent -> last chunk read) and the server's RSS growth (VmHWM at the end
//    minus VmRSS before the first request).
// 2. Cross-thread send cost. P producer threads (1, 4, 8) send small parts (16 bytes)
//    into one body whose sink takes everything, delivered by an EventLoop thread
//    through post_from_any_thread. Reported: producer-thread CPU time per part
//    (CLOCK_THREAD_CPUTIME_ID, summed over the producers, divided by the parts) and
//    wake-ups per batch.
//
// Every figure is the median of --runs runs (default 5).
//
// usage: rill_bench_tokens [--count N] [--parts N] [--runs N]

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <rill/producer.hpp>
#include <rill/rill.hpp>

#include "../../examples/server/event_loop.hpp"
#include "../../examples/server/server.hpp"
#include "../../examples/sse_clock/tokens.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

long status_kib(pid_t pid, const char* key) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
    FILE* f = std::fopen(path, "r");
    if (f == nullptr) return -1;
    char line[256];
    long v = -1;
    const std::size_t klen = std::strlen(key);
    while (std::fgets(line, sizeof line, f) != nullptr)
        if (std::strncmp(line, key, klen) == 0) v = std::atol(line + klen + 1);
    std::fclose(f);
    return v;
}

// ---- the server (child process) ----

[[noreturn]] void run_server(int ready_fd) {
    rill_example::EventLoop loop;
    rill_example::ServerOptions opts;
    opts.port = 0;
    rill_example::TokensApp tokens(loop);
    rill_example::Server server(loop, opts, [&](const rill_example::HttpRequest& req, const rill_example::BodyPtr& body) {
        tokens(req, body);
    });
    if (!server.listen().empty()) std::_Exit(1);
    const std::uint16_t port = server.local_port();
    if (::write(ready_fd, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) std::_Exit(1);
    ::close(ready_fd);
    loop.run();  // killed by the parent
    std::_Exit(0);
}

int connect_to(std::uint16_t port, int rcvbuf = 0) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf != 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::perror("connect");
        std::exit(1);
    }
    return fd;
}

void send_request(int fd, const std::string& target) {
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) std::exit(1);
}

// Reads one chunked event stream to its last chunk, checking every event.
struct StreamCheck {
    std::uint64_t events = 0;
    bool ok = true;
};

StreamCheck read_tokens(int fd, unsigned threads, std::uint64_t per_thread) {
    StreamCheck out;
    std::vector<std::uint64_t> next(threads, 0);
    std::string buf;
    std::vector<char> rd(1 << 20);
    std::size_t pos = 0;
    bool head_done = false;
    std::uint64_t chunk_left = 0;  // payload bytes left in the current chunk
    bool in_payload = false;
    std::string event;             // an event split across reads
    auto fail = [&](const char* why) {
        std::fprintf(stderr, "client: %s after %llu events\n", why, static_cast<unsigned long long>(out.events));
        out.ok = false;
    };
    auto take_events = [&](std::string_view payload) {
        event.append(payload);
        std::size_t at = 0;
        for (;;) {
            const std::size_t end = event.find("\n\n", at);
            if (end == std::string::npos) break;
            std::string_view e(event.data() + at, end - at);
            at = end + 2;
            if (e.substr(0, 6) != "data: ") return fail("not a data line");
            e.remove_prefix(6);
            const std::size_t sp = e.find(' ');
            const unsigned long t = std::strtoul(std::string(e.substr(0, sp)).c_str(), nullptr, 10);
            const unsigned long long s = std::strtoull(std::string(e.substr(sp + 1)).c_str(), nullptr, 10);
            if (t >= threads || next[t] != s) return fail("event out of order or lost");
            ++next[t];
            ++out.events;
        }
        event.erase(0, at);
    };
    for (;;) {
        // Parse what we have.
        for (;;) {
            if (!head_done) {
                const std::size_t e = buf.find("\r\n\r\n", pos);
                if (e == std::string::npos) break;
                if (buf.compare(0, 12, "HTTP/1.1 200") != 0) {
                    fail("not 200");
                    return out;
                }
                pos = e + 4;
                head_done = true;
            } else if (in_payload) {
                const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left, buf.size() - pos));
                take_events(std::string_view(buf.data() + pos, n));
                pos += n;
                chunk_left -= n;
                if (chunk_left != 0) break;
                in_payload = false;
            } else {
                const std::size_t e = buf.find("\r\n", pos);
                if (e == std::string::npos) break;
                if (e == pos) {  // the CRLF after a payload
                    pos += 2;
                    continue;
                }
                chunk_left = std::strtoull(buf.substr(pos, e - pos).c_str(), nullptr, 16);
                pos = e + 2;
                if (chunk_left == 0) {
                    for (unsigned t = 0; t < threads; ++t)
                        if (next[t] != per_thread) fail("events missing");
                    return out;
                }
                in_payload = true;
            }
            if (!out.ok) return out;
        }
        buf.erase(0, pos);
        pos = 0;
        const ssize_t n = ::recv(fd, rd.data(), rd.size(), 0);
        if (n <= 0) {
            fail("connection ended before the last chunk");
            return out;
        }
        buf.append(rd.data(), static_cast<std::size_t>(n));
    }
}

struct EndToEnd {
    double tokens_per_s = 0;
    double rss_growth_mib = 0;
    bool ok = true;
};

EndToEnd end_to_end(std::uint64_t count) {
    int pipefd[2];
    if (::pipe(pipefd) != 0) std::exit(1);
    const pid_t child = ::fork();
    if (child == 0) {
        ::close(pipefd[0]);
        run_server(pipefd[1]);
    }
    ::close(pipefd[1]);
    std::uint16_t port = 0;
    if (::read(pipefd[0], &port, sizeof port) != static_cast<ssize_t>(sizeof port)) std::exit(1);
    ::close(pipefd[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const long rss0 = status_kib(child, "VmRSS:");

    // The stalled reader: never reads; its producer thread ends up waiting on backpressure.
    const int stalled = connect_to(port, 4096);
    send_request(stalled, "/tokens?count=100000000&threads=1");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    EndToEnd r;
    const int fd = connect_to(port);
    const auto t0 = Clock::now();
    send_request(fd, "/tokens?count=" + std::to_string(count) + "&threads=4");
    const StreamCheck c = read_tokens(fd, 4, count / 4);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const long hwm = status_kib(child, "VmHWM:");
    r.ok = c.ok && c.events == count / 4 * 4;
    r.tokens_per_s = static_cast<double>(c.events) / s;
    r.rss_growth_mib = static_cast<double>(hwm - rss0) / 1024.0;
    ::close(fd);
    ::close(stalled);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    return r;
}

// ---- per-part cost ----

struct Cost {
    double ns_per_part = 0;
    double wakeups_per_batch = 0;
    double parts_per_batch = 0;
};

Cost send_cost(unsigned producers, std::uint64_t parts) {
    rill_example::EventLoop loop;
    loop.ensure_wake_fd();
    auto sink = rill::make_function_sink([](const rill::ConstBuffer* b, std::size_t n) {
        return rill::WriteResult::ok(rill::buffer_size(b, n));
    });
    auto body = rill::make_deferred_body<decltype(sink)>();
    body->each(sink);
    rill::Producer p = rill::make_producer(
        body, [&loop](std::function<void()> task) { loop.post_from_any_thread(std::move(task)); });
    std::thread loop_thread([&] { loop.run(); });
    std::vector<double> cpu(producers, 0.0);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < producers; ++t) {
        threads.emplace_back([&, t] {
            rill::Producer mine = p;
            const std::string part = "data: 0 1234567\n";  // 16 bytes
            timespec a{}, b{};
            ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
            for (std::uint64_t i = 0; i < parts; ++i) {
                if (mine.send(part) == rill::SendStatus::backpressure)
                    (void)mine.wait_writable(std::chrono::seconds(10));
            }
            ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
            cpu[t] = static_cast<double>(b.tv_sec - a.tv_sec) * 1e9 + static_cast<double>(b.tv_nsec - a.tv_nsec);
        });
    }
    for (auto& th : threads) th.join();
    // Let the loop take the last batch; the counters are read before close(), whose
    // own wake-up carries no part. Then stop the loop from its own thread.
    for (int i = 0; i < 1000 && p.bytes_queued() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const rill::ProducerStats st = p.stats();
    (void)p.close();
    for (int i = 0; i < 1000 && !p.ended(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    loop.post_from_any_thread([&loop] { loop.stop(); });
    loop_thread.join();
    Cost c;
    double total = 0;
    for (double x : cpu) total += x;
    c.ns_per_part = total / static_cast<double>(parts * producers);
    c.wakeups_per_batch = st.batches ? static_cast<double>(st.wakeups) / static_cast<double>(st.batches) : 0;
    c.parts_per_batch = st.batches ? static_cast<double>(st.parts_accepted) / static_cast<double>(st.batches) : 0;
    if (st.parts_accepted != parts * producers || body->body_bytes() != parts * producers * 16)
        std::fprintf(stderr, "send_cost: parts lost\n");
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t count = 4000000;
    std::uint64_t parts = 1000000;
    int runs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view a(argv[i]);
        const std::uint64_t v = std::strtoull(argv[i + 1], nullptr, 10);
        if (a == "--count") count = v;
        else if (a == "--parts") parts = v;
        else if (a == "--runs") runs = static_cast<int>(v);
    }
    ::signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && std::string_view(argv[1]) == "--serve") {  // the server alone, for a look with curl
        int fds[2];
        if (::pipe(fds) != 0) return 1;
        if (::fork() == 0) run_server(fds[1]);
        std::uint16_t port = 0;
        if (::read(fds[0], &port, sizeof port) != static_cast<ssize_t>(sizeof port)) return 1;
        std::printf("listening on http://127.0.0.1:%u/\n", static_cast<unsigned>(port));
        return 0;
    }
    int status = 0;

    std::vector<double> tps, growth;
    for (int r = 0; r < runs; ++r) {
        const EndToEnd e = end_to_end(count);
        if (!e.ok) status = 1;
        tps.push_back(e.tokens_per_s);
        growth.push_back(e.rss_growth_mib);
        std::printf("  run %d: %.0f tokens/s, server RSS growth %.1f MiB%s\n", r + 1, e.tokens_per_s,
                    e.rss_growth_mib, e.ok ? "" : "  (CHECK FAILED)");
    }
    std::printf("/tokens, 4 producer threads, %llu tokens, a stalled stream beside it: median %.0f tokens/s, "
                "median server RSS growth %.1f MiB\n",
                static_cast<unsigned long long>(count), median(tps), median(growth));

    for (unsigned producers : {1u, 4u, 8u}) {
        std::vector<double> ns, wpb, ppb;
        for (int r = 0; r < runs; ++r) {
            const Cost c = send_cost(producers, parts);
            ns.push_back(c.ns_per_part);
            wpb.push_back(c.wakeups_per_batch);
            ppb.push_back(c.parts_per_batch);
        }
        std::printf("cross-thread send, %u producer%s x %llu parts of 16 B: median %.1f ns producer CPU a part, "
                    "%.3f wake-ups a batch, %.0f parts a batch\n",
                    producers, producers == 1 ? "" : "s", static_cast<unsigned long long>(parts), median(ns),
                    median(wpb), median(ppb));
    }
    return status;
}
