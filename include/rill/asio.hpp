#ifndef RILL_ASIO_HPP
#define RILL_ASIO_HPP

// The Asio adapter: rill bodies on Asio streams, with Boost.Asio or standalone Asio.
//
//   rill::asio::respond(stream, handler, on_done)   one response on an existing connection
//   rill::asio::SocketSink<Socket>                  readiness sink: write_some + async_wait, zero-copy
//   rill::asio::StreamSink<Stream>                  completion sink: async_write, any AsyncWriteStream
//   rill::asio::LoopTurn                            coalesces each handler's sends (rill::Turn)
//
// Which Asio: define RILL_ASIO_STANDALONE (<asio.hpp>, namespace ::asio; Debian
// libasio-dev) or RILL_ASIO_BOOST (<boost/asio.hpp>, namespace ::boost::asio; Debian
// libboost-dev) before including this header. Without either, the Asio already
// included wins; if none is, Boost.Asio when it is installed, else standalone Asio.
// rill::asio::net names the chosen namespace. Both flavours may live in one program:
// their definitions sit in different inline namespaces.
//
// Not part of rill/rill.hpp: include <rill/asio.hpp> (and link nothing: Asio is
// header-only here; TLS needs OpenSSL as usual).

#if defined(RILL_ASIO_BOOST) && defined(RILL_ASIO_STANDALONE)
#error "rill/asio.hpp: define RILL_ASIO_BOOST or RILL_ASIO_STANDALONE, not both"
#endif
#if !defined(RILL_ASIO_BOOST) && !defined(RILL_ASIO_STANDALONE)
// Every Asio header includes its detail/config.hpp first.
#if defined(BOOST_ASIO_DETAIL_CONFIG_HPP) && !defined(ASIO_DETAIL_CONFIG_HPP)
#define RILL_ASIO_BOOST
#elif defined(ASIO_DETAIL_CONFIG_HPP) && !defined(BOOST_ASIO_DETAIL_CONFIG_HPP)
#define RILL_ASIO_STANDALONE
#elif defined(__has_include)
#if __has_include(<boost/asio/version.hpp>)
#define RILL_ASIO_BOOST
#else
#define RILL_ASIO_STANDALONE
#endif
#else
#define RILL_ASIO_BOOST
#endif
#endif

#if defined(RILL_ASIO_BOOST)
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#define RILL_ASIO_NET ::boost::asio
#define RILL_ASIO_FLAVOUR boost_flavour
#else
#include <asio/any_io_executor.hpp>
#include <asio/basic_stream_socket.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <asio/socket_base.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#define RILL_ASIO_NET ::asio
#define RILL_ASIO_FLAVOUR standalone_flavour
#endif

#if defined(__linux__)
#include <linux/sockios.h>
#include <sys/ioctl.h>
#endif

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "rill/body.hpp"
#include "rill/buffer.hpp"
#include "rill/deferred_body.hpp"
#include "rill/status.hpp"
#include "rill/turn.hpp"

