// A small HTTPS server for tests/asio/tls_test.py: the shared routes
// (examples/common/routes.hpp) over standalone Asio's ssl::stream, written through
// rill/asio.hpp's completion sink (rill::asio::respond picks it for a TLS stream).
//
// usage: tls_server --cert PEM --key PEM [--port N] [--delay-ms N] [--stall-timeout-ms N]
// First stdout line: listening on https://127.0.0.1:PORT/. SIGTERM/SIGINT: exit 0.
//
// The request parsing is deliberately minimal (request line, Connection; no request
// bodies): the test drives it with well-formed requests only.

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/signal_set.hpp>
#include <asio/ssl.hpp>

#include <rill/asio.hpp>

#include "../../examples/common/cli_args.hpp"
#include "../../examples/common/routes.hpp"
#include "../../examples/hello_asio/asio_scheduler.hpp"

namespace {

using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

class Session;

struct Shared {
    asio::ssl::context tls{asio::ssl::context::tls_server};
    rill_example::HelloApp* app = nullptr;
    rill::asio::Options options;
    std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
};

std::string_view field(std::string_view head, std::string_view name) {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        const std::size_t start = pos + 2;
        const std::size_t end = head.find("\r\n", start);
        const std::string_view line = head.substr(start, end - start);
        const std::size_t colon = line.find(':');
        if (colon != std::string_view::npos && rill::detail::iequals(line.substr(0, colon), name))
            return rill::detail::trim_ows(line.substr(colon + 1));
        pos = end;
    }
    return {};
}

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, Shared& shared) : stream_(std::move(socket), shared.tls), shared_(shared) {}

    void start() {
        asio::error_code ec;
        stream_.lowest_layer().set_option(tcp::no_delay(true), ec);
        stream_.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](const asio::error_code& e) {
            if (e) return self->close();
            self->read();
        });
    }

    void stop() {
        if (rill::BodyPtr body = std::move(body_)) body->abort(rill::CloseReason::shutdown);
        close();
    }

private:
    void read() {
        if (closed_) return;
        asio::async_read_until(stream_, asio::dynamic_buffer(in_, 16 * 1024), "\r\n\r\n",
                               [self = shared_from_this()](const asio::error_code& ec, std::size_t head_size) {
                                   if (ec) return self->close();
                                   self->dispatch(head_size);
                               });
    }

    void dispatch(std::size_t head_size) {
        const std::string_view head(in_.data(), head_size);
        const std::string_view line = head.substr(0, head.find("\r\n"));
        const std::size_t sp1 = line.find(' ');
        const std::size_t sp2 = line.rfind(' ');
        if (sp1 == std::string_view::npos || sp2 <= sp1) return close();
        const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        const std::size_t q = target.find('?');
        const rill_example::RouteRequest route{
            line.substr(0, sp1), target.substr(0, q),
            q == std::string_view::npos ? std::string_view() : target.substr(q + 1),
            rill::Request{line.substr(0, sp1), line.substr(sp2 + 1) == "HTTP/1.0" ? 0 : 1, field(head, "connection"),
                          field(head, "upgrade")}};
        auto self = shared_from_this();
        body_ = rill::asio::respond(
            stream_, [&](const rill::BodyPtr& body) { (*shared_.app)(route, body); },
            [self](bool keep_alive) { self->after_response(keep_alive); }, shared_.options);
        in_.erase(0, head_size);
    }

    void after_response(bool keep_alive) {
        const bool completed = body_ && body_->close_reason() == rill::CloseReason::completed;
        body_.reset();
        if (closed_) return;
        if (keep_alive) return read();
        if (!completed) return close();  // the peer left or stalled: no goodbye
        // close_notify first, so that a close-delimited body ends cleanly for the client.
        stream_.async_shutdown([self = shared_from_this()](const asio::error_code&) { self->close(); });
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        asio::error_code ec;
        stream_.lowest_layer().close(ec);
        shared_.sessions.erase(this);
    }

    TlsStream stream_;
    Shared& shared_;
    std::string in_;
    rill::BodyPtr body_;
    bool closed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
    rill_example::CommonArgs args;
    std::string cert;
    std::string key;
    Shared shared;
    const int status = rill_example::parse_args(
        argc, argv, "tls_server", "usage: tls_server --cert PEM --key PEM [--port N] [--delay-ms N]\n", args,
        [&](std::string_view flag, const char* value) {
            std::uint64_t n = 0;
            if (flag == "--cert") cert = value;
            else if (flag == "--key") key = value;
            else if (flag == "--stall-timeout-ms" && rill_example::parse_number(value, 3600000, n))
                shared.options.stall_timeout = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(n));
            else return rill_example::FlagResult::unknown;
            return rill_example::FlagResult::ok;
        });
    if (status >= 0) return status;
    asio::error_code ec;
    shared.tls.use_certificate_chain_file(cert, ec);
    if (!ec) shared.tls.use_private_key_file(key, asio::ssl::context::pem, ec);
    if (ec) {
        std::fprintf(stderr, "tls_server: cannot load %s / %s: %s\n", cert.c_str(), key.c_str(), ec.message().c_str());
        return 1;
    }

    asio::io_context io(1);
    rill_example::AsioScheduler scheduler(io);
    rill_example::HelloApp app(scheduler, args.delay);
    shared.app = &app;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address(args.host), args.port));

    std::function<void()> accept = [&] {
        acceptor.async_accept([&](const asio::error_code& e, tcp::socket socket) {
            if (e || !acceptor.is_open()) return;
            auto session = std::make_shared<Session>(std::move(socket), shared);
            shared.sessions.emplace(session.get(), session);
            session->start();
            accept();
        });
    };
    accept();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const asio::error_code& e, int) {
        if (e) return;
        acceptor.close();
        auto sessions = std::move(shared.sessions);
        for (auto& entry : sessions)
            if (auto s = entry.second.lock()) s->stop();
        scheduler.cancel_all();
        io.stop();
    });

    std::printf("listening on https://%s:%u/\n", args.host.c_str(), static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);
    io.run();
    return 0;
}
