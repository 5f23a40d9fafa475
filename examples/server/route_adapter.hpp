#ifndef RILL_EXAMPLE_ROUTE_ADAPTER_HPP
#define RILL_EXAMPLE_ROUTE_ADAPTER_HPP

// How the epoll example server feeds the shared routes (../common/routes.hpp):
// its EventLoop as a Scheduler, its parsed HttpRequest as a RouteRequest.

#include <chrono>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>

#include "../common/routes.hpp"
#include "event_loop.hpp"
#include "http_request_parser.hpp"

namespace rill_example {

/// The routes' Scheduler on an EventLoop. The loop names a timer by its due time
/// and sequence; the routes by one number, so pending timers are kept in a map.
class LoopScheduler final : public Scheduler {
public:
    explicit LoopScheduler(EventLoop& loop) : loop_(loop) {}
    LoopScheduler(const LoopScheduler&) = delete;
    LoopScheduler& operator=(const LoopScheduler&) = delete;

    TimerId add_timer(std::chrono::milliseconds delay, std::function<void()> fn) override {
        const TimerId id = ++last_id_;
        pending_.emplace(id, loop_.add_timer(delay, [this, id, fn = std::move(fn)] {
            pending_.erase(id);  // fired: cancelling it from now on is a no-op
            fn();
        }));
        return id;
    }

    void cancel_timer(TimerId id) override {
        const auto it = pending_.find(id);
        if (it == pending_.end()) return;
        EventLoop::TimerId loop_id = it->second;
        pending_.erase(it);
        loop_.cancel_timer(loop_id);  // destroys the callback, and what it holds
    }

    void post(std::function<void()> fn) override { loop_.post(std::move(fn)); }

    std::size_t pending_timers() const noexcept { return pending_.size(); }

private:
    EventLoop& loop_;
    TimerId last_id_ = 0;
    std::unordered_map<TimerId, EventLoop::TimerId> pending_;
};

/// The routes' view of a parsed request; valid as long as `req`.
inline RouteRequest route_request(const HttpRequest& req) noexcept {
    return RouteRequest{req.method, req.path, req.query, req.framing_request()};
}

}  // namespace rill_example

#endif  // RILL_EXAMPLE_ROUTE_ADAPTER_HPP
