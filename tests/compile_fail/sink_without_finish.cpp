// A type that can write but cannot be told the body ended is not a Sink either;
// the message names the missing member.
// expected-error: is not a rill Sink: it needs a member `void finish\(rill::CloseReason reason\)`
#include <rill/rill.hpp>

struct WriteOnly {
    rill::WriteResult write(const rill::ConstBuffer*, std::size_t n) { return rill::WriteResult::ok(n); }
};

int main() {
    rill::DeferredBody<WriteOnly> body;
    (void)body;
    return 0;
}
