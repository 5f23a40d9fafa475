// rill_bench_throughput: what streaming an HTTP/1.1 chunked body of many parts
// over a real socket costs with rill, next to hand-written framing sent with one
// writev per part (the floor any library can approach) and, when they were
// found at configure time, Boost.Beast and cpp-httplib.
//
// Every variant writes the same body to a connected stream socket while a
// reader thread drains it as fast as it can and counts what arrives; a run
// whose byte count differs from the expected framed size aborts the program.
// The machine this runs on is usually shared, so the figures that mean
// something are the ratios between variants measured in the same round.
//
//   rill_bench_throughput                      timed mode: interleaved rounds, medians, ratios
//   rill_bench_throughput --callgrind --variant rill --size 256 --parts 2000
//                                              one run of one variant, for valgrind --tool=callgrind
//                                              --toggle-collect='*run_measured*'
//   rill_bench_throughput --list               the variants this build has

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <rill/rill.hpp>

#if defined(RILL_BENCH_HAVE_BEAST)
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#endif

#if defined(RILL_BENCH_HAVE_HTTPLIB)
#include <httplib.h>
#endif

namespace rill_bench {

[[noreturn]] void die(const char* what, int err = 0) {
    if (err != 0)
        std::fprintf(stderr, "rill_bench_throughput: %s: %s\n", what, std::strerror(err));
    else
        std::fprintf(stderr, "rill_bench_throughput: %s\n", what);
    std::exit(1);
}

// ---------------------------------------------------------------------------
// Variants
// ---------------------------------------------------------------------------

enum class Variant : int { raw, rill, raw_batch, rill_batch, beast, beast_batch, raw_tcp, httplib };

struct VariantInfo {
    Variant id;
    const char* name;
    const char* label;
    Variant reference;  // the ratio column divides by this variant's time in the same round
};

constexpr VariantInfo all_variants[] = {
    {Variant::raw, "raw", "raw writev, 1 call/part", Variant::raw},
    {Variant::rill, "rill", "rill send()", Variant::raw},
    {Variant::raw_batch, "raw_batch", "raw writev, 64 parts/call", Variant::raw},
    {Variant::rill_batch, "rill_batch", "rill Batch of 64", Variant::raw_batch},
    {Variant::beast, "beast", "Beast make_chunk+write", Variant::raw},
    {Variant::beast_batch, "beast_batch", "Beast 64 chunks/write", Variant::raw_batch},
    {Variant::raw_tcp, "raw_tcp", "raw writev, TCP loopback", Variant::raw},
    {Variant::httplib, "httplib", "cpp-httplib DataSink (TCP)", Variant::raw_tcp},
};

constexpr bool available(Variant v) noexcept {
    switch (v) {
        case Variant::beast:
        case Variant::beast_batch:
#if defined(RILL_BENCH_HAVE_BEAST)
            return true;
#else
            return false;
#endif
        case Variant::httplib:
#if defined(RILL_BENCH_HAVE_HTTPLIB)
            return true;
#else
            return false;
#endif
        case Variant::raw_tcp:
            // Only the httplib variant needs a TCP floor to be compared with.
            return available(Variant::httplib);
        default:
            return true;
    }
}

const VariantInfo& info(Variant v) { return all_variants[static_cast<int>(v)]; }

constexpr std::size_t batch_parts = 64;
constexpr std::string_view chunked_head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
constexpr std::string_view last_chunk = "0\r\n\r\n";

// ---------------------------------------------------------------------------
// Expected wire size
// ---------------------------------------------------------------------------

std::size_t hex_digits(std::size_t n) noexcept {
    std::size_t d = 1;
    while (n >>= 4) ++d;
    return d;
}

// Body bytes after the head: every part framed, then the last chunk.
std::uint64_t framed_body_size(std::size_t part, std::size_t parts) noexcept {
    return static_cast<std::uint64_t>(hex_digits(part) + 2 + part + 2) * parts + last_chunk.size();
}

// ---------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------

struct Pair {
    int writer = -1;
    int reader = -1;
};

Pair unix_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) die("socketpair", errno);
    return {fds[0], fds[1]};
}

