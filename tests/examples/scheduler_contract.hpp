#ifndef RILL_TEST_SCHEDULER_CONTRACT_HPP
#define RILL_TEST_SCHEDULER_CONTRACT_HPP

// The contract of rill_example::Scheduler (examples/common/routes.hpp), checked
// against any implementation: every server that runs the shared routes can run
// it on its own loop. The routes rely on each point: HelloApp's "/" timer owns
// its body until it fires, and on_close cancels it, so a cancel that kept the
// callback would keep an abandoned stream's memory alive for --delay-ms.
//
//   int failures = rill_test::check_scheduler(scheduler, run_for);
//
// `run_for(ms)` runs the loop on this thread for about `ms` milliseconds and
// returns (e.g. a timer that stops the loop, then run()).

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "../../examples/common/routes.hpp"

namespace rill_test {

using RunFor = std::function<void(std::chrono::milliseconds)>;

inline int check_scheduler(rill_example::Scheduler& s, const RunFor& run_for) {
    using std::chrono::milliseconds;
    using Clock = std::chrono::steady_clock;
    int failures = 0;
    auto expect = [&failures](bool ok, const char* what) {
        if (!ok) {
            std::fprintf(stderr, "scheduler contract: FAILED: %s\n", what);
            ++failures;
        }
    };

    // Ids: non-zero and distinct; timers fire once, not early, in due order.
    {
        std::vector<int> fired;
        std::set<rill_example::Scheduler::TimerId> ids;
        const auto t0 = Clock::now();
        Clock::time_point first_at{};
        ids.insert(s.add_timer(milliseconds(60), [&] { fired.push_back(2); }));
        ids.insert(s.add_timer(milliseconds(20), [&] {
            first_at = Clock::now();
            fired.push_back(1);
        }));
        ids.insert(s.add_timer(milliseconds(0), [&] { fired.push_back(0); }));
        expect(ids.size() == 3 && ids.count(0) == 0, "timer ids are non-zero and distinct");
        run_for(milliseconds(150));
        expect(fired == std::vector<int>({0, 1, 2}), "each timer fires once, in the order they are due");
        expect(first_at - t0 >= milliseconds(19), "a 20 ms timer does not fire before 20 ms");
    }

    // Cancel before the timer is due: it never runs, and what it holds is released at once.
    {
        auto token = std::make_shared<int>(0);
        std::weak_ptr<int> watch = token;
        bool ran = false;
        const auto id = s.add_timer(milliseconds(30), [&ran, token] { ran = true; });
        token.reset();
        expect(!watch.expired(), "a pending timer keeps its callback");
        s.cancel_timer(id);
        expect(watch.expired(), "cancel_timer destroys the callback at once");
        s.cancel_timer(id);  // twice: a no-op
        s.cancel_timer(0);   // none: a no-op
        run_for(milliseconds(80));
        expect(!ran, "a cancelled timer does not run");
    }

    // Cancelling a fired timer, or a timer from its own callback, touches no other timer.
    {
        int a = 0;
        int b = 0;
        rill_example::Scheduler::TimerId self_id = 0;
        const auto first = s.add_timer(milliseconds(0), [&] { ++a; });
        self_id = s.add_timer(milliseconds(0), [&] {
            ++a;
            s.cancel_timer(self_id);
        });
        run_for(milliseconds(30));
        s.add_timer(milliseconds(20), [&] { ++b; });
        s.cancel_timer(first);
        s.cancel_timer(self_id);
        run_for(milliseconds(80));
        expect(a == 2 && b == 1, "cancelling fired timers is a no-op");
    }

    // post: never inside the caller; runs soon; a post from a posted call runs too.
    {
        int stage = 0;
        bool inner = false;
        s.post([&] {
            stage = stage == 1 ? 2 : -1;
            s.post([&] { inner = true; });
        });
        expect(stage == 0, "post does not run the call inside post()");
        stage = 1;
        run_for(milliseconds(30));
        expect(stage == 2, "a posted call runs on the loop after the caller returned");
        expect(inner, "a call posted by a posted call runs");
    }
    return failures;
}

}  // namespace rill_test

#endif  // RILL_TEST_SCHEDULER_CONTRACT_HPP
