#ifndef RILL_PRODUCER_HPP
#define RILL_PRODUCER_HPP

// rill::Producer: sends parts to a body from any thread. The body stays
// single-threaded; the producer appends to a shared, locked queue and the
// first part of each batch wakes the body's thread through a waker the
// integration supplies. See docs/threading.md.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "rill/deferred_body.hpp"
#include "rill/fields.hpp"
#include "rill/status.hpp"

namespace rill {

/// What became of Producer::wait_writable().
enum class WaitStatus : std::uint8_t {
    ready,    ///< the queue is below the low-water mark: send again
    closed,   ///< the stream ended (or close() was called): stop producing
    timeout,  ///< still above the mark when the timeout passed
};

constexpr const char* to_string(WaitStatus s) noexcept {
    switch (s) {
        case WaitStatus::ready: return "ready";
        case WaitStatus::closed: return "closed";
        case WaitStatus::timeout: return "timeout";
    }
    return "unknown";
}

/// Callbacks for the producer's side. Both run on the consumer's thread (the
/// body's loop thread, or the worker thread of a PullStream), never under a lock.
struct ProducerOptions {
    /// Once after each episode of backpressure, when the queue fell below the low-water mark.
    std::function<void()> on_writable;
    /// Once, when the stream ended, with the reason.
    std::function<void(CloseReason)> on_close;
};

/// Counters, for tests and benchmarks. Read with Producer::stats().
struct ProducerStats {
    std::uint64_t parts_accepted = 0;  ///< sends answered queued or backpressure
    std::uint64_t parts_refused = 0;   ///< sends answered would_block or closed
    std::uint64_t parts_dropped = 0;   ///< accepted, but the stream ended before they left the queue
    std::uint64_t wakeups = 0;         ///< calls of the waker (push) or consumer notifications (pull)
    std::uint64_t batches = 0;         ///< times the consumer took bytes from the queue
    std::size_t max_queued = 0;        ///< the most bytes the shared queue ever held
};

namespace detail {

// The state shared by every copy of a Producer and by its consumer (a body's
// loop thread, or a pull worker). Everything mutable is guarded by `mutex`.
class ProducerState {
public:
    ProducerState(BodyOptions body, ProducerOptions callbacks)
        : opts_(body), callbacks_(std::move(callbacks)) {
        if (opts_.low_water > opts_.high_water) opts_.low_water = opts_.high_water;
    }

    // ---- producer side: any thread ----

    SendStatus send(std::string_view part) {
        bool wake_now = false;
        SendStatus status = SendStatus::queued;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (ended_ || close_requested_) {
                ++stats_.parts_refused;
                return SendStatus::closed;
            }
            if (opts_.overflow == OverflowPolicy::reject &&
                (paused_ || (!queue_.empty() && queue_.size() >= opts_.high_water))) {
                ++stats_.parts_refused;
                blocked_ = true;
                return SendStatus::would_block;
            }
            if (part.empty()) return over_locked() ? SendStatus::backpressure : SendStatus::queued;
            queue_.append(part.data(), part.size());
            ++queued_parts_;
            ++stats_.parts_accepted;
            if (queue_.size() > stats_.max_queued) stats_.max_queued = queue_.size();
            wake_now = schedule_locked();
            if (over_locked()) {
                blocked_ = true;
                status = SendStatus::backpressure;
            }
        }
        if (wake_now) wake_();
        return status;
    }

    CloseStatus request_end(const Fields* trailers, bool abort) {
        bool wake_now = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (ended_ || (close_requested_ && !abort)) return CloseStatus::already_closed;
            close_requested_ = true;
            if (abort) abort_requested_ = true;
            if (trailers != nullptr) trailers_ = *trailers;
            // An abort must reach a paused body too; a close waits behind the queued bytes.
            wake_now = abort ? force_schedule_locked() : schedule_locked();
        }
        writable_cv_.notify_all();
        if (wake_now) wake_();
        return CloseStatus::ok;
    }

