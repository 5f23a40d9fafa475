// The Scheduler contract (scheduler_contract.hpp) on the epoll example server's
// LoopScheduler (examples/server/route_adapter.hpp).

#include <chrono>
#include <cstdio>

#include "../../examples/server/event_loop.hpp"
#include "../../examples/server/route_adapter.hpp"
#include "scheduler_contract.hpp"

int main() {
    rill_example::EventLoop loop;
    if (!loop.ok()) {
        std::perror("epoll");
        return 1;
    }
    rill_example::LoopScheduler scheduler(loop);
    const int failures = rill_test::check_scheduler(scheduler, [&loop](std::chrono::milliseconds ms) {
        loop.add_timer(ms, [&loop] { loop.stop(); });
        loop.run();
    });
    if (scheduler.pending_timers() != 0) {
        std::fprintf(stderr, "scheduler contract: FAILED: %zu timers left in the id map\n",
                     scheduler.pending_timers());
        return 1;
    }
    if (failures != 0) return 1;
    std::puts("LoopScheduler: the Scheduler contract holds");
    return 0;
}
