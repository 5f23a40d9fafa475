// rill_bench_stream: small parts, coalescing and scale (issue 12), measured.
//
// throughput  One loopback TCP connection, N parts of S bytes, one library call per
//             part, Nagle on and TCP_NODELAY. The client is a separate thread that
//             decodes the chunked framing with its own parser (no rill code) and
//             compares every byte of every part with what was sent. Contenders run
//             interleaved (order rotated each round); medians over rounds. Figures:
//             MB/s (payload; request sent -> last chunk read), server-thread CPU per
//             part (CLOCK_THREAD_CPUTIME_ID) and minor page faults per GiB
//             (getrusage(RUSAGE_THREAD)) while the server streams.
// syscalls    Each contender once more, re-executed under
//             strace -f --seccomp-bpf -c -e trace=write,writev,sendmsg,sendto: write
//             system calls per part. The client's request leaves by sendmmsg, which
//             is outside that set, so the count is the server's alone.
// latency     Isolated 64-byte parts on an idle stream (one per timerfd tick): the
//             sender stamps each part with CLOCK_MONOTONIC, the client subtracts it on
//             arrival; p50/p99/max.
// scale       The example server (examples/server, a child process) holds S open
//             SSE-style chunked streams; a 100-byte event is broadcast to all of them.
//             Time per broadcast and per stream (server loop thread), RSS per idle
//             stream (VmRSS of the server process before and after the streams open).
//
// The machine this runs on is usually shared: compare ratios measured side by side
// in one run, not absolute figures across runs.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <rill/rill.hpp>

#if __has_include(<rill/turn.hpp>)
#include <rill/turn.hpp>
#define RILL_BENCH_HAVE_TURN 1
#endif

#if defined(RILL_BENCH_HAVE_BEAST)
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#endif

#if defined(RILL_BENCH_HAVE_HTTPLIB)
#include <httplib.h>
#endif

#if defined(RILL_BENCH_HAVE_EVHTTP)
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#endif

#include "../../examples/server/event_loop.hpp"
#include "../../examples/server/server.hpp"

namespace rill_bench {

[[noreturn]] __attribute__((format(printf, 1, 2))) void die(const char* fmt, ...) {
    std::fflush(stdout);
    std::fputs("rill_bench_stream: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
    std::exit(1);
}

// ---------------------------------------------------------------------------
// Clocks and meters
// ---------------------------------------------------------------------------

std::uint64_t clock_ns(clockid_t id) {
    timespec ts{};
    ::clock_gettime(id, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}
std::uint64_t now_ns() { return clock_ns(CLOCK_MONOTONIC); }

long thread_minflt() {
    rusage ru{};
    ::getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_minflt;
}

struct ServerStats {
    std::uint64_t cpu_ns = 0;
    long minflt = 0;
    bool ok = false;
};

// CPU time and page faults of the calling thread between start() and stop().
class ThreadMeter {
public:
    void start() {
        cpu0_ = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        flt0_ = thread_minflt();
    }
    ServerStats stop(bool ok) const {
        return {clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0_, thread_minflt() - flt0_, ok};
    }

private:
    std::uint64_t cpu0_ = 0;
    long flt0_ = 0;
};

// Server stats handed from a peer's own thread to the thread that reports them.
class StatsMailbox {
public:
    void reset() {
        std::lock_guard<std::mutex> lock(m_);
        ready_ = false;
    }
    void put(ServerStats s) {
        {
            std::lock_guard<std::mutex> lock(m_);
            stats_ = s;
            ready_ = true;
        }
        cv_.notify_all();
    }
    ServerStats take(const char* who) {
        std::unique_lock<std::mutex> lock(m_);
        if (!cv_.wait_for(lock, std::chrono::seconds(60), [this] { return ready_; }))
            die("%s: the server never reported its CPU time", who);
        return stats_;
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool ready_ = false;
    ServerStats stats_;
};

// ---------------------------------------------------------------------------
// The parts: part i is the window of a fixed ring that starts at i % 61, so
// parts differ from their neighbours and a lost, repeated or reordered part
// shows up at the client, while producing one costs the sender nothing.
// ---------------------------------------------------------------------------

constexpr std::size_t shift_period = 61;
constexpr std::string_view alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!";  // 63

class Pattern {
public:
    explicit Pattern(std::size_t size) : size_(size), ring_(size + shift_period, '\0') {
        for (std::size_t k = 0; k < ring_.size(); ++k) ring_[k] = alphabet[k % alphabet.size()];
    }
    std::string_view part(std::uint64_t i) const noexcept {
        return {ring_.data() + static_cast<std::size_t>(i % shift_period), size_};
    }
    std::size_t size() const noexcept { return size_; }

private:
    std::size_t size_;
    std::string ring_;
};

constexpr std::string_view last_chunk = "0\r\n\r\n";

std::string hex(std::uint64_t n) {
    char b[24];
    std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(n));
    return b;
}

// ---------------------------------------------------------------------------
// The verifying client's decoder: HTTP/1.1 head, then chunked framing, written
// here from RFC 9112 section 7.1 and sharing nothing with rill. Every chunk must
// be one part of the expected size, the content must match, the count must be
// exact, no trailer, nothing after the last chunk.
// ---------------------------------------------------------------------------

class ChunkedChecker {
public:
    using PartFn = std::function<bool(std::uint64_t index, std::string_view data)>;

    // Either `pattern` (content compared with it) or `on_part` (content handed over).
    ChunkedChecker(const Pattern* pattern, std::size_t part_size, std::uint64_t parts, PartFn on_part = {})
        : pattern_(pattern), part_size_(part_size), parts_(parts), on_part_(std::move(on_part)),
          line_(hex(part_size) + "\r\n") {}

    bool feed(const char* p, std::size_t n) {
        const char* const end = p + n;
        while (p < end) {
            switch (state_) {
                case State::head:
                    while (p < end) {
                        head_.push_back(*p++);
                        if (head_.size() > 16 * 1024) return fail("response head longer than 16 KiB");
                        if (head_.size() >= 4 && head_.compare(head_.size() - 4, 4, "\r\n\r\n") == 0) {
                            if (!check_head()) return false;
                            state_ = State::size;
                            break;
                        }
                    }
                    break;
                case State::size: {
                    // Fast path: a whole chunk of the expected size in the buffer.
                    const std::size_t whole = line_.size() + part_size_ + 2;
                    if (digits_ == 0 && !on_part_ && seen_ < parts_ && static_cast<std::size_t>(end - p) >= whole &&
                        std::memcmp(p, line_.data(), line_.size()) == 0) {
                        const char* data = p + line_.size();
                        if (std::memcmp(data, pattern_->part(seen_).data(), part_size_) != 0)
                            return fail_part("content differs");
                        if (data[part_size_] != '\r' || data[part_size_ + 1] != '\n')
                            return fail_part("no CRLF after the data");
                        ++seen_;
                        p += whole;
                        break;
                    }
                    const char c = *p++;
                    const int v = hex_value(c);
                    if (v >= 0) {
                        if (++digits_ > 15) return fail("chunk size line too long");
                        chunk_ = chunk_ * 16 + static_cast<std::uint64_t>(v);
                    } else if (digits_ == 0) {
                        return fail("chunk size line without digits");
                    } else if (c == ';') {
                        state_ = State::ext;
                    } else if (c == '\r') {
                        state_ = State::size_lf;
                    } else {
                        return fail("bad byte in a chunk size line");
                    }
                    break;
                }
                case State::ext:
                    if (*p++ == '\r') state_ = State::size_lf;
                    break;
                case State::size_lf:
                    if (*p++ != '\n') return fail("chunk size line not ended by CRLF");
                    if (chunk_ == 0) {
                        state_ = State::trailer_cr;
                        break;
                    }
                    if (chunk_ != part_size_) return fail_part("chunk of " + std::to_string(chunk_) + " bytes");
                    if (seen_ == parts_) return fail("more parts than were sent");
                    left_ = part_size_;
                    part_.clear();
                    state_ = State::data;
                    break;
                case State::data: {
                    const std::size_t m = std::min(left_, static_cast<std::size_t>(end - p));
                    if (on_part_) {
                        part_.append(p, m);
                    } else if (std::memcmp(p, pattern_->part(seen_).data() + (part_size_ - left_), m) != 0) {
                        return fail_part("content differs");
                    }
                    p += m;
                    left_ -= m;
                    if (left_ == 0) {
                        if (on_part_ && !on_part_(seen_, part_)) return fail_part("rejected by the part check");
                        ++seen_;
                        state_ = State::data_cr;
                    }
                    break;
                }
                case State::data_cr:
                    if (*p++ != '\r') return fail_part("no CRLF after the data");
                    state_ = State::data_lf;
                    break;
                case State::data_lf:
                    if (*p++ != '\n') return fail_part("no CRLF after the data");
                    chunk_ = 0;
                    digits_ = 0;
                    state_ = State::size;
                    break;
                case State::trailer_cr:
                    if (*p++ != '\r') return fail("a trailer section where none was sent");
                    state_ = State::trailer_lf;
                    break;
                case State::trailer_lf:
                    if (*p++ != '\n') return fail("last chunk not ended by CRLF");
                    if (seen_ != parts_)
                        return fail("last chunk after " + std::to_string(seen_) + " of " + std::to_string(parts_) +
                                    " parts");
                    state_ = State::done;
                    break;
                case State::done: return fail("bytes after the last chunk");
            }
        }
        return true;
    }

    bool complete() const noexcept { return state_ == State::done; }
    std::uint64_t parts_seen() const noexcept { return seen_; }
    const std::string& error() const noexcept { return error_; }

private:
    enum class State : std::uint8_t { head, size, ext, size_lf, data, data_cr, data_lf, trailer_cr, trailer_lf, done };

    static int hex_value(char c) noexcept {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    bool check_head() {
        std::string lower = head_;
        for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        if (lower.compare(0, 12, "http/1.1 200") != 0) return fail("status line is not HTTP/1.1 200");
        if (lower.find("\r\ntransfer-encoding: chunked\r\n") == std::string::npos)
            return fail("response is not chunked");
        return true;
    }

    bool fail(std::string why) {
        error_ = std::move(why);
        return false;
    }
    bool fail_part(const std::string& why) { return fail("part " + std::to_string(seen_) + ": " + why); }

    const Pattern* pattern_;
    std::size_t part_size_;
    std::uint64_t parts_;
    PartFn on_part_;
    std::string line_;  // the size line every chunk must have: "<hex>\r\n"
    State state_ = State::head;
    std::string head_;
    std::uint64_t chunk_ = 0;
    int digits_ = 0;
    std::size_t left_ = 0;
    std::uint64_t seen_ = 0;
    std::string part_;
    std::string error_;
};

// ---------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------

int tcp_listen(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind: %s", std::strerror(errno));
    if (::listen(fd, 64) != 0) die("listen: %s", std::strerror(errno));
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) die("getsockname: %s", std::strerror(errno));
    port = ntohs(addr.sin_port);
    return fd;
}

int tcp_connect(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect: %s", std::strerror(errno));
    return fd;
}

void set_nodelay(int fd, bool on) {
    const int v = on ? 1 : 0;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) die("TCP_NODELAY: %s", std::strerror(errno));
}

// The request leaves by sendmmsg on purpose: that call is outside the set the
// syscall mode traces, so strace's count is the server's writes alone.
void send_request(int fd, std::string_view req) {
    iovec iov{const_cast<char*>(req.data()), req.size()};
    mmsghdr m{};
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
    if (::sendmmsg(fd, &m, 1, MSG_NOSIGNAL) != 1 || m.msg_len != req.size())
        die("client: sendmmsg: %s", std::strerror(errno));
}

// Reads the one request a connection carries, up to its blank line.
void read_request_head(int fd) {
    std::string head;
    char b[2048];
    while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t r = ::recv(fd, b, sizeof b, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("server: the client went away before its request ended");
        head.append(b, static_cast<std::size_t>(r));
        if (head.size() > 16384) die("server: request head too long");
    }
}

std::size_t iov_bytes(const iovec* iov, int count) noexcept {
    std::size_t n = 0;
    for (int i = 0; i < count; ++i) n += iov[i].iov_len;
    return n;
}

void write_all(int fd, iovec* iov, int count) {
    std::size_t want = iov_bytes(iov, count);
    while (want != 0) {
        const ssize_t w = ::writev(fd, iov, count);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("server: writev: %s", std::strerror(errno));
        }
        auto done = static_cast<std::size_t>(w);
        want -= done;
        while (count > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            ++iov;
            --count;
        }
        if (count > 0) {
            iov->iov_base = static_cast<char*>(iov->iov_base) + done;
            iov->iov_len -= done;
        }
    }
}

void write_all(int fd, std::string_view bytes) {
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    write_all(fd, &iov, 1);
}

// ---------------------------------------------------------------------------
// The client thread
// ---------------------------------------------------------------------------

struct ClientOutcome {
    bool ok = false;
    std::string error;
    std::uint64_t t_request = 0;  // request sent
    std::uint64_t t_last = 0;     // last chunk decoded
};

void client_run(std::uint16_t port, const std::string& target, ChunkedChecker& checker, ClientOutcome& out) {
    const int fd = tcp_connect(port);
    timeval tv{60, 0};  // a stalled server must not hang the benchmark
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    std::vector<char> buf(256 * 1024);
    out.t_request = now_ns();
    send_request(fd, req);
    for (;;) {
        const ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            out.error = std::string("recv: ") + std::strerror(errno);
            break;
        }
        if (r == 0) {
            if (!checker.complete())
                out.error = "EOF after " + std::to_string(checker.parts_seen()) + " parts, before the last chunk";
            break;
        }
        if (!checker.feed(buf.data(), static_cast<std::size_t>(r))) {
            out.error = checker.error();
            break;
        }
        if (checker.complete() && out.t_last == 0) out.t_last = now_ns();
    }
    out.ok = out.error.empty();
    // Said here, before the server's next write fails on the closed socket and speaks first.
    if (!out.ok) std::fprintf(stderr, "rill_bench_stream: client: %s\n", out.error.c_str());
    ::close(fd);
}