    WaitStatus wait_writable(std::chrono::nanoseconds timeout) {
        std::unique_lock<std::mutex> lock(mutex_);
        ++waiters_;
        const bool ready = writable_cv_.wait_for(
            lock, timeout, [&] { return ended_ || close_requested_ || writable_locked(); });
        --waiters_;
        if (ended_ || close_requested_) return WaitStatus::closed;
        return ready ? WaitStatus::ready : WaitStatus::timeout;
    }

    bool ended() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return ended_;
    }
    CloseReason close_reason() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return reason_;
    }
    std::size_t bytes_queued() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return queue_.size();
    }
    ProducerStats stats() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return stats_;
    }
    const BodyOptions& options() const noexcept { return opts_; }

    // ---- consumer side: one thread at a time ----

    // Set once, before the first Producer is handed out.
    void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }

    // What the consumer takes in one go.
    struct Take {
        bool ended = false;       // the stream already ended: nothing to do
        bool paused = false;      // the consumer said it is full: nothing was taken
        bool close = false;       // end the stream after these bytes
        bool abort = false;       // end it now, dropping the bytes
        bool has_trailers = false;
        Fields trailers;
        std::uint64_t parts = 0;
    };

    // Swaps the queued bytes into `out` (whose old contents are dropped, its
    // capacity reused by the queue) and clears the "wake-up on its way" flag in
    // the same critical section, so a part appended afterwards wakes again.
    Take take(std::string& out) {
        Take t;
        out.clear();
        std::lock_guard<std::mutex> lock(mutex_);
        scheduled_ = false;
        if (ended_) return t.ended = true, t;
        if (abort_requested_) return t.abort = true, t;
        if (paused_) return t.paused = true, t;
        out.swap(queue_);
        t.parts = queued_parts_;
        queued_parts_ = 0;
        if (!out.empty()) ++stats_.batches;
        t.close = close_requested_;
        if (t.close && !trailers_.empty()) {
            t.has_trailers = true;
            t.trailers = trailers_;
        }
        return t;
    }

    // The body refused a batch (its reject policy answered would_block): the bytes go
    // back in front of whatever arrived since, and the consumer waits for its drain.
    void put_back(std::string& batch, std::uint64_t parts) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (ended_) return;
        batch.append(queue_);
        queue_.swap(batch);
        queued_parts_ += parts;
        paused_ = true;
        batch.clear();
    }

    // The consumer is above its own high-water mark (true) or drained (false).
    void set_paused(bool paused) {
        std::lock_guard<std::mutex> lock(mutex_);
        paused_ = paused;
    }

    // After bytes left the queue: tells producers that were told to wait. Returns
    // true when the caller should run on_writable.
    bool notify_writable() {
        bool fire = false;
        bool wake_waiters = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!writable_locked() || ended_) return false;
            fire = blocked_;
            blocked_ = false;
            wake_waiters = waiters_ != 0;
        }
        if (wake_waiters) writable_cv_.notify_all();
        if (fire && callbacks_.on_writable) callbacks_.on_writable();
        return fire;
    }

    // Says whether bytes are queued or an end is due (read under the lock).
    bool has_work() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return !ended_ && (!queue_.empty() || close_requested_);
    }

    // Parts the consumer took but its body refused.
    void count_dropped(std::uint64_t parts) {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.parts_dropped += parts;
    }

    // The stream ended (on the consumer's thread): later sends answer closed,
    // waiters return, on_close runs once. Parts still queued count as dropped.
    void end(CloseReason reason) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (ended_) return;
            ended_ = true;
            reason_ = reason;
            stats_.parts_dropped += queued_parts_;
            queued_parts_ = 0;
            std::string().swap(queue_);
            trailers_.clear();
        }
        writable_cv_.notify_all();
        if (callbacks_.on_close) {
            auto on_close = std::move(callbacks_.on_close);
            callbacks_.on_close = nullptr;
            on_close(reason);
        }
    }

    // For a consumer that waits for work itself (PullStream).
    std::mutex& mutex() const noexcept { return mutex_; }
    std::condition_variable& data_cv() noexcept { return data_cv_; }
    // Under mutex(): the pull consumer's predicate.
    bool ready_locked() const noexcept {
        return ended_ || abort_requested_ || !queue_.empty() || close_requested_;
    }

