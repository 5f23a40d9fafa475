// rill/nghttp2.hpp against nghttp2's own client session, in memory: what the client
// decodes (frames, headers, DATA, trailers, resets) is the oracle, not rill's code.

#include <rill/nghttp2.hpp>  // first: the header stands on its own

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

struct FrameSeen {
    std::uint8_t type;
    std::uint8_t flags;
    std::int32_t stream;
};

struct StreamSeen {
    std::map<std::string, std::string> headers;   // response head
    std::map<std::string, std::string> trailers;  // a second HEADERS frame
    std::string data;
    int header_blocks = 0;
    bool closed = false;
    std::uint32_t rst = 0;  // error code seen in on_stream_close
};

/// A server h2::Session and an nghttp2 client joined by two in-memory byte pipes.
class Link {
public:
    using Handler = rill::h2::Session::Handler;

    explicit Link(Handler handler, std::uint32_t client_window = 65535, bool auto_window = true)
        : server_(std::move(handler), [this] { ++wakes_; }, options()) {
        nghttp2_session_callbacks* cbs = nullptr;
        nghttp2_session_callbacks_new(&cbs);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Link::on_frame);
        nghttp2_session_callbacks_set_on_header_callback(cbs, &Link::on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Link::on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Link::on_close);
        nghttp2_option* opt = nullptr;
        nghttp2_option_new(&opt);
        if (!auto_window) nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_session_client_new2(&client_, cbs, this, opt);
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cbs);
        const nghttp2_settings_entry s[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, client_window}};
        nghttp2_submit_settings(client_, NGHTTP2_FLAG_NONE, s, 1);
        server_.on_stream_end([this](std::int32_t id, rill::CloseReason r) { ends[id].push_back(r); });
    }
    ~Link() { nghttp2_session_del(client_); }
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;

    static rill::h2::SessionOptions options() {
        rill::h2::SessionOptions o;
        o.body.high_water = 4096;
        o.body.low_water = 1024;
        return o;
    }

    std::int32_t get(const std::string& path, const std::string& method = "GET") {
        const std::string scheme = "http", authority = "localhost";
        const nghttp2_nv nva[] = {nv(":method", method), nv(":scheme", scheme), nv(":authority", authority),
                                  nv(":path", path)};
        return nghttp2_submit_request(client_, nullptr, nva, 4, nullptr, nullptr);
    }

    /// Moves bytes both ways until nothing moves (at most `rounds` times); `cap` limits
    /// the bytes the server's transport takes per round (a slow socket).
    void pump(int rounds = 50, std::size_t cap = SIZE_MAX) {
        for (int i = 0; i < rounds; ++i) {
            bool moved = false;
            const std::uint8_t* data = nullptr;
            for (;;) {
                const ssize_t n = nghttp2_session_mem_send(client_, &data);
                if (n <= 0) break;
                moved = true;
                REQUIRE(server_.receive(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n)));
            }
            rill::ConstBuffer bufs[64];
            const std::size_t nb = server_.gather(bufs, 64);
            std::size_t taken = 0;
            for (std::size_t b = 0; b < nb && taken < cap; ++b) {
                const std::size_t take = std::min(bufs[b].size, cap - taken);
                wire_.append(bufs[b].data, take);
                taken += take;
            }
            if (taken != 0) {
                moved = true;
                server_.consume(taken);
                const ssize_t r = nghttp2_session_mem_recv(client_, reinterpret_cast<const std::uint8_t*>(wire_.data()),
                                                           wire_.size());
                REQUIRE(r == static_cast<ssize_t>(wire_.size()));
                wire_.clear();
            }
            if (!moved) return;
        }
    }

    /// The server's next gather, without consuming it.
    std::vector<rill::ConstBuffer> peek() {
        rill::ConstBuffer bufs[64];
        const std::size_t n = server_.gather(bufs, 64);
        return std::vector<rill::ConstBuffer>(bufs, bufs + n);
    }

    int data_frames(std::int32_t id) const {
        int n = 0;
        for (const FrameSeen& f : frames)
            if (f.stream == id && f.type == NGHTTP2_DATA) ++n;
        return n;
    }
    bool ended_with_end_stream(std::int32_t id) const {
        for (const FrameSeen& f : frames)
            if (f.stream == id && (f.type == NGHTTP2_DATA || f.type == NGHTTP2_HEADERS) &&
                (f.flags & NGHTTP2_FLAG_END_STREAM) != 0)
                return true;
        return false;
    }

    rill::h2::Session& server() { return server_; }
    nghttp2_session* client() { return client_; }

    std::map<std::int32_t, StreamSeen> seen;
    std::vector<FrameSeen> frames;
    std::map<std::int32_t, std::vector<rill::CloseReason>> ends;
    int wakes_ = 0;