// ---------------------------------------------------------------------------
// Contenders
// ---------------------------------------------------------------------------

enum class Contender : int { writev_part, limit, rill, rill_batch, rill_turn, example, beast, httplib, evhttp };

struct ContenderInfo {
    Contender id;
    const char* name;
    const char* label;
};

constexpr ContenderInfo all_contenders[] = {
    {Contender::writev_part, "writev", "one writev per part, no library"},
    {Contender::limit, "limit", "memcpy into 256 KiB, one write per full buffer"},
    {Contender::rill, "rill", "rill uncorked, send() per part"},
    {Contender::rill_batch, "rill_batch", "rill, Batch of 64 around the sends"},
    {Contender::rill_turn, "rill_turn", "rill, Turn: 64 sends per loop turn, end()"},
    {Contender::example, "example", "examples/server's loop, send() per part"},
    {Contender::beast, "beast", "Boost.Beast make_chunk + write per part"},
    {Contender::httplib, "httplib", "cpp-httplib chunked provider, write per part"},
    {Contender::evhttp, "evhttp", "libevent evhttp_send_reply_chunk per part"},
};
constexpr std::size_t contender_count = std::size(all_contenders);

const ContenderInfo& info(Contender c) { return all_contenders[static_cast<int>(c)]; }

bool available(Contender c) {
    switch (c) {
        case Contender::rill_turn:
#if defined(RILL_BENCH_HAVE_TURN)
            return true;
#else
            return false;
#endif
        case Contender::beast:
#if defined(RILL_BENCH_HAVE_BEAST)
            return true;
#else
            return false;
#endif
        case Contender::httplib:
#if defined(RILL_BENCH_HAVE_HTTPLIB)
            return true;
#else
            return false;
#endif
        case Contender::evhttp:
#if defined(RILL_BENCH_HAVE_EVHTTP)
            return true;
#else
            return false;
#endif
        default: return true;
    }
}

const char* why_missing(Contender c) {
    switch (c) {
        case Contender::rill_turn: return "turn.hpp not yet available";
        case Contender::beast: return "Boost.Beast not found at configure time";
        case Contender::httplib: return "cpp-httplib not found at configure time";
        case Contender::evhttp: return "libevent not found at configure time";
        default: return "";
    }
}

constexpr std::size_t batch_parts = 64;  // Batch size, and sends per loop turn for rill_turn
constexpr std::size_t limit_buffer = 256 * 1024;
constexpr std::string_view raw_head =
    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
    "Connection: close\r\n\r\n";
char crlf[] = "\r\n";

// "<hex>\r\n" at the end of `line`; returns where it starts.
char* size_line(char (&line)[18], std::size_t n) noexcept {
    static constexpr char digits[] = "0123456789abcdef";
    char* p = line + 16;
    p[0] = '\r';
    p[1] = '\n';
    do {
        *--p = digits[n & 0xfu];
        n >>= 4;
    } while (n != 0);
    return p;
}

