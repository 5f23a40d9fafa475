#ifndef RILL_EXAMPLE_CLI_ARGS_HPP
#define RILL_EXAMPLE_CLI_ARGS_HPP

// The command line every example server shares, whatever its loop: --host, --port
// (0 picks a free one), --delay-ms, the parsers of the flags several servers take
// (--high-water, the --*-ms timeouts), and the first stdout line the tests wait for.
// The same flags, messages and exit codes on every server let one test driver
// (tests/examples/hello_deferred_test.py) run against all of them.

#include <sys/resource.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace rill_example {

/// A flag's value: plain decimal, at most 12 digits, at most `max`.
inline bool parse_number(const char* text, std::uint64_t max, std::uint64_t& out) {
    const std::string_view s(text);
    if (s.empty() || s.size() > 12) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v > max) return false;
    out = v;
    return true;
}

/// The flags every example server takes.
struct CommonArgs {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::chrono::milliseconds delay{1000};  ///< --delay-ms: "World" on / comes this much later
};

/// What a server's own flag handler made of a flag.
enum class FlagResult { unknown, ok, bad };

/// For servers without flags of their own.
inline FlagResult no_extra_flags(std::string_view, const char*) { return FlagResult::unknown; }

/// Parses `--flag value` pairs. `extra(flag, value)` sees every flag that is not a
/// common one. Returns -1 when main() should go on, otherwise its exit status: 0
/// after --help (usage on stdout), 2 after a usage error (message on stderr).
template <class Extra>
int parse_args(int argc, char** argv, const char* program, const char* usage, CommonArgs& out, Extra&& extra) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg(argv[i]);
        if (arg == "--help" || arg == "-h") {
            std::fputs(usage, stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "%s: %s needs a value\n%s", program, argv[i], usage);
            return 2;
        }
        const char* value = argv[++i];
        std::uint64_t n = 0;
        FlagResult r = FlagResult::ok;
        if (arg == "--host") {
            out.host = value;
        } else if (arg == "--port") {
            if (!parse_number(value, 65535, n)) r = FlagResult::bad;
            out.port = static_cast<std::uint16_t>(n);
        } else if (arg == "--delay-ms") {
            if (!parse_number(value, 24ULL * 3600 * 1000, n)) r = FlagResult::bad;
            out.delay = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(n));
        } else {
            r = extra(arg, value);
        }
        if (r == FlagResult::unknown) {
            std::fprintf(stderr, "%s: unknown option %s\n%s", program, argv[i - 1], usage);
            return 2;
        }
        if (r == FlagResult::bad) {
            std::fprintf(stderr, "%s: bad value for %s: %s\n", program, argv[i - 1], value);
            return 2;
        }
    }
    return -1;
}

/// --high-water BYTES (1 to 1 GiB) into a rill::BodyOptions: low water is a quarter of it.
template <class BodyOptions>
FlagResult parse_high_water(const char* value, BodyOptions& body) {
    std::uint64_t n = 0;
    if (!parse_number(value, 1ULL << 30, n) || n == 0) return FlagResult::bad;
    body.high_water = static_cast<std::size_t>(n);
    body.low_water = static_cast<std::size_t>(n / 4);
    return FlagResult::ok;
}

/// A --*-timeout-ms duration, at most a day; 0 is a bad value unless `zero_ok`.
inline FlagResult parse_timeout_ms(const char* value, std::chrono::milliseconds& out, bool zero_ok = false) {
    std::uint64_t n = 0;
    if (!parse_number(value, 24ULL * 3600 * 1000, n) || (n == 0 && !zero_ok)) return FlagResult::bad;
    out = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(n));
    return FlagResult::ok;
}

/// Each open stream is one descriptor: a server takes all the kernel allows it.
inline void raise_fd_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

/// The first line on stdout, `listening on http://HOST:PORT/`, flushed at once.
inline void announce_listening(const std::string& host, unsigned port) {
    const bool v6 = host.find(':') != std::string::npos;
    std::printf("listening on http://%s%s%s:%u/\n", v6 ? "[" : "", host.c_str(), v6 ? "]" : "", port);
    std::fflush(stdout);
}

}  // namespace rill_example

#endif  // RILL_EXAMPLE_CLI_ARGS_HPP
