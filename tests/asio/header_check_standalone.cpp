// rill/asio.hpp (standalone Asio flavour) compiles on its own and tolerates double
// inclusion. Built, not run: the build is the check.
#define RILL_ASIO_STANDALONE
#include <rill/asio.hpp>
#include <rill/asio.hpp>

#include <type_traits>

static_assert(std::is_same_v<rill::asio::net::io_context, ::asio::io_context>,
              "RILL_ASIO_STANDALONE selects standalone Asio");