void stream_writev(int fd, const Pattern& pat, std::uint64_t parts) {
    write_all(fd, raw_head);
    for (std::uint64_t i = 0; i < parts; ++i) {
        const std::string_view part = pat.part(i);
        char line[18];
        char* start = size_line(line, part.size());
        iovec iov[3] = {{start, static_cast<std::size_t>(line + 18 - start)},
                        {const_cast<char*>(part.data()), part.size()},
                        {crlf, 2}};
        write_all(fd, iov, 3);
    }
    write_all(fd, last_chunk);
}

// The batching limit: what any library that copies parts could at best do.
void stream_limit(int fd, const Pattern& pat, std::uint64_t parts) {
    std::vector<char> buf(limit_buffer);
    std::size_t used = raw_head.size();
    std::memcpy(buf.data(), raw_head.data(), used);
    for (std::uint64_t i = 0; i < parts; ++i) {
        const std::string_view part = pat.part(i);
        char line[18];
        char* start = size_line(line, part.size());
        const auto line_len = static_cast<std::size_t>(line + 18 - start);
        const std::size_t need = line_len + part.size() + 2;
        if (used + need > buf.size()) {
            write_all(fd, {buf.data(), used});
            used = 0;
        }
        std::memcpy(buf.data() + used, start, line_len);
        std::memcpy(buf.data() + used + line_len, part.data(), part.size());
        std::memcpy(buf.data() + used + line_len + part.size(), crlf, 2);
        used += need;
    }
    if (used + last_chunk.size() > buf.size()) {
        write_all(fd, {buf.data(), used});
        used = 0;
    }
    std::memcpy(buf.data() + used, last_chunk.data(), last_chunk.size());
    write_all(fd, {buf.data(), used + last_chunk.size()});
}

using Body = rill::DeferredBody<rill::PosixSocketSink>;

std::shared_ptr<Body> start_rill(int fd) {
    auto body = rill::make_deferred_body<rill::PosixSocketSink>();
    body->each(rill::PosixSocketSink(fd));
    rill::ResponseHead head(200);
    head.header("Content-Type", "application/octet-stream");
    if (body->respond(rill::Request{"GET", 1, "close", ""}, head) != rill::HeadStatus::ok)
        die("rill: respond() refused the head");
    return body;
}

void check_completed(const Body& body) {
    if (body.state() != rill::BodyState::closed || body.close_reason() != rill::CloseReason::completed)
        die("rill: the body did not complete");
}

void stream_rill(int fd, const Pattern& pat, std::uint64_t parts) {
    auto body = start_rill(fd);
    for (std::uint64_t i = 0; i < parts; ++i)
        if (body->send(pat.part(i)) != rill::SendStatus::written) die("rill: a blocking socket did not take a part");
    if (body->close() != rill::CloseStatus::ok) die("rill: close() failed");
    check_completed(*body);
}

bool accepted(rill::SendStatus s) {
    return s == rill::SendStatus::written || s == rill::SendStatus::queued || s == rill::SendStatus::backpressure;
}

void stream_rill_batch(int fd, const Pattern& pat, std::uint64_t parts) {
    auto body = start_rill(fd);
    for (std::uint64_t done = 0; done < parts;) {
        const std::uint64_t k = std::min<std::uint64_t>(batch_parts, parts - done);
        {
            rill::Batch<Body> batch(*body);
            for (std::uint64_t i = 0; i < k; ++i)
                if (!accepted(body->send(pat.part(done + i)))) die("rill: a corked body refused a part");
        }
        if (body->bytes_queued() != 0) die("rill: uncork() left bytes queued on a blocking socket");
        done += k;
    }
    if (body->close() != rill::CloseStatus::ok) die("rill: close() failed");
    check_completed(*body);
}

// What the example server does with a Turn: one Turn for the loop thread, end()
// where a turn of the loop ends. Here a turn is 64 sends; the last turn also
// carries close(), which should leave in the same write.
void stream_rill_turn([[maybe_unused]] int fd, [[maybe_unused]] const Pattern& pat,
                      [[maybe_unused]] std::uint64_t parts) {
#if defined(RILL_BENCH_HAVE_TURN)
    auto body = start_rill(fd);
    rill::Turn turn;
    for (std::uint64_t done = 0; done < parts;) {
        const std::uint64_t k = std::min<std::uint64_t>(batch_parts, parts - done);
        for (std::uint64_t i = 0; i < k; ++i)
            if (!accepted(body->send(pat.part(done + i)))) die("rill: a send inside a turn was refused");
        done += k;
        if (done == parts && body->close() != rill::CloseStatus::ok) die("rill: close() failed");
        turn.end();
        if (body->bytes_queued() != 0) die("rill: Turn::end() left bytes queued on a blocking socket");
    }
    if (parts == 0 && body->close() != rill::CloseStatus::ok) die("rill: close() failed");
    turn.end();
    check_completed(*body);
#else
    die("rill_turn: built without rill/turn.hpp");
#endif
}

#if defined(RILL_BENCH_HAVE_BEAST)
void stream_beast(int fd, const Pattern& pat, std::uint64_t parts) {
    namespace net = boost::asio;
    namespace http = boost::beast::http;
    net::io_context ioc;
    net::ip::tcp::socket sock(ioc);
    sock.assign(net::ip::tcp::v4(), ::dup(fd));  // the socket owns its copy; `fd` stays ours
    net::write(sock, net::buffer(raw_head.data(), raw_head.size()));
    for (std::uint64_t i = 0; i < parts; ++i) {
        const std::string_view part = pat.part(i);
        net::write(sock, http::make_chunk(net::const_buffer(part.data(), part.size())));
    }
    net::write(sock, http::make_chunk_last());
}
#endif

// ---------------------------------------------------------------------------
// cpp-httplib: a real Server per Nagle setting; the content provider writes
// every part and measures its own thread.
// ---------------------------------------------------------------------------

