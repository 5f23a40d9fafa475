#ifndef RILL_BODY_HPP
#define RILL_BODY_HPP

// rill::Body: the transport-neutral half of a deferred response body, and the
// handle application code holds. It keeps the queue, the state machine and the
// callbacks; the transport (a Sink, see deferred_body.hpp) and the protocol
// (HTTP/1.x framing by default, HTTP/2 in rill/nghttp2.hpp) plug in below it,
// so route code written against rill::Body runs on every server.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rill/buffer.hpp"
#include "rill/detail/segment_queue.hpp"
#include "rill/fields.hpp"
#include "rill/framing.hpp"
#include "rill/response.hpp"
#include "rill/status.hpp"

#ifndef RILL_GATHER_MAX
/// Buffers offered to a sink in one write() when the queue is flushed.
#define RILL_GATHER_MAX 64
#endif

namespace rill {

class Body;
class Turn;

namespace detail {

// The bodies that gathered parts during the current loop turn of this thread
// (rill/turn.hpp installs one; without it every part is written at once).
struct TurnList {
    std::vector<std::shared_ptr<Body>> bodies;
    std::function<void()> on_first_gather;
};

inline TurnList*& current_turn() noexcept {
    static thread_local TurnList* turn = nullptr;
    return turn;
}

}  // namespace detail

/// Thrown for a programming error in the use of a body (each() twice); never for I/O.
class UsageError : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

/// What send() does once the queue reaches the high-water mark.
enum class OverflowPolicy : std::uint8_t {
    queue,   ///< keep the part and answer backpressure: nothing is lost, memory is the producer's duty
    reject,  ///< refuse the part and answer would_block: the queue stays within high-water + one part
};

/// Per-body settings.
struct BodyOptions {
    std::size_t high_water = std::size_t{64} * 1024;  ///< queued bytes above which send() answers backpressure
    std::size_t low_water = std::size_t{16} * 1024;  ///< on_drain fires when the queue falls below this
    OverflowPolicy overflow = OverflowPolicy::queue;
};

/// A deferred HTTP response body, whatever its transport. Application code holds it
/// through a BodyPtr; servers create a DeferredBody<Sink> (deferred_body.hpp) and hand
/// it out as this type. Not thread-safe: call it from the thread that runs the transport.
class Body : public std::enable_shared_from_this<Body> {
public:
    Body(const Body&) = delete;
    Body& operator=(const Body&) = delete;
    virtual ~Body() = default;

    /// Validates the head against the request, chooses the framing and queues the head
    /// (sent at once if the sink is there). Anything but HeadStatus::ok wrote nothing.
    /// A response that can carry no body (HEAD, 204, 304, 101, a 2xx to CONNECT, or a
    /// Content-Length of 0) ends here: state() is no longer open, later sends answer closed.
    /// Without respond() the body is raw: bytes pass through unframed.
    [[nodiscard]] HeadStatus respond(const Request& request, const ResponseHead& head) {
        if (state_ == BodyState::closing || state_ == BodyState::closed) return HeadStatus::body_closed;
        if (responded_ || body_bytes_ != 0 || bytes_sent_ != 0 || bytes_queued() != 0)
            return HeadStatus::already_started;
        PreparedHead prepared = prepare_response(request, head);
        if (prepared.status != HeadStatus::ok) return prepared.status;
        responded_ = true;
        plan_ = prepared.plan;
        remaining_ = plan_.content_length;
        CallScope scope(*this);
        // Nothing may follow the head: the response is complete once it is out, so a
        // keep-alive connection can go on without waiting for the application's close().
        // Closing before the head is written also refuses a part sent from inside that write.
        if (plan_.framing == Framing::none || (plan_.framing == Framing::fixed && remaining_ == 0)) {
            end_reason_ = CloseReason::completed;
            state_ = BodyState::closing;
        }
        (void)emit(detail::Framed{{}, prepared.bytes, {}}, &prepared.bytes);
        return HeadStatus::ok;
    }

    /// Sends one part: written at once when the sink can take it, else queued (copied).
    /// With a declared Content-Length, the part that completes it also ends the body.
    [[nodiscard]] SendStatus send(std::string_view part) { return send_part(part, nullptr); }
    /// Sends one part by move: queued without a copy when it cannot be written at once.
    [[nodiscard]] SendStatus send(std::string&& part) { return send_part(part, &part); }
    [[nodiscard]] SendStatus send(const char* part) { return send_part(std::string_view(part), nullptr); }

