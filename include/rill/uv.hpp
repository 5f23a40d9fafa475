#ifndef RILL_UV_HPP
#define RILL_UV_HPP

// rill on libuv (Debian: libuv1-dev). Not part of <rill/rill.hpp> nor of the single
// header: include <rill/uv.hpp> and link libuv.
//
//   UvSink        a completion Sink over any uv_stream_t (TCP, pipe): uv_try_write
//                 for what the socket takes at once, uv_write for the rest.
//   UvConnection  what a libuv HTTP server adds per connection: one body at a time,
//                 its end reported from the loop (never from inside a body call),
//                 keep-alive handoff with the bytes read meanwhile, the peer-left
//                 watch, a stall timeout on the loop's own timer, graceful close.
//   UvTurn        ends rill's loop turns (rill::Turn) on a uv_loop_t.
//
// Order at the end of a response: the last uv_write's callback confirms the last byte
// -> the body finishes (completed) -> the next loop iteration hands the connection
// on (keep-alive) or half-closes it (uv_shutdown), drains what the client still
// sends, and only then uv_close. A connection is never closed while a write of a
// completed response is in flight.

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "rill/body.hpp"
#include "rill/buffer.hpp"
#include "rill/deferred_body.hpp"
#include "rill/status.hpp"
#include "rill/turn.hpp"

namespace rill {

class UvConnection;

namespace detail {

// One uv_write in flight. It owns a reference to the body: the bytes it writes live in
// the body's queue until complete_write, even when everybody else let the body go.
struct UvWrite {
    uv_write_t req;
    BodyPtr body;
    std::size_t bytes;
};

inline WriteResult uv_write_failure(int status) noexcept {
    const bool peer_gone = status == UV_EPIPE || status == UV_ECONNRESET || status == UV_ENOTCONN ||
                           status == UV_ECANCELED || status == UV_ECONNABORTED || status == UV_EOF;
    return peer_gone ? WriteResult::closed(status) : WriteResult::failed(status);
}

inline void uv_written(uv_write_t* req, int status) {
    std::unique_ptr<UvWrite> op(static_cast<UvWrite*>(req->data));
    const BodyPtr body = std::move(op->body);
    const std::size_t bytes = op->bytes;
    op.reset();
    // Also after a cancel (uv_close): the body frees the pending bytes only now.
    body->complete_write(status == 0 ? WriteResult::ok(bytes) : uv_write_failure(status));
}

}  // namespace detail

/// A completion Sink over a libuv stream; it does not own the stream. Bytes the socket
/// takes at once leave through uv_try_write; the rest is handed to uv_write, whose
/// callback confirms them to the body (WriteResult::pending, Body::complete_write).
/// Write errors carry libuv's (negative) error code.
class UvSink {
public:
    static constexpr bool completes_later = true;
    using FinishFn = std::function<void(CloseReason)>;

    /// `body` is the body this sink is given to (each()); its writes keep it alive until
    /// libuv is done with them. `on_finish` runs once, from inside a body call, when the
    /// body ended; for CloseReason::completed its last byte has been confirmed by libuv.
    UvSink(uv_stream_t* stream, std::weak_ptr<Body> body, FinishFn on_finish = {}) noexcept
        : stream_(stream), body_(std::move(body)), on_finish_(std::move(on_finish)) {}

    WriteResult write(const ConstBuffer* bufs, std::size_t count);
    void finish(CloseReason reason);

    uv_stream_t* stream() const noexcept { return stream_; }

private:
    friend class UvConnection;
    UvSink(uv_stream_t* stream, std::weak_ptr<Body> body, UvConnection* connection) noexcept
        : stream_(stream), body_(std::move(body)), connection_(connection) {}

