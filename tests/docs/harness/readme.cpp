// Harness for README.md's first example. It provides the names the example takes
// from its server — `client_fd` (one end of a real socketpair), `request` (an
// HTTP/1.1 GET) and `loop` (a one-thread timer loop) — then reads the other end of
// the socket and checks what the README says: the head and "Hello, " are on the
// wire at once, "World" and the last chunk come from the timer a second later, and
// the connection may be kept.

// @SNIPPET_INCLUDES@

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// The smallest event loop the example needs: timers, run in due order on this thread.
class TimerLoop {
public:
    void after(Clock::duration delay, std::function<void()> fn) {
        timers_.push_back(Timer{Clock::now() + delay, std::move(fn)});
    }
    // Runs every timer when it is due; returns how many ran. Bounded: gives up after `limit`.
    int run(Clock::duration limit) {
        const Clock::time_point give_up = Clock::now() + limit;
        int ran = 0;
        while (!timers_.empty() && Clock::now() < give_up) {
            std::size_t next = 0;
            for (std::size_t i = 1; i < timers_.size(); ++i)
                if (timers_[i].due < timers_[next].due) next = i;
            if (timers_[next].due > Clock::now()) {
                std::this_thread::sleep_until(std::min(timers_[next].due, give_up));
                continue;
            }
            Timer t = std::move(timers_[next]);
            timers_.erase(timers_.begin() + static_cast<std::ptrdiff_t>(next));
            t.fn();
            ++ran;
        }
        return ran;
    }

private:
    struct Timer {
        Clock::time_point due;
        std::function<void()> fn;
    };
    std::vector<Timer> timers_;
};

// What has arrived on `fd` within `wait` (stops early once `want` bytes are there).
std::string read_for(int fd, Clock::duration wait, std::size_t want) {
    std::string got;
    const Clock::time_point end = Clock::now() + wait;
    while (got.size() < want && Clock::now() < end) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10) <= 0) continue;
        char buf[4096];
        const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
}

void example(TimerLoop& loop, const rill::Request& request, int client_fd, int peer_fd) {
    const Clock::time_point started = Clock::now();
    // @SNIPPET@

    // Before the loop runs: the head and the first part are already on the wire.
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string first = head + "7\r\nHello, \r\n";
    const std::string now = read_for(peer_fd, 300ms, first.size() + 1);
    std::printf("at once: %zu bytes\n", now.size());
    std::fflush(stdout);
    assert(now == first);
    assert(body->state() == rill::BodyState::open && body->bytes_queued() == 0);

    // The timer fires a second later and finishes the body.
    assert(loop.run(5s) == 1);
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    const std::string rest = "5\r\nWorld\r\n0\r\n\r\n";
    const std::string later = read_for(peer_fd, 300ms, rest.size() + 1);
    std::printf("the rest after %lld ms: %zu bytes\n", static_cast<long long>(waited.count()), later.size());
    std::fflush(stdout);
    assert(waited >= 1000ms);
    assert(later == rest);
    assert(body->state() == rill::BodyState::closed);
    assert(body->close_reason() == rill::CloseReason::completed);
    assert(body->keep_alive());  // "keep-alive decided": an HTTP/1.1 GET may carry the next request
}

}  // namespace

int main() {
    int sockets[2] = {-1, -1};
    int rc = ::socketpair(AF_UNIX, SOCK_STREAM, 0, sockets);
    assert(rc == 0);
    (void)rc;
    TimerLoop loop;
    const rill::Request request{"GET", 1, {}, {}};
    example(loop, request, sockets[0], sockets[1]);
    ::close(sockets[0]);
    ::close(sockets[1]);
    std::puts("README example: ok");
    return 0;
}
