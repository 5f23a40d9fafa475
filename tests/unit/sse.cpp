// rill::sse: the exact bytes of every field and line ending, every refusal, the
// caller-buffer contract, sending into bodies, heartbeats, the response head and
// Last-Event-ID; and round trips through an independent parser written from the
// WHATWG standard (sse_reference_parser.hpp), by hand and at random.

#include <doctest/doctest.h>
#include <rill/rill.hpp>
#include <rill/sse.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "sse_reference_parser.hpp"
#include "test_sinks.hpp"

using namespace std::literals;
using rill::sse::EncodeStatus;
using rill::sse::Event;

namespace {

std::string encoded(const Event& e) {
    std::string out;
    REQUIRE(rill::sse::append(out, e) == EncodeStatus::ok);
    return out;
}

// The WHATWG line splitting seen from the data's side: every CRLF and lone CR is an LF.
std::string normalize_line_ends(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            out += '\n';
            if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

// Undoes a chunked body (the unit tests' own decoder lives in test_chunked_decoder.hpp,
// but an SSE body here is always a sequence of whole chunks, so this is enough).
std::string unchunk(std::string_view s) {
    std::string out;
    for (;;) {
        const std::size_t crlf = s.find("\r\n");
        REQUIRE(crlf != std::string_view::npos);
        const std::size_t n = std::stoul(std::string(s.substr(0, crlf)), nullptr, 16);
        s.remove_prefix(crlf + 2);
        if (n == 0) {
            REQUIRE(s == "\r\n");
            return out;
        }
        REQUIRE(s.size() >= n + 2);
        out.append(s.substr(0, n));
        REQUIRE(s.substr(n, 2) == "\r\n");
        s.remove_prefix(n + 2);
    }
}

}  // namespace

TEST_CASE("sse: data lines, exact bytes for every line ending") {
    struct Case {
        std::string data;
        std::string bytes;
    };
    const Case cases[] = {
        {"hello", "data: hello\n\n"},
        {"", "data:\n\n"},
        {"a\nb", "data: a\ndata: b\n\n"},
        {"a\r\nb", "data: a\ndata: b\n\n"},
        {"a\rb", "data: a\ndata: b\n\n"},
        {"a\r\nb\nc\rd", "data: a\ndata: b\ndata: c\ndata: d\n\n"},
        {"\n", "data:\ndata:\n\n"},
        {"\r", "data:\ndata:\n\n"},
        {"\r\n", "data:\ndata:\n\n"},
        {"\n\r", "data:\ndata:\ndata:\n\n"},        // LF then a lone CR: two line ends
        {"\r\r\n", "data:\ndata:\ndata:\n\n"},      // a lone CR, then CRLF
        {"\r\n\r\n", "data:\ndata:\ndata:\n\n"},
        {"\nx", "data:\ndata: x\n\n"},              // leading line end
        {"x\n", "data: x\ndata:\n\n"},              // trailing line end
        {"x\r", "data: x\ndata:\n\n"},
        {"x\r\n", "data: x\ndata:\n\n"},
        {" x", "data:  x\n\n"},                     // a leading space survives the one the client strips
        {"  ", "data:   \n\n"},
        {"a: b", "data: a: b\n\n"},
        {":not a comment", "data: :not a comment\n\n"},
        {"tab\there", "data: tab\there\n\n"},
        {"nul\0inside"s, "data: nul\0inside\n\n"s},
        {"h\xC3\xA9llo \xE2\x86\x92 \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x98\x80",
         "data: h\xC3\xA9llo \xE2\x86\x92 \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x98\x80\n\n"},
        {"\xEF\xBB\xBF" "bom", "data: \xEF\xBB\xBF" "bom\n\n"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.data);
        CHECK(encoded(Event{c.data}) == c.bytes);
        // The same bytes through the caller-buffer form, and their size up front.
        const rill::sse::EncodeResult size = rill::sse::encoded_size(Event{c.data});
        CHECK(size.status == EncodeStatus::ok);
        CHECK(size.size == c.bytes.size());
        std::vector<char> buf(c.bytes.size());
        const rill::sse::EncodeResult r = rill::sse::encode(Event{c.data}, buf.data(), buf.size());
        REQUIRE(r.status == EncodeStatus::ok);
        CHECK(std::string(buf.data(), r.size) == c.bytes);
    }
}

TEST_CASE("sse: every combination of fields, in the documented order") {
    // Field values that each test something: a type with a space and a colon, an id
    // with a leading space, the largest retry, data on two lines.
    const std::string type = "clock tick:1";
    const std::string id = " 42";
    const std::int64_t retry = rill::sse::max_retry_ms;
    const std::string data = "first\r\nsecond";
    for (unsigned mask = 0; mask < 16; ++mask) {
        CAPTURE(mask);
        Event e;
        std::string want;
        if (mask & 1u) {
            e.type = type;
            want += "event: clock tick:1\n";
        }
        if (mask & 2u) {
            e.id = id;
            want += "id:  42\n";
        }
        if (mask & 4u) {
            e.retry = retry;
            want += "retry: 2147483647\n";
        }
        if (mask & 8u) {
            e.data = data;
            want += "data: first\ndata: second\n";
        }
        want += "\n";
        CHECK(encoded(e) == want);
    }
}

TEST_CASE("sse: edge values of id and retry") {
    CHECK(encoded(Event{std::nullopt, {}, ""s}) == "id:\n\n");  // resets the client's last event id
    CHECK(encoded(Event{std::nullopt, {}, std::nullopt, 0}) == "retry: 0\n\n");
    CHECK(encoded(Event{std::nullopt, {}, std::nullopt, 9}) == "retry: 9\n\n");
    CHECK(encoded(Event{std::nullopt, {}, std::nullopt, 10}) == "retry: 10\n\n");
    CHECK(encoded(Event{std::nullopt, {}, "\xE2\x82\xAC"s}) == "id: \xE2\x82\xAC\n\n");
    CHECK(encoded(Event{}) == "\n");  // nothing but the blank line: the client dispatches nothing
}

TEST_CASE("sse: refusals write nothing and say why") {
    struct Case {
        Event event;
        EncodeStatus why;
    };
    const Case cases[] = {
        {Event{"x", "a\nb"}, EncodeStatus::invalid_type},
        {Event{"x", "a\r"}, EncodeStatus::invalid_type},
        {Event{"x", "\r\n"}, EncodeStatus::invalid_type},
        {Event{"x", {}, "1\n2"sv}, EncodeStatus::invalid_id},
        {Event{"x", {}, "\r7"sv}, EncodeStatus::invalid_id},
        {Event{"x", {}, "a\0b"sv}, EncodeStatus::invalid_id},
        {Event{"x", {}, std::string_view("\0", 1)}, EncodeStatus::invalid_id},
        {Event{"x", {}, std::nullopt, -1}, EncodeStatus::invalid_retry},
        {Event{"x", {}, std::nullopt, rill::sse::max_retry_ms + 1}, EncodeStatus::invalid_retry},
        {Event{"x", {}, std::nullopt, std::numeric_limits<std::int64_t>::min()}, EncodeStatus::invalid_retry},
        {Event{"x", {}, std::nullopt, std::numeric_limits<std::int64_t>::max()}, EncodeStatus::invalid_retry},
        // The first bad field (in type, id, retry order) is the one reported.
        {Event{"x", "\n", "\n"sv, -1}, EncodeStatus::invalid_type},
        {Event{"x", "ok", "\n"sv, -1}, EncodeStatus::invalid_id},
    };
    for (const Case& c : cases) {
        CAPTURE(rill::sse::to_string(c.why));
        CHECK(rill::sse::encoded_size(c.event).status == c.why);
        CHECK(rill::sse::encoded_size(c.event).size == 0);

        char buf[64];
        std::memset(buf, '#', sizeof buf);
        const rill::sse::EncodeResult r = rill::sse::encode(c.event, buf, sizeof buf);
        CHECK(r.status == c.why);
        CHECK(r.size == 0);
        CHECK(std::string(buf, sizeof buf) == std::string(sizeof buf, '#'));

        std::string out = "kept";
        CHECK(rill::sse::append(out, c.event) == c.why);
        CHECK(out == "kept");

        rill::StringSink sink;
        rill::DeferredBody<rill::StringSink> body;
        body.each(sink);
        const rill::sse::SendResult sent = rill::sse::send_event(body, c.event);
        CHECK(sent.encode == c.why);
        CHECK_FALSE(sent.send.has_value());
        CHECK(sink.str().empty());
        CHECK(body.body_bytes() == 0);
    }
    // What a client does with the refused values, which is why they are refused: the id
    // with NUL is dropped whole, a CR or LF would start another field.
    CHECK(rill_test::parse_event_stream("id: a\0b\ndata: x\n\n"s).events.at(0).last_event_id.empty());
    CHECK(rill_test::parse_event_stream("event: a\nretry: 1\ndata: x\n\n").reconnection_time == 1u);
}

TEST_CASE("sse: every status has a description") {
    for (EncodeStatus s : {EncodeStatus::ok, EncodeStatus::buffer_too_small, EncodeStatus::invalid_type,
                           EncodeStatus::invalid_id, EncodeStatus::invalid_retry})
        CHECK(std::string(rill::sse::to_string(s)) != "unknown");
    CHECK(std::string(rill::sse::to_string(EncodeStatus::invalid_id)) == "event id holds CR, LF or NUL");
    CHECK(std::string(rill::sse::to_string(rill::sse::HeartbeatStatus::stalled)) == "stalled");
}

TEST_CASE("sse: a buffer too small gets the size needed and not one byte") {
    const Event e{"one\ntwo", "t", "9"sv, 1500};
    const std::string want = "event: t\nid: 9\nretry: 1500\ndata: one\ndata: two\n\n";
    for (std::size_t cap = 0; cap < want.size(); ++cap) {
        CAPTURE(cap);
        std::string buf(want.size() + 8, '#');
        const rill::sse::EncodeResult r = rill::sse::encode(e, &buf[0], cap);
        CHECK(r.status == EncodeStatus::buffer_too_small);
        CHECK(r.size == want.size());
        CHECK(buf == std::string(want.size() + 8, '#'));
    }
    CHECK(rill::sse::encode(e, nullptr, 0).size == want.size());  // ask first, then allocate
    std::string buf(want.size() + 8, '#');
    const rill::sse::EncodeResult r = rill::sse::encode(e, &buf[0], want.size());
    REQUIRE(r.status == EncodeStatus::ok);
    CHECK(buf == want + std::string(8, '#'));  // exactly the event, nothing past it

    char small[4];
    const rill::sse::EncodeResult c = rill::sse::encode_comment("ping", small, sizeof small);
    CHECK(c.status == EncodeStatus::buffer_too_small);
    CHECK(c.size == 7);
}

TEST_CASE("sse: comments split on every line ending, one ':' line each") {
    struct Case {
        std::string text;
        std::string bytes;
    };
    const Case cases[] = {
        {"", ":\n"},
        {"ping", ": ping\n"},
        {"a\nb", ": a\n: b\n"},
        {"a\r\nb\rc", ": a\n: b\n: c\n"},
        {"\n", ":\n:\n"},
        {"data: injected", ": data: injected\n"},
        {"x\ndata: injected\n", ": x\n: data: injected\n:\n"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.text);
        std::string out;
        rill::sse::append_comment(out, c.text);
        CHECK(out == c.bytes);
        CHECK(rill::sse::comment_size(c.text) == c.bytes.size());
        std::string buf(c.bytes.size(), '#');
        const rill::sse::EncodeResult r = rill::sse::encode_comment(c.text, &buf[0], buf.size());
        CHECK(r.status == EncodeStatus::ok);
        CHECK(buf == c.bytes);
        // No comment text reaches a client: a comment before an event changes nothing.
        const rill_test::SseStreamResult parsed = rill_test::parse_event_stream(out + "data: z\n\n");
        REQUIRE(parsed.events.size() == 1);
        CHECK(parsed.events[0].data == "z");
        CHECK(parsed.events[0].type == "message");
        CHECK(parsed.last_event_id.empty());
    }
}

TEST_CASE("sse: the reference parser follows the standard's own examples") {
    // The examples of WHATWG HTML 9.2.6, one by one.
    {
        const auto r = rill_test::parse_event_stream("data: YHOO\ndata: +2\ndata: 10\n\n");
        REQUIRE(r.events.size() == 1);
        CHECK(r.events[0].data == "YHOO\n+2\n10");
    }
    {
        const auto r = rill_test::parse_event_stream(
            ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n");
        REQUIRE(r.events.size() == 2);  // the third is not followed by a blank line
        CHECK(r.events[0].data == "first event");
        CHECK(r.events[0].last_event_id == "1");
        CHECK(r.events[1].data == "second event");
        CHECK(r.events[1].last_event_id.empty());  // "id" alone resets it
    }
    {
        const auto r = rill_test::parse_event_stream("data\n\ndata\ndata\n\ndata:");
        REQUIRE(r.events.size() == 2);
        CHECK(r.events[0].data.empty());
        CHECK(r.events[1].data == "\n");
    }
    {
        const auto r = rill_test::parse_event_stream("data:test\n\ndata: test\n\n");
        REQUIRE(r.events.size() == 2);
        CHECK(r.events[0].data == "test");
        CHECK(r.events[1].data == "test");
    }
    // A leading BOM is dropped once; lone CRs end lines; bad UTF-8 becomes U+FFFD.
    {
        const auto r = rill_test::parse_event_stream("\xEF\xBB\xBF" "data: a\rdata: b\r\r\xEF\xBB\xBF" "data: c\n\n");
        REQUIRE(r.events.size() == 1);
        CHECK(r.events[0].data == "a\nb");  // the second BOM makes the field "\xEF\xBB\xBF" "data": ignored
    }
    {
        const auto r = rill_test::parse_event_stream("data: \xFF\xE2\x82\n\n");
        REQUIRE(r.events.size() == 1);
        CHECK(r.events[0].data == "\xEF\xBF\xBD\xEF\xBF\xBD");
    }
    {
        const auto r = rill_test::parse_event_stream("retry: 12a\n\nretry: 300\n\nretry: -1\n\n");
        CHECK(r.reconnection_time == 300u);
    }
}

namespace {

// What a client must see for one encoded event, given what it knew before.
void check_round_trip(const Event& e, const std::string& prefix_bytes, const rill_test::SseStreamResult& before) {
    std::string bytes = prefix_bytes;
    REQUIRE(rill::sse::append(bytes, e) == EncodeStatus::ok);
    const rill_test::SseStreamResult after = rill_test::parse_event_stream(bytes);
    const std::string expect_id = e.id ? rill_test::sse_reference::utf8_decode(*e.id) : before.last_event_id;
    CHECK(after.last_event_id == expect_id);
    if (e.retry) {
        CHECK(after.reconnection_time == static_cast<std::uint64_t>(*e.retry));
    } else {
        CHECK(after.reconnection_time == before.reconnection_time);
    }
    if (!e.data) {
        CHECK(after.events.size() == before.events.size());
        return;
    }
    REQUIRE(after.events.size() == before.events.size() + 1);
    const auto& got = after.events.back();
    CHECK(got.data == rill_test::sse_reference::utf8_decode(normalize_line_ends(*e.data)));
    CHECK(got.type == (e.type.empty() ? "message" : rill_test::sse_reference::utf8_decode(e.type)));
    CHECK(got.last_event_id == expect_id);
}

}  // namespace

TEST_CASE("sse: hand-picked events survive the round trip through the reference parser") {
    const std::string nasty_data[] = {"",      "\n",          "\r",       "\r\n",   " lead",  "trail ",
                                      "a\n\nb", "a\r\rb",     "\n\r\n\r", ":colon", "data: x",
                                      "id: 5",  "\xEF\xBB\xBF", "\xF0\x9F\x98\x80\r\n\xE2\x82\xAC",
                                      "nul\0x"s};
    for (const std::string& d : nasty_data) {
        CAPTURE(d);
        check_round_trip(Event{d}, "", {});
        check_round_trip(Event{d, " typed", " id", 0}, "", {});
    }
    // After an earlier event the id carries on unless the new one changes it.
    std::string first;
    REQUIRE(rill::sse::append(first, Event{"one", {}, "17"s}) == EncodeStatus::ok);
    const rill_test::SseStreamResult before = rill_test::parse_event_stream(first);
    REQUIRE(before.last_event_id == "17");
    check_round_trip(Event{"two"}, first, before);
    check_round_trip(Event{"two", {}, ""s}, first, before);
    check_round_trip(Event{std::nullopt, {}, "18"s}, first, before);  // an id-only message
}

TEST_CASE("sse: random events round-trip (fixed seed)") {
    std::mt19937 rng(20261129u);
    // Pieces chosen for trouble: every line ending, spaces, colons, field names,
    // multi-byte UTF-8, a BOM, NUL, and bytes that are not UTF-8 at all.
    const std::string pieces[] = {"a",  "Z",  " ",      ":",           "\r",       "\n",         "\r\n",
                                  "\t", "data", "id",   "event",       "retry",    "\xC3\xA9",   "\xE4\xB8\x96",
                                  "\xF0\x9F\x98\x80",   "\xEF\xBB\xBF", "\0"s,    "\xFF",       "\xE2\x82",
                                  "0",  "9"};
    auto text = [&](bool allow_line_ends, bool allow_nul) {
        std::string s;
        const std::size_t n = rng() % 12;
        for (std::size_t i = 0; i < n; ++i) {
            const std::string& p = pieces[rng() % (sizeof pieces / sizeof pieces[0])];
            if (!allow_line_ends && p.find_first_of("\r\n") != std::string::npos) continue;
            if (!allow_nul && p.find('\0') != std::string::npos) continue;
            s += p;
        }
        return s;
    };
    std::string stream;
    rill_test::SseStreamResult before;
    std::size_t refused = 0;
    std::size_t dispatched = 0;  // in the current stream
    std::size_t total_dispatched = 0;
    std::size_t streams = 0;
    for (int round = 0; round < 3000; ++round) {
        if (round % 64 == 0) {  // a new stream now and then keeps the re-parsing linear
            stream.clear();
            before = {};
            dispatched = 0;
            ++streams;
        }
        std::string data = text(true, true);
        std::string type = text(rng() % 8 == 0, true);  // now and then a bad one
        // One draw per statement: the same cases whatever order a compiler evaluates arguments in.
        const bool id_line_ends = rng() % 8 == 0;
        const bool id_nul = rng() % 8 == 0;
        std::string id = text(id_line_ends, id_nul);
        Event e;
        if (rng() % 5 != 0) e.data = data;
        if (rng() % 2 == 0) e.type = type;
        if (rng() % 2 == 0) e.id = id;
        if (rng() % 3 == 0) {
            const auto magnitude = static_cast<std::int64_t>(rng() % 100000);
            e.retry = rng() % 4 == 0 ? -1 - magnitude : magnitude;
        }
        const bool bad_type = e.type.find_first_of("\r\n") != std::string_view::npos;
        const bool bad_id = e.id && e.id->find_first_of("\r\n"s + '\0') != std::string_view::npos;
        const bool bad_retry = e.retry && *e.retry < 0;
        const rill::sse::EncodeResult size = rill::sse::encoded_size(e);
        if (bad_type || bad_id || bad_retry) {
            CHECK(size.status != EncodeStatus::ok);
            ++refused;
            continue;
        }
        REQUIRE(size.status == EncodeStatus::ok);
        // Each event is checked against the whole stream so far, as a client would read it.
        check_round_trip(e, stream, before);
        REQUIRE(rill::sse::append(stream, e) == EncodeStatus::ok);
        if (rng() % 4 == 0) rill::sse::append_comment(stream, text(true, true));
        before = rill_test::parse_event_stream(stream);
        total_dispatched += before.events.size() - dispatched;
        dispatched = before.events.size();
    }
    CHECK(refused > 100);  // the generator does reach the refusals
    CHECK(total_dispatched > 1000);
    CHECK(streams > 40);
}

TEST_CASE("sse: send_event and send_comment put one part into a body") {
    SUBCASE("chunked") {
        rill::StringSink sink;
        auto body = rill::make_deferred_body<rill::StringSink>();
        body->each(sink);
        REQUIRE(body->respond(rill::Request{}, rill::sse::response_head()) == rill::HeadStatus::ok);
        sink.clear();
        const rill::sse::SendResult r = rill::sse::send_event(*body, Event{"12:00:00", "tick", "1"s});
        CHECK(r.encode == EncodeStatus::ok);
        CHECK(r.send == rill::SendStatus::written);
        CHECK(rill::sse::send_comment(*body, "") == rill::SendStatus::written);
        CHECK(sink.str() == "22\r\nevent: tick\nid: 1\ndata: 12:00:00\n\n\r\n2\r\n:\n\r\n");
        body->close();
        const rill_test::SseStreamResult parsed = rill_test::parse_event_stream(unchunk(sink.str().substr(0)));
        REQUIRE(parsed.events.size() == 1);
        CHECK(parsed.events[0].type == "tick");
        CHECK(parsed.events[0].data == "12:00:00");
    }
    SUBCASE("an event larger than the stack buffer") {
        rill::StringSink sink;
        rill::DeferredBody<rill::StringSink> body;
        body.each(sink);
        const std::string big(3 * RILL_SSE_STACK_BUFFER, 'x');
        const std::string data = big + "\r\n" + big;
        const rill::sse::SendResult r = rill::sse::send_event(body, Event{data, {}, "2"s});
        CHECK(r.send == rill::SendStatus::written);
        CHECK(sink.str() == "id: 2\ndata: " + big + "\ndata: " + big + "\n\n");
        CHECK(sink.writes() == 1);
        const std::string long_comment(2 * RILL_SSE_STACK_BUFFER, 'c');
        sink.clear();
        CHECK(rill::sse::send_comment(body, long_comment) == rill::SendStatus::written);
        CHECK(sink.str() == ": " + long_comment + "\n");
    }
    SUBCASE("the body's answer comes back as it is") {
        rill_test::ScriptedSink sink;
        auto body = rill::make_deferred_body<rill_test::ScriptedSink>(rill::BodyOptions{16, 8});
        body->each(sink);
        sink.state().blocked = true;
        CHECK(rill::sse::send_event(*body, Event{"this part waits in the queue"}).send == rill::SendStatus::backpressure);
        body->abort();
        CHECK(rill::sse::send_event(*body, Event{"late"}).send == rill::SendStatus::closed);
        CHECK(rill::sse::send_comment(*body, "late") == rill::SendStatus::closed);
    }
}

TEST_CASE("sse: a short event goes from the stack to the sink in one write") {
    // The bytes the sink sees lie in this thread's stack: no heap buffer was built for
    // them. (The unit binary's operator new belongs to allocations.cpp; fuzz/fuzz_sse.cpp
    // counts allocations around send_event() for every input with a counting operator
    // new of its own.)
    pthread_attr_t attr;
    REQUIRE(::pthread_getattr_np(::pthread_self(), &attr) == 0);
    void* stack_addr = nullptr;
    std::size_t stack_size = 0;
    REQUIRE(::pthread_attr_getstack(&attr, &stack_addr, &stack_size) == 0);
    ::pthread_attr_destroy(&attr);
    const auto stack_lo = reinterpret_cast<std::uintptr_t>(stack_addr);
    const auto on_stack = [&](const void* p) {
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        return a >= stack_lo && a - stack_lo < stack_size;
    };

    const char* seen = nullptr;
    std::size_t writes = 0;
    auto sink = rill::make_function_sink([&](const rill::ConstBuffer* b, std::size_t n) {
        ++writes;
        for (std::size_t i = 0; i < n; ++i)
            if (b[i].view().find("data:") != std::string_view::npos) seen = b[i].data;
        return rill::WriteResult::ok(rill::buffer_size(b, n));
    });
    auto body = rill::make_deferred_body<decltype(sink)>();
    body->each(sink);
    REQUIRE(body->respond(rill::Request{}, rill::sse::response_head()) == rill::HeadStatus::ok);
    writes = 0;
    const std::string data(300, 'd');
    CHECK_FALSE(on_stack(data.data()));  // the check tells the heap from the stack
    CHECK(rill::sse::send_event(*body, Event{data, "tick", "123"sv}).send == rill::SendStatus::written);
    CHECK(writes == 1);
    REQUIRE(seen != nullptr);
    CHECK(on_stack(seen));

    const std::string big(2 * RILL_SSE_STACK_BUFFER, 'd');  // and a large event is not on the stack
    CHECK(rill::sse::send_event(*body, Event{big}).send == rill::SendStatus::written);
    CHECK_FALSE(on_stack(seen));
}

TEST_CASE("sse: the response head") {
    const rill::ResponseHead head = rill::sse::response_head();
    CHECK(head.status() == 200);
    REQUIRE(head.fields().size() == 3);
    CHECK(head.fields()[0].name == "Content-Type");
    CHECK(head.fields()[0].value == "text/event-stream");
    CHECK(head.fields()[1].name == "Cache-Control");
    CHECK(head.fields()[1].value == "no-cache");
    CHECK(head.fields()[2].name == "X-Accel-Buffering");
    CHECK(head.fields()[2].value == "no");

    rill::StringSink sink;
    rill::DeferredBody<rill::StringSink> body;
    body.each(sink);
    SUBCASE("HTTP/1.1: chunked, no Content-Length") {
        REQUIRE(body.respond(rill::Request{"GET", 1, {}, {}}, head) == rill::HeadStatus::ok);
        CHECK(sink.str() ==
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
              "X-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n\r\n");
    }
    SUBCASE("HTTP/1.0: close-delimited") {
        REQUIRE(body.respond(rill::Request{"GET", 0, {}, {}}, head) == rill::HeadStatus::ok);
        CHECK(sink.str() ==
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
              "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n");
        CHECK(rill::sse::send_event(body, Event{"x"}).send == rill::SendStatus::written);
        CHECK(sink.str().substr(sink.str().size() - 9) == "data: x\n\n");
    }
}

TEST_CASE("sse: Last-Event-ID") {
    CHECK(rill::sse::last_event_id("42") == std::optional<std::string_view>("42"));
    CHECK(rill::sse::last_event_id(" \t42 \t") == std::optional<std::string_view>("42"));
    CHECK(rill::sse::last_event_id("a b") == std::optional<std::string_view>("a b"));
    CHECK(rill::sse::last_event_id("\xE2\x82\xAC") == std::optional<std::string_view>("\xE2\x82\xAC"));
    CHECK_FALSE(rill::sse::last_event_id("").has_value());
    CHECK_FALSE(rill::sse::last_event_id("   ").has_value());
    CHECK_FALSE(rill::sse::last_event_id("4\r\n2").has_value());
    CHECK_FALSE(rill::sse::last_event_id("4\n2").has_value());
    CHECK_FALSE(rill::sse::last_event_id("4\0"s + "2").has_value());
    CHECK_FALSE(rill::sse::last_event_id("\x01").has_value());
    CHECK_FALSE(rill::sse::last_event_id("\x7f").has_value());
    CHECK(rill::sse::last_event_id(std::string(256, '7')).has_value());
    CHECK_FALSE(rill::sse::last_event_id(std::string(257, '7')).has_value());
    CHECK(rill::sse::last_event_id(std::string(257, '7'), 300).has_value());
}

TEST_CASE("sse: heartbeats") {
    SUBCASE("alive, then stalled while bytes wait, then gone when the sink says closed") {
        rill_test::ScriptedSink sink;
        auto body = rill::make_deferred_body<rill_test::ScriptedSink>();
        body->each(sink);
        CHECK(rill::sse::heartbeat(*body) == rill::sse::HeartbeatStatus::alive);
        CHECK(rill::sse::heartbeat(*body, "keep") == rill::sse::HeartbeatStatus::alive);
        CHECK(sink.state().bytes == ":\n: keep\n");
        sink.state().blocked = true;
        CHECK(rill::sse::send_event(*body, Event{"waits"}).send == rill::SendStatus::queued);
        const std::size_t queued = body->bytes_queued();
        CHECK(rill::sse::heartbeat(*body) == rill::sse::HeartbeatStatus::stalled);
        CHECK(body->bytes_queued() == queued);  // nothing piles up behind a stalled reader
        sink.state().blocked = false;
        body->flush();
        sink.state().fail_with = rill::WriteStatus::closed;
        CHECK(rill::sse::heartbeat(*body) == rill::sse::HeartbeatStatus::gone);
        CHECK(body->close_reason() == rill::CloseReason::peer_closed);
        CHECK(rill::sse::heartbeat(*body) == rill::sse::HeartbeatStatus::gone);
    }
    SUBCASE("a closed body is gone") {
        rill::StringSink sink;
        rill::DeferredBody<rill::StringSink> body;
        body.each(sink);
        body.close();
        CHECK(rill::sse::heartbeat(body) == rill::sse::HeartbeatStatus::gone);
        CHECK(sink.str().empty());
    }
    SUBCASE("PosixSocketSink: a peer that closed is seen before any write") {
        // TCP on loopback, where a write to a peer that has closed still succeeds (the
        // reset comes back later): only the peek can tell at once.
        const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(listener >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(listener, 1) == 0);
        REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        const int client = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        const int server = ::accept(listener, nullptr, nullptr);
        REQUIRE(server >= 0);
        ::close(listener);

        auto body = rill::make_deferred_body<rill::PosixSocketSink>();
        body->each(rill::PosixSocketSink(server));
        CHECK(rill::sse::heartbeat(*body) == rill::sse::HeartbeatStatus::alive);
        char buf[8];
        CHECK(::read(client, buf, sizeof buf) == 2);  // ":\n"
        ::close(client);
        // The FIN is on its way over loopback; give it a bounded moment.
        pollfd pfd{server, POLLIN, 0};
        REQUIRE(::poll(&pfd, 1, 2000) == 1);
        const std::uint64_t sent = body->bytes_sent();
        CHECK(rill::sse::heartbeat(*body) == rill::sse::HeartbeatStatus::gone);
        CHECK(body->close_reason() == rill::CloseReason::peer_closed);
        CHECK(body->bytes_sent() == sent);  // the peek found it, not a write
        ::close(server);
    }
}
