// Producers on many threads into many bodies, meant to run under ThreadSanitizer.
//
//   8 producer threads x PARTS parts, spread round-robin over 64 bodies, delivered
//   by one loop thread (a quarter of the bodies under OverflowPolicy::reject: their
//   producers wait and send a refused part again). Every part must arrive exactly once, each producer's parts
//   in order, the shared queues and the bodies stay within their watermarks, and
//   a 65th body whose reader never reads (its producer blocked on backpressure)
//   holds nobody else up. Half the bodies have a slow transport (1 KiB a write,
//   would_block every other call) so that backpressure and on_drain are exercised.
//
// The loop never drains a producer on its own initiative: bytes move only when a
// waker task runs or a body's on_drain fires, so a lost wake-up hangs a fast body
// and fails the run by its deadline.
//
// Then the pull side: 4 producer threads x PARTS/4 parts into 8 PullStreams, each
// pulled by its own worker thread, beside a stream nobody pulls.
//
// usage: rill_thread_stress [PARTS_PER_PRODUCER]   (default 100000)

#include <rill/producer.hpp>
#include <rill/pull.hpp>
#include <rill/rill.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr unsigned kProducers = 8;
constexpr unsigned kBodies = 64;
constexpr std::size_t kRecord = 8;  // producer, body, 2 spare bytes, 32-bit sequence
constexpr std::size_t kHighWater = 4096;
constexpr std::size_t kLowWater = 1024;

std::atomic<int> g_failures{0};

void fail(const char* what, unsigned a = 0, unsigned long long b = 0, unsigned long long c = 0) {
    if (g_failures.fetch_add(1) < 20) std::fprintf(stderr, "FAIL: %s (%u, %llu, %llu)\n", what, a, b, c);
}

// What a body's reader saw: records parsed as they arrive, checked against the
// sequence each producer must follow for this body.
struct Reader {
    unsigned index = 0;
    bool slow = false;
    bool stalled = false;
    std::string partial;
    std::uint32_t next[kProducers] = {};
    std::uint64_t records = 0;
    std::uint64_t writes = 0;
    bool finished = false;
    rill::CloseReason reason = rill::CloseReason::aborted;
};

class CheckingSink {
public:
    explicit CheckingSink(std::shared_ptr<Reader> r) : r_(std::move(r)) {}
    rill::WriteResult write(const rill::ConstBuffer* bufs, std::size_t count) {
        if (r_->stalled) return rill::WriteResult::would_block(0);
        const bool block = r_->slow && (++r_->writes % 2 == 0);
        if (block) return rill::WriteResult::would_block(0);
        std::size_t room = r_->slow ? 1024 : static_cast<std::size_t>(-1);
        std::size_t taken = 0;
        for (std::size_t i = 0; i < count && room != 0; ++i) {
            const std::size_t n = bufs[i].size < room ? bufs[i].size : room;
            consume(bufs[i].data, n);
            taken += n;
            room -= n;
        }
        return rill::WriteResult::ok(taken);
    }
    void finish(rill::CloseReason reason) {
        r_->finished = true;
        r_->reason = reason;
    }

private:
    void consume(const char* p, std::size_t n) {
        r_->partial.append(p, n);
        std::size_t at = 0;
        for (; at + kRecord <= r_->partial.size(); at += kRecord) {
            const auto* rec = reinterpret_cast<const unsigned char*>(r_->partial.data() + at);
            const unsigned producer = rec[0];
            const unsigned body = rec[1];
            std::uint32_t seq = 0;
            std::memcpy(&seq, rec + 4, sizeof seq);
            if (producer >= kProducers || body != r_->index) {
                fail("record for another body or from no producer", r_->index, producer, body);
                continue;
            }
            if (seq != r_->next[producer]) fail("out of order, lost or repeated", r_->index, r_->next[producer], seq);
            r_->next[producer] = seq + 1;
            ++r_->records;
        }
        r_->partial.erase(0, at);
    }
    std::shared_ptr<Reader> r_;
};

using Body = rill::DeferredBody<CheckingSink>;

