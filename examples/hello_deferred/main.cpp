// hello_deferred: a small HTTP/1.1 server answering through rill deferred bodies.
// See docs/examples.md for the routes, the flags and a walk through the code.

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "../server/cli.hpp"
#include "../server/event_loop.hpp"
#include "../server/server.hpp"
#include "routes.hpp"

namespace {

constexpr const char* kUsage =
    "usage: hello_deferred [--host ADDR] [--port N] [--delay-ms N] [--high-water BYTES]\n"
    "                      [--idle-timeout-ms N]\n"
    "  --host             address to listen on (default 127.0.0.1)\n"
    "  --port             TCP port, 0 picks a free one (default 8080)\n"
    "  --delay-ms         delay before \"World\" on / (default 1000)\n"
    "  --high-water       per-stream queue limit before backpressure (default 65536)\n"
    "  --idle-timeout-ms  time a client has to send a full request head (default 10000)\n";


// Each open stream is one descriptor: take all the kernel allows us.
void raise_fd_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

}  // namespace

int main(int argc, char** argv) {
    rill_example::ServerOptions opts;
    std::uint64_t delay_ms = 1000;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg(argv[i]);
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "hello_deferred: %s needs a value\n%s", argv[i], kUsage);
            return 2;
        }
        const char* value = argv[++i];
        std::uint64_t n = 0;
        bool ok = true;
        if (arg == "--host") {
            opts.host = value;
        } else if (arg == "--port") {
            ok = rill_example::parse_number(value, 65535, n);
            opts.port = static_cast<std::uint16_t>(n);
        } else if (arg == "--delay-ms") {
            ok = rill_example::parse_number(value, 24ULL * 3600 * 1000, delay_ms);
        } else if (arg == "--high-water") {
            ok = rill_example::parse_number(value, 1ULL << 30, n) && n > 0;
            opts.body.high_water = static_cast<std::size_t>(n);
            opts.body.low_water = static_cast<std::size_t>(n / 4);
        } else if (arg == "--idle-timeout-ms") {
            ok = rill_example::parse_number(value, 24ULL * 3600 * 1000, n) && n > 0;
            opts.idle_timeout = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(n));
        } else {
            std::fprintf(stderr, "hello_deferred: unknown option %s\n%s", argv[i - 1], kUsage);
            return 2;
        }
        if (!ok) {
            std::fprintf(stderr, "hello_deferred: bad value for %s: %s\n", argv[i - 1], value);
            return 2;
        }
    }

    raise_fd_limit();

    rill_example::StopSignals signals("hello_deferred");  // before any thread starts
    if (!signals.ok()) return 1;

    rill_example::EventLoop loop;
    if (!loop.ok()) {
        std::perror("hello_deferred: epoll");
        return 1;
    }
    rill_example::HelloApp app(loop, std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(delay_ms)));
    rill_example::Server server(loop, opts, std::ref(app));
    if (const std::string err = server.listen(); !err.empty()) {
        std::fprintf(stderr, "hello_deferred: %s\n", err.c_str());
        return 1;
    }

    rill_example::announce_listening(opts.host, server.local_port());

    return signals.run(loop, [&] { server.shutdown(); });
}
