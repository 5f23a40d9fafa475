// Fuzz target for rill::DeferredBody: a scripted sink and a scripted application.
//
// The input is read as a sequence of operations on one body (respond, each,
// sends of every size and kind, cork/uncork, flush, close with or without
// trailers, abort, callback changes) interleaved with the sink's answer to each
// write (take all, take some, would block, peer closed, error, an impossible
// byte count, or calling back into the body from inside write()). The harness
// keeps its own account of what the body must put on the wire and checks,
// after every operation and at every write, that the body keeps its promises.

#include <rill/rill.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"
#include "test_chunked_decoder.hpp"

namespace {

using rill_fuzz::ByteReader;

struct Harness;

// Heap state owned by a callback (the only reference is in its closure), read again
// after the callback called into the body. If the body destroyed the callable while
// it ran, that read is a heap-use-after-free, which ASan reports; a plain build
// most likely sees the canary overwritten.
class Owned {
public:
    Owned() : state_(std::make_shared<std::string>(canary)) {}
    void touch() const {
        RILL_FUZZ_CHECK(state_ != nullptr && *state_ == canary, "the callback's own state was destroyed under it");
    }

private:
    static constexpr std::string_view canary = "state that only this callback owns, past any SSO";
    std::shared_ptr<std::string> state_;
};

struct WriteFn {
    Harness* harness;
    bool spare;  // the sink of a second each(), which must never be used
    Owned owned;  // touched after every write, re-entrant or not
    rill::WriteResult operator()(const rill::ConstBuffer* bufs, std::size_t count) const;
};

struct FinishFn {
    Harness* harness;
    bool spare;
    Owned owned;
    void operator()(rill::CloseReason reason) const;
};

using Sink = rill::FunctionSink<WriteFn, FinishFn>;
using Body = rill::DeferredBody<Sink>;

int rank(rill::BodyState s) { return static_cast<int>(s); }

bool ended(rill::BodyState s) { return s == rill::BodyState::closing || s == rill::BodyState::closed; }

// Framed independently of rill, so that a framing bug cannot cancel out.
std::string framed_part(rill::Framing framing, std::string_view part) {
    return framing == rill::Framing::chunked ? rill::test::chunk_of(part) : std::string(part);
}

std::string last_chunk(const rill::Fields& trailers) {
    std::string out = "0\r\n";
    for (const rill::Field& f : trailers) out += f.name + ": " + f.value + "\r\n";
    return out + "\r\n";
}

// RFC 9110 section 5.1: a field name is a token; section 5.5: a value holds no control
// byte but HTAB (so no CR, LF, NUL or DEL) and no leading or trailing SP/HTAB.
bool token_char(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool field_name_ok(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), token_char);
}