// The integration's side: a task queue the loop thread sleeps on. The post that
// finds it empty notifies; the others only append.
class Loop {
public:
    void post(std::function<void()> task) {
        bool first = false;
        {
            std::lock_guard<std::mutex> lock(m_);
            first = tasks_.empty();
            tasks_.push_back(std::move(task));
        }
        if (first) cv_.notify_one();
    }
    // Runs posted tasks, or times out so the caller can flush slow transports.
    void run_once(std::chrono::milliseconds wait) {
        std::vector<std::function<void()>> batch;
        {
            std::unique_lock<std::mutex> lock(m_);
            cv_.wait_for(lock, wait, [&] { return !tasks_.empty(); });
            batch.swap(tasks_);
        }
        for (auto& t : batch) t();
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::vector<std::function<void()>> tasks_;
};

std::string record(unsigned producer, unsigned body, std::uint32_t seq) {
    char rec[kRecord] = {static_cast<char>(producer), static_cast<char>(body), 0, 0};
    std::memcpy(rec + 4, &seq, sizeof seq);
    return std::string(rec, kRecord);
}

// Waits out backpressure; false if the stream ended or a wait took absurdly long.
bool wait_turn(rill::Producer& p) {
    for (int i = 0; i < 200; ++i) {
        switch (p.wait_writable(100ms)) {
            case rill::WaitStatus::ready: return true;
            case rill::WaitStatus::closed: return false;
            case rill::WaitStatus::timeout: break;
        }
    }
    fail("a producer waited 20 s for a fast body");
    return false;
}

// The pull side: kPullProducers threads send round-robin into kPullStreams
// PullStreams, each pulled by its own worker thread (a thread-per-connection
// server's worker) that checks the records; a stream nobody pulls sits beside them.
constexpr unsigned kPullProducers = 4;
constexpr unsigned kPullStreams = 8;

void pull_phase(std::uint32_t parts) {
    const std::uint32_t per_stream = (parts + kPullStreams - 1) / kPullStreams;
    parts = per_stream * kPullStreams;
    rill::BodyOptions opts;
    opts.high_water = 1024;
    opts.low_water = 256;
    std::vector<rill::PullStream> streams;
    for (unsigned i = 0; i <= kPullStreams; ++i) streams.emplace_back(opts);  // the last is never pulled
    std::vector<std::shared_ptr<Reader>> readers;
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < kPullStreams; ++i) {
        auto r = std::make_shared<Reader>();
        r->index = i;
        readers.push_back(r);
        workers.emplace_back([stream = streams[i], r]() mutable {
            CheckingSink sink(r);
            std::string out;
            for (int turns = 0; turns < 1000000; ++turns) {
                const rill::PullStatus st = stream.pull(out, 100ms);
                if (st == rill::PullStatus::data) {
                    const rill::ConstBuffer buf(out);
                    (void)sink.write(&buf, 1);  // the worker's own write, outside any lock
                } else if (st != rill::PullStatus::timeout) {
                    sink.finish(st == rill::PullStatus::end ? rill::CloseReason::completed : rill::CloseReason::aborted);
                    return;
                }
            }
        });
    }
    std::atomic<bool> stalled_done{false};
    std::thread stalled([&, p = streams[kPullStreams].producer()]() mutable {
        for (std::uint32_t seq = 0;; ++seq) {
            const rill::SendStatus st = p.send(record(0, kPullStreams, seq));
            if (st == rill::SendStatus::closed) break;
            if (st == rill::SendStatus::backpressure) {
                rill::WaitStatus w = rill::WaitStatus::timeout;
                while ((w = p.wait_writable(20ms)) == rill::WaitStatus::timeout) {
                }
                if (w == rill::WaitStatus::closed) break;
            }
        }
        stalled_done = true;
    });
    std::vector<std::thread> producers;
    for (unsigned t = 0; t < kPullProducers; ++t) {
        producers.emplace_back([&, t] {
            std::vector<rill::Producer> mine;
            for (unsigned i = 0; i < kPullStreams; ++i) mine.push_back(streams[i].producer());
            std::string rec = record(t, 0, 0);
            for (std::uint32_t j = 0; j < parts; ++j) {
                const unsigned b = j % kPullStreams;
                const std::uint32_t seq = j / kPullStreams;
                rec[1] = static_cast<char>(b);
                std::memcpy(&rec[4], &seq, sizeof seq);
                const rill::SendStatus st = mine[b].send(rec);
                if (st == rill::SendStatus::backpressure) {
                    if (!wait_turn(mine[b])) return;
                } else if (st != rill::SendStatus::queued) {
                    fail("pull: a stream refused a part", b, j, static_cast<unsigned long long>(st));
                    return;
                }
            }
        });
    }
    for (auto& th : producers) th.join();
    if (stalled_done.load()) fail("pull: the stalled stream's producer was not blocked");
    for (unsigned i = 0; i < kPullStreams; ++i) (void)streams[i].producer().close();
    for (auto& th : workers) th.join();
    const rill::ProducerStats stalled_stats = streams[kPullStreams].stats();
    streams[kPullStreams].finish(rill::CloseReason::peer_closed);  // its client "left"
    stalled.join();
    std::uint64_t wakeups = 0, batches = 0;
    std::size_t max_queued = 0;
    for (unsigned i = 0; i < kPullStreams; ++i) {
        const Reader& r = *readers[i];
        if (!r.finished || r.reason != rill::CloseReason::completed) fail("pull: a stream did not end", i);
        for (unsigned p = 0; p < kPullProducers; ++p)
            if (r.next[p] != per_stream) fail("pull: parts missing", i, p, r.next[p]);
        const rill::ProducerStats st = streams[i].stats();
        wakeups += st.wakeups;
        batches += st.batches;
        if (st.max_queued > max_queued) max_queued = st.max_queued;
    }
    if (max_queued > opts.high_water + kPullProducers * kRecord) fail("pull: queue above its bound", 0, max_queued);
    if (stalled_stats.max_queued > opts.high_water + kRecord) fail("pull: stalled queue above its bound", 0, stalled_stats.max_queued);
    std::printf("pull: %llu parts into %u streams; wake-ups %llu, batches %llu; max queue %zu B; stalled queue %zu B\n",
                static_cast<unsigned long long>(std::uint64_t{kPullProducers} * parts), kPullStreams,
                static_cast<unsigned long long>(wakeups), static_cast<unsigned long long>(batches), max_queued,
                stalled_stats.max_queued);
}

}  // namespace

