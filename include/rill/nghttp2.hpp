#ifndef RILL_NGHTTP2_HPP
#define RILL_NGHTTP2_HPP

// rill over HTTP/2 (nghttp2). A server connection is an h2::Session: the transport
// feeds it the bytes it reads (receive) and writes what it gathers (gather/consume),
// with writev or anything else. Every request stream gets an h2::StreamBody, which is
// a rill::Body: route code written for HTTP/1.x answers HTTP/2 requests unchanged.
//
//   head   ResponseHead -> nghttp2_submit_response (lower-case names, no connection-specific
//          fields), HEAD/204/304/Content-Length 0 end with the HEADERS frame
//   parts  unframed; the data provider offers the body's own queued bytes with
//          NGHTTP2_DATA_FLAG_NO_COPY; the 9-byte DATA frame headers are the only bytes copied
//   end    close() -> END_STREAM; close(trailers) -> a trailing HEADERS frame;
//          truncated or aborted -> RST_STREAM
//   peer   RST_STREAM, a GOAWAY with an error, or a dropped connection -> peer_closed
//
// Backpressure: a stream's bytes count in bytes_queued() until the transport has taken
// them, so a closed flow-control window or a slow socket makes send() answer
// backpressure, and on_drain fires once they move again. Not thread-safe: one thread
// runs the session, its transport and its bodies.

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rill/body.hpp"
#include "rill/buffer.hpp"
#include "rill/fields.hpp"
#include "rill/framing.hpp"
#include "rill/response.hpp"
#include "rill/status.hpp"

namespace rill {
namespace h2 {

class StreamBody;

/// A request as the HTTP/2 HEADERS frame gave it (nghttp2 checked its pseudo-headers).
/// The views stay valid only during the handler call.
struct RequestHead {
    std::string_view method;
    std::string_view scheme;
    std::string_view authority;
    std::string_view path;  ///< with the query
    const Fields& fields;   ///< the regular fields, names lower-case
    std::int32_t stream_id;

    /// What rill needs to frame the response: HTTP/2 has no Connection or Upgrade.
    Request framing() const noexcept { return Request{method, 1, {}, {}}; }
};

/// Per-connection settings.
struct SessionOptions {
    BodyOptions body{};                          ///< each stream body's watermarks
    std::uint32_t max_concurrent_streams = 256;  ///< advertised in SETTINGS
    /// Bytes the session frames ahead of the transport; beyond it DATA waits in the bodies.
    std::size_t output_window = std::size_t{64} * 1024;
    std::uint64_t max_request_body = std::uint64_t{1} << 20;  ///< more: RST_STREAM(REFUSED_STREAM)
};

namespace detail {

constexpr bool is_connection_specific(std::string_view name) noexcept {
    return rill::detail::iequals(name, "connection") || rill::detail::iequals(name, "keep-alive") ||
           rill::detail::iequals(name, "proxy-connection") || rill::detail::iequals(name, "upgrade");
}

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = rill::detail::ascii_lower(c);
    return out;
}

inline nghttp2_nv make_nv(const std::string& name, const std::string& value) {
    // nghttp2 copies names and values when the frame is submitted.
    return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                      value.size(), NGHTTP2_NV_FLAG_NONE};
}

/// Lower-cased copies of `fields` (HTTP/2 sends names in lower case), then nv pointing at them.
struct HeaderBlock {
    std::vector<std::string> strings;
    std::vector<nghttp2_nv> nva;

    void add(std::string_view name, std::string_view value) {
        strings.push_back(lower(name));
        strings.emplace_back(value);
    }
    const nghttp2_nv* build() {
        nva.clear();
        for (std::size_t i = 0; i + 1 < strings.size(); i += 2) nva.push_back(make_nv(strings[i], strings[i + 1]));
        return nva.data();
    }
};

// What a stream body needs of its connection; the Session is one.
class StreamHost {
public:
    virtual nghttp2_session* nghttp2() noexcept = 0;  // null once the connection is gone
    virtual void wake() = 0;
    virtual void settle_later(std::shared_ptr<StreamBody> stream) = 0;
    virtual void stream_ended(std::int32_t stream_id, CloseReason reason) = 0;

protected:
    ~StreamHost() = default;
};

}  // namespace detail