private:
    bool over_locked() const noexcept { return paused_ || queue_.size() > opts_.high_water; }
    bool writable_locked() const noexcept {
        return !paused_ && (queue_.size() < opts_.low_water || queue_.empty());
    }
    // The producer that makes work appear for an idle consumer wakes it; nobody
    // else does. A paused consumer is resumed by its own drain, not by producers.
    bool schedule_locked() noexcept {
        if (scheduled_ || paused_) return false;
        return force_schedule_locked();
    }
    bool force_schedule_locked() noexcept {
        if (scheduled_) return false;
        scheduled_ = true;
        ++stats_.wakeups;
        return true;
    }

    mutable std::mutex mutex_;
    std::condition_variable writable_cv_;
    std::condition_variable data_cv_;
    std::string queue_;
    std::uint64_t queued_parts_ = 0;
    BodyOptions opts_;
    ProducerOptions callbacks_;
    std::function<void()> wake_;
    Fields trailers_;
    ProducerStats stats_;
    unsigned waiters_ = 0;
    CloseReason reason_ = CloseReason::completed;
    bool scheduled_ = false;        // a wake-up is on its way and the consumer has not taken the bytes yet
    bool paused_ = false;           // the consumer is full: producers do not wake it
    bool blocked_ = false;          // a producer was told to wait: on_writable is owed
    bool close_requested_ = false;
    bool abort_requested_ = false;
    bool ended_ = false;
};

}  // namespace detail

/// A handle for sending parts from any thread. Copyable; every copy feeds the same
/// stream. Safe to outlive the body: sends then answer SendStatus::closed.
class Producer {
public:
    /// A handle that feeds nothing: every send answers closed.
    Producer() = default;
    explicit Producer(std::shared_ptr<detail::ProducerState> state) noexcept : state_(std::move(state)) {}

    /// Queues a copy of `part`. Answers queued, backpressure (kept: wait before the next
    /// one), would_block (OverflowPolicy::reject: not kept) or closed (not kept).
    [[nodiscard]] SendStatus send(std::string_view part) {
        return state_ ? state_->send(part) : SendStatus::closed;
    }
    /// Ends the stream after every part accepted before this call. Any thread.
    CloseStatus close() { return state_ ? state_->request_end(nullptr, false) : CloseStatus::already_closed; }
    /// The same, ending a chunked body with trailer fields.
    CloseStatus close(const Fields& trailers) {
        return state_ ? state_->request_end(&trailers, false) : CloseStatus::already_closed;
    }
    /// Ends the stream as soon as the consumer runs, dropping what is queued.
    void abort() {
        if (state_) (void)state_->request_end(nullptr, true);
    }
    /// Blocks until the queue is below the low-water mark (ready), the stream ends or
    /// close() was called (closed), or the timeout passes (timeout).
    template <class Rep, class Period>
    WaitStatus wait_writable(std::chrono::duration<Rep, Period> timeout) {
        if (!state_) return WaitStatus::closed;
        return state_->wait_writable(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
    }
    /// True once the stream ended (the reason is close_reason()).
    bool ended() const { return !state_ || state_->ended(); }
    CloseReason close_reason() const { return state_ ? state_->close_reason() : CloseReason::aborted; }
    /// Bytes waiting in the shared queue (not yet handed to the body or the worker).
    std::size_t bytes_queued() const { return state_ ? state_->bytes_queued() : 0; }
    ProducerStats stats() const { return state_ ? state_->stats() : ProducerStats{}; }
    explicit operator bool() const noexcept { return static_cast<bool>(state_); }

private:
    std::shared_ptr<detail::ProducerState> state_;
};

namespace detail {

// The loop-thread side of a pushed stream: moves the shared queue into the body.
// The state is handed in by whoever holds it: a waker task (taken from the
// producer that woke) or the body's callbacks. The state's waker holds the pump,
// so the pump must not hold the state.
template <class Body>
class ProducerPump {
public:
    explicit ProducerPump(std::weak_ptr<Body> body) : body_(std::move(body)) {}

