// Replays a fuzz target without libFuzzer, so that every compiler and sanitizer
// configuration of the test suite runs it: first every file of the checked-in
// corpus, then a fixed-seed batch of pseudo-random inputs, half of them
// mutations of the corpus files. A broken invariant aborts, as under the fuzzer.
//
//   rill_fuzz_replay_<target> CORPUS_DIR [COUNT] [SECONDS]

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

// Present only in sanitizer builds: lets a sanitizer report (heap-use-after-free, ...) save the
// input too, since those end the process without SIGABRT unless abort_on_error is set.
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)());

namespace {

using Input = std::vector<std::uint8_t>;

// The input being run, saved by the abort handler so that a failure can be replayed
// (by this driver or by the libFuzzer build) and minimised.
const Input* current = nullptr;

void write_failing_input() {
    if (current != nullptr) {
        if (std::FILE* out = std::fopen("replay-failure.bin", "wb")) {
            (void)std::fwrite(current->data(), 1, current->size(), out);
            (void)std::fclose(out);
            std::fprintf(stderr, "failing input (%zu bytes) written to replay-failure.bin\n", current->size());
        }
        current = nullptr;
    }
}

extern "C" void save_on_sanitizer_report() { write_failing_input(); }

extern "C" void save_failing_input(int) {
    write_failing_input();
    std::signal(SIGABRT, SIG_DFL);
    std::abort();
}

void run(const Input& input) {
    current = &input;
    // A copy sized exactly, so that ASan sees a read past the end as libFuzzer would.
    const std::unique_ptr<std::uint8_t[]> copy(new std::uint8_t[input.size() + 1]);
    std::copy(input.begin(), input.end(), copy.get());
    (void)LLVMFuzzerTestOneInput(copy.get(), input.size());
}

Input mutate(Input input, std::mt19937& rng) {
    const int edits = static_cast<int>(rng() % 4) + 1;
    for (int e = 0; e < edits; ++e) {
        switch (rng() % 4) {
            case 0:  // overwrite a byte
                if (!input.empty()) input[rng() % input.size()] = static_cast<std::uint8_t>(rng());
                break;
            case 1:  // insert a byte
                input.insert(input.begin() + static_cast<std::ptrdiff_t>(rng() % (input.size() + 1)),
                             static_cast<std::uint8_t>(rng()));
                break;
            case 2:  // cut the tail
                if (!input.empty()) input.resize(rng() % input.size());
                break;
            default:  // flip a bit
                if (!input.empty()) input[rng() % input.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
                break;
        }
    }
    return input;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR [COUNT] [SECONDS]\n", argv[0]);
        return 2;
    }
    const unsigned long count = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 20000;
    const double budget = argc > 3 ? std::strtod(argv[3], nullptr) : 5.0;

    std::signal(SIGABRT, save_failing_input);
    if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(save_on_sanitizer_report);

    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(argv[1]))
        if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());  // a failure names the same file on every run

    std::vector<Input> corpus;
    for (const auto& path : files) {
        std::ifstream file(path, std::ios::binary);
        corpus.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
        std::fprintf(stderr, "replay %s\n", path.string().c_str());
        run(corpus.back());
    }

    // Bounded by time as well as count: a slow sanitizer must not turn this into a timeout.
    const auto start = std::chrono::steady_clock::now();
    std::mt19937 rng(20240601u);
    unsigned long done = 0;
    for (; done < count; ++done) {
        if ((done & 255u) == 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > budget)
            break;
        Input input;
        if (!corpus.empty() && (done & 1u) != 0) {
            input = mutate(corpus[rng() % corpus.size()], rng);
        } else {
            input.resize(rng() % 512);
            for (auto& b : input) b = static_cast<std::uint8_t>(rng());
        }
        run(input);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%zu corpus files and %lu generated inputs in %.2f s: no invariant broken\n", corpus.size(), done,
                seconds);
    return 0;
}
