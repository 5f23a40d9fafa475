#ifndef RILL_EXAMPLE_ASIO_SCHEDULER_HPP
#define RILL_EXAMPLE_ASIO_SCHEDULER_HPP

// The routes' Scheduler (examples/common/routes.hpp) on an Asio io_context: one
// steady_timer per timer, post() through asio::post. Checked against the contract by
// tests/asio/asio_scheduler_test.cpp. Works with either Asio flavour
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
        auto timer = std::make_unique<rill::asio::net::steady_timer>(io_, delay);
        // The callback stays in the map, not in the handler: cancel_timer() destroys it (and
        // what it holds, often a body) at once, not when the aborted wait is delivered.
        timer->async_wait([this, id](const auto& ec) {
            if (ec) return;  // cancelled: this scheduler may be gone already
            const auto it = timers_.find(id);
            if (it == timers_.end()) return;
            std::function<void()> callback = std::move(it->second.fn);
            timers_.erase(it);
            callback();
        });
        timers_.emplace(id, Entry{std::move(timer), std::move(fn)});
        return id;
    }

    void cancel_timer(TimerId id) override {
        const auto it = timers_.find(id);
        if (it == timers_.end()) return;
        it->second.timer->cancel();
        timers_.erase(it);
    }

    void post(std::function<void()> fn) override { rill::asio::net::post(io_, std::move(fn)); }

    /// Drops every pending timer (at shutdown): their callbacks and captures go with them.
    void cancel_all() {
        for (auto& entry : timers_) entry.second.timer->cancel();
        timers_.clear();
    }

    std::size_t pending_timers() const noexcept { return timers_.size(); }

private:
    rill::asio::net::io_context& io_;
    struct Entry {
        std::unique_ptr<rill::asio::net::steady_timer> timer;
        std::function<void()> fn;
    };
    std::unordered_map<TimerId, Entry> timers_;
    TimerId next_id_ = 0;
};

}  // namespace rill_example

#endif  // RILL_EXAMPLE_ASIO_SCHEDULER_HPP
