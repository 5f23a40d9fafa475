#ifndef RILL_TESTS_SSE_REFERENCE_PARSER_HPP
#define RILL_TESTS_SSE_REFERENCE_PARSER_HPP

// An event-stream parser written from the WHATWG HTML standard, section 9.2.5-9.2.6
// ("Parsing an event stream", "Interpreting an event stream"), and the WHATWG
// Encoding standard's UTF-8 decoder. It is the oracle for rill's SSE encoder
// (tests/unit/sse.cpp, fuzz/fuzz_sse.cpp), so it shares no code with it: it
// follows the spec's steps one by one, in the spec's terms, and is not fast.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rill_test {

/// What a conforming EventSource would have seen at the end of a stream.
struct SseStreamResult {
    struct Dispatched {
        std::string type;           ///< the event's type ("message" when the stream named none)
        std::string data;
        std::string last_event_id;  ///< the MessageEvent's lastEventId
    };
    std::vector<Dispatched> events;
    std::string last_event_id;                 ///< the source's last event ID string at the end
    std::optional<std::uint64_t> reconnection_time;  ///< set by the last valid retry field
    bool reconnection_time_overflowed = false;  ///< a retry value too large for 64 bits was seen
};

namespace sse_reference {

inline void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

/// The Encoding standard's UTF-8 decoder (section 9.1.1), error mode "replacement":
/// each maximal ill-formed subpart becomes one U+FFFD. Returns the code points as UTF-8.
inline std::string utf8_decode(std::string_view bytes) {
    std::string out;
    std::uint32_t code_point = 0;
    int bytes_seen = 0;
    int bytes_needed = 0;
    unsigned lower = 0x80;
    unsigned upper = 0xBF;
    const std::uint32_t replacement = 0xFFFD;
    std::size_t i = 0;
    while (i < bytes.size()) {
        const unsigned byte = static_cast<unsigned char>(bytes[i]);
        if (bytes_needed == 0) {
            ++i;
            if (byte <= 0x7F) {
                append_utf8(out, byte);
            } else if (byte >= 0xC2 && byte <= 0xDF) {
                bytes_needed = 1;
                code_point = byte & 0x1F;
            } else if (byte >= 0xE0 && byte <= 0xEF) {
                if (byte == 0xE0) lower = 0xA0;
                if (byte == 0xED) upper = 0x9F;
                bytes_needed = 2;
                code_point = byte & 0xF;
            } else if (byte >= 0xF0 && byte <= 0xF4) {
                if (byte == 0xF0) lower = 0x90;
                if (byte == 0xF4) upper = 0x8F;
                bytes_needed = 3;
                code_point = byte & 0x7;
            } else {
                append_utf8(out, replacement);
            }
            continue;
        }
        if (byte < lower || byte > upper) {
            // The byte is not consumed ("restore byte to ioQueue"): it starts afresh.
            code_point = 0;
            bytes_needed = 0;
            bytes_seen = 0;
            lower = 0x80;
            upper = 0xBF;
            append_utf8(out, replacement);
            continue;
        }
        ++i;
        lower = 0x80;
        upper = 0xBF;
        code_point = (code_point << 6) | (byte & 0x3F);
        if (++bytes_seen == bytes_needed) {
            append_utf8(out, code_point);
            code_point = 0;
            bytes_needed = 0;
            bytes_seen = 0;
        }
    }
    if (bytes_needed != 0) append_utf8(out, replacement);  // end of queue inside a sequence
    return out;
}

}  // namespace sse_reference

/// Parses a complete event stream (everything the server sent, then the end of the
/// connection) and returns what a client would have dispatched.
inline SseStreamResult parse_event_stream(std::string_view bytes) {
    SseStreamResult result;
    // "Streams must be decoded using the UTF-8 decode algorithm": one leading BOM is
    // stripped, invalid sequences become U+FFFD.
    std::string text = sse_reference::utf8_decode(bytes);
    if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);

    std::string data_buffer;
    std::string event_type_buffer;
    std::string last_event_id_buffer;

    auto dispatch = [&] {
        // 1. The last event ID string is set from its buffer (which is not reset).
        result.last_event_id = last_event_id_buffer;
        // 2. Nothing is dispatched for an empty data buffer.
        if (data_buffer.empty()) {
            data_buffer.clear();
            event_type_buffer.clear();
            return;
        }
        // 3. One trailing LF goes.
        if (data_buffer.back() == '\n') data_buffer.pop_back();
        // 4-6. The event, typed "message" unless the stream named a type.
        result.events.push_back(SseStreamResult::Dispatched{
            event_type_buffer.empty() ? std::string("message") : event_type_buffer, data_buffer,
            result.last_event_id});
        data_buffer.clear();
        event_type_buffer.clear();
    };

    auto process_field = [&](std::string_view field, std::string_view value) {
        if (field == "event") {
            event_type_buffer.assign(value);
        } else if (field == "data") {
            data_buffer.append(value);
            data_buffer += '\n';
        } else if (field == "id") {
            if (value.find('\0') == std::string_view::npos) last_event_id_buffer.assign(value);
        } else if (field == "retry") {
            bool digits = !value.empty();
            for (char c : value)
                if (c < '0' || c > '9') digits = false;
            if (digits) {
                std::uint64_t v = 0;
                bool overflow = false;
                for (char c : value) {
                    const auto d = static_cast<std::uint64_t>(c - '0');
                    if (v > (UINT64_MAX - d) / 10) overflow = true;
                    v = v * 10 + d;
                }
                if (overflow) {
                    result.reconnection_time_overflowed = true;
                } else {
                    result.reconnection_time = v;
                }
            }
        }
        // Any other field name is ignored.
    };

    // Lines end at CRLF, a lone LF or a lone CR. A line not ended before the stream
    // ends is incomplete: "any pending data must be discarded".
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = pos;
        while (end < text.size() && text[end] != '\r' && text[end] != '\n') ++end;
        if (end == text.size()) break;  // no line terminator: the rest is discarded
        const std::string_view line(text.data() + pos, end - pos);
        pos = end + 1;
        if (text[end] == '\r' && pos < text.size() && text[pos] == '\n') ++pos;

        if (line.empty()) {
            dispatch();
        } else if (line.front() == ':') {
            // a comment: ignored
        } else if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
            std::string_view value = line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            process_field(line.substr(0, colon), value);
        } else {
            process_field(line, "");
        }
    }
    // At the end of the stream an event not followed by a blank line is not dispatched.
    return result;
}

}  // namespace rill_test

#endif  // RILL_TESTS_SSE_REFERENCE_PARSER_HPP
