#ifndef RILL_CORO_HPP
#define RILL_CORO_HPP

// rill::AwaitableBody (C++20): a producer written as a plain coroutine loop,
//
//     rill::AwaitableBody stream(body);
//     while (more()) if (co_await stream.send(next()) == rill::SendStatus::closed) co_return;
//
// suspends while the body is above its high-water mark, resumes on drain, and
// reports close. Single-threaded like the body: the coroutine runs on the
// body's loop thread and is resumed from its on_drain / on_close. From other
// threads, use rill::Producer (rill/producer.hpp).
//
// Compiled as C++17 (or without coroutine support) this header defines nothing
// but RILL_HAS_COROUTINES, which is 0.

#if defined(__cpp_impl_coroutine) && __cpp_impl_coroutine >= 201902L && defined(__has_include)
#if __has_include(<coroutine>)
#define RILL_HAS_COROUTINES 1
#endif
#endif
#ifndef RILL_HAS_COROUTINES
#define RILL_HAS_COROUTINES 0
#endif

#if RILL_HAS_COROUTINES

#include <coroutine>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

#include "rill/deferred_body.hpp"
#include "rill/status.hpp"

namespace rill {

/// Sends into a body from a coroutine, waiting out backpressure. Takes the body's
/// on_drain and on_close slots (on_close() here forwards the reason).
template <class Body>
class AwaitableBody {
    struct Shared {
        std::coroutine_handle<> waiting;
        bool drained = false;
        std::function<void(CloseReason)> on_close;
        void resume() {
            if (auto h = std::exchange(waiting, nullptr)) h.resume();
        }
    };

public:
    explicit AwaitableBody(std::shared_ptr<Body> body) : body_(std::move(body)), shared_(std::make_shared<Shared>()) {
        // The callbacks hold the shared part only: a coroutine destroyed while it
        // waits leaves nothing dangling (its destructor forgets the handle).
        std::weak_ptr<Shared> weak = shared_;
        body_->on_drain([weak] {
            if (auto s = weak.lock()) {
                s->drained = true;
                s->resume();
            }
        });
        body_->on_close([weak](CloseReason reason) {
            if (auto s = weak.lock()) {
                if (s->on_close) s->on_close(reason);
                s->resume();
            }
        });
    }
    ~AwaitableBody() {
        if (shared_) shared_->waiting = nullptr;
    }
    AwaitableBody(const AwaitableBody&) = delete;
    AwaitableBody& operator=(const AwaitableBody&) = delete;

    /// co_await it: the part is sent at once. The result is the part's status —
    /// written or queued (kept), closed or length_exceeded (dropped) — after waiting,
    /// if the body was above its high-water mark, until it drained or ended (then closed).
    /// A would_block (reject policy) waits for the drain and tries the part once more.
    class SendAwaiter {
    public:
        SendAwaiter(AwaitableBody& owner, std::string_view part) noexcept : owner_(owner), part_(part) {}
        bool await_ready() {
            status_ = owner_.body_->send(part_);
            return status_ != SendStatus::backpressure && status_ != SendStatus::would_block;
        }
        void await_suspend(std::coroutine_handle<> h) noexcept {
            owner_.shared_->drained = false;
            owner_.shared_->waiting = h;
        }
        SendStatus await_resume() {
            if (status_ != SendStatus::backpressure && status_ != SendStatus::would_block) return status_;
            if (owner_.body_->ended()) return SendStatus::closed;
            if (status_ == SendStatus::would_block) return owner_.body_->send(part_);
            return SendStatus::queued;
        }

    private:
        AwaitableBody& owner_;
        std::string_view part_;
        SendStatus status_ = SendStatus::written;
    };

    /// The part must stay valid until the co_await expression completes (a temporary does).
    [[nodiscard]] SendAwaiter send(std::string_view part) noexcept { return SendAwaiter(*this, part); }

    /// Called with the reason when the body ends (on the loop thread).
    template <class F>
    void on_close(F&& callback) {
        shared_->on_close = std::forward<F>(callback);
    }

    Body& body() noexcept { return *body_; }

private:
    std::shared_ptr<Body> body_;
    std::shared_ptr<Shared> shared_;
};

template <class Body>
AwaitableBody(std::shared_ptr<Body>) -> AwaitableBody<Body>;

}  // namespace rill

#endif  // RILL_HAS_COROUTINES

#endif  // RILL_CORO_HPP
