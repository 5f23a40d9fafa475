#ifndef RILL_EXAMPLE_CLI_HPP
#define RILL_EXAMPLE_CLI_HPP

// The epoll examples' half of the shared command line: SIGINT/SIGTERM delivered
// as loop events. The loop-independent half (flags, the first stdout line) is
// ../common/cli_args.hpp, shared with the servers on other loops.

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>

#include "../common/cli_args.hpp"
#include "event_loop.hpp"

namespace rill_example {

/// SIGINT and SIGTERM as readable events on the loop, never in the middle of a body
/// call. Create it before any thread, so that every thread inherits the blocked mask.
class StopSignals {
public:
    explicit StopSignals(const char* program) : program_(program) {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) {
            report("sigprocmask");
            return;
        }
        fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd_ < 0) report("signalfd");
    }
    ~StopSignals() {
        if (fd_ >= 0) ::close(fd_);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    bool ok() const { return fd_ >= 0; }

    /// Runs `loop` until a signal: then `on_stop()` (which should end the server) and
    /// loop.stop(). Returns main()'s exit status.
    template <class OnStop>
    int run(EventLoop& loop, OnStop on_stop) {
        loop.watch(fd_, EPOLLIN | EPOLLET, [this, &loop, on_stop](std::uint32_t) mutable {
            signalfd_siginfo info{};
            while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            }
            on_stop();
            loop.stop();
        });
        const bool ran = loop.run();
        loop.unwatch(fd_);  // the loop may be gone before this object is
        if (!ran) {
            report("epoll_wait");
            return 1;
        }
        return 0;
    }

private:
    void report(const char* what) const {
        std::fprintf(stderr, "%s: ", program_);
        std::perror(what);
    }

    const char* program_;
    int fd_ = -1;
};

}  // namespace rill_example

#endif  // RILL_EXAMPLE_CLI_HPP
