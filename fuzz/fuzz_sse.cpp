// Fuzz target for rill/sse.hpp: the input becomes a short stream of events (each
// field present or not, made of raw bytes or of pieces chosen for trouble: every
// line ending, NUL, a BOM, colons, field names, UTF-8 good and bad) and comments.
//
// Each event is encoded through every entry point (encoded_size, encode into an
// exact and a short buffer, append, send_event into a body), which must agree
// byte for byte; it is refused exactly when the documented rules say, with the
// documented status; and the stream so far, read by the reference parser written
// from the WHATWG algorithm (tests/unit/sse_reference_parser.hpp), must give back
// exactly the fields, with CRLF and CR in data read as LF. A short event sent into
// a body whose sink takes it at once must allocate nothing: this program replaces
// operator new to count.

#include <rill/rill.hpp>
#include <rill/sse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "sse_reference_parser.hpp"

namespace {

thread_local bool counting = false;
thread_local std::size_t allocations = 0;

void* counted_alloc(std::size_t n) {
    if (counting) ++allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}

}  // namespace

// Every form a library may pair with these deletes is replaced (libFuzzer itself uses
// the nothrow one): under ASan a new from the runtime freed here would be a mismatch.
void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    if (counting) ++allocations;
    return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept { return operator new(n, tag); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

using rill::sse::EncodeStatus;
using rill::sse::Event;
using rill_fuzz::ByteReader;

constexpr std::string_view kPieces[] = {
    "\r", "\n", "\r\n", "\n\r", std::string_view("\0", 1), " ", "  ", ":", ": ", "data", "data:", "id", "event", "retry",
    "\xEF\xBB\xBF", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xFF", "\xE2\x82", "\xC0\x80",
    "\xED\xA0\x80", "7", "x", "\t",
};

// A field value: a length, then raw bytes or, when the length byte's high bit is set,
// one piece per byte.
std::string value(ByteReader& in) {
    const std::uint8_t spec = in.byte();
    const std::size_t n = spec & 0x3Fu;
    std::string out;
    if ((spec & 0x80u) != 0) {
        for (std::size_t i = 0; i < n && !in.empty(); ++i)
            out += kPieces[in.byte() % (sizeof kPieces / sizeof kPieces[0])];
    } else {
        for (std::size_t i = 0; i < n && !in.empty(); ++i) out += static_cast<char>(in.byte());
    }
    return out;
}

std::int64_t retry_value(ByteReader& in) {
    switch (in.byte() % 4) {
        case 0: return static_cast<std::int64_t>(in.byte()) * 37;
        case 1: return rill::sse::max_retry_ms - 2 + static_cast<std::int64_t>(in.byte() % 5);
        case 2: return -1 - static_cast<std::int64_t>(in.u32());
        default: {
            const std::uint64_t high = in.u32();  // two statements: a fixed order of reads
            const std::uint64_t low = in.u32();
            return static_cast<std::int64_t>((high << 32) | low);
        }
    }
}

// The documented rules, written out again: type without CR/LF, id without CR/LF/NUL,
// retry in [0, max_retry_ms]; the first broken one (type, id, retry) is reported.
EncodeStatus expected_status(const Event& e) {
    const auto has_any = [](std::string_view s, std::string_view chars) {
        for (char c : s)
            if (chars.find(c) != std::string_view::npos) return true;
        return false;
    };
    if (has_any(e.type, "\r\n")) return EncodeStatus::invalid_type;
    if (e.id && has_any(*e.id, std::string_view("\r\n\0", 3))) return EncodeStatus::invalid_id;
    if (e.retry && (*e.retry < 0 || *e.retry > 2147483647)) return EncodeStatus::invalid_retry;
    return EncodeStatus::ok;
}

std::string lf_lines(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\r') {
            out += s[i];
            continue;
        }
        out += '\n';
        if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    }
    return out;
}