/// The body of one HTTP/2 response stream. Created by the Session when a request
/// arrives and handed to the handler as a BodyPtr; its sink is the stream itself.
class StreamBody final : public Body {
public:
    StreamBody(detail::StreamHost& host, std::int32_t stream_id, BodyOptions options)
        : Body(options, true), host_(&host), id_(stream_id) {}

    /// The HTTP/2 stream this body answers.
    std::int32_t stream_id() const noexcept { return id_; }

protected:
    // HTTP/1.x's rules for the head, then HTTP/2's; the head goes to nghttp2, not the queue.
    PreparedHead prepare_response(const Request& request, const ResponseHead& head) override {
        PreparedHead out = rill::prepare_head(request, head);
        out.bytes.clear();
        if (out.status != HeadStatus::ok) return out;
        // The connection is not the application's (RFC 9113 section 8.2.2).
        for (const Field& f : head.fields()) {
            if (detail::is_connection_specific(f.name)) {
                out.status = HeadStatus::connection_specific_field;
                return out;
            }
        }
        nghttp2_session* ng = session();
        if (ng == nullptr) {
            out.status = HeadStatus::body_closed;
            return out;
        }
        // DATA frames carry the parts: no chunk framing; a declared length stays enforced.
        if (out.plan.framing == Framing::chunked || out.plan.framing == Framing::close_delimited)
            out.plan.framing = Framing::raw;
        out.plan.persistent = true;
        const bool data = out.plan.framing == Framing::raw ||
                          (out.plan.framing == Framing::fixed && out.plan.content_length != 0);

        detail::HeaderBlock block;
        const int status = head.status();
        const char code[3] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                              static_cast<char>('0' + status % 10)};
        block.strings.emplace_back(":status");
        block.strings.emplace_back(code, 3);
        for (const Field& f : head.fields()) block.add(f.name, f.value);
        const nghttp2_nv* nva = block.build();
        nghttp2_data_provider provider{};
        provider.source.ptr = this;
        provider.read_callback = &StreamBody::read_data;
        if (nghttp2_submit_response(ng, id_, nva, block.nva.size(), data ? &provider : nullptr) != 0) {
            out.status = HeadStatus::body_closed;
            return out;
        }
        has_provider_ = data;
        if (!data) end_scheduled_ = true;  // the HEADERS frame carries END_STREAM
        host_->wake();
        return out;
    }

    CloseStatus end_response(const Fields* trailers) override {
        // Short of its Content-Length: no END_STREAM; the body ends truncated and resets the stream.
        if (plan().framing == Framing::fixed && body_bytes() < plan().content_length) return CloseStatus::ok;
        end_requested_ = true;
        if (trailers != nullptr && !trailers->empty()) {
            if (!has_provider_) return CloseStatus::trailers_dropped;
            trailers_ = *trailers;
        }
        resume();
        return CloseStatus::ok;
    }

    // The body offers its own queued bytes; they stay put until complete_write, so the
    // DATA frames reference them. Completed once all of them left through the transport.
    WriteResult sink_write(const ConstBuffer* buffers, std::size_t count) override {
        if (session() == nullptr) return WriteResult::closed(0);
        const std::size_t total = buffer_size(buffers, count);
        if (total == 0) return WriteResult::ok(0);
        if (!has_provider_) return WriteResult::failed(0);  // no DATA may follow this head
        offer_.assign(buffers, buffers + count);
        offer_bytes_ = total;
        offer_index_ = offer_offset_ = 0;
        handed_ = written_ = 0;
        pending_ = true;
        resume();
        host_->wake();
        return WriteResult::pending(total);
    }

    void sink_finish(CloseReason reason) override {
        finished_ = true;
        finish_reason_ = reason;
        if (host_ == nullptr) return;
        host_->stream_ended(id_, reason);
        nghttp2_session* ng = session();
        if (ng == nullptr) return;
        if (reason == CloseReason::completed) {
            end_requested_ = true;
            resume();
        } else {
            // Short of its length, abandoned, or the server is going: the client must not
            // take what it got for a whole response.
            if (pending_) {
                cancelled_ = true;
                if (handed_ == written_) host_->settle_later(std::static_pointer_cast<StreamBody>(shared_from_this()));
            }
            if (!reset_sent_ && !(end_scheduled_ && reason == CloseReason::peer_closed)) {
                reset_sent_ = true;
                const std::uint32_t code =
                    reason == CloseReason::peer_closed ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR;
                nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id_, code);
            }
        }
        host_->wake();
    }

