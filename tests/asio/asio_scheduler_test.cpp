// The routes' Scheduler contract (tests/examples/scheduler_contract.hpp) on hello_asio's
// AsioScheduler (examples/hello_asio/asio_scheduler.hpp).

#include <chrono>
#include <cstdio>

#include <boost/asio/io_context.hpp>

#include "../../examples/hello_asio/asio_scheduler.hpp"
#include "../examples/scheduler_contract.hpp"

int main() {
    boost::asio::io_context io(1);
    rill_example::AsioScheduler scheduler(io);
    const int failures = rill_test::check_scheduler(scheduler, [&io](std::chrono::milliseconds ms) {
        io.restart();
        io.run_for(ms);
    });
    if (scheduler.pending_timers() != 0) {
        std::fprintf(stderr, "scheduler contract: FAILED: %zu timers left in the id map\n", scheduler.pending_timers());
        return 1;
    }
    if (failures != 0) return 1;
    std::puts("AsioScheduler: the Scheduler contract holds");
    return 0;
}
