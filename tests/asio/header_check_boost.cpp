// rill/asio.hpp (Boost.Asio flavour) and rill/beast.hpp compile on their own and
// tolerate double inclusion. Built, not run: the build is the check.
#define RILL_ASIO_BOOST
#include <rill/asio.hpp>
#include <rill/asio.hpp>
#include <rill/beast.hpp>
#include <rill/beast.hpp>

#include <type_traits>

static_assert(std::is_same_v<rill::asio::net::io_context, boost::asio::io_context>,
              "RILL_ASIO_BOOST selects Boost.Asio");