private:
    friend class Session;

    void start() { attach_sink(); }
    nghttp2_session* session() const noexcept {
        return host_ == nullptr || stream_closed_ ? nullptr : host_->nghttp2();
    }
    void resume() {
        nghttp2_session* ng = session();
        if (!deferred_ || ng == nullptr) return;
        deferred_ = false;
        nghttp2_session_resume_data(ng, id_);
        host_->wake();
    }
    std::size_t unsent() const noexcept { return offer_bytes_ - handed_; }
    // Nothing will be offered after the current offer: the last frame may carry END_STREAM.
    bool nothing_after_offer() const noexcept {
        if (!end_requested_) return false;
        if (state() == BodyState::closed) return true;
        return bytes_queued() <= offer_bytes_;
    }

    // nghttp2's data provider: how many offered bytes the next DATA frame carries
    // (NGHTTP2_DATA_FLAG_NO_COPY: Session::on_send_data references them), END_STREAM
    // or the trailers once nothing else will come, NGHTTP2_ERR_DEFERRED when the
    // offer is used up.
    static ssize_t read_data(nghttp2_session* session, std::int32_t stream_id, std::uint8_t*, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source* source, void*) {
        auto* s = static_cast<StreamBody*>(source->ptr);
        if (s->cancelled_ || (s->finished_ && s->finish_reason_ != CloseReason::completed))
            return NGHTTP2_ERR_DEFERRED;  // a reset is on its way
        const std::size_t avail = s->unsent();
        const std::size_t n = avail < length ? avail : length;
        if (n == avail && s->nothing_after_offer()) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            s->end_scheduled_ = true;
            if (!s->trailers_.empty()) {
                detail::HeaderBlock block;
                for (const Field& f : s->trailers_) block.add(f.name, f.value);
                const nghttp2_nv* nva = block.build();
                if (nghttp2_submit_trailer(session, stream_id, nva, block.nva.size()) == 0)
                    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            }
        } else if (n == 0) {
            s->deferred_ = true;
            return NGHTTP2_ERR_DEFERRED;
        }
        if (n != 0) *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        return static_cast<ssize_t>(n);
    }

    detail::StreamHost* host_;  // null once the session is gone
    std::int32_t id_;
    // The write in flight: the body's queued bytes, valid until complete_write.
    std::vector<ConstBuffer> offer_;
    std::size_t offer_bytes_ = 0;
    std::size_t offer_index_ = 0;   // cursor of the bytes handed to the output
    std::size_t offer_offset_ = 0;
    std::size_t handed_ = 0;        // bytes of the offer in DATA frames already
    std::size_t written_ = 0;       // bytes of the offer the transport took
    bool pending_ = false;          // complete_write is owed
    bool cancelled_ = false;        // the body ended: owe only the completion
    bool has_provider_ = false;     // the response has DATA
    bool deferred_ = false;         // the data provider answered NGHTTP2_ERR_DEFERRED
    bool end_requested_ = false;    // close() came (or the body completed)
    bool end_scheduled_ = false;    // END_STREAM (or the trailers) is framed
    bool stream_closed_ = false;    // nghttp2 closed the stream
    bool reset_sent_ = false;
    Fields trailers_;
    CloseReason finish_reason_ = CloseReason::completed;
    bool finished_ = false;
};

/// One server-side HTTP/2 connection (h2c or, behind TLS, h2) on nghttp2.
class Session final : private detail::StreamHost {
public:
    using Handler = std::function<void(const RequestHead&, const BodyPtr&)>;
    /// Observes every stream body's end (logs, counters); may be empty.
    using StreamEnd = std::function<void(std::int32_t stream_id, CloseReason reason)>;

