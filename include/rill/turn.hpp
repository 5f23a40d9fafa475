#ifndef RILL_TURN_HPP
#define RILL_TURN_HPP

// rill::Turn: coalescing without asking. An event loop marks where one of its
// turns ends; parts sent to a body during the turn are gathered and leave in one
// gather write per body at the end of the turn, instead of one system call each.

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "rill/body.hpp"

namespace rill {

/// One event loop's turns on this thread. While a Turn is installed, a send() to an
/// open body is gathered (up to RILL_COALESCE_LIMIT bytes; then, with a readiness sink,
/// it leaves at once with the part, zero-copy, and with a completion sink its write
/// starts); end() writes what each touched body gathered. Install one per loop thread and call end() where each turn of the loop
/// ends (after dispatching one poll's events and timers). Without a Turn, every part
/// is written at once. Not copyable, not movable: bodies find it through a per-thread slot.
class Turn {
public:
    Turn() : previous_(detail::current_turn()) { detail::current_turn() = &list_; }
    ~Turn() {
        end();
        detail::current_turn() = previous_;
    }
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;

    /// Writes what the bodies gathered during this turn: one write per body (more only if
    /// the sink takes less). What those writes' callbacks (on_drain) send is written too,
    /// before end() returns: a loop may sleep after it.
    void end() {
        while (!list_.bodies.empty()) {
            std::vector<std::shared_ptr<Body>> bodies;
            bodies.swap(list_.bodies);
            for (const std::shared_ptr<Body>& body : bodies) body->end_turn();
            bodies.clear();
            if (list_.bodies.empty()) list_.bodies.swap(bodies);  // keep the capacity for the next turn
        }
    }

    /// Called when the first body gathers in a turn: a loop without a natural end-of-turn
    /// hook schedules end() here (Asio: post it to the executor).
    template <class F>
    void on_first_gather(F&& callback) {
        list_.on_first_gather = std::forward<F>(callback);
    }

    /// Bodies waiting for end().
    std::size_t pending() const noexcept { return list_.bodies.size(); }

private:
    detail::TurnList list_;
    detail::TurnList* previous_;
};

}  // namespace rill

#endif  // RILL_TURN_HPP