#if defined(RILL_BENCH_HAVE_HTTPLIB)
class HttplibServer {
public:
    HttplibServer(bool nodelay, const std::map<std::size_t, Pattern>& patterns, StatsMailbox& box) {
        server_.set_tcp_nodelay(nodelay);
        server_.Get("/stream", [&patterns, &box](const httplib::Request& req, httplib::Response& res) {
            const std::size_t size = std::strtoull(req.get_param_value("size").c_str(), nullptr, 10);
            const std::uint64_t parts = std::strtoull(req.get_param_value("parts").c_str(), nullptr, 10);
            const auto it = patterns.find(size);
            if (it == patterns.end()) die("httplib: no pattern for size %zu", size);
            const Pattern* pat = &it->second;
            res.set_chunked_content_provider("application/octet-stream",
                                             [pat, parts, &box](std::size_t, httplib::DataSink& sink) {
                                                 ThreadMeter meter;
                                                 meter.start();
                                                 bool ok = true;
                                                 for (std::uint64_t i = 0; i < parts && ok; ++i) {
                                                     const std::string_view part = pat->part(i);
                                                     ok = sink.write(part.data(), part.size());
                                                 }
                                                 if (ok) sink.done();
                                                 box.put(meter.stop(ok));
                                                 return ok;
                                             });
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        if (port_ <= 0) die("httplib: bind_to_any_port failed");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
    }
    ~HttplibServer() {
        server_.stop();
        thread_.join();
    }
    HttplibServer(const HttplibServer&) = delete;
    HttplibServer& operator=(const HttplibServer&) = delete;
    std::uint16_t port() const noexcept { return static_cast<std::uint16_t>(port_); }

private:
    httplib::Server server_;
    std::thread thread_;
    int port_ = 0;
};
#endif

// ---------------------------------------------------------------------------
// libevent evhttp: its own loop thread per run; parts are added until the
// connection's output buffer holds 256 KiB, the rest when it has drained (the
// callback of evhttp_send_reply_chunk_with_cb), so memory stays bounded.
// ---------------------------------------------------------------------------

#if defined(RILL_BENCH_HAVE_EVHTTP)
struct EvRun {
    const Pattern* pat = nullptr;
    std::uint64_t parts = 0;
    std::uint64_t sent = 0;
    bool nodelay = false;
    event_base* base = nullptr;
    evhttp_request* req = nullptr;
    evbuffer* buf = nullptr;
    ThreadMeter meter;
    ServerStats stats;
    bool started = false;
};

void ev_pump(EvRun& r);

void ev_drained(evhttp_connection*, void* arg) { ev_pump(*static_cast<EvRun*>(arg)); }

void ev_pump(EvRun& r) {
    if (r.req == nullptr) return;
    evbuffer* out = bufferevent_get_output(evhttp_connection_get_bufferevent(evhttp_request_get_connection(r.req)));
    while (r.sent < r.parts && evbuffer_get_length(out) < limit_buffer) {
        const std::string_view part = r.pat->part(r.sent);
        if (evbuffer_add(r.buf, part.data(), part.size()) != 0) die("evhttp: evbuffer_add failed");
        // Every call sets the connection's drained callback (a plain _chunk would clear it).
        evhttp_send_reply_chunk_with_cb(r.req, r.buf, ev_drained, &r);
        ++r.sent;
    }
    if (r.sent == r.parts) {
        evhttp_send_reply_end(r.req);
        r.req = nullptr;
    }
}

void ev_closed(evhttp_connection*, void* arg) {
    auto& r = *static_cast<EvRun*>(arg);
    r.stats = r.meter.stop(r.sent == r.parts && r.req == nullptr);
    event_base_loopexit(r.base, nullptr);
}

void ev_request(evhttp_request* req, void* arg) {
    auto& r = *static_cast<EvRun*>(arg);
    r.meter.start();
    r.started = true;
    evhttp_connection* conn = evhttp_request_get_connection(req);
    set_nodelay(static_cast<int>(bufferevent_getfd(evhttp_connection_get_bufferevent(conn))), r.nodelay);
    evhttp_connection_set_closecb(conn, ev_closed, &r);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/octet-stream");
    evhttp_send_reply_start(req, 200, "OK");
    r.req = req;
    ev_pump(r);
}

class EvhttpServer {
public:
    EvhttpServer(const Pattern& pat, std::uint64_t parts, bool nodelay) {
        run_.pat = &pat;
        run_.parts = parts;
        run_.nodelay = nodelay;
        std::promise<std::uint16_t> ready;
        auto port = ready.get_future();
        thread_ = std::thread([this, &ready] {
            run_.base = event_base_new();
            evhttp* http = evhttp_new(run_.base);
            run_.buf = evbuffer_new();
            if (run_.base == nullptr || http == nullptr || run_.buf == nullptr) die("evhttp: setup failed");
            evhttp_set_gencb(http, ev_request, &run_);
            evhttp_bound_socket* bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
            if (bound == nullptr) die("evhttp: bind failed");
            sockaddr_in addr{};
            socklen_t len = sizeof addr;
            ::getsockname(static_cast<int>(evhttp_bound_socket_get_fd(bound)), reinterpret_cast<sockaddr*>(&addr),
                          &len);
            ready.set_value(ntohs(addr.sin_port));
            const timeval guard{300, 0};
            event_base_loopexit(run_.base, &guard);
            event_base_dispatch(run_.base);
            evhttp_free(http);
            evbuffer_free(run_.buf);
            event_base_free(run_.base);
        });
        port_ = port.get();
    }
    ~EvhttpServer() {
        if (thread_.joinable()) thread_.join();
    }
    EvhttpServer(const EvhttpServer&) = delete;
    EvhttpServer& operator=(const EvhttpServer&) = delete;
    std::uint16_t port() const noexcept { return port_; }
    ServerStats finish() {
        thread_.join();
        return run_.stats;
    }

private:
    EvRun run_;
    std::thread thread_;
    std::uint16_t port_ = 0;
};
#endif

// ---------------------------------------------------------------------------
// rill in the example server (examples/server: its epoll loop, non-blocking
// sockets), as an application would stream: send() per part until an answer
// says backpressure, the rest from on_drain. No batching in the application:
// the coalescing is the loop's (EventLoop::run ends a rill::Turn after each
// epoll_wait's events, timers and posted calls). The loop runs in its own
// thread per run; its CPU time is measured from the request to on_close.
// ---------------------------------------------------------------------------

class ExampleServer {
public:
    ExampleServer(const Pattern& pat, std::uint64_t parts, bool nodelay) : pat_(pat), parts_(parts), nodelay_(nodelay) {
        std::promise<std::uint16_t> ready;
        auto port = ready.get_future();
        thread_ = std::thread([this, &ready] {
            rill_example::EventLoop loop;
            rill_example::ServerOptions opts;
            opts.port = 0;
            rill_example::Server server(loop, opts, [this, &loop](const rill_example::HttpRequest& req,
                                                                  const rill_example::BodyPtr& body) {
                start(loop, req, body);
            });
            if (!server.listen().empty()) die("example: listen failed");
            ready.set_value(server.local_port());
            loop.add_timer(std::chrono::seconds(300), [&loop] { loop.stop(); });  // a guard, never reached
            loop.run();
        });
        port_ = port.get();
    }
    ~ExampleServer() {
        if (thread_.joinable()) thread_.join();
    }
    ExampleServer(const ExampleServer&) = delete;
    ExampleServer& operator=(const ExampleServer&) = delete;
    std::uint16_t port() const noexcept { return port_; }
    ServerStats finish() {
        thread_.join();
        return stats_;
    }

private:
    void start(rill_example::EventLoop& loop, const rill_example::HttpRequest& req, const rill_example::BodyPtr& body) {
        meter_.start();
        // The example server turns Nagle off on every connection; the Nagle-on rows turn it back on.
        if (!nodelay_ && body->sink() != nullptr) set_nodelay(body->sink()->fd(), false);
        rill::ResponseHead head(200);
        head.header("Content-Type", "application/octet-stream");
        if (body->respond(req.framing_request(), head) != rill::HeadStatus::ok) die("example: respond() refused");
        body->on_close([this, &loop](rill::CloseReason why) {
            stats_ = meter_.stop(why == rill::CloseReason::completed && sent_ == parts_);
            loop.post([&loop] { loop.stop(); });
        });
        std::weak_ptr<rill_example::Body> weak = body;
        body->on_drain([this, weak] {
            if (auto b = weak.lock()) pump(*b);
        });
        pump(*body);
    }

    void pump(rill_example::Body& body) {
        while (sent_ < parts_) {
            const rill::SendStatus s = body.send(pat_.part(sent_));
            if (s != rill::SendStatus::written && s != rill::SendStatus::queued && s != rill::SendStatus::backpressure)
                die("example: a part was refused");
            ++sent_;
            if (s == rill::SendStatus::backpressure) return;  // on_drain resumes
        }
        if (!body.ended() && body.close() != rill::CloseStatus::ok) die("example: close() failed");
    }

    const Pattern& pat_;
    std::uint64_t parts_;
    bool nodelay_;
    std::uint64_t sent_ = 0;
    ThreadMeter meter_;
    ServerStats stats_;
    std::thread thread_;
    std::uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------

struct Peers {
    std::map<std::size_t, Pattern> patterns;
    StatsMailbox box;
#if defined(RILL_BENCH_HAVE_HTTPLIB)
    std::unique_ptr<HttplibServer> httplib_nagle, httplib_nodelay;
#endif
    void start_httplib() {
#if defined(RILL_BENCH_HAVE_HTTPLIB)
        httplib_nagle = std::make_unique<HttplibServer>(false, patterns, box);
        httplib_nodelay = std::make_unique<HttplibServer>(true, patterns, box);
#endif
    }
};

struct RunResult {
    double seconds = 0;
    std::uint64_t cpu_ns = 0;
    long minflt = 0;
};

// Not inlined, so that valgrind --toggle-collect='*serve_own*' counts the server side of a run alone.
__attribute__((noinline)) void serve_own(Contender c, int fd, const Pattern& pat, std::uint64_t parts) {
    switch (c) {
        case Contender::writev_part: stream_writev(fd, pat, parts); break;
        case Contender::limit: stream_limit(fd, pat, parts); break;
        case Contender::rill: stream_rill(fd, pat, parts); break;
        case Contender::rill_batch: stream_rill_batch(fd, pat, parts); break;
        case Contender::rill_turn: stream_rill_turn(fd, pat, parts); break;
#if defined(RILL_BENCH_HAVE_BEAST)
        case Contender::beast: stream_beast(fd, pat, parts); break;
#endif
        default: die("%s: not built", info(c).name);
    }
}

RunResult run_one(Contender c, const Pattern& pat, std::uint64_t parts, bool nodelay, Peers& peers) {
    ChunkedChecker checker(&pat, pat.size(), parts);
    ClientOutcome co;
    const std::string target = "/stream?size=" + std::to_string(pat.size()) + "&parts=" + std::to_string(parts);
    ServerStats stats;
    if (c == Contender::httplib) {
#if defined(RILL_BENCH_HAVE_HTTPLIB)
        peers.box.reset();
        const std::uint16_t port = nodelay ? peers.httplib_nodelay->port() : peers.httplib_nagle->port();
        std::thread client([&] { client_run(port, target, checker, co); });
        client.join();
        stats = peers.box.take("httplib");
#endif
    } else if (c == Contender::example) {
        ExampleServer server(pat, parts, nodelay);
        std::thread client([&] { client_run(server.port(), target, checker, co); });
        client.join();
        stats = server.finish();
    } else if (c == Contender::evhttp) {
#if defined(RILL_BENCH_HAVE_EVHTTP)
        EvhttpServer server(pat, parts, nodelay);
        std::thread client([&] { client_run(server.port(), target, checker, co); });
        client.join();
        stats = server.finish();
#endif
    } else {
        std::uint16_t port = 0;
        const int listener = tcp_listen(port);
        std::thread client([&] { client_run(port, target, checker, co); });
        const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) die("accept: %s", std::strerror(errno));
        ::close(listener);
        set_nodelay(fd, nodelay);
        read_request_head(fd);
        ThreadMeter meter;
        meter.start();
        serve_own(c, fd, pat, parts);
        ::close(fd);
        stats = meter.stop(true);
        client.join();
    }
    if (!co.ok) die("%s: the client rejected the response: %s", info(c).name, co.error.c_str());
    if (!stats.ok) die("%s: the server did not finish the response", info(c).name);
    RunResult r;
    r.seconds = static_cast<double>(co.t_last - co.t_request) / 1e9;
    r.cpu_ns = stats.cpu_ns;
    r.minflt = stats.minflt;
    return r;
}

// ---------------------------------------------------------------------------
// Statistics and options
// ---------------------------------------------------------------------------

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 != 0 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(k, v.size() - 1)];
}

