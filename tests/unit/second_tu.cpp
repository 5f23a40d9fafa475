// A second translation unit that includes the umbrella header and uses it:
// a function defined in a header without `inline` fails to link here.

#include <doctest/doctest.h>
#include <rill/rill.hpp>

TEST_CASE("the umbrella header links from a second translation unit") {
    const rill::PreparedHead head = rill::prepare_head(rill::Request{}, rill::ResponseHead(204));
    CHECK(head.status == rill::HeadStatus::ok);
    CHECK(head.bytes == "HTTP/1.1 204 No Content\r\n\r\n");
    CHECK(rill::is_valid_field_name("X-Ok"));
    CHECK(rill::peek_peer(-1) == rill::PeerState::closed);  // EBADF: nothing to stream to
}