    uv_stream_t* stream_;
    std::weak_ptr<Body> body_;
    FinishFn on_finish_;
    UvConnection* connection_ = nullptr;
    bool socket_full_ = false;  // the last try_write was short: the rest goes to uv_write
};

/// How a response on a UvConnection ended; handed to the start_response() callback.
struct UvEnd {
    CloseReason reason = CloseReason::completed;
    /// The connection carries the next request. When false, the connection closes
    /// once the callback returns (unless it closed it itself).
    bool keep_alive = false;
    /// Bytes read while the response streamed (a pipelined request): parse them first.
    std::string input;
};

/// Per-connection settings of a UvConnection.
struct UvOptions {
    BodyOptions body{};
    /// A write that makes no progress this long ends the body with CloseReason::timeout
    /// (a client that stopped reading). Zero: never.
    std::chrono::milliseconds stall_timeout{30000};
    /// After a completed response that ends the connection: how long the client's
    /// leftovers are drained after the half-close before uv_close (a close with unread
    /// bytes resets the connection, which can destroy the response in the client's buffer).
    std::chrono::milliseconds linger{2000};
    /// Bytes kept while a response streams; beyond, reading pauses until it ends.
    std::size_t max_input = 64 * 1024;
};

/// The rill side of one libuv connection: one response at a time, each a rill::Body.
/// Create it next to the stream (its stream must be initialised before start_response),
/// keep reading the stream while responses stream and pass every read to on_read() first,
/// close through close() or close_gracefully(), and destroy it in (or after) the stream's
/// close callback, before the loop is closed. Loop thread only.
class UvConnection {
public:
    using EndFn = std::function<void(UvEnd)>;

    /// `on_closed` becomes the stream's close callback, whoever closes it (the server, a
    /// response that ends the connection, the stall timeout).
    explicit UvConnection(uv_stream_t* stream, uv_close_cb on_closed, UvOptions options = {}) noexcept
        : stream_(stream), on_closed_(on_closed), opts_(std::move(options)) {}
    UvConnection(const UvConnection&) = delete;
    UvConnection& operator=(const UvConnection&) = delete;
    ~UvConnection() {
        phase_ = Phase::closed;
        if (BodyPtr body = std::move(body_)) body->abort(CloseReason::shutdown);
        release_timer();
    }

    /// A body for the next response on this stream; hand it to the application. `on_end`
    /// runs once from the loop after the body ended, never from inside a body call (not at
    /// all when the server closes the connection first: close(), or this object's end).
    /// Throws UsageError while a response is running or once the connection closes.
    BodyPtr start_response(EndFn on_end) {
        if (phase_ != Phase::idle)
            throw UsageError("rill::UvConnection::start_response(): a response is running, or the connection closes");
        ensure_timer();
        phase_ = Phase::responding;
        on_end_ = std::move(on_end);
        auto body = make_deferred_body<UvSink>(opts_.body);
        body_ = body;
        body->each(UvSink(stream_, body, this));
        return body;
    }

    /// Call first in the stream's read callback. Returns true when the read was the
    /// connection's (a response is running or it is closing): the server only frees the
    /// buffer then. A response running when the peer leaves (EOF, error) is aborted with
    /// CloseReason::peer_closed; bytes read meanwhile are kept for UvEnd::input.
    bool on_read(std::ptrdiff_t nread, const uv_buf_t* buf) {
        switch (phase_) {
            case Phase::idle: return false;
            case Phase::closed: return true;
            case Phase::lingering:
                if (nread < 0) close_stream();
                return true;
            case Phase::responding:
            case Phase::ended: break;
        }
        if (nread > 0) {
            input_.append(buf->base, static_cast<std::size_t>(nread));
            if (input_.size() >= opts_.max_input) pause_reading();
        } else if (nread < 0) {
            peer_gone_ = true;
            if (body_ && body_->state() != BodyState::closed) {
                const BodyPtr body = body_;
                body->abort(CloseReason::peer_closed);
            }
        }
        return true;
    }

    /// Closes at once: a running response ends with `reason` (its pending write is
    /// cancelled), then uv_close. Idempotent.
    void close(CloseReason reason = CloseReason::shutdown) {
        if (phase_ == Phase::closed) return;
        phase_ = Phase::closed;
        on_end_ = nullptr;
        if (BodyPtr body = std::move(body_)) body->abort(reason);
        close_stream();
    }

    /// Closes without losing a byte: after the running response (if any), half-close
    /// (uv_shutdown), drain the client for UvOptions::linger, then uv_close.
    void close_gracefully() {
        if (phase_ == Phase::responding || phase_ == Phase::ended) {
            close_after_ = true;
            return;
        }
        if (phase_ != Phase::idle) return;
        if (peer_gone_ || opts_.linger.count() <= 0) return close();
        auto* req = new uv_shutdown_t;
        if (uv_shutdown(req, stream_, [](uv_shutdown_t* r, int) { delete r; }) != 0) {
            delete req;
            return close();
        }
        phase_ = Phase::lingering;
        resume_reading();
        ensure_timer();
        uv_timer_start(timer_, &UvConnection::on_timer, static_cast<std::uint64_t>(opts_.linger.count()), 0);
    }