    /// Ends the body once every queued byte is out. Idempotent (later calls say already_closed).
    CloseStatus close() { return close_with(nullptr); }
    /// Ends a chunked body with trailer fields (declare them in a Trailer header).
    CloseStatus close(const Fields& trailers) { return close_with(&trailers); }

    /// Ends the body now, dropping what is queued. No-op on an ended body.
    void abort(CloseReason reason = CloseReason::aborted) {
        if (reason == CloseReason::completed) reason = CloseReason::aborted;
        CallScope scope(*this);
        finish_body(reason);
    }

    /// A readiness sink's server calls this when its transport can take more bytes.
    void flush() {
        CallScope scope(*this);
        blocked_ = false;
        pump();
    }

    /// A completion sink (docs/sink.md) calls this once for every write it answered with
    /// WriteResult::pending: ok(n) says n of the pending bytes went out (fewer than pending:
    /// the rest is offered again), closed() or failed() end the body; anything else is a
    /// broken sink (write_error). It must come even when
    /// the body ended meanwhile: the pending bytes stay alive until it does.
    void complete_write(WriteResult result) {
        if (in_write_) {  // completed before write() returned: write_once() takes it from here
            inline_completion_ = result;
            has_inline_completion_ = true;
            return;
        }
        if (!write_pending_) return;
        CallScope scope(*this);
        write_pending_ = false;
        const std::size_t started = pending_bytes_;
        pending_bytes_ = 0;
        if (state_ == BodyState::closed) {  // ended meanwhile: the transport is done with the bytes
            queue_.clear();
            return;
        }
        if (!landed(result, started)) return;
        pump();
    }

    /// While corked, parts are gathered; uncork() writes them in one gather write. Once what
    /// is gathered and a new part reach RILL_COALESCE_LIMIT bytes they leave together at
    /// once, the new part straight from the caller's memory.
    void cork() noexcept { ++cork_; }
    void uncork() {
        if (cork_ == 0) return;
        if (--cork_ == 0) flush();
    }

    /// Called once with the reason the body ended; at once if it already has. Never called
    /// when replaced before the end, or when the body is destroyed before it ended.
    template <class F>
    void on_close(F&& callback) {
        if (state_ == BodyState::closed) {
            CallScope scope(*this);
            hold_self();
            std::forward<F>(callback)(reason_);
            return;
        }
        on_close_ = std::forward<F>(callback);
    }

    /// Called when the queue falls below the low-water mark (or empties) after a send()
    /// answered backpressure or would_block. On a body that has ended it is dropped at once.
    /// The callable stays alive for its whole call, even when it ends the body.
    template <class F>
    void on_drain(F&& callback) {
        ++drain_generation_;
        if (state_ == BodyState::closed) return;  // kept, it would hold its captures forever
        on_drain_ = std::forward<F>(callback);
    }

    BodyState state() const noexcept { return state_; }
    /// True once the body takes no more parts (close(), abort(), a failed sink, or a response
    /// that can have no body); its last bytes may still be going out (state() closing).
    bool ended() const noexcept { return state_ == BodyState::closing || state_ == BodyState::closed; }
    /// Why the body ended; meaningful once state() is closed.
    CloseReason close_reason() const noexcept { return reason_; }
    /// Bytes (head and framing included) not yet confirmed by the sink: queued, and for a
    /// completion sink also those of its pending write. Seen from inside Sink::write, this
    /// includes what is left of a part being written straight to the sink.
    std::size_t bytes_queued() const noexcept {
        if (state_ == BodyState::closed) return 0;
        return queue_.bytes() + reentrant_.bytes() + in_flight_;
    }
    /// Bytes (head and framing included) the sink has taken (a completion sink: confirmed).
    std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }
    /// Body bytes the application has sent and rill accepted.
    std::uint64_t body_bytes() const noexcept { return body_bytes_; }
    Framing framing() const noexcept { return plan_.framing; }
    /// True once the body completed and the connection may carry the next request.
    bool keep_alive() const noexcept {
        return state_ == BodyState::closed && reason_ == CloseReason::completed && plan_.persistent;
    }
    const BodyOptions& options() const noexcept { return opts_; }
    /// True while a completion sink's write is in flight (between pending and complete_write).
    bool write_pending() const noexcept { return write_pending_; }

protected:
    /// `completion_sink`: the transport answers WriteResult::pending and calls complete_write,
    /// so it is offered only the body's own queued bytes, which stay put until then.
    explicit Body(BodyOptions options, bool completion_sink) : opts_(options), completion_sink_(completion_sink) {
        if (opts_.low_water > opts_.high_water) opts_.low_water = opts_.high_water;
    }

