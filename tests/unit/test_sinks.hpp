#ifndef RILL_TESTS_TEST_SINKS_HPP
#define RILL_TESTS_TEST_SINKS_HPP

// Sinks that misbehave on purpose, shared by the unit tests.

#include <rill/rill.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rill_test {

/// A sink whose behaviour the test scripts: how many bytes each write may take,
/// whether it would block, and when it fails. Copies share one state.
class ScriptedSink {
public:
    struct State {
        std::string bytes;
        std::size_t writes = 0;
        std::size_t max_per_write = static_cast<std::size_t>(-1);  // accept at most this much a call
        bool blocked = false;                                       // answer would_block with 0 bytes
        std::optional<rill::WriteStatus> fail_with;                 // next write fails like this
        std::vector<std::size_t> buffers_per_write;
        std::optional<rill::CloseReason> finished;
        std::size_t finish_calls = 0;
    };

    ScriptedSink() : state_(std::make_shared<State>()) {}

    rill::WriteResult write(const rill::ConstBuffer* bufs, std::size_t count) {
        ++state_->writes;
        state_->buffers_per_write.push_back(count);
        if (state_->fail_with) return rill::WriteResult{0, *state_->fail_with, 32};
        if (state_->blocked) return rill::WriteResult::would_block(0);
        std::size_t taken = 0;
        for (std::size_t i = 0; i < count && taken < state_->max_per_write; ++i) {
            const std::size_t n = std::min(bufs[i].size, state_->max_per_write - taken);
            state_->bytes.append(bufs[i].data, n);
            taken += n;
        }
        return rill::WriteResult::ok(taken);
    }

    void finish(rill::CloseReason reason) {
        state_->finished = reason;
        ++state_->finish_calls;
    }

    State& state() const { return *state_; }

private:
    std::shared_ptr<State> state_;
};

}  // namespace rill_test

#endif  // RILL_TESTS_TEST_SINKS_HPP
