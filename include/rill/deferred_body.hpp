#ifndef RILL_DEFERRED_BODY_HPP
#define RILL_DEFERRED_BODY_HPP

// rill::DeferredBody<Sink>: a rill::Body streaming into one server's Sink. The
// server hands its sink over with each(); the application sees only rill::Body.

#include <memory>
#include <new>
#include <utility>

#include "rill/body.hpp"
#include "rill/sink.hpp"

namespace rill {

/// A deferred response body streaming into a Sink. Create it with make_deferred_body()
/// so that a callback which drops the last reference cannot destroy it while it is still
/// working; hand it to application code as a BodyPtr.
template <class Sink>
class DeferredBody final : public Body {
    static_assert(detail::sink_check<Sink>::value, "rill: DeferredBody needs a Sink");

public:
    using sink_type = Sink;

    explicit DeferredBody(BodyOptions options = {}) : Body(options, sink_completes_later_v<Sink>) {}
    ~DeferredBody() override {
        if (has_sink()) held_sink()->~Sink();
    }

    /// The server hands over its sink; parts sent earlier are flushed into it first.
    /// Calling it twice throws UsageError. On a body that already ended, the sink is
    /// told how it ended and is not kept.
    void each(Sink sink) {
        if (each_called())
            throw UsageError("rill::DeferredBody::each() called twice: a body streams into one sink");
        mark_each_called();
        CallScope scope(*this);
        if (state() == BodyState::closed) {
            hold_self();
            sink.finish(close_reason());
            return;
        }
        ::new (static_cast<void*>(sink_storage_)) Sink(std::move(sink));
        attach_sink();
    }

    /// The held sink, or nullptr before each() and after the body ended.
    Sink* sink() noexcept { return has_sink() ? held_sink() : nullptr; }

private:
    WriteResult sink_write(const ConstBuffer* buffers, std::size_t count) override {
        return held_sink()->write(buffers, count);
    }
    void sink_finish(CloseReason reason) override {
        Sink sink = std::move(*held_sink());
        held_sink()->~Sink();
        detach_sink();
        sink.finish(reason);
    }

    Sink* held_sink() noexcept { return std::launder(reinterpret_cast<Sink*>(sink_storage_)); }

    // The sink lives here from each() until the body ends. Not a std::optional: GCC 12
    // reports a false -Wmaybe-uninitialized on optional's reset paths at -O2, which would
    // break users' -Werror builds.
    alignas(Sink) unsigned char sink_storage_[sizeof(Sink)];
};

/// Creates a body owned by a shared_ptr: the application keeps one, the server another.
template <class Sink>
std::shared_ptr<DeferredBody<Sink>> make_deferred_body(BodyOptions options = {}) {
    return std::make_shared<DeferredBody<Sink>>(options);
}

/// Corks a body for its lifetime: parts sent meanwhile leave in one gather write.
template <class AnyBody>
class [[nodiscard]] Batch {
public:
    explicit Batch(AnyBody& body) noexcept : body_(&body) { body_->cork(); }
    ~Batch() {
        if (body_ != nullptr) body_->uncork();
    }
    Batch(Batch&& other) noexcept : body_(std::exchange(other.body_, nullptr)) {}
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    Batch& operator=(Batch&&) = delete;

private:
    AnyBody* body_;
};

}  // namespace rill

#endif  // RILL_DEFERRED_BODY_HPP