    // The transport, implemented by DeferredBody<Sink>.
    virtual WriteResult sink_write(const ConstBuffer* buffers, std::size_t count) = 0;
    /// Tells the sink how the body ended and lets it go.
    virtual void sink_finish(CloseReason reason) = 0;

    // The protocol: HTTP/1.x unless a derived body puts the head and the end elsewhere.
    /// Validates the head; on ok returns the plan and the bytes to send before the body.
    virtual PreparedHead prepare_response(const Request& request, const ResponseHead& head) {
        return rill::prepare_head(request, head);
    }
    /// Called by close() with the state already closing: queues what ends the body.
    virtual CloseStatus end_response(const Fields* trailers) {
        const bool has_trailers = trailers != nullptr && !trailers->empty();
        if (plan_.framing == Framing::chunked) {
            if (has_trailers) {
                std::string last = detail::last_chunk(*trailers);
                (void)emit(detail::Framed{{}, last, {}}, &last);
            } else {
                (void)emit(detail::Framed{{}, "0\r\n\r\n", {}}, nullptr);
            }
            return CloseStatus::ok;
        }
        return has_trailers ? CloseStatus::trailers_dropped : CloseStatus::ok;
    }
    const FramingPlan& plan() const noexcept { return plan_; }

    // For DeferredBody<Sink>::each().
    bool each_called() const noexcept { return each_called_; }
    void mark_each_called() noexcept { each_called_ = true; }
    bool has_sink() const noexcept { return has_sink_; }
    /// The sink is in place: streaming starts with what was sent earlier.
    void attach_sink() {
        has_sink_ = true;
        if (state_ == BodyState::waiting) state_ = BodyState::open;
        pump();
    }
    /// The derived body released its sink (it tells the sink itself).
    void detach_sink() noexcept { has_sink_ = false; }

    // A callback or a sink may drop the last shared_ptr to this body. The outermost
    // public call keeps the body alive until it returns, paying (one reference count)
    // only when it calls out of rill.
    struct CallScope {
        explicit CallScope(Body& b) noexcept : body(b) { ++body.depth_; }
        ~CallScope() {
            if (--body.depth_ == 0 && body.keep_self_) {
                auto last = std::move(body.keep_self_);
            }
        }
        CallScope(const CallScope&) = delete;
        CallScope& operator=(const CallScope&) = delete;
        Body& body;
    };

    // Before any callback: keeps the body alive until the outermost public call returns.
    void hold_self() {
        if (depth_ != 0 && !keep_self_) keep_self_ = weak_from_this().lock();
    }

private:
    friend class Turn;
    enum class Drive : std::uint8_t { done, more, blocked, pending, failed };

    // Turn::end(): what this body gathered during the turn leaves in one write.
    void end_turn() {
        in_turn_ = false;
        if (blocked_) return;  // the sink is full: its flush() comes when it is writable
        CallScope scope(*this);
        pump();
    }

    // True when emit() would only append `n` bytes to a queue that already gathers.
    bool gathering_into_queue(std::size_t n) const noexcept {
        return (in_turn_ || cork_ != 0) && !in_write_ && !write_pending_ && !queue_.empty() &&
               reentrant_.empty() && queue_.bytes() + n < RILL_COALESCE_LIMIT;
    }

    // Gathers rather than writes: corked, or a loop turn is running on this thread.
    bool gathering() noexcept {
        if (cork_ != 0 || in_turn_) return true;
        detail::TurnList* turn = detail::current_turn();
        if (turn == nullptr) return false;
        std::shared_ptr<Body> self = weak_from_this().lock();
        if (!self) return false;  // not owned by a shared_ptr: nothing could flush it later
        in_turn_ = true;
        turn->bodies.push_back(std::move(self));
        if (turn->bodies.size() == 1 && turn->on_first_gather) turn->on_first_gather();
        return true;
    }