    /// `wake` is called whenever the session has new bytes to write and the transport
    /// should soon call gather() (typically: post one flush to the loop).
    Session(Handler handler, std::function<void()> wake, SessionOptions options = {})
        : handler_(std::move(handler)), wake_(std::move(wake)), opts_(options) {
        nghttp2_session_callbacks* cbs = nullptr;
        if (nghttp2_session_callbacks_new(&cbs) != 0) return;
        nghttp2_session_callbacks_set_send_callback(cbs, &Session::on_send);
        nghttp2_session_callbacks_set_send_data_callback(cbs, &Session::on_send_data);
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Session::on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, &Session::on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Session::on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Session::on_data_chunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Session::on_stream_close);
        const int rv = nghttp2_session_server_new(&session_, cbs, this);
        nghttp2_session_callbacks_del(cbs);
        if (rv != 0) {
            session_ = nullptr;
            return;
        }
        const nghttp2_settings_entry settings[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opts_.max_concurrent_streams},
        };
        if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1) != 0) {
            nghttp2_session_del(session_);
            session_ = nullptr;
        }
    }
    ~Session() { terminate(CloseReason::shutdown); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    /// False when nghttp2 could not be set up.
    bool ok() const noexcept { return session_ != nullptr; }

    void on_stream_end(StreamEnd fn) { stream_end_ = std::move(fn); }

    /// Feeds bytes read from the transport. False: a protocol error; gather() what is left
    /// (a GOAWAY) and close the connection.
    bool receive(const char* data, std::size_t size) {
        if (session_ == nullptr) return false;
        const auto* p = reinterpret_cast<const std::uint8_t*>(data);
        const ssize_t rv = nghttp2_session_mem_recv(session_, p, size);
        settle();
        if (rv < 0) {
            failed_ = true;
            return false;
        }
        wake();
        return true;
    }

    /// Frames what nghttp2 has to send (up to the output window) and points `out` at the
    /// bytes to write next, in order. Returns the number of buffers (0: nothing to write).
    std::size_t gather(ConstBuffer* out, std::size_t max) {
        settle();
        produce();
        std::size_t n = 0;
        std::size_t skip = front_offset_;
        for (auto it = out_.begin(); it != out_.end() && n < max; ++it) {
            const ConstBuffer b = it->view();
            out[n++] = ConstBuffer(b.data + skip, b.size - skip);
            skip = 0;
        }
        return n;
    }

    /// The transport wrote `n` bytes of what gather() offered. Streams whose bytes have
    /// all left learn it here (their bodies may send, close or end from inside).
    void consume(std::size_t n) {
        std::vector<std::shared_ptr<StreamBody>> done;
        out_bytes_ -= n;
        while (n != 0 && !out_.empty()) {
            Chunk& c = out_.front();
            const std::size_t left = c.view().size - front_offset_;
            const std::size_t take = left < n ? left : n;
            n -= take;
            front_offset_ += take;
            if (front_offset_ < c.view().size) break;
            front_offset_ = 0;
            if (c.stream) {
                c.stream->written_ += c.ref.size;
                if (c.stream->pending_ && c.stream->written_ == c.stream->offer_bytes_) done.push_back(c.stream);
                else if (c.stream->cancelled_ && c.stream->written_ == c.stream->handed_) done.push_back(c.stream);
            }
            out_.pop_front();
        }
        for (auto& s : done) complete(*s);
        settle();
    }

    /// Bytes framed and waiting for the transport.
    std::size_t pending_output() const noexcept { return out_bytes_; }

    /// True when the connection has nothing left to do: close it.
    bool done() const noexcept {
        if (session_ == nullptr) return true;
        if (failed_) return out_.empty();
        return out_.empty() && nghttp2_session_want_read(session_) == 0 &&
               nghttp2_session_want_write(session_) == 0;
    }

    /// Streams whose bodies have not ended yet.
    std::size_t open_streams() const noexcept { return streams_.size(); }

    /// A graceful end: GOAWAY, no new streams; open bodies end with `reason` (RST_STREAM).
    void shutdown(CloseReason reason = CloseReason::shutdown) {
        if (session_ == nullptr) return;
        nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
        end_all(reason);
        wake();
    }

    /// The transport is gone (or is closed now): every body that has not ended ends with
    /// `reason`, every owed completion is paid, nghttp2 is released. Idempotent.
    void terminate(CloseReason reason = CloseReason::peer_closed) {
        if (session_ == nullptr && streams_.empty() && out_.empty()) return;
        std::vector<std::shared_ptr<StreamBody>> owed;
        for (auto& kv : streams_) owed.push_back(kv.second);
        for (Chunk& c : out_)
            if (c.stream) owed.push_back(c.stream);
        for (auto& s : settle_) owed.push_back(s);
        out_.clear();
        out_bytes_ = 0;
        front_offset_ = 0;
        streams_.clear();
        if (session_ != nullptr) {
            nghttp2_session_del(session_);
            session_ = nullptr;
        }
        // The bodies still point here (their ends are reported) but nghttp2 is gone.
        for (auto& s : owed) {
            s->stream_closed_ = true;
            s->abort(reason);
            if (s->pending_) {
                s->pending_ = false;
                s->cancelled_ = false;
                s->complete_write(WriteResult::closed(0));
            }
        }
        for (auto& s : owed) s->host_ = nullptr;
        settle_.clear();
        settle();
    }

private:
    // One piece of output: bytes the session owns (frames nghttp2 serialized, DATA frame
    // headers) or a reference into a stream body's queue.
    struct Chunk {
        std::string owned;
        ConstBuffer ref;
        std::shared_ptr<StreamBody> stream;  // set for a reference
        ConstBuffer view() const noexcept { return stream ? ref : ConstBuffer(owned); }
    };

    struct Incoming {
        std::string method, scheme, authority, path;
        Fields fields;
        std::uint64_t body_bytes = 0;
    };

    static Session& self(void* user_data) { return *static_cast<Session*>(user_data); }

    // detail::StreamHost: what a stream body needs of its connection.
    nghttp2_session* nghttp2() noexcept override { return session_; }
    void wake() override {
        if (wake_) wake_();
    }
    void settle_later(std::shared_ptr<StreamBody> stream) override { settle_.push_back(std::move(stream)); }
    void stream_ended(std::int32_t stream_id, CloseReason reason) override {
        if (stream_end_) stream_end_(stream_id, reason);
    }

    void append_owned(const char* data, std::size_t size) {
        // Frames produced back to back share one chunk; never the front one, which the
        // transport may be halfway through.
        if (!out_.empty() && !out_.back().stream && out_.size() > 1 && out_.back().owned.size() < 16384) {
            out_.back().owned.append(data, size);
        } else {
            Chunk c;
            c.owned.assign(data, size);
            out_.push_back(std::move(c));
        }
        out_bytes_ += size;
    }

    void produce() {
        if (session_ == nullptr || failed_) return;
        while (out_bytes_ < opts_.output_window) {
            const std::size_t before = out_bytes_;
            if (nghttp2_session_send(session_) != 0) {
                failed_ = true;
                return;
            }
            if (out_bytes_ == before) return;
        }
    }

    // Completions owed to bodies that ended: paid here, outside nghttp2's and the
    // body's own calls.
    void settle() {
        while (!settle_.empty()) {
            std::vector<std::shared_ptr<StreamBody>> batch;
            batch.swap(settle_);
            for (auto& s : batch) complete(*s);
        }
        // Streams nghttp2 closed and whose bodies are done need nothing more from us.
    }

    void complete(StreamBody& s) {
        if (!s.pending_) return;
        const bool all = s.written_ == s.offer_bytes_;
        if (!all && !(s.cancelled_ && s.written_ == s.handed_)) return;
        const std::size_t n = s.offer_bytes_;
        s.pending_ = false;
        s.cancelled_ = false;
        s.offer_.clear();
        s.offer_bytes_ = s.handed_ = s.written_ = 0;
        s.offer_index_ = s.offer_offset_ = 0;
        s.complete_write(all ? WriteResult::ok(n) : WriteResult::closed(0));
    }

    void end_all(CloseReason reason) {
        std::vector<std::shared_ptr<StreamBody>> open;
        for (auto& kv : streams_) open.push_back(kv.second);
        for (auto& s : open) s->abort(reason);
    }

    // ---- nghttp2 callbacks -------------------------------------------------------

    static ssize_t on_send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int, void* user) {
        self(user).append_owned(reinterpret_cast<const char*>(data), length);
        return static_cast<ssize_t>(length);
    }

    // A DATA frame of a stream body: its 9-byte header is copied, its payload is referenced.
    static int on_send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd,
                            std::size_t length, nghttp2_data_source* source, void* user) {
        Session& me = self(user);
        auto* s = static_cast<StreamBody*>(source->ptr);
        std::shared_ptr<StreamBody> keep = std::static_pointer_cast<StreamBody>(s->shared_from_this());
        const std::size_t padlen = frame->data.padlen;
        me.append_owned(reinterpret_cast<const char*>(framehd), 9);
        if (padlen > 0) {
            const char pad_length = static_cast<char>(padlen - 1);
            me.append_owned(&pad_length, 1);
        }
        std::size_t left = length;
        while (left != 0 && s->offer_index_ < s->offer_.size()) {
            const ConstBuffer& b = s->offer_[s->offer_index_];
            const std::size_t avail = b.size - s->offer_offset_;
            const std::size_t take = avail < left ? avail : left;
            Chunk c;
            c.ref = ConstBuffer(b.data + s->offer_offset_, take);
            c.stream = keep;
            me.out_.push_back(std::move(c));
            me.out_bytes_ += take;
            s->handed_ += take;
            left -= take;
            s->offer_offset_ += take;
            if (s->offer_offset_ == b.size) {
                ++s->offer_index_;
                s->offer_offset_ = 0;
            }
        }
        if (left != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;  // nghttp2 asked for bytes it was not given
        if (padlen > 1) {
            const std::string zeros(padlen - 1, '\0');
            me.append_owned(zeros.data(), zeros.size());
        }
        return me.out_bytes_ >= me.opts_.output_window ? NGHTTP2_ERR_PAUSE : 0;
    }

    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
        self(user).incoming_[frame->hd.stream_id] = Incoming{};
        return 0;
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                         const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
        if (frame->hd.type != NGHTTP2_HEADERS) return 0;
        auto it = self(user).incoming_.find(frame->hd.stream_id);
        if (it == self(user).incoming_.end()) return 0;  // trailers of a request: ignored
        const std::string_view n(reinterpret_cast<const char*>(name), namelen);
        const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
        Incoming& in = it->second;
        if (n == ":method") in.method = std::string(v);
        else if (n == ":scheme") in.scheme = std::string(v);
        else if (n == ":authority") in.authority = std::string(v);
        else if (n == ":path") in.path = std::string(v);
        else if (!n.empty() && n[0] != ':') in.fields.push_back(Field{std::string(n), std::string(v)});
        return 0;
    }

    static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id, const std::uint8_t*,
                             std::size_t len, void* user) {
        Session& me = self(user);
        auto it = me.incoming_.find(stream_id);
        if (it == me.incoming_.end()) return 0;
        it->second.body_bytes += len;
        // The routes read no request body; a large one is refused rather than buffered.
        if (it->second.body_bytes > me.opts_.max_request_body) {
            me.incoming_.erase(it);
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_REFUSED_STREAM);
        }
        return 0;
    }

    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        Session& me = self(user);
        switch (frame->hd.type) {
            case NGHTTP2_HEADERS:
            case NGHTTP2_DATA:
                if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) me.dispatch(frame->hd.stream_id);
                break;
            case NGHTTP2_GOAWAY:
                // A peer that gives up with an error will not read the rest.
                if (frame->goaway.error_code != NGHTTP2_NO_ERROR) me.end_all(CloseReason::peer_closed);
                break;
            default:
                break;
        }
        return 0;
    }

    static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user) {
        Session& me = self(user);
        me.incoming_.erase(stream_id);
        auto it = me.streams_.find(stream_id);
        if (it == me.streams_.end()) return 0;
        std::shared_ptr<StreamBody> s = std::move(it->second);
        me.streams_.erase(it);
        s->stream_closed_ = true;
        const bool clean = s->end_scheduled_ && error_code == NGHTTP2_NO_ERROR;
        if (!clean) {
            // Frames already framed still leave; the rest of the offer never will.
            if (s->pending_) {
                s->cancelled_ = true;
                me.settle_.push_back(s);
            }
            if (s->state() != BodyState::closed) s->abort(CloseReason::peer_closed);
        }
        return 0;
    }

    void dispatch(std::int32_t stream_id) {
        auto it = incoming_.find(stream_id);
        if (it == incoming_.end()) return;
        Incoming in = std::move(it->second);
        incoming_.erase(it);
        auto body = std::make_shared<StreamBody>(static_cast<detail::StreamHost&>(*this), stream_id, opts_.body);
        streams_.emplace(stream_id, body);
        body->start();
        const RequestHead head{in.method, in.scheme, in.authority, in.path, in.fields, stream_id};
        BodyPtr handle = body;
        if (handler_) handler_(head, handle);
    }

    nghttp2_session* session_ = nullptr;
    Handler handler_;
    std::function<void()> wake_;
    StreamEnd stream_end_;
    SessionOptions opts_;
    std::map<std::int32_t, Incoming> incoming_;
    std::map<std::int32_t, std::shared_ptr<StreamBody>> streams_;
    std::deque<Chunk> out_;
    std::size_t out_bytes_ = 0;
    std::size_t front_offset_ = 0;
    std::vector<std::shared_ptr<StreamBody>> settle_;
    bool failed_ = false;
};

}  // namespace h2
}  // namespace rill

#endif  // RILL_NGHTTP2_HPP