// A sink that keeps what it is given in storage reserved up front, so that taking a
// short event allocates nothing on its side either.
struct RecordingSink {
    std::string* bytes;
    rill::WriteResult write(const rill::ConstBuffer* b, std::size_t n) {
        std::size_t total = 0;
        for (std::size_t i = 0; i < n; ++i) {
            bytes->append(b[i].data, b[i].size);
            total += b[i].size;
        }
        return rill::WriteResult::ok(total);
    }
    void finish(rill::CloseReason) {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ByteReader in(data, size);
    static std::string sink_bytes = [] {
        std::string s;
        s.reserve(1 << 20);
        return s;
    }();
    sink_bytes.clear();
    auto body = rill::make_deferred_body<RecordingSink>();
    body->each(RecordingSink{&sink_bytes});

    std::string stream;  // everything sent so far, as a client would read it
    rill_test::SseStreamResult model;
    const std::size_t events = 1 + in.below(8);
    for (std::size_t k = 0; k < events; ++k) {
        const std::uint8_t flags = in.byte();
        const std::string d = value(in);
        const std::string t = value(in);
        const std::string i = value(in);
        Event e;
        if ((flags & 1u) != 0) e.data = d;
        if ((flags & 2u) != 0) e.type = t;
        if ((flags & 4u) != 0) e.id = i;
        if ((flags & 8u) != 0) e.retry = retry_value(in);

        const EncodeStatus want = expected_status(e);
        const rill::sse::EncodeResult measured = rill::sse::encoded_size(e);
        RILL_FUZZ_CHECK(measured.status == want, rill::sse::to_string(measured.status));

        // The caller's buffer: one byte short writes nothing, the exact size writes it all.
        const std::size_t room = want == EncodeStatus::ok ? measured.size : 16;
        std::vector<char> buf(room + 1, '#');
        if (room != 0) {
            const rill::sse::EncodeResult short_r = rill::sse::encode(e, buf.data(), room - 1);
            RILL_FUZZ_CHECK(short_r.status == (want == EncodeStatus::ok ? EncodeStatus::buffer_too_small : want),
                            rill::sse::to_string(short_r.status));
            RILL_FUZZ_CHECK(short_r.size == measured.size, "the size needed");
            RILL_FUZZ_CHECK(std::string_view(buf.data(), buf.size()).find_first_not_of('#') == std::string_view::npos,
                            "a buffer too small (or a refusal) was written to");
        }
        const rill::sse::EncodeResult r = rill::sse::encode(e, buf.data(), room);
        RILL_FUZZ_CHECK(r.status == want && r.size == measured.size, "encode into an exact buffer");
        RILL_FUZZ_CHECK(buf[room] == '#', "encode wrote past the size it reported");

        std::string appended = "prefix";
        RILL_FUZZ_CHECK(rill::sse::append(appended, e) == want, "append's status");

        const std::size_t sink_before = sink_bytes.size();
        allocations = 0;
        counting = true;
        const rill::sse::SendResult sent = rill::sse::send_event(*body, e);
        counting = false;
        RILL_FUZZ_CHECK(sent.encode == want, "send_event's status");

        if (want != EncodeStatus::ok) {
            RILL_FUZZ_CHECK(appended == "prefix", "append of a refused event changed the string");
            RILL_FUZZ_CHECK(!sent.send.has_value() && sink_bytes.size() == sink_before,
                            "a refused event reached the body");
            continue;
        }
        const std::string_view bytes(buf.data(), r.size);
        RILL_FUZZ_CHECK(appended.substr(6) == bytes, "append and encode disagree");
        RILL_FUZZ_CHECK(sent.send == rill::SendStatus::written, "the sink takes everything");
        RILL_FUZZ_CHECK(std::string_view(sink_bytes).substr(sink_before) == bytes, "send_event and encode disagree");
        if (r.size <= RILL_SSE_STACK_BUFFER)
            RILL_FUZZ_CHECK(allocations == 0, "a short event sent to a ready sink allocated");

        // What a client makes of the whole stream so far.
        stream += bytes;
        if (e.id) model.last_event_id = rill_test::sse_reference::utf8_decode(*e.id);
        if (e.retry) model.reconnection_time = static_cast<std::uint64_t>(*e.retry);
        if (e.data)
            model.events.push_back({e.type.empty() ? std::string("message") : rill_test::sse_reference::utf8_decode(e.type),
                                    rill_test::sse_reference::utf8_decode(lf_lines(*e.data)), model.last_event_id});
        if ((flags & 16u) != 0) {
            // A comment of any text between events changes nothing a client sees.
            const std::string c = value(in);
            const std::size_t before = stream.size();
            rill::sse::append_comment(stream, c);
            RILL_FUZZ_CHECK(stream.size() - before == rill::sse::comment_size(c), "comment_size");
            RILL_FUZZ_CHECK(stream[before] == ':', "a comment starts with ':'");
        }
        const rill_test::SseStreamResult got = rill_test::parse_event_stream(stream);
        RILL_FUZZ_CHECK(got.last_event_id == model.last_event_id, "last event id");
        RILL_FUZZ_CHECK(got.reconnection_time == model.reconnection_time && !got.reconnection_time_overflowed,
                        "reconnection time");
        RILL_FUZZ_CHECK(got.events.size() == model.events.size(), "number of events dispatched");
        for (std::size_t n = 0; n < got.events.size(); ++n) {
            RILL_FUZZ_CHECK(got.events[n].type == model.events[n].type, "event type");
            RILL_FUZZ_CHECK(got.events[n].data == model.events[n].data, "event data");
            RILL_FUZZ_CHECK(got.events[n].last_event_id == model.events[n].last_event_id, "event's lastEventId");
        }
    }
    return 0;
}