private:
    static nghttp2_nv nv(const char* name, const std::string& value) {
        return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name)),
                          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), std::strlen(name),
                          value.size(), NGHTTP2_NV_FLAG_NONE};
    }
    static Link& me(void* u) { return *static_cast<Link*>(u); }
    static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* u) {
        me(u).frames.push_back(FrameSeen{f->hd.type, f->hd.flags, f->hd.stream_id});
        if (f->hd.type == NGHTTP2_HEADERS) ++me(u).seen[f->hd.stream_id].header_blocks;
        return 0;
    }
    static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name, std::size_t namelen,
                         const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* u) {
        StreamSeen& s = me(u).seen[f->hd.stream_id];
        auto& into = f->headers.cat == NGHTTP2_HCAT_HEADERS ? s.trailers : s.headers;
        into[std::string(reinterpret_cast<const char*>(name), namelen)] =
            std::string(reinterpret_cast<const char*>(value), valuelen);
        return 0;
    }
    static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len,
                       void* u) {
        me(u).seen[id].data.append(reinterpret_cast<const char*>(data), len);
        return 0;
    }
    static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* u) {
        me(u).seen[id].closed = true;
        me(u).seen[id].rst = code;
        return 0;
    }

    rill::h2::Session server_;
    nghttp2_session* client_ = nullptr;
    std::string wire_;
};

rill::ResponseHead head(int status, std::initializer_list<std::pair<const char*, const char*>> fields = {}) {
    rill::ResponseHead h(status);
    for (const auto& f : fields) h.header(f.first, f.second);
    return h;
}

}  // namespace

TEST_CASE("HEAD, 204 and 304 end with the HEADERS frame: no DATA") {
    Link link([](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
        const int status = req.path == "/204" ? 204 : req.path == "/304" ? 304 : 200;
        REQUIRE(body->respond(req.framing(), head(status, {{"Content-Type", "text/plain"}})) == rill::HeadStatus::ok);
        CHECK(body->ended());
        CHECK(body->send("x") == rill::SendStatus::closed);
    });
    const std::int32_t a = link.get("/", "HEAD");
    const std::int32_t b = link.get("/204");
    const std::int32_t c = link.get("/304");
    link.pump();
    for (std::int32_t id : {a, b, c}) {
        CAPTURE(id);
        CHECK(link.seen[id].closed);
        CHECK(link.seen[id].rst == 0);
        CHECK(link.data_frames(id) == 0);
        CHECK(link.ended_with_end_stream(id));
        CHECK(link.ends[id] == std::vector<rill::CloseReason>{rill::CloseReason::completed});
    }
    CHECK(link.seen[b].headers[":status"] == "204");
    CHECK(link.seen[c].headers[":status"] == "304");
}

TEST_CASE("connection-specific fields are refused; names go out in lower case") {
    std::vector<rill::HeadStatus> answers;
    Link link([&](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
        for (const char* name : {"Connection", "keep-alive", "Proxy-Connection", "Upgrade"})
            answers.push_back(body->respond(req.framing(), head(200, {{name, "x"}})));
        answers.push_back(body->respond(req.framing(), head(200, {{"Transfer-Encoding", "chunked"}})));
        answers.push_back(body->respond(req.framing(), head(200, {{"Bad Name", "x"}})));
        REQUIRE(body->respond(req.framing(), head(200, {{"X-Mixed-Case", "Value"}, {"Content-Length", "2"}})) ==
                rill::HeadStatus::ok);
        CHECK(body->send("ok") != rill::SendStatus::closed);
    });
    const std::int32_t id = link.get("/");
    link.pump();
    REQUIRE(answers.size() == 6);
    for (int i = 0; i < 4; ++i) CHECK(answers[static_cast<std::size_t>(i)] == rill::HeadStatus::connection_specific_field);
    CHECK(answers[4] == rill::HeadStatus::transfer_encoding_set);
    CHECK(answers[5] == rill::HeadStatus::invalid_field_name);
    CHECK(link.seen[id].headers["x-mixed-case"] == "Value");
    CHECK(link.seen[id].headers["content-length"] == "2");
    CHECK(link.seen[id].data == "ok");
    CHECK(link.ended_with_end_stream(id));
}

