// rill/beast.hpp needs no rill/asio.hpp: a Beast user who only maps requests and heads.
#include <rill/beast.hpp>
#include <rill/beast.hpp>