int tcp_listen(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", errno);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind", errno);
    if (::listen(fd, 4) != 0) die("listen", errno);
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) die("getsockname", errno);
    port = ntohs(addr.sin_port);
    return fd;
}

int tcp_connect(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", errno);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect", errno);
    return fd;
}

// Default socket options on purpose (Nagle left on): that is what cpp-httplib
// uses, and raw_tcp exists only as its floor.
Pair tcp_pair() {
    std::uint16_t port = 0;
    const int listener = tcp_listen(port);
    const int client = tcp_connect(port);
    const int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (server < 0) die("accept", errno);
    ::close(listener);
    return {server, client};
}

// ---------------------------------------------------------------------------
// The reader: drains a response and checks its size
// ---------------------------------------------------------------------------

struct Drained {
    std::uint64_t body_bytes = 0;  // after the blank line that ends the head
    bool head_seen = false;
    char tail[5] = {};  // the last bytes received: the last chunk, if the framing is right
    std::size_t tail_len = 0;
};

// Reads until EOF. Only the head is scanned byte by byte (it is not always ours:
// cpp-httplib writes its own); the body is merely counted, so the reader stays
// faster than any writer.
Drained drain(int fd) {
    static thread_local std::vector<char> buffer(256 * 1024);
    Drained d;
    int crlf_state = 0;  // how much of "\r\n\r\n" has been matched
    for (;;) {
        const ssize_t r = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("recv", errno);
        }
        if (r == 0) break;
        auto n = static_cast<std::size_t>(r);
        std::size_t start = 0;
        if (!d.head_seen) {
            while (start < n && crlf_state != 4) {
                const char c = buffer[start++];
                if (c == '\r')
                    crlf_state = (crlf_state == 0 || crlf_state == 2) ? crlf_state + 1 : 1;
                else if (c == '\n' && (crlf_state == 1 || crlf_state == 3))
                    ++crlf_state;
                else
                    crlf_state = 0;
            }
            if (crlf_state != 4) continue;
            d.head_seen = true;
        }
        const std::size_t body = n - start;
        d.body_bytes += body;
        if (body >= sizeof d.tail) {
            std::memcpy(d.tail, buffer.data() + n - sizeof d.tail, sizeof d.tail);
            d.tail_len = sizeof d.tail;
        } else {
            for (std::size_t i = start; i < n; ++i) {
                if (d.tail_len == sizeof d.tail) {
                    std::memmove(d.tail, d.tail + 1, sizeof d.tail - 1);
                    --d.tail_len;
                }
                d.tail[d.tail_len++] = buffer[i];
            }
        }
    }
    return d;
}

void check(const Drained& d, std::uint64_t expected, const char* variant) {
    if (!d.head_seen || d.body_bytes != expected ||
        std::string_view(d.tail, d.tail_len) != last_chunk) {
        std::fprintf(stderr,
                     "rill_bench_throughput: %s: the reader got %llu body bytes (head %s), expected %llu "
                     "ending in the last chunk\n",
                     variant, static_cast<unsigned long long>(d.body_bytes),
                     d.head_seen ? "seen" : "missing", static_cast<unsigned long long>(expected));
        std::exit(1);
    }
}

// ---------------------------------------------------------------------------
// Hand-written framing, no library
// ---------------------------------------------------------------------------

// Formats "<hex>\r\n" at the end of `line`; returns where it starts.
char* size_line(char (&line)[18], std::size_t n) noexcept {
    static constexpr char hex[] = "0123456789abcdef";
    char* p = line + 16;
    p[0] = '\r';
    p[1] = '\n';
    do {
        *--p = hex[n & 0xfu];
        n >>= 4;
    } while (n != 0);
    return p;
}

std::size_t iov_bytes(const iovec* iov, int count) noexcept {
    std::size_t n = 0;
    for (int i = 0; i < count; ++i) n += iov[i].iov_len;
    return n;
}