    SendStatus send_part(std::string_view data, std::string* owned) {
        CallScope scope(*this);
        const SendStatus status = send_framed(data, owned);
        // Only an answer that tells the producer to wait promises it an on_drain.
        if (status == SendStatus::backpressure || status == SendStatus::would_block) drain_pending_ = true;
        return status;
    }

    SendStatus send_framed(std::string_view data, std::string* owned) {
        if (state_ == BodyState::closing || state_ == BodyState::closed) {
            const bool length_reached = plan_.framing == Framing::fixed && remaining_ == 0 && !data.empty();
            return length_reached ? SendStatus::length_exceeded : SendStatus::closed;
        }
        if (data.empty()) return queue_status(SendStatus::written);
        if (plan_.framing == Framing::fixed && data.size() > remaining_) return SendStatus::length_exceeded;
        if (opts_.overflow == OverflowPolicy::reject && bytes_queued() != 0 &&
            bytes_queued() >= opts_.high_water)
            return SendStatus::would_block;
        if (plan_.framing == Framing::fixed) remaining_ -= data.size();
        body_bytes_ += data.size();
        if (plan_.framing == Framing::chunked) {
            if (owned == nullptr && gathering_into_queue(data.size() + detail::chunk_header_max + 2)) {
                // A small part while a turn or a cork gathers: framed into the queue directly.
                queue_.push_chunk(data);
                return queue_status(SendStatus::queued);
            }
            char header[detail::chunk_header_max];
            const std::size_t len = detail::format_chunk_header(header, data.size());
            return emit(detail::Framed{{header, len}, data, "\r\n"}, owned);
        }
        const SendStatus status = emit(detail::Framed{{}, data, {}}, owned);
        // The declared length is reached: the response is complete on the wire, whether or
        // not the application calls close(), so a client that hangs up now is not an error.
        if (plan_.framing == Framing::fixed && remaining_ == 0 && state_ == BodyState::open)
            (void)close_with(nullptr);
        return status;
    }

    CloseStatus close_with(const Fields* trailers) {
        const bool has_trailers = trailers != nullptr && !trailers->empty();
        if (has_trailers && !detail::valid_trailers(*trailers)) return CloseStatus::invalid_trailer;
        if (state_ == BodyState::closing || state_ == BodyState::closed) {
            // A fixed-length body that ended with its last byte still answers for its trailers.
            const bool dropped = has_trailers && plan_.framing != Framing::chunked;
            return dropped ? CloseStatus::trailers_dropped : CloseStatus::already_closed;
        }
        CallScope scope(*this);
        end_reason_ = (plan_.framing == Framing::fixed && remaining_ != 0) ? CloseReason::truncated
                                                                           : CloseReason::completed;
        state_ = BodyState::closing;
        const CloseStatus status = end_response(trailers);
        // Finishes at once when nothing is left to write; a busy sink finishes on a later flush().
        if (state_ == BodyState::closing && bytes_queued() == 0) pump();
        return status;
    }

    SendStatus queue_status(SendStatus idle) const noexcept {
        if (bytes_queued() > opts_.high_water) return SendStatus::backpressure;
        return bytes_queued() == 0 ? idle : SendStatus::queued;
    }

