#ifndef RILL_EXAMPLE_EVENT_LOOP_HPP
#define RILL_EXAMPLE_EVENT_LOOP_HPP

// A single-threaded, edge-triggered epoll loop with one-shot timers and a
// queue of deferred calls. It is the smallest loop that can drive rill's
// DeferredBody over real sockets; it is example code, not part of rill.

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <rill/turn.hpp>

namespace rill_example {

class EventLoop {
public:
    using Clock = std::chrono::steady_clock;
    using IoFn = std::function<void(std::uint32_t events)>;
    using Task = std::function<void()>;

    /// Names one pending timer; a default-constructed id names none.
    struct TimerId {
        Clock::time_point when{};
        std::uint64_t seq = 0;
        explicit operator bool() const noexcept { return seq != 0; }
    };

    EventLoop() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {}
    ~EventLoop() {
        if (wake_fd_ >= 0) ::close(wake_fd_);
        if (epfd_ >= 0) ::close(epfd_);
    }
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    bool ok() const noexcept { return epfd_ >= 0; }

    /// Registers `fd`; `fn` runs with the epoll event bits. Returns false (errno set) on failure.
    bool watch(int fd, std::uint32_t events, IoFn fn) {
        if (fd < 0) return false;
        const auto index = static_cast<std::size_t>(fd);
        if (index >= slots_.size()) slots_.resize(index + 1);
        Slot& slot = slots_[index];
        ++slot.gen;
        epoll_event ev{};
        ev.events = events;
        // The generation travels with the event so that a stale event for a closed
        // (and perhaps already reused) fd in the same epoll_wait batch is ignored.
        ev.data.u64 = (static_cast<std::uint64_t>(slot.gen) << 32) | static_cast<std::uint32_t>(fd);
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return false;
        slot.fn = std::move(fn);
        return true;
    }

    /// Forgets `fd`; call it before closing the fd.
    void unwatch(int fd) {
        const auto index = static_cast<std::size_t>(fd);
        if (fd < 0 || index >= slots_.size()) return;
        ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
        ++slots_[index].gen;
        slots_[index].fn = nullptr;
    }

    TimerId add_timer(std::chrono::milliseconds delay, Task fn) {
        TimerId id{Clock::now() + delay, ++timer_seq_};
        timers_.emplace(Key{id.when, id.seq}, std::move(fn));
        return id;
    }

    /// Cancels a pending timer (a no-op for one that fired) and clears the id.
    void cancel_timer(TimerId& id) {
        if (id) timers_.erase(Key{id.when, id.seq});
        id = TimerId{};
    }

    /// Runs `fn` on the next turn of the loop, outside whatever call is on the stack now.
    void post(Task fn) { posted_.push_back(std::move(fn)); }

    /// From any thread: runs `fn` on the loop thread soon. The call that finds the
    /// cross-thread queue empty writes the eventfd; the others only append, so a
    /// burst of calls costs the loop one wake-up. This is the waker rill::make_producer
    /// takes. Returns false if the eventfd could not be set up.
    bool post_from_any_thread(Task fn) {
        if (!ensure_wake_fd()) return false;
        bool first = false;
        {
            std::lock_guard<std::mutex> lock(remote_mutex_);
            first = remote_.empty();
            remote_.push_back(std::move(fn));
        }
        if (first) {
            const std::uint64_t one = 1;
            // EAGAIN means the counter is saturated: the loop is woken already.
            while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
            }
        }
        return true;
    }

    /// Creates the eventfd behind post_from_any_thread(). Call it on the loop thread
    /// before other threads may post (the first post does it otherwise).
    bool ensure_wake_fd() {
        std::call_once(wake_once_, [this] {
            const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (fd < 0) return;
            if (!watch(fd, EPOLLIN, [this](std::uint32_t) { run_remote(); })) {
                ::close(fd);
                return;
            }
            wake_fd_ = fd;
        });
        return wake_fd_ >= 0;
    }

    void stop() noexcept { running_ = false; }

    /// Runs until stop(). Returns false if epoll_wait failed.
    bool run() {
        running_ = true;
        epoll_event events[256];
        // Parts sent to bodies during one turn leave together at its end (rill/turn.hpp).
        rill::Turn turn;
        while (running_) {
            const int n = ::epoll_wait(epfd_, events, 256, wait_timeout_ms());
            if (n < 0 && errno != EINTR) return false;
            for (int i = 0; i < n && running_; ++i) dispatch(events[i]);
            run_timers();
            run_posted();
            turn.end();
        }
        return true;
    }

    std::size_t pending_timers() const noexcept { return timers_.size(); }

private:
    struct Slot {
        IoFn fn;
        std::uint32_t gen = 0;
    };
    using Key = std::pair<Clock::time_point, std::uint64_t>;

    void dispatch(const epoll_event& ev) {
        const auto index = static_cast<std::size_t>(ev.data.u64 & 0xffffffffu);
        const auto gen = static_cast<std::uint32_t>(ev.data.u64 >> 32);
        if (index >= slots_.size() || slots_[index].gen != gen || !slots_[index].fn) return;
        // The handler may unwatch its own fd; it must not destroy the callable it runs in.
        IoFn fn = std::move(slots_[index].fn);
        fn(ev.events);
        if (index < slots_.size() && slots_[index].gen == gen && !slots_[index].fn)
            slots_[index].fn = std::move(fn);
    }

    int wait_timeout_ms() const {
        if (!posted_.empty() || !running_) return 0;
        if (timers_.empty()) return -1;
        const auto left = timers_.begin()->first.first - Clock::now();
        if (left <= Clock::duration::zero()) return 0;
        // Round up so that a timer never wakes the loop a little early for nothing.
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
        return ms > 60000 ? 60000 : static_cast<int>(ms);
    }

    void run_timers() {
        const auto now = Clock::now();
        const std::uint64_t last = timer_seq_;  // timers added by callbacks wait for the next turn
        auto it = timers_.begin();
        while (running_ && it != timers_.end() && it->first.first <= now) {
            if (it->first.second > last) {
                ++it;
                continue;
            }
            Task fn = std::move(it->second);
            timers_.erase(it);
            fn();
            it = timers_.begin();
        }
    }

    void run_posted() {
        std::vector<Task> batch;
        batch.swap(posted_);  // tasks posted by these tasks run on the next turn
        for (Task& t : batch)
            if (running_) t();
    }

    // The eventfd is read before the queue is taken: a post that lands after the
    // swap writes it again, so no call is left behind.
    void run_remote() {
        std::uint64_t count = 0;
        while (::read(wake_fd_, &count, sizeof count) < 0 && errno == EINTR) {
        }
        std::vector<Task> batch;
        {
            std::lock_guard<std::mutex> lock(remote_mutex_);
            batch.swap(remote_);
        }
        for (Task& t : batch)
            if (running_) t();
    }

    int epfd_;
    int wake_fd_ = -1;
    std::once_flag wake_once_;
    std::mutex remote_mutex_;
    std::vector<Task> remote_;
    bool running_ = false;
    std::vector<Slot> slots_;
    std::map<Key, Task> timers_;
    std::uint64_t timer_seq_ = 0;
    std::vector<Task> posted_;
};

}  // namespace rill_example

#endif  // RILL_EXAMPLE_EVENT_LOOP_HPP