std::string human_size(std::size_t n) {
    if (n >= 1024 && n % 1024 == 0) return std::to_string(n / 1024) + " KiB";
    return std::to_string(n) + " B";
}

struct Options {
    std::vector<std::size_t> sizes{64, 16384};
    std::uint64_t parts = 1'000'000;      // for parts below 4 KiB
    std::uint64_t big_parts = 20'000;     // for parts of 4 KiB and more
    int rounds = 5;
    std::vector<int> nagle{1, 0};         // 1: Nagle on (no TCP_NODELAY), 0: TCP_NODELAY
    std::vector<std::string> only;        // contender names; empty: all built
    std::vector<std::string> modes{"throughput", "syscalls", "latency", "scale"};
    std::uint64_t strace_parts = 20'000;  // syscall mode, parts below 4 KiB
    std::uint64_t strace_big_parts = 2'000;
    std::uint64_t latency_parts = 10'000;
    unsigned latency_interval_us = 200;
    std::size_t streams = 10'000;
    int broadcasts = 10;
    // --one: a single run, for the syscall mode's strace child
    std::string one;
    bool one_nodelay = true;
};

std::uint64_t parts_for(const Options& o, std::size_t size) { return size < 4096 ? o.parts : o.big_parts; }

bool wanted(const Options& o, Contender c) {
    if (!available(c)) return false;
    if (o.only.empty()) return true;
    return std::find(o.only.begin(), o.only.end(), info(c).name) != o.only.end();
}

std::vector<Contender> contenders(const Options& o) {
    std::vector<Contender> out;
    for (const ContenderInfo& ci : all_contenders)
        if (wanted(o, ci.id)) out.push_back(ci.id);
    return out;
}

// ---------------------------------------------------------------------------
// Mode: throughput
// ---------------------------------------------------------------------------

void mode_throughput(const Options& o) {
    const std::vector<Contender> cs = contenders(o);
    std::printf("\n== throughput: one loopback TCP connection, one library call per part, a verifying client\n");
    std::printf("   %d rounds, contenders interleaved (order rotated per round); medians over rounds.\n", o.rounds);
    std::printf("   MB/s: payload bytes (1 MB = 1e6 B) from request sent to last chunk decoded.\n");
    std::printf("   x writev / x limit: median over rounds of this contender's MB/s divided by theirs in the same "
                "round.\n");
    std::printf("   CPU ns/part: the serving thread's CPU time / parts; faults/GiB: its minor page faults per GiB "
                "of payload.\n");
    for (const ContenderInfo& ci : all_contenders)
        if (!available(ci.id)) std::printf("   %s: skipped (%s)\n", ci.name, why_missing(ci.id));

    Peers peers;
    for (std::size_t s : o.sizes) peers.patterns.emplace(s, Pattern(s));
    if (std::find(cs.begin(), cs.end(), Contender::httplib) != cs.end()) peers.start_httplib();

    struct Cell {
        std::size_t size;
        bool nodelay;
        std::uint64_t parts;
        std::vector<std::vector<RunResult>> runs;  // [contender][round]
    };
    std::vector<Cell> cells;
    for (std::size_t s : o.sizes)
        for (int n : o.nagle) cells.push_back({s, n == 0, parts_for(o, s), std::vector<std::vector<RunResult>>(contender_count)});

    for (int r = 0; r < o.rounds; ++r) {
        for (Cell& cell : cells) {
            std::fprintf(stderr, "round %d/%d: %s, %s\n", r + 1, o.rounds, human_size(cell.size).c_str(),
                         cell.nodelay ? "TCP_NODELAY" : "Nagle on");
            for (std::size_t k = 0; k < cs.size(); ++k) {
                const Contender c = cs[(k + static_cast<std::size_t>(r)) % cs.size()];
                cell.runs[static_cast<std::size_t>(c)].push_back(
                    run_one(c, peers.patterns.at(cell.size), cell.parts, cell.nodelay, peers));
            }
        }
    }

    for (const Cell& cell : cells) {
        std::printf("\npart %s x %llu, %s\n", human_size(cell.size).c_str(),
                    static_cast<unsigned long long>(cell.parts), cell.nodelay ? "TCP_NODELAY" : "Nagle on");
        std::printf("  %-11s %-47s %9s %9s %8s %12s %11s\n", "contender", "", "MB/s", "x writev", "x limit",
                    "CPU ns/part", "faults/GiB");
        const double payload = static_cast<double>(cell.size) * static_cast<double>(cell.parts);
        auto mbps = [&](const RunResult& rr) { return payload / rr.seconds / 1e6; };
        const auto& wv = cell.runs[static_cast<std::size_t>(Contender::writev_part)];
        const auto& lim = cell.runs[static_cast<std::size_t>(Contender::limit)];
        for (Contender c : cs) {
            const auto& runs = cell.runs[static_cast<std::size_t>(c)];
            std::vector<double> rate, cpu, flt, vs_wv, vs_lim;
            for (std::size_t i = 0; i < runs.size(); ++i) {
                rate.push_back(mbps(runs[i]));
                cpu.push_back(static_cast<double>(runs[i].cpu_ns) / static_cast<double>(cell.parts));
                flt.push_back(static_cast<double>(runs[i].minflt) / (payload / 1073741824.0));
                if (i < wv.size()) vs_wv.push_back(mbps(runs[i]) / mbps(wv[i]));
                if (i < lim.size()) vs_lim.push_back(mbps(runs[i]) / mbps(lim[i]));
            }
            std::printf("  %-11s %-47s %9.1f %9.2f %8.2f %12.1f %11.0f\n", info(c).name, info(c).label, median(rate),
                        vs_wv.empty() ? 0.0 : median(vs_wv), vs_lim.empty() ? 0.0 : median(vs_lim), median(cpu),
                        median(flt));
        }
    }
    std::fflush(stdout);
}

// ---------------------------------------------------------------------------
// Mode: syscalls (each contender re-executed under strace)
// ---------------------------------------------------------------------------