    // Writes at once when nothing is ahead of this part, queues what is left.
    SendStatus emit(const detail::Framed& f, std::string* owned) {
        if (in_write_ || write_pending_) {
            // Called from inside Sink::write (directly or through a callback), or while a
            // completion sink holds the queue's bytes: the buffers being written point into
            // queue_, so the part waits aside until the write returns or completes.
            push(reentrant_, f, owned, 0);
            return queue_status(SendStatus::queued);
        }
        std::size_t done = 0;
        // A readiness sink that is not known to be full: write now, unless this part can
        // wait for the end of the cork or the loop turn (small, and what is gathered with
        // it stays under the limit). What is gathered leaves with the part, zero-copy.
        if (has_sink_ && !pumping_ && !blocked_ && !completion_sink_ &&
            (queue_.bytes() + f.size() >= RILL_COALESCE_LIMIT || (queue_.empty() && !gathering()))) {
            const std::size_t gathered = queue_.bytes();
            const Drive d = write_through(f, done);
            if (d == Drive::failed) return SendStatus::closed;
            if (d == Drive::more) {  // not written: queued behind what is gathered, then all of it goes
                push(queue_, f, owned, 0);
                return pump_and_answer(SendStatus::written);
            }
            if (gathered == 0 && d == Drive::done && reentrant_.empty() && state_ != BodyState::closing &&
                !drain_pending_)
                return SendStatus::written;
        } else if (has_sink_ && !completion_sink_ && !blocked_) {
            (void)gathering();  // register with the turn (or stay corked)
        }
        if (done < f.size()) push(queue_, f, owned, done);
        if (completion_sink_ && has_sink_ && cork_ == 0 && !pumping_) {
            // A completion sink writes from the queue: start a write unless one is running,
            // or this loop turn gathers and the queue is still under the limit.
            if (queue_.bytes() < RILL_COALESCE_LIMIT && gathering()) return queue_status(SendStatus::queued);
            return pump_and_answer(SendStatus::written);
        }
        if (!reentrant_.empty() || (queue_.empty() && (state_ == BodyState::closing || drain_pending_))) {
            // What the sink sent from inside write() follows now; a body closed from there may
            // be done; a drain promised from there is due. A queue left behind means the sink
            // is busy: the next flush() goes on.
            queue_.append(reentrant_);
            return pump_and_answer(done == f.size() ? SendStatus::written : SendStatus::queued);
        }
        return queue_status(done == f.size() ? SendStatus::written : SendStatus::queued);
    }

    // After a part went into the queue: writes what can go, then answers for the part.
    SendStatus pump_and_answer(SendStatus idle) {
        pump();
        if (state_ == BodyState::closed)
            return reason_ == CloseReason::completed ? SendStatus::written : SendStatus::closed;
        return queue_status(idle);
    }

    static void push(detail::SegmentQueue& q, const detail::Framed& f, std::string* owned, std::size_t skip) {
        if (owned != nullptr)
            q.push_owned(std::move(*owned), f.prefix, !f.suffix.empty(), skip);
        else
            q.push_copy(f, skip);
    }

    // Books `r` against `offered` bytes: false when the body ended (failed or broke the contract).
    bool landed(const WriteResult& r, std::size_t offered) {
        if (r.bytes > offered) {  // a broken sink: never read past what was offered
            finish_body(CloseReason::write_error);
            return false;
        }
        bytes_sent_ += r.bytes;
        if (r.status == WriteStatus::closed) {
            finish_body(CloseReason::peer_closed);
            return false;
        }
        if (r.status != WriteStatus::ok) {  // error; pending or would_block complete nothing
            finish_body(CloseReason::write_error);
            return false;
        }
        if (completion_sink_) {
            queue_.consume(r.bytes);
            queue_.append(reentrant_);
        }
        return true;
    }

    // One Sink::write. `taken` receives the bytes the sink took.
    Drive write_once(const ConstBuffer* bufs, std::size_t n, std::size_t& taken) {
        const std::size_t offered = buffer_size(bufs, n);
        WriteResult r;
        hold_self();  // the sink may drop the last reference to this body
        has_inline_completion_ = false;
        {
            FlagScope writing(in_write_);
            r = sink_write(bufs, n);
        }
        if (state_ == BodyState::closed) {  // the body was ended from inside write()
            if (r.bytes <= offered && r.status != WriteStatus::pending) bytes_sent_ += r.bytes;
            if (r.status == WriteStatus::pending && r.bytes <= offered && !has_inline_completion_) {
                // The transport still reads the queue's bytes: keep them until it completes.
                write_pending_ = true;
                pending_bytes_ = r.bytes;
            } else {
                queue_.clear();
            }
            release_sink(reason_);
            return Drive::failed;
        }
        if (r.bytes > offered || (r.status == WriteStatus::pending && !completion_sink_)) {
            // A broken sink: never read past what was offered; a readiness sink cannot
            // keep caller-owned bytes for later.
            finish_body(CloseReason::write_error);
            return Drive::failed;
        }
        if (r.status == WriteStatus::pending) {
            if (!has_inline_completion_) {
                write_pending_ = true;
                pending_bytes_ = r.bytes;
                return Drive::pending;
            }
            has_inline_completion_ = false;
            const std::size_t started = r.bytes;
            r = inline_completion_;
            const bool valid = r.status == WriteStatus::ok || r.status == WriteStatus::closed ||
                               r.status == WriteStatus::error;
            if (!valid || r.bytes > started) r = WriteResult::failed();
        }
        taken = r.bytes;
        bytes_sent_ += r.bytes;
        switch (r.status) {
            case WriteStatus::ok:
                if (r.bytes == offered) return Drive::done;
                return r.bytes == 0 ? Drive::blocked : Drive::more;  // no progress: wait for flush()
            case WriteStatus::would_block:
                return r.bytes == offered ? Drive::done : Drive::blocked;
            case WriteStatus::closed:
                finish_body(CloseReason::peer_closed);
                return Drive::failed;
            case WriteStatus::error:
            case WriteStatus::pending:
                finish_body(CloseReason::write_error);
                return Drive::failed;
        }
        return Drive::failed;
    }

