#ifndef RILL_TESTS_FAULT_INJECTION_SINK_HPP
#define RILL_TESTS_FAULT_INJECTION_SINK_HPP

// A Sink wrapper that injects transport faults on a seeded schedule: the peer
// closing, a write error, short writes, and would_block with or without a
// partial write. Everything else goes to the wrapped sink, and the wrapper keeps
// a record (shared by its copies, so the test keeps one after handing the sink
// to a body) of exactly which bytes it let through and what it injected.
//
//   rill_test::FaultRates rates;          // per mille, per write
//   rates.would_block = 200;
//   rill_test::FaultInjectionSink<rill::StringSink> sink(rill::StringSink{}, seed, rates);
//   auto log = sink.log();                // std::shared_ptr<const FaultLog>
//
// A fatal fault (closed, error) may first let a prefix through, as a socket
// that fails mid-write does. After one, the wrapper answers every further
// write the same way and counts it: a body must never write again.
//
// Not yet: completing a write late (asynchronous sinks).

#include <rill/rill.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace rill_test {

/// Chances per write, in parts per thousand, checked in this order.
struct FaultRates {
    unsigned closed = 0;       ///< the peer went away: WriteStatus::closed (EPIPE)
    unsigned error = 0;        ///< a transport error: WriteStatus::error (EIO)
    unsigned would_block = 0;  ///< would_block after taking a random prefix (possibly nothing)
    unsigned short_write = 0;  ///< ok after taking a random proper prefix (possibly nothing)
};

enum class Fault : std::uint8_t { none, closed, error, would_block, short_write };

struct FaultLog {
    std::string passed;  ///< every byte the wrapped sink took, in order
    std::size_t writes = 0;
    std::size_t closed = 0, errors = 0, would_blocks = 0, short_writes = 0;
    std::optional<Fault> fatal;           ///< the fatal fault injected, if any
    std::size_t writes_after_fatal = 0;   ///< a body must leave these at 0
    std::size_t empty_writes = 0;         ///< write() offering nothing: a body must leave these at 0
    std::size_t finish_calls = 0;
    std::optional<rill::CloseReason> finished;
    std::size_t injected() const noexcept { return closed + errors + would_blocks + short_writes; }
};

template <class Inner>
class FaultInjectionSink {
public:
    FaultInjectionSink(Inner inner, std::uint64_t seed, FaultRates rates)
        : inner_(std::move(inner)),
          state_(std::make_shared<State>(seed, rates)) {}

    rill::WriteResult write(const rill::ConstBuffer* bufs, std::size_t count) {
        State& s = *state_;
        FaultLog& log = s.log;
        ++log.writes;
        const std::size_t offered = rill::buffer_size(bufs, count);
        if (offered == 0) ++log.empty_writes;
        if (log.fatal) {
            ++log.writes_after_fatal;
            return failure(*log.fatal, 0);
        }
        const Fault fault = s.next();
        // How much the wrapped sink is offered: all of it, or a random prefix.
        std::size_t allow = offered;
        switch (fault) {
            case Fault::none: break;
            case Fault::short_write: allow = s.below(offered); break;      // 0 .. offered-1
            default: allow = s.below(offered + 1); break;                  // 0 .. offered
        }
        std::size_t took = 0;
        rill::WriteResult inner_result = rill::WriteResult::ok(0);
        if (allow != 0) {
            inner_result = pass(bufs, count, allow);
            took = inner_result.bytes <= allow ? inner_result.bytes : 0;
        }
        switch (fault) {
            case Fault::none:
                return inner_result;
            case Fault::closed:
                ++log.closed;
                log.fatal = fault;
                return failure(fault, took);
            case Fault::error:
                ++log.errors;
                log.fatal = fault;
                return failure(fault, took);
            case Fault::would_block:
                ++log.would_blocks;
                if (inner_result.status != rill::WriteStatus::ok) return inner_result;
                return rill::WriteResult::would_block(took);
            case Fault::short_write:
                ++log.short_writes;
                return inner_result;
        }
        return inner_result;
    }

    void finish(rill::CloseReason reason) {
        ++state_->log.finish_calls;
        state_->log.finished = reason;
        inner_.finish(reason);
    }

    std::shared_ptr<const FaultLog> log() const { return std::shared_ptr<const FaultLog>(state_, &state_->log); }
    Inner& inner() noexcept { return inner_; }

private:
    struct State {
        State(std::uint64_t seed, FaultRates r) : rng(seed), rates(r) {}
        std::mt19937_64 rng;
        FaultRates rates;
        FaultLog log;

        std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); }

        Fault next() {
            const unsigned roll = static_cast<unsigned>(rng() % 1000);
            unsigned edge = rates.closed;
            if (roll < edge) return Fault::closed;
            edge += rates.error;
            if (roll < edge) return Fault::error;
            edge += rates.would_block;
            if (roll < edge) return Fault::would_block;
            edge += rates.short_write;
            if (roll < edge) return Fault::short_write;
            return Fault::none;
        }
    };

    static rill::WriteResult failure(Fault f, std::size_t took) {
        return f == Fault::closed ? rill::WriteResult{took, rill::WriteStatus::closed, EPIPE}
                                  : rill::WriteResult{took, rill::WriteStatus::error, EIO};
    }

    // Offers the first `allow` bytes to the wrapped sink and records what it took.
    rill::WriteResult pass(const rill::ConstBuffer* bufs, std::size_t count, std::size_t allow) {
        std::vector<rill::ConstBuffer> cut;
        cut.reserve(count);
        std::size_t left = allow;
        for (std::size_t i = 0; i < count && left != 0; ++i) {
            const std::size_t n = bufs[i].size < left ? bufs[i].size : left;
            if (n != 0) cut.push_back(rill::ConstBuffer(bufs[i].data, n));
            left -= n;
        }
        const rill::WriteResult r = inner_.write(cut.data(), cut.size());
        std::size_t record = r.bytes <= allow ? r.bytes : 0;
        for (const rill::ConstBuffer& b : cut) {
            if (record == 0) break;
            const std::size_t n = b.size < record ? b.size : record;
            state_->log.passed.append(b.data, n);
            record -= n;
        }
        return r;
    }

    Inner inner_;
    std::shared_ptr<State> state_;
};

}  // namespace rill_test

#endif  // RILL_TESTS_FAULT_INJECTION_SINK_HPP
