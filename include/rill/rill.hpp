#ifndef RILL_RILL_HPP
#define RILL_RILL_HPP

// rill: deferred, streaming HTTP response bodies. Include this one header.

#include "rill/version.hpp"
#include "rill/status.hpp"
#include "rill/buffer.hpp"
#include "rill/sink.hpp"
#include "rill/string_sink.hpp"
#include "rill/function_sink.hpp"
#include "rill/fields.hpp"
#include "rill/response.hpp"
#include "rill/framing.hpp"
#include "rill/body.hpp"
#include "rill/deferred_body.hpp"
#include "rill/turn.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include "rill/posix_socket_sink.hpp"
#endif

// After posix_socket_sink.hpp, which it uses for heartbeats where it exists.
#include "rill/sse.hpp"

// Producers on any thread (push into a body, or pulled by a thread-per-connection
// server) and, with C++20, co_await; rill/httplib.hpp is not included: it needs cpp-httplib.
#include "rill/producer.hpp"
#include "rill/pull.hpp"
#include "rill/coro.hpp"

#endif  // RILL_RILL_HPP
