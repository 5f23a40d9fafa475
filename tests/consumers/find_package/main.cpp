#include <rill/rill.hpp>

static_assert(RILL_VERSION_MAJOR >= 0, "");

int main() {
    rill::DeferredBody<rill::StringSink> body;
    (void)body.send("x");
    body.close();
    return 0;
}
