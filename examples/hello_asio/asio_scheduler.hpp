#ifndef RILL_EXAMPLE_ASIO_SCHEDULER_HPP
#define RILL_EXAMPLE_ASIO_SCHEDULER_HPP

// The routes' Scheduler (examples/common/routes.hpp) on an Asio io_context: one
// steady_timer per timer, post() through asio::post. Works with either Asio flavour
// (rill::asio::net), so the TLS test server (tests/asio) shares it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <utility>

#include <rill/asio.hpp>

#include "../common/routes.hpp"

namespace rill_example {

class AsioScheduler final : public Scheduler {
public:
    explicit AsioScheduler(rill::asio::net::io_context& io) : io_(io) {}
    ~AsioScheduler() override { cancel_all(); }
    AsioScheduler(const AsioScheduler&) = delete;
    AsioScheduler& operator=(const AsioScheduler&) = delete;

    TimerId add_timer(std::chrono::milliseconds delay, std::function<void()> fn) override {
        const TimerId id = ++next_id_;
        auto timer = std::make_shared<rill::asio::net::steady_timer>(io_, delay);
        timers_.emplace(id, timer);
        // The handler owns fn (and what it captures) until the timer fires or is cancelled.
        timer->async_wait([this, id, fn = std::move(fn)](const auto& ec) {
            if (ec) return;
            timers_.erase(id);
            fn();
        });
        return id;
    }

    void cancel_timer(TimerId id) override {
        const auto it = timers_.find(id);
        if (it == timers_.end()) return;
        it->second->cancel();
        timers_.erase(it);
    }

    void post(std::function<void()> fn) override { rill::asio::net::post(io_, std::move(fn)); }

    /// Drops every pending timer (at shutdown): their callbacks and captures go with them.
    void cancel_all() {
        for (auto& entry : timers_) entry.second->cancel();
        timers_.clear();
    }

private:
    rill::asio::net::io_context& io_;
    std::unordered_map<TimerId, std::shared_ptr<rill::asio::net::steady_timer>> timers_;
    TimerId next_id_ = 0;
};

}  // namespace rill_example

#endif  // RILL_EXAMPLE_ASIO_SCHEDULER_HPP