// Write-class system calls of one run of `name`, all threads, or -1 if strace failed.
long strace_count(const Options& o, const char* name, std::size_t size, std::uint64_t parts) {
    char path[] = "/tmp/rill_bench_stream_strace_XXXXXX";
    const int tmp = ::mkstemp(path);
    if (tmp < 0) die("mkstemp: %s", std::strerror(errno));
    ::close(tmp);
    // Resolved here: inside the child, /proc/self/exe would name strace.
    char self[4096];
    const ssize_t self_len = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (self_len <= 0) die("readlink /proc/self/exe: %s", std::strerror(errno));
    self[self_len] = '\0';
    const std::string size_s = std::to_string(size), parts_s = std::to_string(parts);
    std::vector<std::string> args = {"strace", "-f", "-qq", "--seccomp-bpf", "-c", "-e",
                                     "trace=write,writev,sendmsg,sendto", "-o", path, self,
                                     "--one", name, "--sizes", size_s, "--parts", parts_s, "--big-parts", parts_s,
                                     "--nodelay", o.one_nodelay ? "1" : "0"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0) die("fork: %s", std::strerror(errno));
    if (pid == 0) {
        const int devnull = ::open("/dev/null", O_WRONLY);
        if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
        ::execvp("strace", argv.data());
        std::_Exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    long calls = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        FILE* f = std::fopen(path, "r");
        char line[512];
        while (f != nullptr && std::fgets(line, sizeof line, f) != nullptr) {
            // "100.00    0.012345           1     20004           total" (an errors column may sit before the name)
            std::vector<std::string> tok;
            for (char* t = std::strtok(line, " \t\n"); t != nullptr; t = std::strtok(nullptr, " \t\n")) tok.emplace_back(t);
            if (tok.size() >= 5 && tok.back() == "total") calls = std::atol(tok[3].c_str());
        }
        if (f != nullptr) std::fclose(f);
        if (calls < 0) calls = 0;  // strace prints no table when nothing was traced
    }
    ::unlink(path);
    return calls;
}

void mode_syscalls(const Options& o) {
    const std::vector<Contender> cs = contenders(o);
    std::printf("\n== write system calls per part (write, writev, sendmsg, sendto; every thread of the process),\n");
    std::printf("   one run per contender under strace -f --seccomp-bpf -c, %s; the client's request is a sendmmsg, "
                "not counted\n",
                o.one_nodelay ? "TCP_NODELAY" : "Nagle on");
    std::printf("  %-11s", "contender");
    for (std::size_t s : o.sizes)
        std::printf(" %16s", (human_size(s) + " x " + std::to_string(s < 4096 ? o.strace_parts : o.strace_big_parts)).c_str());
    std::printf("\n");
    for (Contender c : cs) {
        std::printf("  %-11s", info(c).name);
        std::fflush(stdout);
        for (std::size_t s : o.sizes) {
            const std::uint64_t parts = s < 4096 ? o.strace_parts : o.strace_big_parts;
            const long calls = strace_count(o, info(c).name, s, parts);
            if (calls < 0)
                std::printf(" %16s", "strace failed");
            else
                std::printf(" %16.4f", static_cast<double>(calls) / static_cast<double>(parts));
            std::fflush(stdout);
        }
        std::printf("\n");
    }
}

int mode_one(const Options& o) {
    Contender c = Contender::writev_part;
    bool found = false;
    for (const ContenderInfo& ci : all_contenders)
        if (o.one == ci.name && available(ci.id)) {
            c = ci.id;
            found = true;
        }
    if (!found) die("--one %s: no such contender in this build", o.one.c_str());
    Peers peers;
    const std::size_t size = o.sizes.at(0);
    peers.patterns.emplace(size, Pattern(size));
    if (c == Contender::httplib) peers.start_httplib();
    // Silent: under strace, a line on stdout would be one more write counted.
    (void)run_one(c, peers.patterns.at(size), parts_for(o, size), o.one_nodelay, peers);
    return 0;
}

// ---------------------------------------------------------------------------
// Mode: latency of isolated parts
// ---------------------------------------------------------------------------

constexpr std::size_t latency_part = 64;

// One stream: `parts` parts, one per timer tick, each stamped with its send time.
// `us`: send -> decoded by the client; `local_us`: send -> the write that took it returned
// (what the library adds before the kernel has the part, free of the client's scheduling).
void latency_run(Contender c, std::uint64_t parts, unsigned interval_us, std::vector<double>& us,
                 std::vector<double>& local_us) {
    const Pattern filler(latency_part);
    std::vector<double> got;
    got.reserve(parts);
    ChunkedChecker checker(nullptr, latency_part, parts, [&](std::uint64_t index, std::string_view data) {
        const std::uint64_t t = now_ns();
        // "<16 hex: send time> <8 hex: index> " then the filler
        if (data.size() != latency_part || data[16] != ' ' || data[25] != ' ') return false;
        const std::string stamp(data.substr(0, 16)), idx(data.substr(17, 8));
        if (std::strtoull(idx.c_str(), nullptr, 16) != index) return false;
        if (data.substr(26) != filler.part(index).substr(26)) return false;
        got.push_back(static_cast<double>(t - std::strtoull(stamp.c_str(), nullptr, 16)) / 1e3);
        return true;
    });
    ClientOutcome co;
    std::uint16_t port = 0;
    const int listener = tcp_listen(port);
    std::thread client([&] { client_run(port, "/latency", checker, co); });
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) die("accept: %s", std::strerror(errno));
    ::close(listener);
    set_nodelay(fd, true);
    read_request_head(fd);

    const int tfd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (tfd < 0 || ep < 0) die("timerfd/epoll: %s", std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0) die("epoll_ctl: %s", std::strerror(errno));
    itimerspec its{};
    its.it_interval.tv_nsec = static_cast<long>(interval_us) * 1000;
    its.it_value = its.it_interval;
    ::timerfd_settime(tfd, 0, &its, nullptr);

    std::shared_ptr<Body> body;
    if (c == Contender::writev_part)
        write_all(fd, raw_head);
    else
        body = start_rill(fd);
#if defined(RILL_BENCH_HAVE_TURN)
    std::unique_ptr<rill::Turn> turn;
    if (c == Contender::rill_turn) turn = std::make_unique<rill::Turn>();
#endif
    for (std::uint64_t i = 0; i < parts;) {
        epoll_event out[4];
        const int n = ::epoll_wait(ep, out, 4, 1000);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("latency: the timer stopped");
        std::uint64_t ticks = 0;
        if (::read(tfd, &ticks, sizeof ticks) != static_cast<ssize_t>(sizeof ticks)) continue;
        // One turn of the loop: one part.
        char part[latency_part];
        const std::string_view fill = filler.part(i);
        std::memcpy(part, fill.data(), latency_part);
        char stamp[32];
        const std::uint64_t t_send = now_ns();
        std::snprintf(stamp, sizeof stamp, "%016llx %08llx ", static_cast<unsigned long long>(t_send),
                      static_cast<unsigned long long>(i & 0xffffffffu));
        std::memcpy(part, stamp, 26);
        if (c == Contender::writev_part) {
            char line[18];
            char* start = size_line(line, latency_part);
            iovec iov[3] = {{start, static_cast<std::size_t>(line + 18 - start)}, {part, latency_part}, {crlf, 2}};
            write_all(fd, iov, 3);
        } else if (!accepted(body->send(std::string_view(part, latency_part)))) {
            die("latency: a part was refused");
        }
#if defined(RILL_BENCH_HAVE_TURN)
        if (turn) turn->end();
#endif
        local_us.push_back(static_cast<double>(now_ns() - t_send) / 1e3);
        ++i;
    }
    if (c == Contender::writev_part) {
        write_all(fd, last_chunk);
    } else {
        if (body->close() != rill::CloseStatus::ok) die("latency: close() failed");
#if defined(RILL_BENCH_HAVE_TURN)
        if (turn) turn->end();
#endif
        check_completed(*body);
    }
    ::close(fd);
    client.join();
    ::close(tfd);
    ::close(ep);
    if (!co.ok) die("latency %s: %s", info(c).name, co.error.c_str());
    us.insert(us.end(), got.begin(), got.end());
}