    // On the loop thread: the task the waker runs, and the body's on_drain.
    void drain(const std::shared_ptr<ProducerState>& state) {
        // The uncork in drain_once() may fire the body's on_drain, which lands here
        // again: the outer call goes round once more instead, after the batch is settled
        // (a batch the body refused must not wait for a drain that already happened).
        if (draining_) {
            again_ = true;
            return;
        }
        struct Draining {
            bool& flag;
            explicit Draining(bool& f) : flag(f) { flag = true; }
            ~Draining() { flag = false; }
        } draining(draining_);
        do {
            again_ = false;
            drain_once(state);
        } while (again_);
    }

private:
    void drain_once(const std::shared_ptr<ProducerState>& state) {
        std::shared_ptr<Body> body = body_.lock();
        if (!body) {
            state->end(CloseReason::aborted);  // destroyed before it ended: no on_close came
            return;
        }
        // A body above its own high-water mark gets nothing more: its send answered
        // backpressure, so its on_drain will call us again.
        state->set_paused(full(*body));
        ProducerState::Take t = state->take(batch_);
        if (t.ended || t.paused) return;
        if (t.abort) {
            body->abort();
            state->end(CloseReason::aborted);
            return;
        }
        SendStatus s = SendStatus::written;
        if (!batch_.empty()) {
            Batch<Body> cork(*body);
            s = body->send(std::string_view(batch_));
        }
        const bool failed = body->state() == BodyState::closed && body->close_reason() != CloseReason::completed;
        if (s == SendStatus::closed || s == SendStatus::length_exceeded || failed) {
            // Refused, or lost with a transport that failed on its way out (the uncork
            // writes it); a body that ended has told the state through on_close already.
            state->count_dropped(t.parts);
            if (!body->ended()) body->abort();
            state->end(body->close_reason());
            return;
        }
        if (s == SendStatus::would_block) {
            // The body's reject policy refused the batch whole; its on_drain brings us back.
            state->put_back(batch_, t.parts);
            return;
        }
        if (t.close) {
            if (t.has_trailers) {
                (void)body->close(t.trailers);
            } else {
                (void)body->close();
            }
            return;
        }
        // Judged after the uncork: a corked send answers backpressure for bytes the uncork
        // then wrote. Still full means the body owes us an on_drain.
        const bool still_full = full(*body);
        state->set_paused(still_full);
        if (!still_full) (void)state->notify_writable();
    }

    static bool full(const Body& body) noexcept { return body.bytes_queued() > body.options().high_water; }

    std::weak_ptr<Body> body_;
    std::string batch_;  // the loop thread's buffer; its capacity travels back to the queue
    bool draining_ = false;
    bool again_ = false;  // on_drain fired while draining
};

}  // namespace detail

/// Creates a Producer feeding `body` (a shared_ptr to a DeferredBody) from any thread.
///
/// `waker` is a thread-safe callable `void(std::function<void()> task)` that runs `task`
/// on the body's thread soon (asio::post, an eventfd, uv_async_send). It is called once
/// per batch, from the producer thread whose part made the queue non-empty, and never
/// after the body has ended. Call make_producer on the body's thread: it takes the
/// body's on_drain and on_close slots (use the options' on_writable and on_close
/// instead). The body's watermarks and overflow policy apply to the shared queue too.
template <class Body, class Waker>
Producer make_producer(const std::shared_ptr<Body>& body, Waker waker, ProducerOptions options = {}) {
    auto state = std::make_shared<detail::ProducerState>(body->options(), std::move(options));
    auto pump = std::make_shared<detail::ProducerPump<Body>>(body);
    // The task holds the state, taken from the producer that wakes (it holds it): parts
    // sent just before every handle was dropped still arrive, and so does a close().
    std::weak_ptr<detail::ProducerState> weak = state;
    state->set_wake([waker = std::move(waker), pump, weak] {
        if (auto s = weak.lock()) waker(std::function<void()>([pump, s] { pump->drain(s); }));
    });
    // The body's callbacks hold the state and the pump until it ends; an ended body
    // calls on_close at once.
    body->on_drain([pump, state] { pump->drain(state); });
    body->on_close([state](CloseReason reason) { state->end(reason); });
    return Producer(std::move(state));
}

}  // namespace rill

#endif  // RILL_PRODUCER_HPP
