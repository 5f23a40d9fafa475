// rill/httplib.hpp is not part of rill/rill.hpp: it is checked here, where
// cpp-httplib is found, for self-containment and double inclusion.
#include <rill/httplib.hpp>
#include <rill/httplib.hpp>
