#ifndef RILL_PULL_HPP
#define RILL_PULL_HPP

// rill::PullStream: the pull side for thread-per-connection servers. Producers
// on any thread send through a rill::Producer; the server's worker thread
// waits (with a timeout, no busy loop) for the next bytes and writes them with
// its own blocking write, outside any lock. No HTTP framing is added: the
// server frames the body itself. See docs/threading.md.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "rill/deferred_body.hpp"
#include "rill/producer.hpp"
#include "rill/status.hpp"

namespace rill {

/// What became of PullStream::pull().
enum class PullStatus : std::uint8_t {
    data,     ///< `out` holds the next bytes: write them, then pull again
    timeout,  ///< nothing arrived in time (`out` is empty): check your connection, pull again
    end,      ///< the producers closed the stream and every byte was pulled: finish the response
    closed,   ///< the stream ended otherwise (aborted, or finish() was called): give up the response
};

constexpr const char* to_string(PullStatus s) noexcept {
    switch (s) {
        case PullStatus::data: return "data";
        case PullStatus::timeout: return "timeout";
        case PullStatus::end: return "end";
        case PullStatus::closed: return "closed";
    }
    return "unknown";
}

/// A stream of bytes from producers on any thread to one consumer thread. Copyable
/// (copies share the stream); one thread at a time may call pull() and finish().
class PullStream {
public:
    /// `options`' watermarks and overflow policy bound the queue between producers
    /// and the worker; `callbacks` run on the worker's thread.
    explicit PullStream(BodyOptions options = {}, ProducerOptions callbacks = {})
        : state_(std::make_shared<detail::ProducerState>(options, std::move(callbacks))) {
        detail::ProducerState* s = state_.get();  // the state owns the waker: a plain pointer is enough
        state_->set_wake([s] { s->data_cv().notify_one(); });
    }

    /// A handle for the producers (as many copies as you like, on any threads).
    Producer producer() const { return Producer(state_); }

    /// Waits up to `timeout` for bytes or the end, then moves every queued byte into
    /// `out` (its previous contents are dropped; its capacity is reused by the queue).
    template <class Rep, class Period>
    PullStatus pull(std::string& out, std::chrono::duration<Rep, Period> timeout) {
        out.clear();
        {
            std::unique_lock<std::mutex> lock(state_->mutex());
            if (!state_->data_cv().wait_for(lock, timeout, [&] { return state_->ready_locked(); }))
                return PullStatus::timeout;
        }
        detail::ProducerState::Take t = state_->take(out);
        if (t.ended) return state_->close_reason() == CloseReason::completed ? PullStatus::end : PullStatus::closed;
        if (t.abort) {
            state_->end(CloseReason::aborted);
            return PullStatus::closed;
        }
        if (!out.empty()) {
            (void)state_->notify_writable();
            return PullStatus::data;
        }
        if (t.close) {
            state_->end(CloseReason::completed);
            return PullStatus::end;
        }
        return PullStatus::timeout;  // another consumer call took the bytes
    }

    /// The worker ends the stream: CloseReason::peer_closed when its write failed,
    /// shutdown when the server stops. Producers' sends answer closed from now on.
    void finish(CloseReason reason) { state_->end(reason); }

    bool ended() const { return state_->ended(); }
    CloseReason close_reason() const { return state_->close_reason(); }
    ProducerStats stats() const { return state_->stats(); }

private:
    std::shared_ptr<detail::ProducerState> state_;
};

}  // namespace rill

#endif  // RILL_PULL_HPP
