#ifndef RILL_STRING_SINK_HPP
#define RILL_STRING_SINK_HPP

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "rill/buffer.hpp"
#include "rill/status.hpp"

namespace rill {

/// A Sink that appends every byte to a string it shares with its copies, so the
/// caller can keep one copy and read what the body wrote after handing the other over.
class StringSink {
public:
    struct State {
        std::string bytes;
        std::size_t writes = 0;                 ///< number of write() calls that took bytes
        std::optional<CloseReason> finished;    ///< set by finish()
    };

    StringSink() : state_(std::make_shared<State>()) {}

    WriteResult write(const ConstBuffer* bufs, std::size_t count) {
        std::size_t n = 0;
        for (std::size_t i = 0; i < count; ++i) {
            state_->bytes.append(bufs[i].data, bufs[i].size);
            n += bufs[i].size;
        }
        if (n != 0) ++state_->writes;
        return WriteResult::ok(n);
    }

    void finish(CloseReason reason) { state_->finished = reason; }

    const std::string& str() const noexcept { return state_->bytes; }
    std::size_t writes() const noexcept { return state_->writes; }
    std::optional<CloseReason> finished() const noexcept { return state_->finished; }
    void clear() { state_->bytes.clear(); }

private:
    std::shared_ptr<State> state_;
};

}  // namespace rill

#endif  // RILL_STRING_SINK_HPP
