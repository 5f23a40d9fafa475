#ifndef RILL_FUZZ_SUPPORT_HPP
#define RILL_FUZZ_SUPPORT_HPP

// Shared by the fuzz targets: a reader that turns the fuzzer's bytes into
// choices, and the check that turns a broken invariant into a crash the
// fuzzer (or the replay driver) reports with the input that caused it.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// Not assert(): the check must stay on in release builds, where NDEBUG is set.
#define RILL_FUZZ_CHECK(cond, what)                                                      \
    do {                                                                                 \
        if (!(cond)) ::rill_fuzz::fail(__FILE__, __LINE__, #cond, (what));               \
    } while (false)

namespace rill_fuzz {

[[noreturn]] inline void fail(const char* file, int line, const char* cond, std::string_view what) {
    std::fprintf(stderr, "%s:%d: invariant violated: %s\n  %.*s\n", file, line, cond,
                 static_cast<int>(what.size()), what.data());
    std::abort();
}

/// Reads choices from the front of the input. An exhausted reader answers zeros,
/// so every input, however short, decodes to a complete (if dull) scenario.
class ByteReader {
public:
    ByteReader(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

    bool empty() const noexcept { return pos_ == size_; }
    std::size_t left() const noexcept { return size_ - pos_; }

    std::uint8_t byte() noexcept { return pos_ < size_ ? data_[pos_++] : std::uint8_t{0}; }

    bool flag() noexcept { return (byte() & 1u) != 0; }

    /// A value in [0, n); n must be non-zero.
    std::size_t below(std::size_t n) noexcept {
        std::size_t v = byte();
        if (n > 256) v = (v << 8) | byte();
        return v % n;
    }

    std::uint32_t u32() noexcept {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = (v << 8) | byte();
        return v;
    }

    /// Up to `max` raw bytes, length first.
    std::string bytes(std::size_t max) {
        const std::size_t n = below(max + 1);
        const std::size_t take = n < left() ? n : left();
        std::string out(reinterpret_cast<const char*>(data_ + pos_), take);
        pos_ += take;
        return out;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

}  // namespace rill_fuzz

#endif  // RILL_FUZZ_SUPPORT_HPP