// A blocking stream socket takes the whole writev almost always; the loop is for
// the rare short write, so that a figure is never bought by losing bytes.
void write_all(int fd, iovec* iov, int count) {
    std::size_t want = iov_bytes(iov, count);
    while (want != 0) {
        const ssize_t w = ::writev(fd, iov, count);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("writev", errno);
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

char crlf[] = "\r\n";

void stream_raw(int fd, std::string_view part, std::size_t parts) {
    write_all(fd, chunked_head);
    for (std::size_t i = 0; i < parts; ++i) {
        char line[18];
        char* start = size_line(line, part.size());
        iovec iov[3] = {{start, static_cast<std::size_t>(line + 18 - start)},
                        {const_cast<char*>(part.data()), part.size()},
                        {crlf, 2}};
        write_all(fd, iov, 3);
    }
    write_all(fd, last_chunk);
}

void stream_raw_batch(int fd, std::string_view part, std::size_t parts) {
    write_all(fd, chunked_head);
    char lines[batch_parts][18];
    iovec iov[3 * batch_parts];
    for (std::size_t done = 0; done < parts;) {
        const std::size_t k = std::min(batch_parts, parts - done);
        for (std::size_t i = 0; i < k; ++i) {
            char* start = size_line(lines[i], part.size());
            iov[3 * i] = {start, static_cast<std::size_t>(lines[i] + 18 - start)};
            iov[3 * i + 1] = {const_cast<char*>(part.data()), part.size()};
            iov[3 * i + 2] = {crlf, 2};
        }
        write_all(fd, iov, static_cast<int>(3 * k));
        done += k;
    }
    write_all(fd, last_chunk);
}

// ---------------------------------------------------------------------------
// rill
// ---------------------------------------------------------------------------

using Body = rill::DeferredBody<rill::PosixSocketSink>;

std::shared_ptr<Body> start_rill(int fd) {
    auto body = rill::make_deferred_body<rill::PosixSocketSink>();
    body->each(rill::PosixSocketSink(fd));
    if (body->respond(rill::Request{"GET", 1, "", ""}, rill::ResponseHead(200)) != rill::HeadStatus::ok)
        die("rill: respond() refused the head");
    return body;
}

void finish_rill(Body& body) {
    if (body.close() != rill::CloseStatus::ok || body.state() != rill::BodyState::closed ||
        body.close_reason() != rill::CloseReason::completed)
        die("rill: the body did not complete");
}

void stream_rill(int fd, std::string_view part, std::size_t parts) {
    auto body = start_rill(fd);
    for (std::size_t i = 0; i < parts; ++i)
        if (body->send(part) != rill::SendStatus::written)
            die("rill: a blocking socket did not take a part at once");
    finish_rill(*body);
}

void stream_rill_batch(int fd, std::string_view part, std::size_t parts) {
    auto body = start_rill(fd);
    for (std::size_t done = 0; done < parts;) {
        const std::size_t k = std::min(batch_parts, parts - done);
        {
            rill::Batch<Body> batch(*body);
            for (std::size_t i = 0; i < k; ++i) {
                const rill::SendStatus s = body->send(part);
                if (s != rill::SendStatus::queued && s != rill::SendStatus::backpressure)
                    die("rill: a corked body did not queue a part");
            }
        }
        if (body->bytes_queued() != 0) die("rill: uncork() left bytes queued on a blocking socket");
        done += k;
    }
    finish_rill(*body);
}

// ---------------------------------------------------------------------------
// Boost.Beast (chunk framing) over Boost.Asio
// ---------------------------------------------------------------------------

#if defined(RILL_BENCH_HAVE_BEAST)
namespace net = boost::asio;
namespace http = boost::beast::http;

net::local::stream_protocol::socket beast_socket(net::io_context& ioc, int fd) {
    // The socket owns what it is given; a duplicate keeps the closing of `fd` ours.
    net::local::stream_protocol::socket sock(ioc);
    sock.assign(net::local::stream_protocol(), ::dup(fd));
    return sock;
}

void stream_beast(int fd, std::string_view part, std::size_t parts) {
    net::io_context ioc;
    auto sock = beast_socket(ioc, fd);
    net::write(sock, net::buffer(chunked_head.data(), chunked_head.size()));
    const net::const_buffer data(part.data(), part.size());
    for (std::size_t i = 0; i < parts; ++i) net::write(sock, http::make_chunk(data));
    net::write(sock, http::make_chunk_last());
}

void stream_beast_batch(int fd, std::string_view part, std::size_t parts) {
    net::io_context ioc;
    auto sock = beast_socket(ioc, fd);
    net::write(sock, net::buffer(chunked_head.data(), chunked_head.size()));
    const net::const_buffer data(part.data(), part.size());
    using Chunk = http::chunk_body<net::const_buffer>;
    std::vector<Chunk> chunks;
    std::vector<net::const_buffer> gather;
    chunks.reserve(batch_parts);
    for (std::size_t done = 0; done < parts;) {
        const std::size_t k = std::min(batch_parts, parts - done);
        chunks.clear();
        gather.clear();
        for (std::size_t i = 0; i < k; ++i) {
            chunks.push_back(http::make_chunk(data));
            for (auto it = net::buffer_sequence_begin(chunks.back()); it != net::buffer_sequence_end(chunks.back());
                 ++it)
                gather.push_back(*it);
        }
        net::write(sock, gather);
        done += k;
    }
    net::write(sock, http::make_chunk_last());
}
#endif

// ---------------------------------------------------------------------------
// cpp-httplib: a real Server, its chunked content provider, a raw client
// ---------------------------------------------------------------------------

#if defined(RILL_BENCH_HAVE_HTTPLIB)
// Writes the parts from inside the server's content provider; named so that
// callgrind's --toggle-collect='*run_measured*' counts it like the others.
__attribute__((noinline)) bool run_measured_httplib(httplib::DataSink& sink, std::string_view part,
                                                    std::size_t parts) {
    for (std::size_t i = 0; i < parts; ++i)
        if (!sink.write(part.data(), part.size())) return false;
    sink.done();
    return true;
}

class HttplibServer {
public:
    explicit HttplibServer(std::string_view payload) {
        server_.Get("/", [payload](const httplib::Request& req, httplib::Response& res) {
            const std::size_t size = std::strtoull(req.get_param_value("size").c_str(), nullptr, 10);
            const std::size_t parts = std::strtoull(req.get_param_value("parts").c_str(), nullptr, 10);
            const std::string_view part = payload.substr(0, size);
            res.set_chunked_content_provider(
                "application/octet-stream",
                [part, parts](std::size_t, httplib::DataSink& sink) { return run_measured_httplib(sink, part, parts); });
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        if (port_ <= 0) die("httplib: bind_to_any_port failed");
        // The socket already listens: a fetch() before the loop starts waits in the backlog.
        thread_ = std::thread([this] { server_.listen_after_bind(); });
    }
    ~HttplibServer() {
        server_.stop();
        thread_.join();
    }
    HttplibServer(const HttplibServer&) = delete;
    HttplibServer& operator=(const HttplibServer&) = delete;

    // Returns once the whole response has been read; the caller times it.
    void fetch(std::size_t size, std::size_t parts) const {
        const int fd = tcp_connect(static_cast<std::uint16_t>(port_));
        const std::string request = "GET /?size=" + std::to_string(size) + "&parts=" + std::to_string(parts) +
                                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        write_all(fd, request);
        const Drained d = drain(fd);
        ::close(fd);
        check(d, framed_body_size(size, parts), "httplib");
    }

private:
    httplib::Server server_;
    std::thread thread_;
    int port_ = 0;
};
#else
class HttplibServer {
public:
    explicit HttplibServer(std::string_view) {}
    void fetch(std::size_t, std::size_t) const { die("built without cpp-httplib"); }
};
#endif

// ---------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------

// Everything a variant does to put the body on the wire happens under this
// frame, and nothing else does: callgrind counts exactly this.
__attribute__((noinline)) void run_measured(Variant v, int fd, std::string_view part, std::size_t parts) {
    switch (v) {
        case Variant::raw:
        case Variant::raw_tcp: stream_raw(fd, part, parts); break;
        case Variant::raw_batch: stream_raw_batch(fd, part, parts); break;
        case Variant::rill: stream_rill(fd, part, parts); break;
        case Variant::rill_batch: stream_rill_batch(fd, part, parts); break;
#if defined(RILL_BENCH_HAVE_BEAST)
        case Variant::beast: stream_beast(fd, part, parts); break;
        case Variant::beast_batch: stream_beast_batch(fd, part, parts); break;
#endif
        default: die("variant not built");
    }
}

using Clock = std::chrono::steady_clock;

// Wall time from the first byte written to the last byte read.
double run_once(Variant v, std::string_view payload, std::size_t size, std::size_t parts,
                const HttplibServer* httplib_server) {
    const std::string_view part = payload.substr(0, size);
    if (v == Variant::httplib) {
        const auto t0 = Clock::now();
        httplib_server->fetch(size, parts);
        return std::chrono::duration<double>(Clock::now() - t0).count();
    }
    const Pair p = v == Variant::raw_tcp ? tcp_pair() : unix_pair();
    Drained d;
    std::thread reader([&d, fd = p.reader] { d = drain(fd); });
    const auto t0 = Clock::now();
    run_measured(v, p.writer, part, parts);
    ::close(p.writer);
    reader.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    ::close(p.reader);
    check(d, framed_body_size(size, parts), info(v).name);
    return seconds;
}

// ---------------------------------------------------------------------------
// Timed mode
// ---------------------------------------------------------------------------

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 != 0 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Options {
    std::vector<std::size_t> sizes{16, 256, 4096, 65536};
    int rounds = 7;
    double target_seconds = 0.3;
    std::size_t parts = 0;  // 0: calibrated per size
    bool callgrind = false;
    bool list = false;
    std::string variant;
};

// Enough parts for the raw variant to take about `target` seconds at this size.
std::size_t calibrate(std::string_view payload, std::size_t size, double target) {
    const std::size_t probe = std::max<std::size_t>(200, (8u << 20) / (size + 8));
    double best = 1e9;
    for (int i = 0; i < 3; ++i) best = std::min(best, run_once(Variant::raw, payload, size, probe, nullptr));
    const double per_part = best / static_cast<double>(probe);
    const auto parts = static_cast<std::size_t>(target / per_part);
    return std::clamp<std::size_t>(parts, 1000, 50'000'000);
}

std::string human_size(std::size_t n) {
    if (n >= 1024 && n % 1024 == 0) return std::to_string(n / 1024) + " KiB";
    return std::to_string(n) + " B";
}

int timed(const Options& o, std::string_view payload) {
    std::vector<Variant> variants;
    for (const VariantInfo& vi : all_variants)
        if (available(vi.id)) variants.push_back(vi.id);

#if !defined(__OPTIMIZE__)
    std::printf("warning: built without optimization; configure with -DCMAKE_BUILD_TYPE=Release\n");
#endif
    std::printf("rill_bench_throughput: chunked HTTP/1.1 body, one response per run; transport AF_UNIX "
                "socketpair\n(TCP loopback for raw_tcp and httplib); a reader thread drains 256 KiB per recv "
                "and checks the byte count.\n%d rounds, variants interleaved (order rotated each round); "
                "medians; ratio = median over rounds\nof (time / time of the reference variant in the same "
                "round). MB/s counts payload bytes only (1 MB = 1e6 B).\n",
                o.rounds);
    for (Variant v : {Variant::beast, Variant::httplib})
        if (!available(v)) std::printf("note: variant %s not built (its library was not found)\n", info(v).name);

    std::unique_ptr<HttplibServer> server;
    if (available(Variant::httplib)) server = std::make_unique<HttplibServer>(payload);

    struct Cell {
        std::size_t parts = 0;
        std::vector<std::vector<double>> seconds;  // [variant][round]
    };
    std::vector<Cell> cells(o.sizes.size());
    for (std::size_t s = 0; s < o.sizes.size(); ++s) {
        cells[s].parts = o.parts != 0 ? o.parts : calibrate(payload, o.sizes[s], o.target_seconds);
        cells[s].seconds.assign(std::size(all_variants), {});
    }

    for (int r = 0; r < o.rounds; ++r) {
        std::fprintf(stderr, "round %d/%d\n", r + 1, o.rounds);
        for (std::size_t s = 0; s < o.sizes.size(); ++s) {
            for (std::size_t k = 0; k < variants.size(); ++k) {
                const Variant v = variants[(k + static_cast<std::size_t>(r)) % variants.size()];
                const double t = run_once(v, payload, o.sizes[s], cells[s].parts, server.get());
                cells[s].seconds[static_cast<std::size_t>(v)].push_back(t);
            }
        }
    }

    for (std::size_t s = 0; s < o.sizes.size(); ++s) {
        const Cell& c = cells[s];
        const std::size_t size = o.sizes[s];
        std::printf("\npart %s, %zu parts per run\n", human_size(size).c_str(), c.parts);
        std::printf("  %-12s %-28s %12s %10s %12s %7s\n", "variant", "", "ns/part", "MB/s", "vs", "ratio");
        for (Variant v : variants) {
            const auto& t = c.seconds[static_cast<std::size_t>(v)];
            const auto& ref = c.seconds[static_cast<std::size_t>(info(v).reference)];
            std::vector<double> ratios;
            for (std::size_t i = 0; i < t.size(); ++i) ratios.push_back(t[i] / ref[i]);
            const double sec = median(t);
            const double ns = sec * 1e9 / static_cast<double>(c.parts);
            const double mbps = static_cast<double>(size) * static_cast<double>(c.parts) / sec / 1e6;
            std::printf("  %-12s %-28s %12.1f %10.1f %12s %7.2f\n", info(v).name, info(v).label, ns, mbps,
                        v == info(v).reference ? "-" : info(info(v).reference).name, median(ratios));
        }
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Callgrind mode: one variant, one size, one run, no timing
// ---------------------------------------------------------------------------

int callgrind(const Options& o, std::string_view payload) {
    const VariantInfo* vi = nullptr;
    for (const VariantInfo& i : all_variants)
        if (o.variant == i.name) vi = &i;
    if (vi == nullptr || !available(vi->id)) die("--callgrind needs --variant with a built variant (see --list)");
    if (o.sizes.size() != 1 || o.parts == 0) die("--callgrind needs one --size and --parts");
    std::unique_ptr<HttplibServer> server;
    if (vi->id == Variant::httplib) server = std::make_unique<HttplibServer>(payload);
    (void)run_once(vi->id, payload, o.sizes[0], o.parts, server.get());
    std::printf("%s size %zu parts %zu: ok\n", vi->name, o.sizes[0], o.parts);
    return 0;
}

std::vector<std::size_t> parse_sizes(const char* s) {
    std::vector<std::size_t> out;
    for (const char* p = s; *p != '\0';) {
        char* end = nullptr;
        const unsigned long long v = std::strtoull(p, &end, 10);
        if (end == p || v == 0 || v > (64u << 20)) die("--size: expected comma-separated byte counts (at most 64 MiB)");
        out.push_back(static_cast<std::size_t>(v));
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0') die("--size: expected comma-separated byte counts");
    }
    return out;
}

int main_impl(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) die("an option is missing its value");
            return argv[++i];
        };
        if (a == "--callgrind") o.callgrind = true;
        else if (a == "--list") o.list = true;
        else if (a == "--variant") o.variant = value();
        else if (a == "--size" || a == "--sizes") o.sizes = parse_sizes(value());
        else if (a == "--parts") o.parts = std::strtoull(value(), nullptr, 10);
        else if (a == "--rounds") o.rounds = std::max(1, std::atoi(value()));
        else if (a == "--target-ms") o.target_seconds = std::max(1, std::atoi(value())) / 1000.0;
        else {
            std::printf("usage: rill_bench_throughput [--sizes 16,256,4096,65536] [--rounds 7] [--target-ms 300]\n"
                        "                             [--parts N]\n"
                        "       rill_bench_throughput --callgrind --variant NAME --size BYTES --parts N\n"
                        "       rill_bench_throughput --list\n");
            return a == "--help" || a == "-h" ? 0 : 2;
        }
    }
    if (o.list) {
        for (const VariantInfo& vi : all_variants)
            if (available(vi.id)) std::printf("%s\n", vi.name);
        return 0;
    }
    const std::size_t largest = *std::max_element(o.sizes.begin(), o.sizes.end());
    std::string payload(largest, '\0');
    for (std::size_t i = 0; i < largest; ++i) payload[i] = static_cast<char>('a' + i % 26);
    return o.callgrind ? callgrind(o, payload) : timed(o, payload);
}

}  // namespace rill_bench

int main(int argc, char** argv) { return rill_bench::main_impl(argc, argv); }
