#ifndef RILL_EXAMPLE_UV_SCHEDULER_HPP
#define RILL_EXAMPLE_UV_SCHEDULER_HPP

// The shared routes' Scheduler (examples/common/routes.hpp) on a libuv loop, for
// hello_uv; tests/uv/uv_scheduler_test.cpp checks it against the Scheduler contract.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <unordered_map>
#include <utility>

#include "../common/routes.hpp"

namespace rill_example {

/// The routes' Scheduler on a uv_loop_t: one uv_timer_t per timer, posted calls run
/// from a uv_idle_t (so never inside the call that posted them).
class UvScheduler final : public Scheduler {
public:
    explicit UvScheduler(uv_loop_t* loop) : loop_(loop) {
        uv_idle_init(loop_, &idle_);
        idle_.data = this;
    }
    UvScheduler(const UvScheduler&) = delete;
    UvScheduler& operator=(const UvScheduler&) = delete;
    ~UvScheduler() { shutdown(); }

    TimerId add_timer(std::chrono::milliseconds delay, std::function<void()> fn) override {
        auto* t = new Timer{{}, this, ++last_id_, std::move(fn)};
        uv_timer_init(loop_, &t->handle);
        t->handle.data = t;
        uv_timer_start(&t->handle, &UvScheduler::fire, static_cast<std::uint64_t>(delay.count()), 0);
        timers_.emplace(t->id, t);
        return t->id;
    }

    void cancel_timer(TimerId id) override {
        const auto it = timers_.find(id);
        if (it == timers_.end()) return;
        Timer* t = it->second;
        timers_.erase(it);
        discard(t);
    }

    void post(std::function<void()> fn) override {
        if (closed_) return;
        posted_.push_back(std::move(fn));
        uv_idle_start(&idle_, &UvScheduler::run_posted);
    }

    /// Timers not fired nor cancelled yet.
    std::size_t pending_timers() const noexcept { return timers_.size(); }

    /// Drops every pending timer and posted call (and what they hold).
    void shutdown() {
        while (!timers_.empty()) cancel_timer(timers_.begin()->first);
        posted_.clear();
        if (!closed_) {
            closed_ = true;
            uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
        }
    }

private:
    struct Timer {
        uv_timer_t handle;
        UvScheduler* owner;
        TimerId id;
        std::function<void()> fn;
    };

    static void fire(uv_timer_t* handle) {
        auto* t = static_cast<Timer*>(handle->data);
        t->owner->timers_.erase(t->id);  // fired: cancelling it from now on is a no-op
        std::function<void()> fn = std::move(t->fn);
        discard(t);
        fn();
    }

    static void discard(Timer* t) {
        t->fn = nullptr;  // what it holds goes now, the handle when libuv is done with it
        uv_close(reinterpret_cast<uv_handle_t*>(&t->handle),
                 [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
    }

    static void run_posted(uv_idle_t* idle) {
        auto* self = static_cast<UvScheduler*>(idle->data);
        std::deque<std::function<void()>> batch;
        batch.swap(self->posted_);  // calls posted from these run on the next iteration
        for (auto& fn : batch) fn();
        if (self->posted_.empty() && !self->closed_) uv_idle_stop(&self->idle_);
    }

    uv_loop_t* loop_;
    uv_idle_t idle_;
    bool closed_ = false;
    TimerId last_id_ = 0;
    std::unordered_map<TimerId, Timer*> timers_;
    std::deque<std::function<void()>> posted_;
};

}  // namespace rill_example

#endif  // RILL_EXAMPLE_UV_SCHEDULER_HPP