    /// The running response's body, or null.
    const BodyPtr& body() const noexcept { return body_; }
    /// No response is running and the connection is open: the server reads the next request.
    bool idle() const noexcept { return phase_ == Phase::idle; }
    uv_stream_t* stream() const noexcept { return stream_; }
    const UvOptions& options() const noexcept { return opts_; }

private:
    friend class UvSink;

    enum class Phase : std::uint8_t {
        idle,        // between responses: the server's read callback parses
        responding,  // a body streams; reads are kept, EOF aborts it
        ended,       // the body ended; its end is delivered on the next timer run
        lingering,   // half-closed, draining the client until EOF or the linger time
        closed,      // uv_close was called
    };

    // A uv_write started: no progress for stall_timeout from now ends the body.
    void write_started() {
        if (phase_ != Phase::responding || opts_.stall_timeout.count() <= 0) return;
        watch_queue_ = stream_->write_queue_size;
        watch_sent_ = body_ ? body_->bytes_sent() : 0;
        uv_timer_start(timer_, &UvConnection::on_timer, static_cast<std::uint64_t>(opts_.stall_timeout.count()), 0);
    }

    // From inside a body call (the sink's finish): the end is handled from the loop.
    void body_finished(CloseReason reason) {
        if (phase_ != Phase::responding) return;
        phase_ = Phase::ended;
        end_reason_ = reason;
        uv_timer_start(timer_, &UvConnection::on_timer, 0, 0);
    }

    static void on_timer(uv_timer_t* timer) {
        auto* self = static_cast<UvConnection*>(timer->data);
        if (self == nullptr) return;
        switch (self->phase_) {
            case Phase::responding: return self->check_stall();
            case Phase::ended: return self->deliver_end();
            case Phase::lingering: return self->close_stream();
            case Phase::idle:
            case Phase::closed: return;
        }
    }

    void check_stall() {
        // Nothing in flight: the timer rests until the next write starts.
        if (!body_ || !body_->write_pending()) return;
        const std::size_t queued = stream_->write_queue_size;
        const std::uint64_t sent = body_->bytes_sent();
        if (queued < watch_queue_ || sent != watch_sent_) {  // part of a large write went out
            watch_queue_ = queued;
            watch_sent_ = sent;
            uv_timer_start(timer_, &UvConnection::on_timer, static_cast<std::uint64_t>(opts_.stall_timeout.count()), 0);
            return;
        }
        const BodyPtr body = body_;
        body->abort(CloseReason::timeout);
    }

    void deliver_end() {
        phase_ = Phase::idle;
        const BodyPtr body = std::move(body_);
        body_ = nullptr;
        UvEnd end;
        end.reason = end_reason_;
        end.keep_alive = body && body->keep_alive() && !peer_gone_ && !close_after_;
        end.input = std::move(input_);
        input_.clear();
        const bool keep = end.keep_alive;
        const bool completed = end.reason == CloseReason::completed;
        EndFn on_end = std::move(on_end_);
        on_end_ = nullptr;
        if (keep) resume_reading();
        if (on_end) on_end(std::move(end));
        if (keep || phase_ != Phase::idle) return;  // going on, or the callback took over
        if (completed) {
            close_after_ = false;
            close_gracefully();
        } else {
            close();
        }
    }

    void pause_reading() {
        if (reading_paused_ || stream_->read_cb == nullptr) return;
        saved_alloc_ = stream_->alloc_cb;
        saved_read_ = stream_->read_cb;
        uv_read_stop(stream_);
        reading_paused_ = true;
    }

    void resume_reading() {
        if (!reading_paused_) return;
        reading_paused_ = false;
        uv_read_start(stream_, saved_alloc_, saved_read_);
    }

    void close_stream() {
        phase_ = Phase::closed;
        release_timer();
        auto* handle = reinterpret_cast<uv_handle_t*>(stream_);
        if (!uv_is_closing(handle)) uv_close(handle, on_closed_);
    }

    void ensure_timer() {
        if (timer_ != nullptr) return;
        timer_ = new uv_timer_t;
        uv_timer_init(stream_->loop, timer_);
        timer_->data = this;
    }

