// A type without the Sink interface must be rejected with a readable message.
// expected-error: is not a rill Sink: it needs a member `rill::WriteResult write\(const rill::ConstBuffer\* buffers, std::size_t count\)`
#include <rill/rill.hpp>

struct NotASink {
    int x;
};

int main() {
    rill::DeferredBody<NotASink> body;
    (void)body;
    return 0;
}