void mode_latency(const Options& o) {
    std::vector<Contender> cs;
    for (Contender c : {Contender::writev_part, Contender::rill, Contender::rill_turn})
        if (wanted(o, c)) cs.push_back(c);
    const int rounds = std::max(1, o.rounds);
    const std::uint64_t per_round = std::max<std::uint64_t>(1, o.latency_parts / static_cast<std::uint64_t>(rounds));
    std::printf("\n== latency: isolated %zu-byte parts on an idle stream, one per %u us timer tick, TCP_NODELAY;\n",
                latency_part, o.latency_interval_us);
    std::printf("   send time stamped in the part, subtracted by the client on decoding it; %d interleaved rounds of "
                "%llu parts\n",
                rounds, static_cast<unsigned long long>(per_round));
    if (!available(Contender::rill_turn)) std::printf("   rill_turn: skipped (%s)\n", why_missing(Contender::rill_turn));
    std::vector<std::vector<double>> us(contender_count), local(contender_count);
    for (int r = 0; r < rounds; ++r)
        for (std::size_t k = 0; k < cs.size(); ++k) {
            const Contender c = cs[(k + static_cast<std::size_t>(r)) % cs.size()];
            latency_run(c, per_round, o.latency_interval_us, us[static_cast<std::size_t>(c)],
                        local[static_cast<std::size_t>(c)]);
        }
    std::printf("  %-11s %7s | %-37s | %s\n", "", "", "send -> decoded by the client (us)",
                "send -> its write returned (us)");
    std::printf("  %-11s %7s | %8s %8s %8s %8s | %8s %8s %8s\n", "contender", "parts", "p50", "p90", "p99", "max",
                "p50", "p99", "max");
    for (Contender c : cs) {
        const auto& v = us[static_cast<std::size_t>(c)];
        const auto& w = local[static_cast<std::size_t>(c)];
        auto top = [](const std::vector<double>& x) { return x.empty() ? 0.0 : *std::max_element(x.begin(), x.end()); };
        std::printf("  %-11s %7zu | %8.1f %8.1f %8.1f %8.1f | %8.1f %8.1f %8.1f\n", info(c).name, v.size(),
                    percentile(v, 0.5), percentile(v, 0.9), percentile(v, 0.99), top(v), percentile(w, 0.5),
                    percentile(w, 0.99), top(w));
    }
    std::fflush(stdout);
}

// ---------------------------------------------------------------------------
// Mode: scale (the example server in a child process, many SSE-style streams)
// ---------------------------------------------------------------------------

constexpr std::size_t event_size = 100;

std::string make_event(std::uint64_t seq) {
    char head[32];
    std::snprintf(head, sizeof head, "id: %06llu\ndata: ", static_cast<unsigned long long>(seq % 1000000));
    std::string e(head);
    while (e.size() < event_size - 2) e.push_back(alphabet[(e.size() + seq) % alphabet.size()]);
    e += "\n\n";
    return e;
}

struct BroadcastRecord {
    std::uint64_t wall_ns = 0;    // loop thread, first send to the end of the handler (and of its own Turn)
    std::uint64_t cpu_ns = 0;     // the same, thread CPU
    std::uint64_t cpu_all_ns = 0; // thread CPU from the first send until the client had it all (asked by 'r')
    std::uint64_t streams = 0;
    std::uint64_t refused = 0;
};

long vm_kib(pid_t pid, const char* key) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
    FILE* f = std::fopen(path, "r");
    if (f == nullptr) return -1;
    char line[256];
    long v = -1;
    const std::size_t klen = std::strlen(key);
    while (std::fgets(line, sizeof line, f) != nullptr)
        if (std::strncmp(line, key, klen) == 0) v = std::atol(line + klen + 1);
    std::fclose(f);
    return v;
}

// The server: examples/server's loop and Server, one route that opens an event
// stream and keeps its body; a control pipe asks for broadcasts.
[[noreturn]] void scale_server(int ctl_fd, int out_fd) {
    rill_example::EventLoop loop;
    rill_example::ServerOptions opts;
    opts.port = 0;
    std::vector<rill_example::BodyPtr> streams;
    rill_example::Server server(loop, opts, [&](const rill_example::HttpRequest& req, const rill_example::BodyPtr& body) {
        rill::ResponseHead head(200);
        head.header("Content-Type", "text/event-stream").header("Cache-Control", "no-cache");
        if (body->respond(req.framing_request(), head) == rill::HeadStatus::ok) streams.push_back(body);
    });
    if (!server.listen().empty()) std::_Exit(2);
    const std::uint16_t port = server.local_port();
    if (::write(out_fd, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) std::_Exit(2);
    std::uint64_t seq = 0;
    BroadcastRecord rec;
    std::uint64_t c0 = 0;
    loop.watch(ctl_fd, EPOLLIN, [&](std::uint32_t) {
        char cmd = 0;
        if (::read(ctl_fd, &cmd, 1) != 1 || cmd == 'q') {
            loop.stop();
            return;
        }
        if (cmd == 'r') {
            // Whatever the loop did after the handler (a Turn of its own ending the turn,
            // EPOLLOUT flushes) is counted here too.
            rec.cpu_all_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
            if (::write(out_fd, &rec, sizeof rec) != static_cast<ssize_t>(sizeof rec)) std::_Exit(2);
            return;
        }
        const std::string event = make_event(++seq);
        rec = BroadcastRecord{};
        c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        const std::uint64_t t0 = now_ns();
        auto send_all = [&] {
            for (const auto& b : streams)
                if (!accepted(b->send(std::string_view(event)))) ++rec.refused;
        };
        if (cmd == 't') {
#if defined(RILL_BENCH_HAVE_TURN)
            rill::Turn turn;
            send_all();
            turn.end();
#endif
        } else {
            send_all();
        }
        rec.wall_ns = now_ns() - t0;
        rec.cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        rec.streams = streams.size();
    });
    loop.run();
    std::_Exit(0);
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

void mode_scale(const Options& o) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    std::size_t streams = o.streams;
    // Each process (client here, server in the child) holds one fd per stream.
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < streams + 64) streams = rl.rlim_cur - 64;
    std::printf("\n== scale: %zu SSE-style chunked streams on the example server (child process, one epoll loop),\n",
                streams);
    std::printf("   RLIMIT_NOFILE %llu (hard %llu); a %zu-byte event broadcast to all, %d times per variant, "
                "interleaved\n",
                static_cast<unsigned long long>(rl.rlim_cur), static_cast<unsigned long long>(rl.rlim_max), event_size,
                o.broadcasts);
    if (streams < o.streams) std::printf("   note: %zu streams asked, the descriptor limit allows %zu\n", o.streams, streams);

    int ctl[2], res[2];
    if (::pipe2(ctl, O_CLOEXEC) != 0 || ::pipe2(res, O_CLOEXEC) != 0) die("pipe: %s", std::strerror(errno));
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0) die("fork: %s", std::strerror(errno));
    if (pid == 0) {
        ::close(ctl[1]);
        ::close(res[0]);
        scale_server(ctl[0], res[1]);
    }
    ::close(ctl[0]);
    ::close(res[1]);
    auto read_exact = [&](void* p, std::size_t n) {
        auto* c = static_cast<char*>(p);
        while (n != 0) {
            const ssize_t r = ::read(res[0], c, n);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) die("scale: the server process ended");
            c += r;
            n -= static_cast<std::size_t>(r);
        }
    };
    std::uint16_t port = 0;
    read_exact(&port, sizeof port);
    ::usleep(100000);
    const long rss0 = vm_kib(pid, "VmRSS:");

    struct Stream {
        int fd = -1;
        std::string head;
        bool head_done = false;
        std::size_t got = 0;  // bytes of the current broadcast's chunk matched so far
    };
    std::vector<Stream> ss(streams);
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    const std::string request = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const auto t_open = now_ns();
    for (std::size_t i = 0; i < streams; ++i) {
        ss[i].fd = tcp_connect(port);
        if (::send(ss[i].fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
            die("scale: request not sent");
        set_nonblocking(ss[i].fd);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        if (::epoll_ctl(ep, EPOLL_CTL_ADD, ss[i].fd, &ev) != 0) die("epoll_ctl: %s", std::strerror(errno));
    }

    std::string expected;  // the current broadcast's chunk, as every stream must receive it
    std::size_t pending = streams;  // heads first, then each broadcast's chunk
    std::vector<epoll_event> evs(1024);
    std::vector<char> buf(64 * 1024);
    auto pump = [&](const char* what) {
        const std::uint64_t deadline = now_ns() + 60'000'000'000ull;
        while (pending != 0) {
            if (now_ns() > deadline) die("scale: %zu streams still waiting for %s after 60 s", pending, what);
            const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 1000);
            for (int k = 0; k < n; ++k) {
                Stream& s = ss[evs[static_cast<std::size_t>(k)].data.u64];
                for (;;) {
                    const ssize_t r = ::recv(s.fd, buf.data(), buf.size(), 0);
                    if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
                    if (r <= 0) die("scale: a stream ended (%s)", r == 0 ? "EOF" : std::strerror(errno));
                    std::size_t off = 0;
                    const auto len = static_cast<std::size_t>(r);
                    if (!s.head_done) {
                        while (off < len && !s.head_done) {
                            s.head.push_back(buf[off++]);
                            if (s.head.size() >= 4 && s.head.compare(s.head.size() - 4, 4, "\r\n\r\n") == 0) {
                                if (s.head.compare(0, 12, "HTTP/1.1 200") != 0 ||
                                    s.head.find("Transfer-Encoding: chunked") == std::string::npos)
                                    die("scale: unexpected head: %s", s.head.c_str());
                                s.head_done = true;
                                std::string().swap(s.head);
                                --pending;
                            }
                        }
                    }
                    if (off == len) continue;
                    if (s.got + (len - off) > expected.size() ||
                        std::memcmp(buf.data() + off, expected.data() + s.got, len - off) != 0)
                        die("scale: a stream received bytes other than the broadcast event");
                    s.got += len - off;
                    if (s.got == expected.size()) --pending;
                }
            }
        }
    };
    pump("their response heads");
    const double open_s = static_cast<double>(now_ns() - t_open) / 1e9;
    ::usleep(200000);
    const long rss1 = vm_kib(pid, "VmRSS:");

    std::vector<double> per_stream[2], per_bcast[2], cpu_per_stream[2], cpu_all_per_stream[2], delivered[2];
    const bool have_turn = available(Contender::rill_turn);
    std::uint64_t event_seq = 0;
    for (int b = 0; b < o.broadcasts; ++b) {
        for (int v = 0; v < 2; ++v) {
            const int variant = (b % 2 == 0) ? v : 1 - v;  // alternate which goes first
            if (variant == 1 && !have_turn) continue;
            // The server numbers its events 1, 2, ...: the client's expectation keeps in step.
            expected = hex(event_size) + "\r\n" + make_event(++event_seq) + "\r\n";
            for (Stream& s : ss) s.got = 0;
            pending = streams;
            const char cmd = variant == 1 ? 't' : 'u';
            const std::uint64_t t0 = now_ns();
            if (::write(ctl[1], &cmd, 1) != 1) die("scale: control pipe");
            pump("the event");
            const std::uint64_t t_all = now_ns();
            const char report = 'r';
            if (::write(ctl[1], &report, 1) != 1) die("scale: control pipe");
            BroadcastRecord rec;
            read_exact(&rec, sizeof rec);
            if (rec.streams != streams || rec.refused != 0)
                die("scale: the server holds %llu streams (%llu refused a part), expected %zu",
                    static_cast<unsigned long long>(rec.streams), static_cast<unsigned long long>(rec.refused), streams);
            const auto vi = static_cast<std::size_t>(variant);
            per_bcast[vi].push_back(static_cast<double>(rec.wall_ns) / 1e6);
            per_stream[vi].push_back(static_cast<double>(rec.wall_ns) / static_cast<double>(streams));
            cpu_per_stream[vi].push_back(static_cast<double>(rec.cpu_ns) / static_cast<double>(streams));
            cpu_all_per_stream[vi].push_back(static_cast<double>(rec.cpu_all_ns) / static_cast<double>(streams));
            delivered[vi].push_back(static_cast<double>(t_all - t0) / 1e6);
        }
    }
    const char quit = 'q';
    (void)!::write(ctl[1], &quit, 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (Stream& s : ss) ::close(s.fd);
    ::close(ep);

    std::printf("  streams opened in %.2f s; server VmRSS %ld KiB before, %ld KiB with all streams idle: "
                "%.0f B per idle stream\n",
                open_s, rss0, rss1, static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(streams));
    std::printf("  %-38s %9s %10s %14s %13s %12s\n", "broadcast (medians)", "ms/bcast", "ns/stream",
                "CPU ns/stream", "+loop CPU ns", "all rcvd ms");
    // The example loop ends a Turn of its own after the handler: the first variant's writes
    // happen there, outside its ms/bcast, inside its +loop CPU.
    const char* names[2] = {"send() per stream, the loop's Turn", "inside a rill::Turn, then end()"};
    for (std::size_t v = 0; v < 2; ++v) {
        if (per_bcast[v].empty()) {
            std::printf("  %-38s %s\n", names[v], "skipped (turn.hpp not yet available)");
            continue;
        }
        std::printf("  %-38s %9.2f %10.0f %14.0f %13.0f %12.1f\n", names[v], median(per_bcast[v]),
                    median(per_stream[v]), median(cpu_per_stream[v]), median(cpu_all_per_stream[v]),
                    median(delivered[v]));
    }
    std::printf("  (ms/bcast, ns/stream, CPU ns/stream: the server's loop thread from the first send to the end of the\n"
                "   handler, which for the Turn variant includes end(); +loop CPU ns: its CPU per stream until the "
                "client had\n"
                "   decoded the event on every stream, so writes the loop makes after the handler count too;\n"
                "   all rcvd: the client's clock from asking for the broadcast to the last stream decoding it)\n");
    std::fflush(stdout);
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

std::vector<std::string> split(const char* s) {
    std::vector<std::string> out;
    std::string cur;
    for (const char* p = s;; ++p) {
        if (*p == ',' || *p == '\0') {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
            if (*p == '\0') break;
        } else {
            cur.push_back(*p);
        }
    }
    return out;
}

std::uint64_t number(const char* s) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s, &end, 10);
    if (end == s || *end != '\0') die("not a number: %s", s);
    return v;
}

