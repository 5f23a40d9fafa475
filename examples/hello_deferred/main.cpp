// hello_deferred: a small HTTP/1.1 server answering through rill deferred bodies.
// See docs/examples.md for the routes, the flags and a walk through the code.

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "../common/routes.hpp"
#include "../server/cli.hpp"
#include "../server/event_loop.hpp"
#include "../server/route_adapter.hpp"
#include "../server/server.hpp"

namespace {

constexpr const char* kUsage =
    "usage: hello_deferred [--host ADDR] [--port N] [--delay-ms N] [--high-water BYTES]\n"
    "                      [--idle-timeout-ms N]\n"
    "  --host             address to listen on (default 127.0.0.1)\n"
    "  --port             TCP port, 0 picks a free one (default 8080)\n"
    "  --delay-ms         delay before \"World\" on / (default 1000)\n"
    "  --high-water       per-stream queue limit before backpressure (default 65536)\n"
    "  --idle-timeout-ms  time a client has to send a full request head (default 10000)\n";

}  // namespace

int main(int argc, char** argv) {
    rill_example::CommonArgs args;
    rill_example::ServerOptions opts;
    const int status = rill_example::parse_args(
        argc, argv, "hello_deferred", kUsage, args, [&](std::string_view flag, const char* value) {
            using rill_example::FlagResult;
            if (flag == "--high-water") return rill_example::parse_high_water(value, opts.body);
            if (flag == "--idle-timeout-ms") return rill_example::parse_timeout_ms(value, opts.idle_timeout);
            return FlagResult::unknown;
        });
    if (status >= 0) return status;
    opts.host = args.host;
    opts.port = args.port;

    rill_example::raise_fd_limit();

    rill_example::StopSignals signals("hello_deferred");  // before any thread starts
    if (!signals.ok()) return 1;

    rill_example::EventLoop loop;
    if (!loop.ok()) {
        std::perror("hello_deferred: epoll");
        return 1;
    }
    rill_example::LoopScheduler scheduler(loop);
    rill_example::HelloApp app(scheduler, args.delay);
    rill_example::Server server(loop, opts, [&app](const rill_example::HttpRequest& req,
                                                   const rill_example::BodyPtr& body) {
        app(rill_example::route_request(req), body);
    });
    if (const std::string err = server.listen(); !err.empty()) {
        std::fprintf(stderr, "hello_deferred: %s\n", err.c_str());
        return 1;
    }

    rill_example::announce_listening(opts.host, server.local_port());

    return signals.run(loop, [&] { server.shutdown(); });
}