TEST_CASE("parts go out unframed; close(trailers) sends a trailing HEADERS frame") {
    rill::BodyPtr kept;
    Link link([&](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
        REQUIRE(body->respond(req.framing(), head(200, {{"Trailer", "X-Sum"}})) == rill::HeadStatus::ok);
        CHECK(body->framing() == rill::Framing::raw);
        kept = body;
    });
    const std::int32_t id = link.get("/");
    link.pump();
    CHECK(link.data_frames(id) == 0);  // deferred: nothing yet
    CHECK(kept->send("Hello, ") != rill::SendStatus::closed);
    link.pump();
    CHECK(link.seen[id].data == "Hello, ");
    CHECK(kept->send(std::string("World")) != rill::SendStatus::closed);
    CHECK(kept->close(rill::Fields{{"X-Sum", "42"}}) == rill::CloseStatus::ok);
    link.pump();
    CHECK(link.seen[id].data == "Hello, World");
    CHECK(link.seen[id].header_blocks == 2);
    CHECK(link.seen[id].trailers["x-sum"] == "42");
    CHECK(link.seen[id].closed);
    CHECK(link.seen[id].rst == 0);
    for (const FrameSeen& f : link.frames)
        if (f.stream == id && f.type == NGHTTP2_DATA) CHECK((f.flags & NGHTTP2_FLAG_END_STREAM) == 0);
    CHECK(kept->state() == rill::BodyState::closed);
    CHECK(kept->close_reason() == rill::CloseReason::completed);
}

TEST_CASE("Content-Length stays enforced; a short body resets the stream") {
    rill::BodyPtr full, shortened;
    Link link([&](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
        REQUIRE(body->respond(req.framing(), head(200, {{"Content-Length", "4"}})) == rill::HeadStatus::ok);
        CHECK(body->framing() == rill::Framing::fixed);
        (req.path == "/full" ? full : shortened) = body;
    });
    const std::int32_t a = link.get("/full");
    const std::int32_t b = link.get("/short");
    link.pump();
    CHECK(full->send("abcde") == rill::SendStatus::length_exceeded);
    CHECK(full->send("abcd") != rill::SendStatus::closed);
    CHECK(full->ended());
    CHECK(shortened->send("ab") != rill::SendStatus::closed);
    shortened->close();
    link.pump();
    CHECK(link.seen[a].data == "abcd");
    CHECK(link.seen[a].rst == 0);
    CHECK(link.ended_with_end_stream(a));
    CHECK(link.seen[b].data == "ab");
    CHECK_FALSE(link.ended_with_end_stream(b));
    CHECK(link.seen[b].rst == NGHTTP2_INTERNAL_ERROR);
    CHECK(shortened->close_reason() == rill::CloseReason::truncated);
}

TEST_CASE("zero copy: the DATA payload the transport writes is the body's own part") {
    rill::BodyPtr kept;
    Link link([&](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
        REQUIRE(body->respond(req.framing(), head(200)) == rill::HeadStatus::ok);
        kept = body;
    });
    link.get("/");
    link.pump();
    std::string part(8000, 'z');
    const char* where = part.data();
    CHECK(kept->send(std::move(part)) != rill::SendStatus::closed);
    bool found = false;
    for (const rill::ConstBuffer& b : link.peek()) found = found || b.data == where;
    CHECK(found);
    CHECK(kept->write_pending());
    link.pump();
    CHECK_FALSE(kept->write_pending());
    CHECK(kept->bytes_queued() == 0);
}

TEST_CASE("backpressure follows the flow-control window; on_drain fires when it opens") {
    rill::BodyPtr kept;
    Link link(
        [&](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
            REQUIRE(body->respond(req.framing(), head(200)) == rill::HeadStatus::ok);
            kept = body;
        },
        1000, false);
    const std::int32_t id = link.get("/");
    link.pump();
    int drains = 0;
    kept->on_drain([&] { ++drains; });
    const std::string part(1000, 'p');
    rill::SendStatus last = rill::SendStatus::written;
    for (int i = 0; i < 8; ++i) last = kept->send(part);
    CHECK(last == rill::SendStatus::backpressure);
    link.pump();
    // The stream's window let 1000 bytes through; the rest stays counted.
    CHECK(link.seen[id].data.size() == 1000);
    CHECK(kept->bytes_queued() == 7000);
    CHECK(kept->send(part) == rill::SendStatus::backpressure);
    CHECK(drains == 0);
    // The client reads: the window opens, the queue drains, on_drain fires.
    for (int i = 0; i < 20 && link.seen[id].data.size() < 9000; ++i) {
        nghttp2_session_consume(link.client(), id, link.seen[id].data.size());
        link.seen[id].data.reserve(9000);
        const std::size_t before = link.seen[id].data.size();
        link.pump();
        nghttp2_session_consume(link.client(), id, link.seen[id].data.size() - before);
        link.pump();
    }
    CHECK(link.seen[id].data.size() == 9000);
    CHECK(kept->bytes_queued() == 0);
    CHECK(drains == 1);
}