    // Offers what is gathered and then the part, from the caller's memory, until all is
    // taken, the sink would block, or it fails. `part_done`: the part's bytes taken. The
    // queue's bytes taken are consumed; what is left of the part is the caller's to queue.
    // Drive::more: nothing was written, the queue has too many pieces to go with the part.
    Drive write_through(const detail::Framed& f, std::size_t& part_done) {
        ConstBuffer bufs[RILL_GATHER_MAX + 3];
        std::size_t n = queue_.gather(bufs, RILL_GATHER_MAX);
        const std::size_t gathered = buffer_size(bufs, n);
        if (gathered != queue_.bytes()) {
            // Too many pieces for one write: the part joins the queue, which leaves in order
            // (a part sent from inside those writes must not overtake this one).
            part_done = 0;
            return Drive::more;
        }
        for (std::string_view piece : {f.prefix, f.data, f.suffix})
            if (!piece.empty()) bufs[n++] = ConstBuffer(piece);
        in_flight_ = f.size();
        struct Landed {  // even when the sink throws
            std::size_t& bytes;
            ~Landed() { bytes = 0; }
        } landed{in_flight_};
        std::size_t total = 0;
        std::size_t i = 0;
        Drive d = Drive::done;
        {
            FlagScope pumping(pumping_);  // the buffers point into queue_: nothing may pump it meanwhile
            for (;;) {
                while (i < n && bufs[i].size == 0) ++i;
                if (i == n) break;
                std::size_t taken = 0;
                d = write_once(bufs + i, n - i, taken);
                if (d == Drive::failed) return d;
                total += taken;
                if (total > gathered) in_flight_ = f.size() - (total - gathered);
                while (i < n && taken >= bufs[i].size) taken -= bufs[i++].size;
                if (taken != 0) {
                    bufs[i].data += taken;
                    bufs[i].size -= taken;
                }
                if (d == Drive::blocked) break;
            }
        }
        queue_.consume(total < gathered ? total : gathered);
        part_done = total > gathered ? total - gathered : 0;
        if (i < n) blocked_ = true;  // bytes left behind: the sink is full until flush()
        return i < n ? Drive::blocked : Drive::done;
    }

    // Offers the queue until it is empty, the sink would block, or it fails.
    Drive write_queue() {
        FlagScope pumping(pumping_);
        while (!queue_.empty()) {
            // Gathered afresh each time: a write may have added to the queue.
            ConstBuffer bufs[RILL_GATHER_MAX];
            const std::size_t n = queue_.gather(bufs, RILL_GATHER_MAX);
            std::size_t taken = 0;
            const Drive d = write_once(bufs, n, taken);
            if (d == Drive::failed || d == Drive::pending) return d;
            queue_.consume(taken);
            queue_.append(reentrant_);
            if (d == Drive::blocked) {
                blocked_ = true;
                return d;
            }
        }
        blocked_ = false;
        return Drive::done;
    }

    // Hands queued bytes to the sink, finishes a closing body, and reports a drain.
    void pump() {
        if (!has_sink_ || cork_ != 0 || pumping_ || in_write_ || write_pending_) return;
        // A sink that said it is full is written again only after its flush().
        if (!blocked_ && write_queue() == Drive::failed) return;
        if (write_pending_) {
            // Nothing ends while the transport holds bytes; a drain may be due already.
        } else if (queue_.empty() && state_ == BodyState::closing) {
            finish_body(end_reason_);
            return;
        }
        if (drain_pending_ && (bytes_queued() < opts_.low_water || bytes_queued() == 0)) {
            drain_pending_ = false;
            fire_drain();
        }
    }