bool field_value_ok(std::string_view value) {
    for (char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    return value.empty() || (value.front() != ' ' && value.front() != '\t' && value.back() != ' ' &&
                             value.back() != '\t');
}

// The trailer names the harness may generate, each with its verdict under RFC 9110
// section 6.5.1 (no framing, routing, request modifier, authentication, response control
// or content processing field in a trailer) and section 7.6.1 (no connection option).
struct TrailerName {
    std::string_view name;
    bool forbidden;
};
constexpr TrailerName trailer_names[] = {
    {"X-Checksum", false},       {"x-b", false},              {"Server-Timing", false},
    {"Content-Length", true},    {"transfer-encoding", true}, {"Trailer", true},
    {"Host", true},              {"Content-Type", true},      {"Content-Encoding", true},
    {"Set-Cookie", true},        {"Authorization", true},     {"Cache-Control", true},
    {"Date", true},              {"Connection", true},        {"TE", true},
    {"Bad Name", false},         {"X:Y", false},              {"", false},
};
constexpr std::string_view trailer_values[] = {
    "abc", "two words", "", "\x80obs-text", "a\r\nX-Injected: y", " lead", "trail\t", "a\x7f" "b",
    std::string_view("nul\0", 4), "a\tb"};

// Whether close(trailers) must accept the set, by the rules above.
bool sendable(const rill::Fields& trailers) {
    for (const rill::Field& f : trailers) {
        if (!field_name_ok(f.name) || !field_value_ok(f.value)) return false;
        for (const TrailerName& t : trailer_names) {
            if (t.name.size() != f.name.size()) continue;
            bool same = true;
            for (std::size_t i = 0; i < t.name.size(); ++i)
                same = same && ascii_lower(t.name[i]) == ascii_lower(f.name[i]);
            if (same && t.forbidden) return false;
        }
    }
    return true;
}

enum class Hook : std::uint8_t { none, send, close, abort, drop };


struct Harness {
    explicit Harness(ByteReader& reader) : in(reader) {}

    ByteReader& in;
    std::shared_ptr<Body> body;
    Body* live = nullptr;  // null once a callback dropped the last reference
    rill::BodyOptions opts;

    // What the sink took, what the body must write (in order), and the body bytes accepted.
    std::string wire;
    std::string expected;
    std::string accepted;
    std::size_t max_framed = 0;
    std::size_t closing_bytes = 0;  // the last chunk and trailers, queued by close() whatever the policy

    bool responded = false;
    rill::Framing plan_framing = rill::Framing::raw;  // the harness's own expectation once responded
    std::uint64_t plan_length = 0;
    bool plan_persistent = false;
    std::size_t head_size = 0;
    rill::Fields sent_trailers;
    bool failure_injected = false;

    bool each_called = false;
    bool accept_all = false;
    bool in_write = false;
    unsigned corks = 0;
    int reentries = 0;
    std::size_t part_counter = 0;
    rill::BodyState last_state = rill::BodyState::waiting;

    int finish_calls = 0;
    rill::CloseReason finish_reason = rill::CloseReason::completed;

    std::vector<int> close_calls;  // per on_close registration
    std::size_t close_gen = 0;     // the registration in force when the body ended
    bool closed_seen = false;
    bool dropped_open = false;
    rill::CloseReason closed_reason = rill::CloseReason::completed;
    Hook close_hook = Hook::none;

    Hook drain_hook = Hook::none;
    bool drain_armed = false;

    std::string part(std::size_t size) {
        std::string p(size, '\0');
        const std::size_t salt = ++part_counter * 131;
        for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<char>((salt + i * 7) & 0xffu);
        return p;
    }

    std::size_t part_size() { return in.below(4) == 0 ? in.below(3000) : in.below(40); }

    // Zero to three trailer fields from the tables above.
    rill::Fields trailer_set() {
        rill::Fields t;
        for (std::size_t n = in.below(4); n != 0; --n) {
            const TrailerName& name = trailer_names[in.below(std::size(trailer_names))];
            t.push_back({std::string(name.name), std::string(trailer_values[in.below(std::size(trailer_values))])});
        }
        return t;
    }

    // ---------------------------------------------------------------- operations

    // The heads the harness generates, each with the bytes and the plan RFC 9110 and
    // RFC 9112 give it, written out here (docs/http.md's tables) rather than asked of
    // prepare_head(): the status line, the application's fields in order, then the
    // framing and persistence fields a server must add.
    struct HeadCase {
        rill::Request request;
        int status;
        std::string extra;      // the application's fields after Content-Type, as wire lines
        std::string added;      // what the server adds, as wire lines
        rill::Framing framing;
        std::uint64_t length;   // with Framing::fixed
        bool persistent;
    };

    HeadCase head_case(std::size_t shape, std::uint64_t n) {
        const std::string cl = "Content-Length: " + std::to_string(n) + "\r\n";
        using F = rill::Framing;
        switch (shape) {
            case 0: return {{"GET", 1, "", ""}, 200, "", "Transfer-Encoding: chunked\r\n", F::chunked, 0, true};
            case 1: return {{"GET", 1, "", ""}, 200, cl, "", F::fixed, n, true};
            case 2: return {{"GET", 0, "", ""}, 200, "", "Connection: close\r\n", F::close_delimited, 0, false};
            // HEAD: the framing a GET would have is announced, nothing follows (RFC 9110 9.3.2).
            case 3: return {{"HEAD", 1, "", ""}, 200, "", "Transfer-Encoding: chunked\r\n", F::none, 0, true};
            // 204 and 304: no body and no Transfer-Encoding (RFC 9112 6.1, 6.3).
            case 4: return {{"GET", 1, "", ""}, 204, "", "", F::none, 0, true};
            case 5: return {{"GET", 0, "keep-alive", ""}, 200, cl, "Connection: keep-alive\r\n", F::fixed, n, true};
            case 6:
                return {{"GET", 1, "close", ""}, 200, "Trailer: X-Checksum\r\n",
                        "Transfer-Encoding: chunked\r\nConnection: close\r\n", F::chunked, 0, false};
            case 7: return {{"GET", 1, "", ""}, 200, cl, "", F::fixed, n, true};
            // A 2xx to CONNECT is a tunnel: no framing, no Connection decision (RFC 9110 9.3.6).
            case 8: return {{"CONNECT", 1, "", ""}, 200, "", "", F::none, 0, false};
            case 9: return {{"HEAD", 1, "", ""}, 200, cl, "", F::none, 0, true};
            case 10: return {{"GET", 1, "", ""}, 304, "", "", F::none, 0, true};
            default: return {{"HEAD", 0, "", ""}, 200, "", "Connection: close\r\n", F::none, 0, false};
        }
    }

    void do_respond() {
        const std::size_t shape = in.below(12);
        std::uint64_t n = 0;
        if (shape == 1 || shape == 5) n = in.below(64);
        if (shape == 7 || shape == 9) n = in.below(5000);
        HeadCase hc = head_case(shape, n);
        rill::ResponseHead head(hc.status);
        head.header("Content-Type", "text/plain");
        if (shape == 1 || shape == 5 || shape == 7 || shape == 9)
            head.header("Content-Length", std::to_string(n));
        if (shape == 6) head.header("Trailer", "X-Checksum");
        const bool injected = in.below(8) == 0;  // a value that would split the head
        if (injected) head.header("X-Bad", "a\r\nX-Injected: y");
        static constexpr std::string_view reasons[] = {"OK", "No Content", "Not Modified"};
        const std::string_view reason = hc.status == 204 ? reasons[1] : hc.status == 304 ? reasons[2] : reasons[0];
        const std::string bytes = "HTTP/1.1 " + std::to_string(hc.status) + " " + std::string(reason) +
                                  "\r\nContent-Type: text/plain\r\n" + hc.extra + hc.added + "\r\n";

        Body* b = live;
        const rill::BodyState pre = b->state();
        // started: the head must come first, so nothing may have been sent or queued yet.
        rill::HeadStatus predicted = rill::HeadStatus::ok;
        if (ended(pre)) predicted = rill::HeadStatus::body_closed;
        else if (responded || !expected.empty()) predicted = rill::HeadStatus::already_started;
        else if (injected) predicted = rill::HeadStatus::invalid_field_value;

        const std::size_t mark = expected.size();
        const bool was_responded = responded;
        if (predicted == rill::HeadStatus::ok) {
            // Before the call: a sink may call back into the body while the head is written.
            expected += bytes;
            head_size = bytes.size();
            max_framed = std::max(max_framed, bytes.size());
            responded = true;
            plan_framing = hc.framing;
            plan_length = hc.length;
            plan_persistent = hc.persistent;
        }
        const rill::HeadStatus status = b->respond(hc.request, head);
        RILL_FUZZ_CHECK(status == predicted, rill::to_string(status));
        if (status != rill::HeadStatus::ok) {
            expected.resize(mark);
            responded = was_responded;
            if (live != nullptr) RILL_FUZZ_CHECK(live->state() == pre, "a refused head changed the body");
        } else if (live != nullptr) {
            RILL_FUZZ_CHECK(live->framing() == hc.framing, "the body chose another framing");
            // Nothing can follow a head without a body, or one with Content-Length: 0: the
            // response is complete once the head is out, so the body ends at once.
            if (hc.framing == rill::Framing::none || (hc.framing == rill::Framing::fixed && hc.length == 0))
                RILL_FUZZ_CHECK(ended(live->state()), "a response that can carry no body stayed open");
        }
    }

    void do_each() {
        Body* b = live;
        if (!each_called) {
            each_called = true;
            b->each(Sink(WriteFn{this, false, {}}, FinishFn{this, false, {}}));
            return;
        }
        bool threw = false;
        try {
            b->each(Sink(WriteFn{this, true, {}}, FinishFn{this, true, {}}));
        } catch (const rill::UsageError&) {
            threw = true;
        }
        RILL_FUZZ_CHECK(threw, "a second each() did not throw UsageError");
    }

    void do_send(std::size_t size, int kind) {
        Body* b = live;
        const rill::BodyState pre = b->state();
        const rill::Framing framing = plan_framing;
        const std::string p = part(size);
        const std::size_t remaining =
            framing == rill::Framing::fixed ? static_cast<std::size_t>(plan_length) - accepted.size() : 0;
        const bool open = !ended(pre);
        const bool too_long = open && framing == rill::Framing::fixed && !p.empty() && p.size() > remaining;
        const bool full = open && !too_long && !p.empty() && framing != rill::Framing::none &&
                          opts.overflow == rill::OverflowPolicy::reject && b->bytes_queued() != 0 &&
                          b->bytes_queued() >= opts.high_water;
        const bool emits = open && !too_long && !full && !p.empty() && framing != rill::Framing::none;

        const std::size_t mark_expected = expected.size(), mark_accepted = accepted.size();
        if (emits) {
            const std::string f = framed_part(framing, p);
            expected += f;
            accepted += p;
            max_framed = std::max(max_framed, f.size());
        }
        rill::SendStatus s;
        if (kind == 0) s = b->send(std::string_view(p));
        else if (kind == 1) s = b->send(std::string(p));
        else s = b->send(p.c_str());  // stops at the first NUL: only used for empty parts
        if (s == rill::SendStatus::backpressure || s == rill::SendStatus::would_block) drain_armed = true;

        using rill::SendStatus;
        if (!open) {
            const bool length_reached = framing == rill::Framing::fixed && remaining == 0 && !p.empty();
            RILL_FUZZ_CHECK(s == (length_reached ? SendStatus::length_exceeded : SendStatus::closed),
                            rill::to_string(s));
        } else if (too_long) {
            RILL_FUZZ_CHECK(s == SendStatus::length_exceeded, rill::to_string(s));
        } else if (full) {
            RILL_FUZZ_CHECK(s == SendStatus::would_block, rill::to_string(s));
        } else if (s == SendStatus::closed) {
            // Only a part the sink failed on may answer closed on an open body.
            RILL_FUZZ_CHECK(emits && (live == nullptr || live->state() == rill::BodyState::closed),
                            "closed answered by a body that did not end");
        } else {
            RILL_FUZZ_CHECK(s == SendStatus::written || s == SendStatus::queued || s == SendStatus::backpressure,
                            rill::to_string(s));
        }
        if (!emits) {
            expected.resize(mark_expected);
            accepted.resize(mark_accepted);
        }
    }

    void do_close(const rill::Fields* trailers) {
        Body* b = live;
        const rill::BodyState pre = b->state();
        const rill::Framing framing = plan_framing;
        const bool has_trailers = trailers != nullptr && !trailers->empty();
        const bool valid = !has_trailers || sendable(*trailers);
        const bool emits = valid && !ended(pre) && framing == rill::Framing::chunked;
        if (emits) {
            const std::string last = last_chunk(has_trailers ? *trailers : rill::Fields{});
            expected += last;
            closing_bytes = last.size();
            if (has_trailers) sent_trailers = *trailers;
        }
        const rill::CloseStatus s = trailers != nullptr ? b->close(*trailers) : b->close();
        using rill::CloseStatus;
        const bool dropped = has_trailers && framing != rill::Framing::chunked;
        if (!valid) {
            RILL_FUZZ_CHECK(s == CloseStatus::invalid_trailer, rill::to_string(s));
            if (live != nullptr) RILL_FUZZ_CHECK(live->state() == pre, "an invalid trailer changed the body");
        } else if (ended(pre)) {
            RILL_FUZZ_CHECK(s == (dropped ? CloseStatus::trailers_dropped : CloseStatus::already_closed),
                            rill::to_string(s));
        } else {
            RILL_FUZZ_CHECK(s == (dropped ? CloseStatus::trailers_dropped : CloseStatus::ok), rill::to_string(s));
            if (live != nullptr) RILL_FUZZ_CHECK(ended(live->state()), "close() left the body open");
        }
    }

    void do_abort(rill::CloseReason reason) {
        Body* b = live;
        const rill::BodyState pre = b->state();
        b->abort(reason);
        if (pre != rill::BodyState::closed) {
            failure_injected = true;
            const rill::CloseReason want = reason == rill::CloseReason::completed ? rill::CloseReason::aborted : reason;
            if (live != nullptr)
                RILL_FUZZ_CHECK(live->state() == rill::BodyState::closed && live->close_reason() == want,
                                "abort() did not end the body with its reason");
        }
    }

    Hook hook() { return static_cast<Hook>(in.below(5)); }

    // The application (or the server, from inside write()) lets go of the body from
    // inside a callback. An open body dropped this way may be destroyed without
    // on_close once the running call returns: what reached the wire is then only a
    // prefix of what was due.
    void drop_body() {
        if (live == nullptr) return;
        if (live->state() != rill::BodyState::closed) dropped_open = true;
        live = nullptr;
        body.reset();
    }

    void do_on_close() {
        Body* b = live;
        const std::size_t gen = close_calls.size();
        close_calls.push_back(0);
        const bool already = b->state() == rill::BodyState::closed;
        if (!already) {
            close_gen = gen;
            close_hook = hook();
        }
        b->on_close([this, gen, own = Owned()](rill::CloseReason r) {
            on_closed(gen, r);
            own.touch();
        });
        if (already) RILL_FUZZ_CHECK(close_calls[gen] == 1, "on_close on an ended body did not fire at once");
    }

    void do_on_drain() {
        drain_hook = hook();
        live->on_drain([this, own = Owned()] {
            on_drained();
            own.touch();
        });
    }

    // Something a sink or a callback might do to the body it belongs to.
    void reenter() {
        if (live == nullptr || ++reentries > 48) return;
        switch (in.below(10)) {
            case 0: case 1: do_send(in.below(40), 0); break;
            case 2: do_send(in.below(40), 1); break;
            case 3: do_send(0, 0); break;
            case 4: do_close(nullptr); break;
            case 5: {
                const rill::Fields t = trailer_set();
                do_close(&t);
                break;
            }
            case 6: do_abort(static_cast<rill::CloseReason>(in.below(7))); break;
            case 7: live->flush(); break;  // ignored from inside write()
            case 9: drop_body(); break;    // the body must outlive the write() it is in
            default:
                live->cork();
                live->uncork();
                break;
        }
    }

    // ---------------------------------------------------------------- callbacks

    rill::WriteResult on_write(const rill::ConstBuffer* bufs, std::size_t count) {
        RILL_FUZZ_CHECK(!in_write, "the body called write() from inside write()");
        RILL_FUZZ_CHECK(finish_calls == 0, "write() after finish()");
        // docs/sink.md: RILL_GATHER_MAX from the queue, 3 more for a part written straight after it.
        RILL_FUZZ_CHECK(count >= 1 && count <= RILL_GATHER_MAX + 3, "buffer count out of range");
        std::string offered;
        for (std::size_t i = 0; i < count; ++i) offered.append(bufs[i].data, bufs[i].size);
        RILL_FUZZ_CHECK(!offered.empty(), "write() offered nothing");
        RILL_FUZZ_CHECK(wire.size() + offered.size() <= expected.size() &&
                            expected.compare(wire.size(), offered.size(), offered) == 0,
                        "the body offered bytes other than the next ones due");

        in_write = true;
        rill::WriteResult r = rill::WriteResult::ok(offered.size());
        const std::uint8_t action = accept_all ? std::uint8_t{0} : in.byte();
        switch (action % 12) {
            case 4: r = rill::WriteResult::ok(in.below(offered.size() + 1)); break;
            case 5: r = rill::WriteResult::would_block(in.below(offered.size() + 1)); break;
            case 6: r = rill::WriteResult::closed(); failure_injected = true; break;
            case 7: r = rill::WriteResult::failed(5); failure_injected = true; break;
            case 8:
                reenter();
                if (in.flag()) r = rill::WriteResult::ok(in.below(offered.size() + 1));
                break;
            case 9:
                reenter();
                reenter();
                r = rill::WriteResult::would_block(0);
                break;
            case 10: r = rill::WriteResult::ok(offered.size() + 1); failure_injected = true; break;
            case 11: r = rill::WriteResult::ok(1); break;
            default: break;
        }
        in_write = false;
        if (r.bytes <= offered.size()) {  // a lying sink took nothing
            wire.append(offered, 0, r.bytes);
        }
        return r;
    }

    void on_finish(rill::CloseReason reason) {
        RILL_FUZZ_CHECK(!in_write, "finish() from inside write()");
        ++finish_calls;
        RILL_FUZZ_CHECK(finish_calls == 1, "finish() called twice");
        finish_reason = reason;
    }

    void on_closed(std::size_t gen, rill::CloseReason reason) {
        RILL_FUZZ_CHECK(++close_calls[gen] == 1, "on_close fired twice");
        if (live != nullptr)
            RILL_FUZZ_CHECK(live->state() == rill::BodyState::closed && live->close_reason() == reason,
                            "on_close does not match the body");
        if (gen != close_gen) return;  // a late registration: told at once, nothing more to do
        closed_seen = true;
        closed_reason = reason;
        switch (close_hook) {
            case Hook::send:
                if (live != nullptr) do_send(in.below(20), 0);
                break;
            case Hook::close:
                if (live != nullptr) do_close(nullptr);
                break;
            case Hook::abort:
                if (live != nullptr) do_abort(static_cast<rill::CloseReason>(in.below(7)));
                break;
            case Hook::drop:
                // The callback drops the last reference: the body must survive until its call returns.
                drop_body();
                break;
            default: break;
        }
    }

    void on_drained() {
        RILL_FUZZ_CHECK(drain_armed, "on_drain without a backpressure or would_block answer");
        drain_armed = false;
        if (live == nullptr) return;
        const std::size_t q = live->bytes_queued();
        RILL_FUZZ_CHECK(q == 0 || q < live->options().low_water, "on_drain above the low-water mark");
        switch (drain_hook) {
            case Hook::send: do_send(in.below(40), 0); break;
            case Hook::close: do_close(nullptr); break;
            case Hook::abort: do_abort(static_cast<rill::CloseReason>(in.below(7))); break;
            case Hook::drop: drop_body(); break;
            default: break;
        }
    }

    // ---------------------------------------------------------------- invariants

    void check() {
        RILL_FUZZ_CHECK(finish_calls <= 1, "finish() called twice");
        if (live == nullptr) return;
        const Body& b = *live;
        const rill::BodyState state = b.state();
        RILL_FUZZ_CHECK(rank(state) >= rank(last_state), "the body state went backwards");
        last_state = state;
        RILL_FUZZ_CHECK(b.bytes_sent() == wire.size(), "bytes_sent() " + std::to_string(b.bytes_sent()) +
                                                           " differs from what the sink took: " +
                                                           std::to_string(wire.size()) + ", state " +
                                                           rill::to_string(state) + ", reason " +
                                                           rill::to_string(b.close_reason()));
        RILL_FUZZ_CHECK(b.body_bytes() == accepted.size(), "body_bytes() differs from the accepted parts");
        RILL_FUZZ_CHECK(expected.size() >= wire.size(), "more bytes written than sent");
        if (state == rill::BodyState::closed) {
            RILL_FUZZ_CHECK(close_calls[close_gen] == 1, "ended without on_close");
            RILL_FUZZ_CHECK(live->sink() == nullptr, "an ended body still holds its sink");
            if (each_called)
                RILL_FUZZ_CHECK(finish_calls == 1 && finish_reason == b.close_reason(),
                                "the sink was not told how the body ended");
        } else {
            RILL_FUZZ_CHECK(close_calls[close_gen] == 0 && finish_calls == 0, "told of an end that did not happen");
            RILL_FUZZ_CHECK(each_called == (live->sink() != nullptr), "sink() differs from each()");
            if (state == rill::BodyState::waiting) RILL_FUZZ_CHECK(!each_called, "waiting after each()");
        }
        for (std::size_t g = 0; g < close_gen; ++g)
            RILL_FUZZ_CHECK(close_calls[g] <= 1, "a replaced on_close fired twice");
        if (opts.overflow == rill::OverflowPolicy::reject && state != rill::BodyState::closed) {
            RILL_FUZZ_CHECK(b.bytes_queued() <= opts.high_water + max_framed + closing_bytes,
                            "the reject policy let the queue grow past high water plus one part: " +
                                std::to_string(b.bytes_queued()) + " queued, high water " +
                                std::to_string(opts.high_water) + ", largest part " + std::to_string(max_framed) +
                                ", re-entries " + std::to_string(reentries));
        }
        if (responded && plan_framing == rill::Framing::fixed && wire.size() > head_size)
            RILL_FUZZ_CHECK(wire.size() - head_size <= plan_length, "more than Content-Length");
        // A completed response on a persistent plan frees the connection for the next request.
        if (responded && plan_persistent && state == rill::BodyState::closed &&
            b.close_reason() == rill::CloseReason::completed)
            RILL_FUZZ_CHECK(b.keep_alive(), "a completed persistent response does not keep the connection");
        if (b.keep_alive())
            RILL_FUZZ_CHECK(state == rill::BodyState::closed && b.close_reason() == rill::CloseReason::completed &&
                                plan_persistent,
                            "keep_alive() on a body that may not keep the connection");
    }

    // After a flush with nothing queued, a pending drain must have been reported.
    void check_drained() {
        if (live == nullptr || corks != 0 || !each_called || live->state() != rill::BodyState::open) return;
        const std::size_t q = live->bytes_queued();
        if (q == 0 || q < live->options().low_water)
            RILL_FUZZ_CHECK(!drain_armed, "the queue drained without on_drain");
    }

    void check_wire() {
        RILL_FUZZ_CHECK(expected.compare(0, wire.size(), wire) == 0, "the wire is not what the body was given");
        if (live != nullptr) {
            RILL_FUZZ_CHECK(live->state() == rill::BodyState::closed, "the body did not end");
            closed_reason = live->close_reason();
        } else if (dropped_open) {
            // Dropped while open: it may still have ended within the call that was running,
            // or been destroyed open (then without on_close). Either way, a prefix.
            return;
        } else {
            RILL_FUZZ_CHECK(closed_seen, "a dropped body never ended");
        }
        // An abort (with any reason, even truncated) or a failing sink ends the body early:
        // then the wire is only a prefix of what was due.
        if (failure_injected) return;
        RILL_FUZZ_CHECK(closed_reason == rill::CloseReason::completed || closed_reason == rill::CloseReason::truncated,
                        "ended badly without an abort or a failing sink");
        RILL_FUZZ_CHECK(wire == expected, "a complete body is not exactly the expected bytes: " +
                                              std::to_string(wire.size()) + " written, " +
                                              std::to_string(expected.size()) + " expected, reason " +
                                              rill::to_string(closed_reason) + ", framing " +
                                              rill::to_string(plan_framing));
        const std::string_view rest = std::string_view(wire).substr(responded ? head_size : 0);
        const rill::Framing framing = plan_framing;
        if (closed_reason == rill::CloseReason::truncated)
            RILL_FUZZ_CHECK(framing == rill::Framing::fixed && accepted.size() < plan_length,
                            "truncated without a short fixed-length body");
        switch (framing) {
            case rill::Framing::chunked: {
                std::string decoded, error;
                std::vector<std::pair<std::string, std::string>> trailers;
                RILL_FUZZ_CHECK(rill::test::decode_chunked(rest, decoded, trailers, error), error);
                RILL_FUZZ_CHECK(decoded == accepted, "the chunked body is not the accepted parts");
                RILL_FUZZ_CHECK(trailers.size() == sent_trailers.size(), "trailers lost or added");
                for (std::size_t i = 0; i < trailers.size(); ++i)
                    RILL_FUZZ_CHECK(trailers[i].first == sent_trailers[i].name &&
                                        trailers[i].second == sent_trailers[i].value,
                                    "a trailer changed");
                break;
            }
            case rill::Framing::fixed:
                RILL_FUZZ_CHECK(rest == accepted, "the fixed-length body is not the accepted parts");
                if (closed_reason == rill::CloseReason::completed)
                    RILL_FUZZ_CHECK(rest.size() == plan_length, "completed short of Content-Length");
                break;
            case rill::Framing::none:
                RILL_FUZZ_CHECK(rest.empty(), "a body without a body wrote one");
                break;
            default:
                RILL_FUZZ_CHECK(rest == accepted, "the body is not the accepted parts");
                break;
        }
    }

    // ---------------------------------------------------------------- the scenario

    void run() {
        static constexpr std::size_t waters[] = {0, 1, 4, 16, 64, 256, 4096, 65536};
        const std::uint8_t config = in.byte();
        opts.high_water = waters[config & 7u];
        opts.low_water = waters[(config >> 3) & 7u];
        opts.overflow = (config & 0x40u) != 0 ? rill::OverflowPolicy::reject : rill::OverflowPolicy::queue;
        body = rill::make_deferred_body<Sink>(opts);
        live = body.get();
        close_calls.push_back(0);
        close_hook = hook();
        live->on_close([this, own = Owned()](rill::CloseReason r) {
            on_closed(0, r);
            own.touch();
        });
        // Always watched, so that every drain the body reports can be checked.
        if ((config & 0x80u) != 0) do_on_drain();
        else live->on_drain([this, own = Owned()] {
            on_drained();
            own.touch();
        });

        for (int ops = 0; ops < 200 && !in.empty() && live != nullptr; ++ops) {
            switch (in.below(16)) {
                case 0: do_respond(); break;
                case 1: do_each(); break;
                case 2: case 3: do_send(part_size(), 0); break;
                case 4: do_send(part_size(), 1); break;
                case 5: do_send(0, static_cast<int>(in.below(3))); break;
                case 6:
                    live->cork();
                    ++corks;
                    break;
                case 7:
                    live->uncork();
                    if (corks != 0) --corks;
                    if (corks == 0) check_drained();
                    break;
                case 8:
                    live->flush();
                    check_drained();
                    break;
                case 9: do_close(nullptr); break;
                case 10: {
                    const rill::Fields t = trailer_set();
                    do_close(&t);
                    break;
                }
                case 11:
                    if (in.below(4) == 0) do_abort(static_cast<rill::CloseReason>(in.below(7)));
                    break;
                case 12: do_on_close(); break;
                case 13: do_on_drain(); break;
                case 14: accept_all = in.flag(); break;
                default: do_send(in.below(2) == 0 ? 1 : in.below(70000), 0); break;
            }
            check();
        }

        // The server hands over a sink that takes everything and the application ends
        // the body: whatever happened before, it must now end, exactly once.
        accept_all = true;
        if (live != nullptr && !each_called) do_each();
        for (; live != nullptr && corks != 0; --corks) live->uncork();
        if (live != nullptr && !ended(live->state())) do_close(nullptr);
        if (live != nullptr && live->state() != rill::BodyState::closed) live->flush();
        check();
        check_wire();
    }
};

rill::WriteResult WriteFn::operator()(const rill::ConstBuffer* bufs, std::size_t count) const {
    RILL_FUZZ_CHECK(!spare, "the body wrote to the sink of a refused each()");
    const rill::WriteResult r = harness->on_write(bufs, count);
    owned.touch();  // the sink must outlive its own write(), whatever happened inside
    return r;
}

void FinishFn::operator()(rill::CloseReason reason) const {
    RILL_FUZZ_CHECK(!spare, "the body finished the sink of a refused each()");
    harness->on_finish(reason);
    owned.touch();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ByteReader in(data, size);
    Harness harness(in);
    harness.run();
    return 0;
}
