#ifndef RILL_BEAST_HPP
#define RILL_BEAST_HPP

// The Boost.Beast bridge: a Beast request seen as the rill::Request that frames
// its response, and Beast header fields turned into a rill::ResponseHead. Kept
// apart from rill/asio.hpp so that Asio users without Beast pay nothing.
//
// Needs Boost.Beast (Debian: libboost-dev). Not part of rill/rill.hpp.

#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>

#include "rill/response.hpp"

namespace rill {
namespace beast {

namespace detail {

// Beast's string_view is boost::string_view unless BOOST_BEAST_USE_STD_STRING_VIEW is set.
template <class View>
std::string_view to_std(const View& v) noexcept {
    return std::string_view(v.data(), v.size());
}

}  // namespace detail

/// The rill::Request for a Beast request: method, version (11 -> minor 1, 10 -> 0),
/// every Connection field comma-joined, and Upgrade. It reads the Beast request in
/// place (keep that alive while you use this) and owns only a joined Connection
/// value, so it can be neither copied nor moved: use it where it is made.
///
///     rill::beast::RequestView framing(req);
///     body->respond(framing, head);            // converts to const rill::Request&
class RequestView {
public:
    template <class Body, class Fields>
    explicit RequestView(const boost::beast::http::request<Body, Fields>& req)
        : RequestView(static_cast<const boost::beast::http::request_header<Fields>&>(req)) {}

    template <class Fields>
    explicit RequestView(const boost::beast::http::request_header<Fields>& req) {
        namespace http = boost::beast::http;
        request_.method = detail::to_std(req.method_string());
        // Beast keeps the version as 10 * major + minor; rill frames HTTP/1.x only.
        request_.version_minor = req.version() >= 11 ? 1 : 0;
        std::size_t count = 0;
        for (auto range = req.equal_range(http::field::connection); range.first != range.second; ++range.first) {
            const std::string_view value = detail::to_std(range.first->value());
            if (++count == 1) {
                request_.connection = value;  // the usual case: no copy
                continue;
            }
            if (count == 2) joined_.assign(request_.connection.data(), request_.connection.size());
            joined_.append(", ").append(value.data(), value.size());
        }
        if (count > 1) request_.connection = joined_;
        const auto upgrade = req.find(http::field::upgrade);
        if (upgrade != req.end()) request_.upgrade = detail::to_std(upgrade->value());
    }

    RequestView(const RequestView&) = delete;
    RequestView& operator=(const RequestView&) = delete;

    const rill::Request& get() const noexcept { return request_; }
    operator const rill::Request&() const noexcept { return request_; }  // NOLINT: meant to be implicit

private:
    rill::Request request_;
    std::string joined_;  // only when Connection appears more than once
};

/// A rill::ResponseHead with a Beast response header's status, reason and fields
/// (in order, repeated names kept). The standard reason phrase is left to rill.
/// Fields rill decides itself are passed on as they are, so respond() refuses a
/// Transfer-Encoding (HeadStatus::transfer_encoding_set): do not call
/// prepare_payload() on a head meant for rill.
template <class Fields>
rill::ResponseHead to_response_head(const boost::beast::http::response_header<Fields>& res) {
    namespace http = boost::beast::http;
    const std::string_view reason = detail::to_std(res.reason());
    const unsigned code = res.result_int();
    const bool standard = reason == detail::to_std(http::obsolete_reason(http::int_to_status(code)));
    rill::ResponseHead head(static_cast<int>(code), standard ? std::string() : std::string(reason));
    for (const auto& field : res)
        head.header(std::string(detail::to_std(field.name_string())), std::string(detail::to_std(field.value())));
    return head;
}

}  // namespace beast
}  // namespace rill

#endif  // RILL_BEAST_HPP
