// The Scheduler contract (tests/examples/scheduler_contract.hpp) on hello_uv's
// UvScheduler (examples/hello_uv/uv_scheduler.hpp).

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

#include "../../examples/hello_uv/uv_scheduler.hpp"
#include "../examples/scheduler_contract.hpp"

int main() {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) return 1;
    int failures = 0;
    {
        rill_example::UvScheduler scheduler(&loop);
        failures = rill_test::check_scheduler(scheduler, [&loop](std::chrono::milliseconds ms) {
            uv_timer_t stop;
            uv_timer_init(&loop, &stop);
            stop.data = &loop;
            uv_timer_start(&stop, [](uv_timer_t* t) { uv_stop(static_cast<uv_loop_t*>(t->data)); },
                           static_cast<std::uint64_t>(ms.count()), 0);
            uv_run(&loop, UV_RUN_DEFAULT);
            uv_close(reinterpret_cast<uv_handle_t*>(&stop), nullptr);
            uv_run(&loop, UV_RUN_NOWAIT);
        });
        if (scheduler.pending_timers() != 0) {
            std::fprintf(stderr, "scheduler contract: FAILED: %zu timers left in the id map\n",
                         scheduler.pending_timers());
            ++failures;
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);  // the scheduler's handles close
    if (uv_loop_close(&loop) != 0) {
        std::fputs("scheduler contract: FAILED: handles left open on the loop\n", stderr);
        ++failures;
    }
    if (failures != 0) return 1;
    std::puts("UvScheduler: the Scheduler contract holds");
    return 0;
}