    // The timer lives on the heap: it closes on its own, whenever this object goes.
    void release_timer() {
        if (timer_ == nullptr) return;
        timer_->data = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
        timer_ = nullptr;
    }

    uv_stream_t* stream_;
    uv_close_cb on_closed_;
    UvOptions opts_;
    Phase phase_ = Phase::idle;
    BodyPtr body_;
    EndFn on_end_;
    std::string input_;
    uv_timer_t* timer_ = nullptr;
    CloseReason end_reason_ = CloseReason::completed;
    bool peer_gone_ = false;
    bool close_after_ = false;
    bool reading_paused_ = false;
    uv_alloc_cb saved_alloc_ = nullptr;
    uv_read_cb saved_read_ = nullptr;
    std::size_t watch_queue_ = 0;
    std::uint64_t watch_sent_ = 0;
};

inline WriteResult UvSink::write(const ConstBuffer* bufs, std::size_t count) {
    uv_buf_t v[RILL_GATHER_MAX];
    unsigned n = 0;
    std::size_t total = 0;
    for (std::size_t i = 0; i < count && n < RILL_GATHER_MAX; ++i) {
        if (bufs[i].size == 0) continue;
        v[n].base = const_cast<char*>(bufs[i].data);
        v[n].len = bufs[i].size;
        total += bufs[i].size;
        ++n;
    }
    if (total == 0) return WriteResult::ok(0);
    if (!socket_full_) {
        const int r = uv_try_write(stream_, v, n);
        if (r >= 0 && static_cast<std::size_t>(r) == total) return WriteResult::ok(total);
        if (r > 0) {  // the body offers the rest at once, which then goes to uv_write
            socket_full_ = true;
            return WriteResult::ok(static_cast<std::size_t>(r));
        }
        if (r < 0 && r != UV_EAGAIN && r != UV_ENOSYS) return detail::uv_write_failure(r);
    }
    socket_full_ = false;
    BodyPtr body = body_.lock();
    if (!body) return WriteResult::failed(UV_EINVAL);  // no body to confirm the write to
    auto* op = new detail::UvWrite{uv_write_t{}, std::move(body), total};
    op->req.data = op;
    if (const int rc = uv_write(&op->req, stream_, v, n, &detail::uv_written); rc != 0) {
        delete op;
        return detail::uv_write_failure(rc);
    }
    if (connection_ != nullptr) connection_->write_started();
    return WriteResult::pending(total);
}

inline void UvSink::finish(CloseReason reason) {
    if (connection_ != nullptr) connection_->body_finished(reason);
    if (on_finish_) on_finish_(reason);
}

/// Ends rill's loop turns (rill::Turn) on a libuv loop: sends made by one iteration's
/// callbacks are written once per body, before the loop polls (uv_prepare_t, so a send
/// from a timer does not wait for the next event) and after its I/O callbacks
/// (uv_check_t). Create it on the loop's thread; destroy it before uv_loop_close and
/// run the loop once more to free its handles. It does not keep the loop alive.
class UvTurn {
public:
    explicit UvTurn(uv_loop_t* loop) : prepare_(new uv_prepare_t), check_(new uv_check_t) {
        uv_prepare_init(loop, prepare_);
        uv_check_init(loop, check_);
        prepare_->data = this;
        check_->data = this;
        uv_prepare_start(prepare_, [](uv_prepare_t* h) { static_cast<UvTurn*>(h->data)->turn_.end(); });
        uv_check_start(check_, [](uv_check_t* h) { static_cast<UvTurn*>(h->data)->turn_.end(); });
        uv_unref(reinterpret_cast<uv_handle_t*>(prepare_));
        uv_unref(reinterpret_cast<uv_handle_t*>(check_));
    }
    UvTurn(const UvTurn&) = delete;
    UvTurn& operator=(const UvTurn&) = delete;
    ~UvTurn() {
        turn_.end();
        uv_close(reinterpret_cast<uv_handle_t*>(prepare_), [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
        uv_close(reinterpret_cast<uv_handle_t*>(check_), [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
    }

    Turn& turn() noexcept { return turn_; }

private:
    Turn turn_;
    uv_prepare_t* prepare_;
    uv_check_t* check_;
};

}  // namespace rill

#endif  // RILL_UV_HPP
