#include "strings.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>

#include "pool.hpp"

namespace ne3 {

namespace {

enum class StringOp { equal, not_equal, less, less_equal, greater, greater_equal, contains };

StringOp parse_op(const std::string& op) {
    static const std::pair<const char*, StringOp> names[] = {
        {"equal", StringOp::equal},      {"not_equal", StringOp::not_equal},
        {"less", StringOp::less},        {"less_equal", StringOp::less_equal},
        {"greater", StringOp::greater},  {"greater_equal", StringOp::greater_equal},
        {"contains", StringOp::contains}};
    for (const auto& [name, value] : names) {
        if (op == name) return value;
    }
    throw std::invalid_argument("no byte-string operation '" + op + "'");
}

// The length of a value without its NUL padding.
std::size_t length(const char* s, std::ptrdiff_t itemsize) {
    auto n = static_cast<std::size_t>(itemsize);
    while (n > 0 && s[n - 1] == '\0') --n;
    return n;
}

bool contains(const char* hay, std::size_t nh, const char* needle, std::size_t nn) {
    if (nn == 0) return true;
    if (nn > nh) return false;
    const char* last = hay + (nh - nn);
    for (const char* p = hay; p <= last; ++p) {
        p = static_cast<const char*>(std::memchr(p, needle[0], static_cast<std::size_t>(last - p) + 1));
        if (p == nullptr) return false;
        if (std::memcmp(p, needle, nn) == 0) return true;
    }
    return false;
}

bool apply(StringOp op, const char* a, std::ptrdiff_t sa, const char* b, std::ptrdiff_t sb) {
    const std::size_t na = length(a, sa), nb = length(b, sb);
    if (op == StringOp::contains) return contains(a, na, b, nb);
    // Lexicographic on unsigned bytes; of a value and its prefix, the prefix is smaller.
    int c = std::memcmp(a, b, std::min(na, nb));
    if (c == 0) c = (na > nb) - (na < nb);
    switch (op) {
        case StringOp::equal:
            return c == 0;
        case StringOp::not_equal:
            return c != 0;
        case StringOp::less:
            return c < 0;
        case StringOp::less_equal:
            return c <= 0;
        case StringOp::greater:
            return c > 0;
        default:
            return c >= 0;
    }
}

// Elements [begin, end) of the C-order iteration over `shape`.
void run_range(StringOp op, const StringView& a, const StringView& b, const std::vector<std::ptrdiff_t>& shape,
               bool* out, std::ptrdiff_t begin, std::ptrdiff_t end) {
    const std::size_t nd = shape.size();
    std::vector<std::ptrdiff_t> index(nd, 0);
    std::ptrdiff_t rest = begin, offset_a = 0, offset_b = 0;
    for (std::size_t d = nd; d-- > 0;) {
        index[d] = rest % shape[d];
        rest /= shape[d];
        offset_a += index[d] * a.strides[d];
        offset_b += index[d] * b.strides[d];
    }
    for (std::ptrdiff_t i = begin; i < end; ++i) {
        out[i] = apply(op, a.data + offset_a, a.itemsize, b.data + offset_b, b.itemsize);
        for (std::size_t d = nd; d-- > 0;) {  // the next multi-index, innermost first
            offset_a += a.strides[d];
            offset_b += b.strides[d];
            if (++index[d] < shape[d]) break;
            offset_a -= shape[d] * a.strides[d];
            offset_b -= shape[d] * b.strides[d];
            index[d] = 0;
        }
    }
}

constexpr std::ptrdiff_t kChunk = 16384;  // elements a thread claims at a time

}  // namespace

void compare_strings(const std::string& op_name, const StringView& a, const StringView& b,
                     const std::vector<std::ptrdiff_t>& shape, bool* out, int nthreads) {
    const StringOp op = parse_op(op_name);
    if (a.strides.size() != shape.size() || b.strides.size() != shape.size()) {
        throw std::invalid_argument("string operands must have one stride per dimension of the shape");
    }
    std::ptrdiff_t size = 1;
    for (auto n : shape) size *= n;
    if (size == 0) return;
    const std::ptrdiff_t chunks = (size + kChunk - 1) / kChunk;
    const int requested = nthreads > 0 ? std::min(nthreads, max_threads()) : get_num_threads();
    const int nt = static_cast<int>(std::min<std::ptrdiff_t>(requested, chunks));
    std::atomic<std::ptrdiff_t> next{0};
    auto job = [&](int) {
        for (;;) {
            const std::ptrdiff_t c = next.fetch_add(1, std::memory_order_relaxed);
            if (c >= chunks) break;
            run_range(op, a, b, shape, out, c * kChunk, std::min(size, (c + 1) * kChunk));
        }
    };
    if (nt <= 1 || !run_parallel(nt, job)) job(0);
}

}  // namespace ne3