TEST_CASE("a slow transport is backpressure too: bytes count until the transport took them") {
    rill::BodyPtr kept;
    Link link([&](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
        REQUIRE(body->respond(req.framing(), head(200)) == rill::HeadStatus::ok);
        kept = body;
    });
    const std::int32_t id = link.get("/");
    link.pump();
    CHECK(kept->send(std::string(3000, 'a')) != rill::SendStatus::backpressure);
    CHECK(kept->send(std::string(3000, 'b')) == rill::SendStatus::backpressure);
    link.pump(1, 1000);  // the socket takes 1000 bytes
    CHECK(kept->bytes_queued() == 6000);
    link.pump();
    CHECK(kept->bytes_queued() == 0);
    CHECK(link.seen[id].data == std::string(3000, 'a') + std::string(3000, 'b'));
}

TEST_CASE("RST_STREAM from the client ends the body peer_closed, once; later sends answer closed") {
    rill::BodyPtr kept;
    int closes = 0;
    rill::CloseReason why = rill::CloseReason::completed;
    Link link([&](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
        REQUIRE(body->respond(req.framing(), head(200)) == rill::HeadStatus::ok);
        if (req.path != "/") return;  // /other stays open
        body->on_close([&](rill::CloseReason r) {
            ++closes;
            why = r;
        });
        kept = body;
    });
    const std::int32_t id = link.get("/");
    const std::int32_t other = link.get("/other");
    link.pump();
    CHECK(kept->send("part") != rill::SendStatus::closed);
    link.pump();
    nghttp2_submit_rst_stream(link.client(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    link.pump();
    CHECK(closes == 1);
    CHECK(why == rill::CloseReason::peer_closed);
    CHECK(kept->send("more") == rill::SendStatus::closed);
    kept->close();
    link.pump();
    CHECK(closes == 1);
    CHECK(link.ends[id] == std::vector<rill::CloseReason>{rill::CloseReason::peer_closed});
    // The other stream on the connection goes on.
    CHECK(link.ends.count(other) == 0);
    CHECK(link.server().open_streams() == 1);
}

TEST_CASE("a dropped connection ends every open body peer_closed and pays the pending write") {
    std::vector<rill::BodyPtr> bodies;
    std::vector<rill::CloseReason> reasons;
    Link link(
        [&](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
            REQUIRE(body->respond(req.framing(), head(200)) == rill::HeadStatus::ok);
            body->on_close([&](rill::CloseReason r) { reasons.push_back(r); });
            bodies.push_back(body);
        },
        100, false);
    link.get("/a");
    link.get("/b");
    link.pump();
    REQUIRE(bodies.size() == 2);
    CHECK(bodies[0]->send(std::string(5000, 'x')) != rill::SendStatus::closed);  // stuck on the window
    link.pump();
    CHECK(bodies[0]->write_pending());
    link.server().terminate(rill::CloseReason::peer_closed);
    CHECK(reasons == std::vector<rill::CloseReason>{rill::CloseReason::peer_closed, rill::CloseReason::peer_closed});
    CHECK_FALSE(bodies[0]->write_pending());
    CHECK(bodies[1]->send("late") == rill::SendStatus::closed);
    link.server().terminate(rill::CloseReason::peer_closed);
    CHECK(reasons.size() == 2);
}

TEST_CASE("GOAWAY with an error from the client ends the open bodies peer_closed") {
    std::vector<rill::CloseReason> reasons;
    Link link([&](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
        REQUIRE(body->respond(req.framing(), head(200)) == rill::HeadStatus::ok);
        body->on_close([&](rill::CloseReason r) { reasons.push_back(r); });
        (void)body->send("x");
    });
    link.get("/a");
    link.get("/b");
    link.pump();
    nghttp2_submit_goaway(link.client(), NGHTTP2_FLAG_NONE, 0, NGHTTP2_INTERNAL_ERROR, nullptr, 0);
    link.pump();
    CHECK(reasons == std::vector<rill::CloseReason>{rill::CloseReason::peer_closed, rill::CloseReason::peer_closed});
}

TEST_CASE("abort() resets the stream (the client must not take the part for the whole)") {
    rill::BodyPtr kept;
    Link link([&](const rill::h2::RequestHead& req, const rill::BodyPtr& body) {
        REQUIRE(body->respond(req.framing(), head(200)) == rill::HeadStatus::ok);
        kept = body;
    });
    const std::int32_t id = link.get("/");
    link.pump();
    (void)kept->send("half");
    link.pump();
    kept->abort();
    link.pump();
    CHECK(link.seen[id].data == "half");
    CHECK_FALSE(link.ended_with_end_stream(id));
    CHECK(link.seen[id].rst == NGHTTP2_INTERNAL_ERROR);
    CHECK(link.ends[id] == std::vector<rill::CloseReason>{rill::CloseReason::aborted});
}