namespace rill {
namespace asio {
inline namespace RILL_ASIO_FLAVOUR {

/// The Asio namespace this header was built with (::boost::asio or ::asio).
namespace net = RILL_ASIO_NET;

/// What respond() does besides writing.
struct Options {
    BodyOptions body{};
    /// A response that makes no progress for this long while bytes wait (the transport takes
    /// none, and on Linux none leaves the socket's send queue) is aborted with
    /// CloseReason::timeout: a client that stopped reading. The cut comes one timeout
    /// (plus at most a quarter) after the client's last read. Zero: never.
    std::chrono::milliseconds stall_timeout{std::chrono::seconds(30)};
    /// Watches the read side while the response runs, so that a client that leaves an idle
    /// stream ends it (CloseReason::peer_closed) before the next write would notice.
    bool watch_peer = true;
};

namespace detail {

#if defined(RILL_ASIO_BOOST)
using error_code = ::boost::system::error_code;
#else
using error_code = std::error_code;
#endif

template <class T>
struct is_stream_socket : std::false_type {};
template <class Protocol, class Executor>
struct is_stream_socket<net::basic_stream_socket<Protocol, Executor>> : std::true_type {};

template <class S, class = void>
struct has_socket_member : std::false_type {};  // Beast's basic_stream (tcp_stream)
template <class S>
struct has_socket_member<S, std::void_t<decltype(std::declval<S&>().socket())>>
    : is_stream_socket<std::remove_reference_t<decltype(std::declval<S&>().socket())>> {};

template <class S, class = void>
struct has_next_layer : std::false_type {};  // ssl::stream and other wrappers
template <class S>
struct has_next_layer<S, std::void_t<decltype(std::declval<S&>().next_layer())>> : std::true_type {};

/// The socket under a stream: the stream itself, a Beast stream's socket(), or what its
/// next_layer() chain ends in.
template <class Stream>
auto& lowest_socket(Stream& stream) {
    if constexpr (is_stream_socket<Stream>::value) {
        return stream;
    } else if constexpr (has_socket_member<Stream>::value) {
        return stream.socket();
    } else if constexpr (has_next_layer<Stream>::value) {
        return lowest_socket(stream.next_layer());
    } else {
        return stream.lowest_layer();
    }
}

/// True when rill may write to the stream's socket directly: a plain TCP (or other
/// stream) socket, or a Beast stream over one. Anything else (TLS) gets a completion sink.
template <class Stream>
inline constexpr bool is_plain_socket_v = is_stream_socket<Stream>::value || has_socket_member<Stream>::value;

// A view of `count` Asio buffers, as Asio's ConstBufferSequence wants it.
struct BufferRange {
    using value_type = net::const_buffer;
    using const_iterator = const net::const_buffer*;
    const net::const_buffer* first;
    const net::const_buffer* last;
    const_iterator begin() const noexcept { return first; }
    const_iterator end() const noexcept { return last; }
};

inline bool peer_gone(const error_code& ec) noexcept {
    return ec == net::error::broken_pipe || ec == net::error::connection_reset ||
           ec == net::error::connection_aborted || ec == net::error::not_connected ||
           ec == net::error::shut_down || ec == net::error::eof;
}

inline WriteResult failure(const error_code& ec) noexcept {
    return peer_gone(ec) ? WriteResult::closed(ec.value()) : WriteResult::failed(ec.value());
}

/// The state one response shares between its sink, the handlers of its waits and
/// writes, the stall timer and the peer watch. Handlers hold it; it holds the body
/// weakly, except for `hold` (respond(): the server's reference, until the end).
template <class Socket>
class Link : public std::enable_shared_from_this<Link<Socket>> {
public:
    Link(Socket& socket, std::chrono::milliseconds stall_timeout)
        : socket_(socket), stall_timeout_(stall_timeout) {}

    Socket& socket() noexcept { return socket_; }
    BodyPtr body() const noexcept { return body_.lock(); }

    std::weak_ptr<Body> body_;
    BodyPtr hold;                                  // respond(): keeps the body until it ends
    std::function<void(CloseReason)> on_finish;    // called inside the body's last call
    std::function<void(bool)> on_done;             // respond(): posted, outside any body call
    std::vector<net::const_buffer> pending;        // the completion sink's write in flight
    bool write_pending = false;
    bool wait_armed = false;
    bool finished = false;
    bool restore_blocking = false;

    /// The transport could not take everything: a wait or a write is outstanding now.
    void blocked() {
        if (stall_timeout_.count() <= 0 || timer_armed_ || finished) return;
        last_progress_ = std::chrono::steady_clock::now();
        last_unsent_ = unsent();
        arm_timer(last_progress_ + tick());
    }

    /// The transport took bytes while blocked.
    void progress() {
        if (timer_armed_) last_progress_ = std::chrono::steady_clock::now();
    }

    /// Starts (or restarts) the read-side watch.
    void watch_peer() {
        std::weak_ptr<Link> weak = this->shared_from_this();
        socket_.async_wait(net::socket_base::wait_read, [weak](const detail::error_code& ec) {
            const std::shared_ptr<Link> link = weak.lock();
            // Aborted: the socket was cancelled or closed, and may be gone already.
            if (!link || ec || link->finished) return;
            link->peek();
        });
    }

    /// The body ended: tell whoever waits, once, outside the body.
    void finish(CloseReason reason) {
        finished = true;
        if (timer_) timer_->cancel();
        if (restore_blocking) {
            detail::error_code ignored;
            socket_.non_blocking(false, ignored);
        }
        const BodyPtr body = body_.lock();
        keep_alive_ = reason == CloseReason::completed && body && body->keep_alive();
        hold.reset();  // the body keeps itself alive until its current call returns
        if (on_finish) on_finish(reason);
        if (!on_done) return;
        if (write_pending) {
            // The transport still holds the last bytes: the write is cancelled, and
            // on_done waits for its handler, so the stream is not closed under it.
            detail::error_code ignored;
            socket_.cancel(ignored);
            return;
        }
        post_done();
    }

    /// The completion sink's write completed (after complete_write).
    void write_done() {
        if (finished && !write_pending && on_done) post_done();
    }

private:
    void post_done() {
        if (done_posted_) return;
        done_posted_ = true;
        auto self = this->shared_from_this();
        net::post(socket_.get_executor(), [self] {
            std::function<void(bool)> done = std::move(self->on_done);
            self->on_done = nullptr;
            if (done) done(self->keep_alive_);
        });
    }

    void peek() {
        detail::error_code ec;
        const bool was_non_blocking = socket_.non_blocking();
        if (!was_non_blocking) socket_.non_blocking(true, ec);
        char byte = 0;
        const std::size_t n = socket_.receive(net::buffer(&byte, 1), net::socket_base::message_peek, ec);
        if (!was_non_blocking) {
            detail::error_code ignored;
            socket_.non_blocking(false, ignored);
        }
        if (!ec && n > 0) return;  // a pipelined request: the next read takes it; stop watching
        if (ec == net::error::would_block || ec == net::error::try_again || ec == net::error::interrupted) {
            watch_peer();  // woken for nothing
            return;
        }
        if (const BodyPtr body = body_.lock()) body->abort(CloseReason::peer_closed);
    }

    void arm_timer(std::chrono::steady_clock::time_point when) {
        if (!timer_) timer_.emplace(socket_.get_executor());
        timer_armed_ = true;
        timer_->expires_at(when);
        std::weak_ptr<Link> weak = this->shared_from_this();
        timer_->async_wait([weak](const detail::error_code& ec) {
            const std::shared_ptr<Link> link = weak.lock();
            if (!link || ec) return;
            link->on_timer();
        });
    }

    // Ticks four times per timeout while blocked. Progress is a write the transport took
    // (progress()), or, since the last tick, bytes that left the socket's send queue: the
    // kernel wakes a writer only once a good part of its buffer is free, so a slow reader
    // drains it for a while with no wake-up. A stalled client is cut one timeout (plus at
    // most a tick) after its last read.
    void on_timer() {
        timer_armed_ = false;
        if (finished) return;
        const BodyPtr body = body_.lock();
        if (!body || body->bytes_queued() == 0) return;  // not stalled; the next block re-arms
        if (!write_pending && !wait_armed) return;
        const auto now = std::chrono::steady_clock::now();
        const long queued = unsent();
        if (queued >= 0 && queued != last_unsent_) last_progress_ = now;
        last_unsent_ = queued;
        if (now - last_progress_ >= stall_timeout_) {
            body->abort(CloseReason::timeout);
            return;
        }
        arm_timer(now + tick());
    }

    std::chrono::steady_clock::duration tick() const noexcept {
        const auto quarter = std::chrono::duration_cast<std::chrono::steady_clock::duration>(stall_timeout_) / 4;
        return quarter > std::chrono::milliseconds(1) ? quarter : std::chrono::milliseconds(1);
    }

    // Bytes in the socket's send queue not yet acknowledged, or -1 where that is unknown.
    long unsent() noexcept {
#if defined(__linux__)
        int bytes = 0;
        if (::ioctl(socket_.native_handle(), SIOCOUTQ, &bytes) == 0) return bytes;
#endif
        return -1;
    }

    Socket& socket_;
    std::chrono::milliseconds stall_timeout_;
    std::optional<net::steady_timer> timer_;
    std::chrono::steady_clock::time_point last_progress_{};
    long last_unsent_ = -1;
    bool timer_armed_ = false;
    bool keep_alive_ = false;
    bool done_posted_ = false;
};

}  // namespace detail

template <class Stream, class Handler, class Done>
BodyPtr respond(Stream& stream, Handler&& handler, Done&& on_done, const Options& options = {});

/// A readiness sink for a stream socket (tcp::socket, local::stream_protocol::socket):
/// each write goes straight from the offered buffers into a non-blocking write_some, no
/// copy; when the socket is full it waits for writability (async_wait) and then calls
/// the body's flush(). Build it after the body, with the body as a weak_ptr.
template <class Socket>
class SocketSink {
public:
    /// `on_finish` runs inside the body's last call (see docs/sink.md): do not close the
    /// socket there; post that to the executor, as respond() does.
    SocketSink(Socket& socket, std::weak_ptr<Body> body, std::function<void(CloseReason)> on_finish = {})
        : SocketSink(std::make_shared<link_type>(socket, std::chrono::milliseconds(0)), std::move(body)) {
        link_->on_finish = std::move(on_finish);
    }

    WriteResult write(const ConstBuffer* bufs, std::size_t count) {
        // A queue's gather plus a part written through (rill::Turn): at most this many.
        constexpr std::size_t cap = RILL_GATHER_MAX + 3;
        net::const_buffer list[cap];
        const std::size_t n = count < cap ? count : cap;
        std::size_t offered = 0;
        for (std::size_t i = 0; i < n; ++i) {
            list[i] = net::const_buffer(bufs[i].data, bufs[i].size);
            offered += bufs[i].size;
        }
        detail::error_code ec;
        std::size_t written = 0;
        for (int tries = 0; tries < 8; ++tries) {
            written = link_->socket().write_some(detail::BufferRange{list, list + n}, ec);
            if (ec != net::error::interrupted) break;
        }
        if (!ec) {
            if (written > 0) link_->progress();
            if (written == offered) return WriteResult::ok(written);  // count > cap: the body offers the rest
            wait_writable();  // a short write: the socket is full
            return WriteResult::would_block(written);
        }
        if (ec == net::error::would_block || ec == net::error::try_again) {
            wait_writable();
            return WriteResult::would_block(0);
        }
        return detail::failure(ec);
    }

    void finish(CloseReason reason) { link_->finish(reason); }

private:
    using link_type = detail::Link<Socket>;
    template <class Stream, class Handler, class Done>
    friend BodyPtr respond(Stream&, Handler&&, Done&&, const Options&);

    // respond()'s link also carries the stall timer and on_done.
    SocketSink(std::shared_ptr<link_type> link, std::weak_ptr<Body> body) : link_(std::move(link)) {
        link_->body_ = std::move(body);
        Socket& s = link_->socket();
        if (!s.non_blocking()) {
            detail::error_code ec;
            s.non_blocking(true, ec);
            link_->restore_blocking = !ec;
        }
    }

    void wait_writable() {
        link_->blocked();
        if (link_->wait_armed) return;
        link_->wait_armed = true;
        link_->socket().async_wait(net::socket_base::wait_write, [link = link_](const detail::error_code& ec) {
            link->wait_armed = false;
            // Aborted: the socket was cancelled or closed (abort the body before that).
            if (ec || link->finished) return;
            link->progress();
            if (const BodyPtr body = link->body()) body->flush();
        });
    }

    std::shared_ptr<link_type> link_;
};

/// A completion sink for any AsyncWriteStream (ssl::stream, a Beast stream, a socket):
/// each write is one async_write of the body's own queued bytes, which rill keeps alive
/// until the handler reports back through Body::complete_write. A string_view part is
/// copied once (into the queue), a part sent as std::string&& not at all.
template <class Stream>
class StreamSink {
public:
    static constexpr bool completes_later = true;

    StreamSink(Stream& stream, std::weak_ptr<Body> body, std::function<void(CloseReason)> on_finish = {})
        : StreamSink(stream, std::make_shared<link_type>(detail::lowest_socket(stream), std::chrono::milliseconds(0)),
                     std::move(body)) {
        link_->on_finish = std::move(on_finish);
    }

    WriteResult write(const ConstBuffer* bufs, std::size_t count) {
        BodyPtr body = link_->body();
        if (!body) return WriteResult::failed();
        std::vector<net::const_buffer>& list = link_->pending;
        list.clear();
        std::size_t offered = 0;
        for (std::size_t i = 0; i < count; ++i) {
            if (bufs[i].size == 0) continue;
            list.emplace_back(bufs[i].data, bufs[i].size);
            offered += bufs[i].size;
        }
        link_->write_pending = true;
        link_->blocked();
        // The handler holds the body: its pending bytes must outlive the write, even when
        // everyone else has let go of it.
        // The completion condition runs after every write_some of the composed write: each
        // one that moved bytes is progress for the stall timeout, even before the whole
        // write completes.
        net::async_write(*stream_, detail::BufferRange{list.data(), list.data() + list.size()},
                         [link = link_.get()](const detail::error_code& ec, std::size_t so_far) {
                             if (so_far != 0) link->progress();
                             return net::transfer_all()(ec, so_far);
                         },
                         [link = link_, body = std::move(body)](const detail::error_code& ec, std::size_t written) {
                             // Lowered first: complete_write() may start the next write.
                             link->write_pending = false;
                             if (!ec) link->progress();
                             body->complete_write(ec ? detail::failure(ec) : WriteResult::ok(written));
                             link->write_done();
                         });
        return WriteResult::pending(offered);
    }

    void finish(CloseReason reason) { link_->finish(reason); }

private:
    using link_type =
        detail::Link<std::remove_reference_t<decltype(detail::lowest_socket(std::declval<Stream&>()))>>;
    template <class S, class Handler, class Done>
    friend BodyPtr respond(S&, Handler&&, Done&&, const Options&);

    // respond()'s link also carries the stall timer and on_done.
    StreamSink(Stream& stream, std::shared_ptr<link_type> link, std::weak_ptr<Body> body)
        : stream_(&stream), link_(std::move(link)) {
        link_->body_ = std::move(body);
    }

    Stream* stream_;
    std::shared_ptr<link_type> link_;
};

/// Coalesces what each handler sends: installs a rill::Turn on this thread and posts its
/// end() to `executor` when the first body gathers, so that the parts a handler (a timer,
/// a read, on_drain) sends to one body leave in one gather write once it returns. Create
/// one on each thread that runs the io_context, before run(), and keep it until run()
/// returns. Without it every part is written at once (correct, more system calls).
class LoopTurn {
public:
    template <class Executor>
    explicit LoopTurn(const Executor& executor) : state_(std::make_shared<State>(executor, turn_)) {
        std::weak_ptr<State> weak = state_;
        turn_.on_first_gather([weak] {
            const std::shared_ptr<State> state = weak.lock();
            if (!state || state->posted) return;
            state->posted = true;
            net::post(state->executor, [weak] {
                if (const std::shared_ptr<State> s = weak.lock()) {
                    s->posted = false;
                    s->turn.end();
                }
            });
        });
    }
    LoopTurn(const LoopTurn&) = delete;
    LoopTurn& operator=(const LoopTurn&) = delete;

    Turn& turn() noexcept { return turn_; }

private:
    struct State {
        State(net::any_io_executor ex, Turn& t) : executor(std::move(ex)), turn(t) {}
        net::any_io_executor executor;
        Turn& turn;
        bool posted = false;
    };
    Turn turn_;
    std::shared_ptr<State> state_;  // a posted end() finds it gone once this object is
};

/// Serves one response on `stream` (a socket, a Beast tcp_stream, an ssl::stream, any
/// AsyncWriteStream over a stream socket). It makes a body wired to the stream (written
/// directly for a plain socket, through async_write otherwise), calls `handler(body)` at
/// once (the application responds now or keeps the body and responds later), and calls
/// `on_done(keep_alive)` once the response has ended and nothing of it is in flight,
/// posted to the stream's executor, never inside a body call. keep_alive is true when
/// the response completed and the connection may carry the next request: read it in
/// on_done; otherwise close the stream there.
///
/// Until then rill keeps the body (so a handler may drop it), watches the read side
/// (a client that leaves ends the body with CloseReason::peer_closed; a pipelined
/// request ends the watch and waits in the socket), and cuts a client that stops
/// reading (CloseReason::timeout after Options::stall_timeout without progress).
/// Do not read, write, cancel or close the stream meanwhile; to end a response early
/// call body->abort() (on_done follows).
template <class Stream, class Handler, class Done>
BodyPtr respond(Stream& stream, Handler&& handler, Done&& on_done, const Options& options) {
    auto& socket = detail::lowest_socket(stream);
    using Socket = std::remove_reference_t<decltype(socket)>;
    auto link = std::make_shared<detail::Link<Socket>>(socket, options.stall_timeout);
    link->on_done = std::function<void(bool)>(std::forward<Done>(on_done));
    BodyPtr body;
    if constexpr (detail::is_plain_socket_v<Stream>) {
        auto typed = make_deferred_body<SocketSink<Socket>>(options.body);
        body = typed;
        link->hold = body;
        typed->each(SocketSink<Socket>(link, body));
    } else {
        auto typed = make_deferred_body<StreamSink<Stream>>(options.body);
        body = typed;
        link->hold = body;
        typed->each(StreamSink<Stream>(stream, link, body));
    }
    if (options.watch_peer) link->watch_peer();
    std::forward<Handler>(handler)(body);
    return body;
}

}  // inline namespace RILL_ASIO_FLAVOUR
}  // namespace asio
}  // namespace rill

#undef RILL_ASIO_NET
#undef RILL_ASIO_FLAVOUR

#endif  // RILL_ASIO_HPP