    // The callable may end the body (which drops on_drain_), replace itself or throw: it
    // runs from a local, so it lives until it returns, and goes back unless it was replaced
    // or the body ended meanwhile. A drain that falls due while it runs (a send inside it
    // answered backpressure, and the queue emptied) is not nested: the call is repeated.
    void fire_drain() {
        if (in_drain_) {
            drain_again_ = true;
            return;
        }
        if (!on_drain_) return;
        hold_self();
        {
            FlagScope draining(in_drain_);
            struct Running {
                Body& body;
                std::function<void()> callback;
                unsigned generation;
                ~Running() {
                    if (body.drain_generation_ == generation && body.state_ != BodyState::closed)
                        body.on_drain_ = std::move(callback);
                }
            } running{*this, std::move(on_drain_), drain_generation_};
            on_drain_ = nullptr;
            do {
                drain_again_ = false;
                running.callback();
            } while (drain_again_ && state_ != BodyState::closed && drain_generation_ == running.generation);
        }
        // Due while it ran, and it replaced itself meanwhile: the replacement's turn.
        if (drain_again_ && state_ != BodyState::closed) {
            drain_again_ = false;
            fire_drain();
        }
    }

    void finish_body(CloseReason reason) {
        if (state_ == BodyState::closed) return;
        hold_self();
        state_ = BodyState::closed;
        reason_ = reason;
        // A completion sink's transport may still read the pending bytes (or is reading them
        // now, inside write()): complete_write, or write_once, frees them.
        if (!write_pending_ && !in_write_) queue_.clear();
        reentrant_.clear();
        in_flight_ = 0;
        drain_pending_ = false;
        // Callbacks often capture a shared_ptr to this body: dropping them breaks the cycle.
        std::function<void(CloseReason)> on_close = std::move(on_close_);
        on_close_ = nullptr;
        on_drain_ = nullptr;
        if (!in_write_) release_sink(reason);  // else write_once() does it once write() returns
        if (on_close) on_close(reason);
    }

    void release_sink(CloseReason reason) {
        if (!has_sink_) return;
        has_sink_ = false;
        sink_finish(reason);
    }

    // Raises a flag for a scope, and lowers it even if a sink throws.
    struct FlagScope {
        explicit FlagScope(bool& flag) noexcept : flag_(flag) { flag_ = true; }
        ~FlagScope() { flag_ = false; }
        FlagScope(const FlagScope&) = delete;
        FlagScope& operator=(const FlagScope&) = delete;
        bool& flag_;
    };

    BodyOptions opts_;
    bool completion_sink_;
    bool has_sink_ = false;
    detail::SegmentQueue queue_;
    detail::SegmentQueue reentrant_;  // parts sent inside Sink::write or during a pending write
    FramingPlan plan_;
    std::uint64_t remaining_ = 0;
    std::uint64_t bytes_sent_ = 0;
    std::uint64_t body_bytes_ = 0;
    std::function<void(CloseReason)> on_close_;
    std::function<void()> on_drain_;
    unsigned drain_generation_ = 0;  // bumped by on_drain(): tells a running callback it was replaced
    bool in_drain_ = false;          // on_drain is running
    bool drain_again_ = false;       // a drain fell due while it ran
    std::shared_ptr<Body> keep_self_;
    unsigned cork_ = 0;
    unsigned depth_ = 0;
    BodyState state_ = BodyState::waiting;
    CloseReason reason_ = CloseReason::completed;
    CloseReason end_reason_ = CloseReason::completed;
    bool responded_ = false;
    bool each_called_ = false;
    bool pumping_ = false;
    bool in_write_ = false;
    std::size_t in_flight_ = 0;  // what is left of a part offered straight to the sink
    bool drain_pending_ = false;
    bool blocked_ = false;               // a readiness sink left bytes behind: wait for flush()
    bool in_turn_ = false;               // registered with this thread's loop turn
    bool write_pending_ = false;         // a completion sink holds pending_bytes_ of the queue
    std::size_t pending_bytes_ = 0;
    bool has_inline_completion_ = false;  // complete_write() came from inside write()
    WriteResult inline_completion_;
};

/// The handle route code keeps: any server's body, whatever its transport.
using BodyPtr = std::shared_ptr<Body>;

}  // namespace rill

#endif  // RILL_BODY_HPP