void usage() {
    std::printf(
        "usage: rill_bench_stream [--modes throughput,syscalls,latency,scale] [--rounds 5]\n"
        "         [--sizes 64,16384] [--parts 1000000] [--big-parts 20000]   (parts below / from 4 KiB)\n"
        "         [--nagle on,off] [--only writev,limit,rill,...]\n"
        "         [--strace-parts 20000] [--strace-big-parts 2000]\n"
        "         [--latency-parts 10000] [--latency-interval-us 200]\n"
        "         [--streams 10000] [--broadcasts 10]\n"
        "       rill_bench_stream --list\n");
}

int main_impl(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) die("%s needs a value", argv[i]);
            return argv[++i];
        };
        if (a == "--modes") o.modes = split(value());
        else if (a == "--rounds") o.rounds = static_cast<int>(std::max<std::uint64_t>(1, number(value())));
        else if (a == "--sizes") {
            o.sizes.clear();
            for (const std::string& s : split(value())) {
                const std::uint64_t v = number(s.c_str());
                if (v == 0 || v > 128 * 1024) die("--sizes: 1 to 131072 bytes");
                o.sizes.push_back(static_cast<std::size_t>(v));
            }
        } else if (a == "--parts") o.parts = number(value());
        else if (a == "--big-parts") o.big_parts = number(value());
        else if (a == "--nagle") {
            o.nagle.clear();
            for (const std::string& s : split(value())) o.nagle.push_back(s == "on" ? 1 : 0);
        } else if (a == "--only") o.only = split(value());
        else if (a == "--strace-parts") o.strace_parts = number(value());
        else if (a == "--strace-big-parts") o.strace_big_parts = number(value());
        else if (a == "--latency-parts") o.latency_parts = number(value());
        else if (a == "--latency-interval-us") o.latency_interval_us = static_cast<unsigned>(number(value()));
        else if (a == "--streams") o.streams = static_cast<std::size_t>(number(value()));
        else if (a == "--broadcasts") o.broadcasts = static_cast<int>(number(value()));
        else if (a == "--one") o.one = value();
        else if (a == "--nodelay") o.one_nodelay = number(value()) != 0;
        else if (a == "--list") {
            for (const ContenderInfo& ci : all_contenders)
                std::printf("%-11s %s%s\n", ci.name, ci.label, available(ci.id) ? "" : "  [not built]");
            return 0;
        } else {
            usage();
            return a == "--help" || a == "-h" ? 0 : 2;
        }
    }
    if (o.parts == 0 || o.big_parts == 0) die("--parts and --big-parts must be positive");
    if (!o.one.empty()) return mode_one(o);

    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
#if !defined(__OPTIMIZE__)
    std::printf("warning: built without optimization; configure with -DCMAKE_BUILD_TYPE=Release\n");
#endif
    std::printf("rill_bench_stream: %u cores; rill %d.%d.%d; rill::Turn %s\n", std::thread::hardware_concurrency(),
                RILL_VERSION_MAJOR, RILL_VERSION_MINOR, RILL_VERSION_PATCH,
                available(Contender::rill_turn) ? "available" : "not available (turn.hpp not yet available)");
    for (const std::string& m : o.modes) {
        if (m == "throughput") mode_throughput(o);
        else if (m == "syscalls") mode_syscalls(o);
        else if (m == "latency") mode_latency(o);
        else if (m == "scale") mode_scale(o);
        else die("unknown mode %s", m.c_str());
    }
    return 0;
}

}  // namespace rill_bench

int main(int argc, char** argv) { return rill_bench::main_impl(argc, argv); }