int main(int argc, char** argv) {
    std::uint32_t parts = 100000;
    if (argc > 1) parts = static_cast<std::uint32_t>(std::strtoul(argv[1], nullptr, 10));
    const std::uint32_t per_body = (parts + kBodies - 1) / kBodies;
    parts = per_body * kBodies;  // every body gets the same number from every producer
    const auto t0 = Clock::now();

    Loop loop;
    rill::BodyOptions opts;
    opts.high_water = kHighWater;
    opts.low_water = kLowWater;

    std::vector<std::shared_ptr<Reader>> readers;
    std::vector<std::shared_ptr<Body>> bodies;
    std::vector<rill::Producer> producers;
    std::atomic<unsigned> closed_bodies{0};
    auto waker = [&loop](std::function<void()> task) { loop.post(std::move(task)); };
    for (unsigned i = 0; i <= kBodies; ++i) {  // the last one is the stalled reader
        auto r = std::make_shared<Reader>();
        r->index = i;
        r->slow = i % 2 == 1;
        r->stalled = i == kBodies;
        rill::BodyOptions body_opts = opts;
        if (i % 4 == 3) body_opts.overflow = rill::OverflowPolicy::reject;  // a quarter refuse when full
        auto body = rill::make_deferred_body<CheckingSink>(body_opts);
        body->each(CheckingSink(r));
        rill::ProducerOptions cb;
        cb.on_close = [&closed_bodies](rill::CloseReason) { closed_bodies.fetch_add(1); };
        producers.push_back(rill::make_producer(body, waker, cb));
        readers.push_back(r);
        bodies.push_back(body);
    }

    // The loop thread: tasks, then a flush of transports that had to wait (EPOLLOUT).
    std::atomic<bool> stop{false};
    std::size_t max_body_queue = 0;
    std::size_t stalled_body_queue = 0;
    std::thread loop_thread([&] {
        while (!stop.load()) {
            loop.run_once(1ms);
            for (unsigned i = 0; i < kBodies; ++i) {
                Body& b = *bodies[i];
                if (b.bytes_queued() > max_body_queue) max_body_queue = b.bytes_queued();
                if (b.bytes_queued() != 0) b.flush();
            }
            if (bodies[kBodies]->bytes_queued() > stalled_body_queue) stalled_body_queue = bodies[kBodies]->bytes_queued();
        }
    });

    // The stalled stream's producer: fills up, then waits for a writable that never comes.
    std::atomic<bool> stalled_done{false};
    std::atomic<std::uint64_t> stalled_waits{0};
    std::thread stalled([&] {
        rill::Producer p = producers[kBodies];
        for (std::uint32_t seq = 0;; ++seq) {
            const rill::SendStatus s = p.send(record(0, kBodies, seq));
            if (s == rill::SendStatus::closed) break;
            if (s == rill::SendStatus::backpressure) {
                rill::WaitStatus w = rill::WaitStatus::timeout;
                while ((w = p.wait_writable(20ms)) == rill::WaitStatus::timeout) stalled_waits.fetch_add(1);
                if (w == rill::WaitStatus::closed) break;
            }
        }
        stalled_done = true;
    });

    std::vector<std::thread> threads;
    std::vector<double> seconds(kProducers, 0.0);
    for (unsigned t = 0; t < kProducers; ++t) {
        threads.emplace_back([&, t] {
            const auto start = Clock::now();
            std::vector<rill::Producer> mine(producers.begin(), producers.begin() + kBodies);
            std::string rec = record(t, 0, 0);
            for (std::uint32_t j = 0; j < parts; ++j) {
                const unsigned b = j % kBodies;
                const std::uint32_t seq = j / kBodies;
                rec[1] = static_cast<char>(b);
                std::memcpy(&rec[4], &seq, sizeof seq);
                rill::SendStatus s = mine[b].send(rec);
                // A body under the reject policy refuses while full: wait, then the same part again.
                for (int tries = 0; s == rill::SendStatus::would_block && tries < 1000; ++tries) {
                    if (!wait_turn(mine[b])) return;
                    s = mine[b].send(rec);
                }
                if (s == rill::SendStatus::backpressure) {
                    if (!wait_turn(mine[b])) return;
                } else if (s != rill::SendStatus::queued) {
                    fail("a fast body refused a part", b, j, static_cast<unsigned long long>(s));
                    return;
                }
            }
            seconds[t] = std::chrono::duration<double>(Clock::now() - start).count();
        });
    }
    for (auto& th : threads) th.join();
    const double producers_s = std::chrono::duration<double>(Clock::now() - t0).count();

    if (stalled_done.load()) fail("the stalled stream's producer was not blocked");
    for (unsigned i = 0; i < kBodies; ++i) (void)producers[i].close();
    // Every fast body completes; the loop keeps running until then (bounded).
    const auto deadline = Clock::now() + 20s;
    while (closed_bodies.load() < kBodies && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    if (closed_bodies.load() < kBodies) fail("bodies did not complete in 20 s (a lost wake-up?)", closed_bodies.load());

    const rill::ProducerStats stalled_stats = producers[kBodies].stats();
    producers[kBodies].abort();
    stalled.join();
    stop = true;
    loop_thread.join();

    std::uint64_t wakeups = 0, batches = 0, accepted = 0, dropped = 0;
    std::size_t max_queued = 0;
    for (unsigned i = 0; i < kBodies; ++i) {
        const Reader& r = *readers[i];
        if (!r.finished || r.reason != rill::CloseReason::completed) fail("a body did not complete", i);
        if (!r.partial.empty()) fail("a body ended inside a record", i);
        for (unsigned p = 0; p < kProducers; ++p)
            if (r.next[p] != per_body) fail("parts missing", i, p, r.next[p]);
        const rill::ProducerStats st = producers[i].stats();
        wakeups += st.wakeups;
        batches += st.batches;
        accepted += st.parts_accepted;
        dropped += st.parts_dropped;
        if (st.max_queued > max_queued) max_queued = st.max_queued;
    }
    const std::uint64_t expected = std::uint64_t{kProducers} * parts;
    if (accepted != expected) fail("accepted parts", 0, accepted, expected);
    if (dropped != 0) fail("dropped parts", 0, dropped);
    // Queue policy: a producer stops at its first backpressure, so at most one part
    // per producer lands above the mark; a body takes at most one such batch more.
    const std::size_t queue_bound = kHighWater + kProducers * kRecord;
    if (max_queued > queue_bound) fail("shared queue above its bound", 0, max_queued, queue_bound);
    if (max_body_queue > kHighWater + queue_bound) fail("body queue above its bound", 0, max_body_queue);
    if (stalled_stats.max_queued > kHighWater + kRecord) fail("stalled queue above its bound", 0, stalled_stats.max_queued);
    if (stalled_body_queue > kHighWater + kHighWater + kRecord) fail("stalled body above its bound", 0, stalled_body_queue);
    // One wake-up per batch: every batch was announced by at most one wake-up, and
    // wake-ups that found nothing (their bytes taken by an on_drain first) are rare.
    if (wakeups > batches + batches / 10 + 64) fail("more wake-ups than batches", 0, wakeups, batches);

    pull_phase(parts / 4);

    double slowest = 0;
    for (double s : seconds) slowest = s > slowest ? s : slowest;
    std::printf("parts %llu in %.2f s (slowest producer %.2f s); wake-ups %llu, batches %llu (%.1f parts a batch); "
                "max shared queue %zu B, max body queue %zu B; stalled: %llu waits, shared %zu B, body %zu B\n",
                static_cast<unsigned long long>(expected), producers_s, slowest,
                static_cast<unsigned long long>(wakeups), static_cast<unsigned long long>(batches),
                batches ? static_cast<double>(expected) / static_cast<double>(batches) : 0.0, max_queued,
                max_body_queue, static_cast<unsigned long long>(stalled_waits.load()), stalled_stats.max_queued,
                stalled_body_queue);
    if (g_failures.load() != 0) {
        std::fprintf(stderr, "%d failure(s)\n", g_failures.load());
        return 1;
    }
    std::puts("ok");
    return 0;
}
