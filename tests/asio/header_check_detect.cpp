// Without RILL_ASIO_BOOST or RILL_ASIO_STANDALONE, rill/asio.hpp follows the Asio
// included before it: standalone here, although Boost is installed too.
#include <asio/io_context.hpp>
#include <rill/asio.hpp>

#include <type_traits>

static_assert(std::is_same_v<rill::asio::net::io_context, ::asio::io_context>,
              "rill/asio.hpp picks the Asio included first");
