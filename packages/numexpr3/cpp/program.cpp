// Execution: the iteration space (broadcast shape) is reordered to follow memory,
// coalesced, and cut into blocks of a few thousand elements. Per block every operand is
// bound either in place (contiguous row, or a single value), or gathered into a
// contiguous buffer; the instructions then run over the block with temporaries that
// stay in cache, and buffered outputs are scattered back. Threads take contiguous
// ranges of blocks.
#include "program.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <tuple>

#include "pool.hpp"

namespace ne3 {
namespace {

constexpr std::size_t kAlign = 64;
// Blocks are sized so that all registers of one block fit in this many bytes: the L1 data
// cache of current x86 and ARM cores (a long program's blocks stop at kMinBlock and spill
// to L2). Measured at N = 1e4 on this repository's EPYC: a*b + c 0.94x NumPy's time with
// 32 KiB blocks against 1.04x with 64 KiB.
constexpr std::size_t kBlockBytes = 32 * 1024;
constexpr std::ptrdiff_t kMinBlock = 512;
// Work (elements x instruction weight) below which an extra thread costs more than it
// saves.
constexpr std::ptrdiff_t kWorkPerThread = 40000;
// Chunks per thread: enough for late threads to be covered by the others.
constexpr std::ptrdiff_t kChunksPerThread = 8;
// Reductions with private partial outputs keep them below this size in all.
constexpr std::ptrdiff_t kMaxPartialBytes = 1 << 20;

// A multi-index; NumPy arrays have at most 64 dimensions.
using Index = std::array<std::ptrdiff_t, 64>;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

std::string shape_str(const std::vector<std::ptrdiff_t>& shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        s += std::to_string(shape[i]);
        if (shape.size() == 1 || i + 1 < shape.size()) s += ",";
        if (i + 1 < shape.size()) s += " ";
    }
    return s + ")";
}

// The errors kernels flagged (kernel_error bits), as NumPy raises them.
void raise_kernel_errors(int errors) {
    if (errors & kErrNegativeIntPower) {
        throw std::invalid_argument("Integers to negative integer powers are not allowed.");
    }
}

// Whether the memory spans of two arrays intersect.
bool overlap(const ArrayView& a, const ArrayView& b) {
    auto span = [](const ArrayView& v) {
        std::ptrdiff_t lo = 0, hi = static_cast<std::ptrdiff_t>(item_size(v.type));
        for (std::size_t d = 0; d < v.shape.size(); ++d) {
            if (v.shape[d] == 0) return std::make_pair(v.data, v.data);  // empty: no memory
            const std::ptrdiff_t extent = (v.shape[d] - 1) * v.strides[d];
            (extent < 0 ? lo : hi) += extent;
        }
        return std::make_pair(v.data + lo, v.data + hi);
    };
    const auto [a_lo, a_hi] = span(a);
    const auto [b_lo, b_hi] = span(b);
    return a_lo < b_hi && b_lo < a_hi;
}

// The elements of an array in C order, contiguous.
std::vector<char> contiguous_copy(const ArrayView& a) {
    const std::size_t size = item_size(a.type), ndim = a.shape.size();
    std::ptrdiff_t total = 1;
    for (auto n : a.shape) total *= n;
    std::vector<char> out(static_cast<std::size_t>(total) * size);
    std::vector<std::ptrdiff_t> idx(ndim, 0);
    for (std::ptrdiff_t k = 0; k < total; ++k) {
        std::ptrdiff_t offset = 0;
        for (std::size_t d = 0; d < ndim; ++d) offset += idx[d] * a.strides[d];
        std::memcpy(out.data() + static_cast<std::size_t>(k) * size, a.data + offset, size);
        for (std::size_t d = ndim; d-- > 0;) {
            if (++idx[d] < a.shape[d]) break;
            idx[d] = 0;
        }
    }
    return out;
}

// Copies n elements of `size` bytes between strided locations.
void strided_copy(char* dst, std::ptrdiff_t dst_stride, const char* src, std::ptrdiff_t src_stride, std::ptrdiff_t n,
                  std::size_t size) {
    auto copy = [&](auto word) {
        using W = decltype(word);
        for (std::ptrdiff_t i = 0; i < n; ++i) {
            W w;
            std::memcpy(&w, src + i * src_stride, sizeof(W));
            std::memcpy(dst + i * dst_stride, &w, sizeof(W));
        }
    };
    switch (size) {
        case 1:
            copy(std::uint8_t{});
            break;
        case 2:
            copy(std::uint16_t{});
            break;
        case 4:
            copy(std::uint32_t{});
            break;
        case 8:
            copy(std::uint64_t{});
            break;
        default:
            for (std::ptrdiff_t i = 0; i < n; ++i) std::memcpy(dst + i * dst_stride, src + i * src_stride, size);
    }
}

}  // namespace

// Everything one run needs; reused by the calling thread from run to run so that a small
// evaluation allocates nothing.
struct Program::Plan {
    std::vector<std::ptrdiff_t> shape;              // outermost first
    std::vector<std::ptrdiff_t> strides;            // [operand * ndim + dimension], bytes
    std::vector<std::ptrdiff_t> broadcast_strides;  // the same over the caller's shape
    std::vector<std::size_t> dims;                  // the caller's dimensions, in iteration order (then: merged)
    std::vector<char*> base;                        // per operand
    std::vector<std::size_t> itemsize;              // per operand
    std::vector<char> constant;                     // per operand: all strides 0
    std::vector<int> operand_reg;                   // per operand: its register (-1: reduction output)
    std::vector<char> reduced;                      // per dimension of the caller's shape
    std::ptrdiff_t size = 0;
    std::ptrdiff_t block = 0;
    std::size_t scratch_per_thread = 0;
    std::size_t bindings_offset = 0;         // register pointers and flags, within a thread's scratch
    std::vector<std::size_t> buffer_offset;  // per register (in/out/temp), within a thread's scratch
    char* scratch = nullptr;                 // aligned, within scratch_storage
    std::vector<char> scratch_storage;       // every thread's scratch, kept from run to run

    std::ptrdiff_t stride(std::size_t op, std::size_t dim) const { return strides[op * shape.size() + dim]; }
};

Program::Program(std::vector<RegisterSpec> registers, const std::vector<InstructionSpec>& instructions,
                 std::optional<ReductionSpec> reduction)
    : registers_(std::move(registers)), reduction_(std::move(reduction)) {
    const int nregs = static_cast<int>(registers_.size());
    for (int r = 0; r < nregs; ++r) {
        const auto& reg = registers_[static_cast<std::size_t>(r)];
        if (reg.kind == RegisterKind::input) input_regs_.push_back(r);
        if (reg.kind == RegisterKind::output) output_regs_.push_back(r);
        if (reg.kind == RegisterKind::temp) temp_bytes_ += item_size(reg.type);
    }
    if (instructions.empty()) throw std::invalid_argument("a program needs at least one instruction");
    for (std::size_t i = 0; i < instructions.size(); ++i) {
        const auto& ins = instructions[i];
        const std::string where = "instruction " + std::to_string(i) + " (" + ins.op + ")";
        if (ins.dest < 0 || ins.dest >= nregs) throw std::invalid_argument(where + ": destination out of range");
        const auto& dest = registers_[static_cast<std::size_t>(ins.dest)];
        if (dest.kind != RegisterKind::temp && dest.kind != RegisterKind::output) {
            throw std::invalid_argument(where + ": the destination must be a temp or an output register");
        }
        if (ins.sources.empty() || ins.sources.size() > 3) {
            throw std::invalid_argument(where + ": an instruction takes 1 to 3 sources");
        }
        Instruction linked{nullptr, ins.dest, {0, 0, 0}, static_cast<int>(ins.sources.size())};
        std::vector<TypeCode> types;
        for (std::size_t s = 0; s < ins.sources.size(); ++s) {
            const int src = ins.sources[s];
            if (src < 0 || src >= nregs) throw std::invalid_argument(where + ": source out of range");
            linked.sources[s] = src;
            types.push_back(registers_[static_cast<std::size_t>(src)].type);
        }
        std::string signature;
        for (auto t : types) signature += std::string(signature.empty() ? "" : ", ") + type_name(t);
        if (ins.op == "cast") {
            if (types.size() != 1) throw std::invalid_argument(where + ": cast takes one source");
            linked.fn = cast_kernel(types[0], dest.type);
            weight_ += 1;
        } else {
            const KernelInfo* k = find_kernel(ins.op, types);
            if (k == nullptr) throw std::domain_error("no kernel " + ins.op + "(" + signature + ")");
            if (k->output != dest.type) {
                throw std::invalid_argument(where + ": " + ins.op + "(" + signature + ") gives " +
                                            type_name(k->output) + ", not the destination's " + type_name(dest.type));
            }
            linked.fn = k->fn;
            weight_ += k->weight;
        }
        instructions_.push_back(linked);
    }
    if (reduction_) {
        const auto& last = registers_[static_cast<std::size_t>(instructions_.back().dest)];
        if (output_regs_.size() != 1) throw std::invalid_argument("a reduction program has exactly one output");
        const auto& out = registers_[static_cast<std::size_t>(output_regs_[0])];
        if (last.kind != RegisterKind::temp || last.type != out.type) {
            throw std::invalid_argument("a reduction reduces its last instruction's temp, of the output's type");
        }
        try {
            reducer_ = find_reducer(reduction_->op, out.type);
        } catch (const std::invalid_argument& e) {
            throw std::domain_error(e.what());
        }
        weight_ += reducer_.weight;
    } else if (output_regs_.empty()) {
        throw std::invalid_argument("a program needs at least one output register");
    }
}

void Program::run(const std::vector<ArrayView>& inputs, const std::vector<ArrayView>& outputs,
                  const std::vector<std::ptrdiff_t>& shape, int nthreads) const {
    if (inputs.size() != input_regs_.size()) {
        throw std::invalid_argument("expected " + std::to_string(input_regs_.size()) + " inputs, got " +
                                    std::to_string(inputs.size()));
    }
    if (outputs.size() != output_regs_.size()) {
        throw std::invalid_argument("expected " + std::to_string(output_regs_.size()) + " outputs, got " +
                                    std::to_string(outputs.size()));
    }
    for (const auto& s : shape) {
        if (s < 0) throw std::invalid_argument("negative dimension in shape " + shape_str(shape));
    }
    const std::size_t ndim = shape.size();
    if (ndim > std::tuple_size_v<Index>) throw std::invalid_argument("more than 64 dimensions");
    if (run_small(inputs, outputs, shape)) return;
    // A thread_local object is the executing thread's own, even inside a lambda: the
    // workers must see the caller's plan through this reference.
    thread_local Plan caller_plan;
    Plan& plan = caller_plan;
    plan.reduced.assign(ndim, 0);
    if (reduction_) {
        for (int axis : reduction_->axes) {
            if (axis < 0 || static_cast<std::size_t>(axis) >= ndim) {
                throw std::invalid_argument("reduction axis " + std::to_string(axis) + " out of range for " +
                                            std::to_string(ndim) + " dimensions");
            }
            plan.reduced[static_cast<std::size_t>(axis)] = 1;
        }
    }

    const std::size_t nops = inputs.size() + outputs.size();
    plan.broadcast_strides.assign(nops * ndim, 0);
    plan.base.clear();
    plan.itemsize.clear();
    plan.operand_reg.clear();
    auto describe = [](bool is_input, std::size_t i) {
        return std::string(is_input ? "input " : "output ") + std::to_string(i);
    };
    auto add_operand = [&](const ArrayView& a, int reg, bool is_input, std::size_t i) {
        const auto& spec = registers_[static_cast<std::size_t>(reg)];
        if (a.type != spec.type) {
            throw std::invalid_argument(describe(is_input, i) + " has type " + type_name(a.type) +
                                        ", the program expects " + type_name(spec.type));
        }
        if (a.shape.size() > ndim) {
            throw std::invalid_argument(describe(is_input, i) + " with shape " + shape_str(a.shape) +
                                        " has more dimensions than " + shape_str(shape));
        }
        std::ptrdiff_t* strides = plan.broadcast_strides.data() + plan.base.size() * ndim;
        const std::size_t lead = ndim - a.shape.size();
        for (std::size_t k = 0; k < a.shape.size(); ++k) {
            const std::size_t d = lead + k;
            if (a.shape[k] == shape[d]) {
                strides[d] = a.strides[k];
            } else if (a.shape[k] != 1) {
                throw std::invalid_argument(describe(is_input, i) + " with shape " + shape_str(a.shape) +
                                            " cannot be broadcast to " + shape_str(shape));
            }
        }
        plan.base.push_back(a.data);
        plan.itemsize.push_back(item_size(a.type));
        plan.operand_reg.push_back(reg);
    };
    for (std::size_t i = 0; i < inputs.size(); ++i) add_operand(inputs[i], input_regs_[i], true, i);
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        const auto& o = outputs[i];
        bool shape_ok = o.shape.size() == ndim;
        for (std::size_t d = 0; shape_ok && d < ndim; ++d) shape_ok = o.shape[d] == (plan.reduced[d] ? 1 : shape[d]);
        if (!shape_ok) {
            std::vector<std::ptrdiff_t> expected = shape;
            for (std::size_t d = 0; d < ndim; ++d) {
                if (plan.reduced[d]) expected[d] = 1;
            }
            throw std::invalid_argument(describe(false, i) + " has shape " + shape_str(o.shape) + ", expected " +
                                        shape_str(expected));
        }
        add_operand(o, output_regs_[i], false, i);
        if (reduction_) {
            // Private partial copies share the output's layout, so it must be contiguous
            // (NumPy gives empty arrays arbitrary strides: nothing to check there).
            const bool empty = std::find(o.shape.begin(), o.shape.end(), 0) != o.shape.end();
            std::ptrdiff_t expect = static_cast<std::ptrdiff_t>(item_size(o.type));
            for (std::size_t d = ndim; !empty && d-- > 0;) {
                if (o.shape[d] != 1 && o.strides[d] != expect) {
                    throw std::invalid_argument("a reduction's output must be C-contiguous");
                }
                expect *= o.shape[d];
            }
            plan.operand_reg.back() = -1;
        }
    }
    // An input that overlaps an output other than element for element would be read after
    // parts of it were overwritten: such inputs are copied first (rare: NumPy does the same).
    std::vector<std::vector<char>> copies;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        for (std::size_t o = 0; o < outputs.size(); ++o) {
            const std::size_t out_operand = inputs.size() + o;
            if (!overlap(inputs[i], outputs[o])) continue;
            bool same_elements = plan.base[i] == plan.base[out_operand];
            for (std::size_t d = 0; same_elements && d < ndim; ++d) {
                same_elements = shape[d] <= 1 ||
                                plan.broadcast_strides[i * ndim + d] == plan.broadcast_strides[out_operand * ndim + d];
            }
            if (same_elements) continue;
            copies.emplace_back(contiguous_copy(inputs[i]));
            plan.base[i] = copies.back().data();
            // The copy is C-contiguous: its strides over the iteration shape.
            const ArrayView& a = inputs[i];
            std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(item_size(a.type));
            const std::size_t lead = ndim - a.shape.size();
            for (std::size_t k = a.shape.size(); k-- > 0;) {
                plan.broadcast_strides[i * ndim + lead + k] = a.shape[k] == shape[lead + k] ? stride : 0;
                stride *= a.shape[k];
            }
            break;
        }
    }
    plan.size = std::accumulate(shape.begin(), shape.end(), std::ptrdiff_t{1}, std::multiplies<>());
    const std::size_t out_op = inputs.size();  // the first output's operand index
    std::ptrdiff_t out_elements = 1;
    if (reduction_) {
        for (auto n : outputs[0].shape) out_elements *= n;
    }

    if (plan.size == 0) {
        if (reduction_ && out_elements > 0) reducer_.init(outputs[0].data, out_elements);
        return;
    }

    // Drop unit dimensions, order the rest by the key operand's strides (largest outside)
    // and merge dimensions that are contiguous for every operand.
    const std::size_t key = reduction_ ? (inputs.empty() ? out_op : 0) : out_op;
    const std::ptrdiff_t* bstrides = plan.broadcast_strides.data();
    plan.dims.clear();
    for (std::size_t d = 0; d < ndim; ++d) {
        if (shape[d] != 1) plan.dims.push_back(d);
    }
    // A stable insertion sort: few dimensions, and std::stable_sort would allocate.
    auto outer = [&](std::size_t a, std::size_t b) {
        return std::abs(bstrides[key * ndim + a]) > std::abs(bstrides[key * ndim + b]);
    };
    for (std::size_t i = 1; i < plan.dims.size(); ++i) {
        const std::size_t d = plan.dims[i];
        std::size_t j = i;
        for (; j > 0 && outer(d, plan.dims[j - 1]); --j) plan.dims[j] = plan.dims[j - 1];
        plan.dims[j] = d;
    }
    // One pass: plan.dims is compacted in place to hold, per iteration dimension, the
    // caller's innermost dimension merged into it (whose strides it takes).
    plan.shape.clear();
    std::size_t kept = 0;
    for (std::size_t i = 0; i < plan.dims.size(); ++i) {
        const std::size_t d = plan.dims[i];
        bool merge = kept > 0;
        for (std::size_t o = 0; merge && o < nops; ++o) {
            merge = bstrides[o * ndim + plan.dims[kept - 1]] == bstrides[o * ndim + d] * shape[d];
        }
        if (merge) {
            plan.shape.back() *= shape[d];
            plan.dims[kept - 1] = d;
        } else {
            plan.shape.push_back(shape[d]);
            plan.dims[kept++] = d;
        }
    }
    plan.dims.resize(kept);
    if (plan.shape.empty()) plan.shape.push_back(1);  // a single element: all strides 0
    const std::size_t iter_ndim = plan.shape.size();
    plan.strides.assign(nops * iter_ndim, 0);
    for (std::size_t k = 0; k < kept; ++k) {
        for (std::size_t o = 0; o < nops; ++o) plan.strides[o * iter_ndim + k] = bstrides[o * ndim + plan.dims[k]];
    }
    plan.constant.assign(nops, 1);
    for (std::size_t o = 0; o < nops; ++o) {
        for (std::size_t d = 0; d < iter_ndim; ++d) {
            if (plan.stride(o, d) != 0) plan.constant[o] = 0;
        }
    }

    // Block size and per-thread scratch: a buffer of one block for every temp, input and
    // output register.
    std::size_t bytes_per_element = temp_bytes_;
    for (std::size_t o = 0; o < nops; ++o) bytes_per_element += plan.itemsize[o];
    std::ptrdiff_t block = static_cast<std::ptrdiff_t>(kBlockBytes / std::max<std::size_t>(bytes_per_element, 1));
    block = std::clamp(block, kMinBlock, kMaxBlock) / 64 * 64;
    plan.block =
        std::min<std::ptrdiff_t>(block, static_cast<std::ptrdiff_t>(round_up(static_cast<std::size_t>(plan.size), 64)));
    plan.buffer_offset.assign(registers_.size(), 0);
    std::size_t offset = 0;
    for (std::size_t r = 0; r < registers_.size(); ++r) {
        if (registers_[r].kind == RegisterKind::constant) continue;
        plan.buffer_offset[r] = offset;
        offset += round_up(static_cast<std::size_t>(plan.block) * item_size(registers_[r].type), kAlign);
    }
    plan.bindings_offset = offset;
    offset += registers_.size() * (sizeof(char*) + sizeof(bool)) + nops * sizeof(bool);
    plan.scratch_per_thread = round_up(offset, kAlign);

    // Threads: as many as the work pays for.
    const int requested = nthreads > 0 ? std::min(nthreads, max_threads()) : get_num_threads();
    const std::ptrdiff_t work = plan.size * std::max(weight_, 1);
    const std::ptrdiff_t blocks = (plan.size + plan.block - 1) / plan.block;
    const int nt = static_cast<int>(
        std::min<std::ptrdiff_t>({requested, std::max<std::ptrdiff_t>(1, work / kWorkPerThread), blocks}));

    // The work is cut into chunks that threads claim one at a time, so that a thread that
    // wakes late (a busy machine) delays nothing: the others take its share. Chunks are
    // whole blocks, and for a reduction either whole rows of the outermost (kept)
    // dimension, so that threads write disjoint outputs, or pieces with a private partial
    // output each, combined in chunk order afterwards: the result does not depend on
    // which thread ran what.
    std::ptrdiff_t unit = plan.block;  // chunk boundaries are multiples of this many elements
    bool partials = false;
    const std::size_t out_item = reduction_ ? plan.itemsize[out_op] : 0;
    std::ptrdiff_t chunks = 1;
    if (nt > 1) {
        chunks = std::min<std::ptrdiff_t>(blocks, static_cast<std::ptrdiff_t>(nt) * kChunksPerThread);
        if (reduction_) {
            if (plan.stride(out_op, 0) != 0 && plan.shape[0] >= nt) {
                unit = plan.size / plan.shape[0];
                chunks = std::min<std::ptrdiff_t>(chunks, plan.shape[0]);
            } else {
                partials = true;
                // Large outputs get one partial per thread's worth of work, not more.
                if (out_elements * static_cast<std::ptrdiff_t>(out_item) > kMaxPartialBytes) chunks = nt;
            }
        }
    }
    const std::ptrdiff_t units = (plan.size + unit - 1) / unit;
    const std::ptrdiff_t units_per_chunk = (units + chunks - 1) / chunks;
    chunks = (units + units_per_chunk - 1) / units_per_chunk;

    std::vector<char>& scratch_cache = plan.scratch_storage;
    const std::size_t partial_bytes = round_up(static_cast<std::size_t>(out_elements) * out_item, kAlign);
    const std::size_t needed = plan.scratch_per_thread * static_cast<std::size_t>(nt) +
                               (partials ? partial_bytes * static_cast<std::size_t>(chunks) : 0) + kAlign;
    if (scratch_cache.size() < needed) {
        scratch_cache.clear();
        scratch_cache.shrink_to_fit();
        scratch_cache.resize(needed);
    }
    plan.scratch = reinterpret_cast<char*>(round_up(reinterpret_cast<std::uintptr_t>(scratch_cache.data()), kAlign));
    char* partial_area = plan.scratch + plan.scratch_per_thread * static_cast<std::size_t>(nt);

    if (reduction_) reducer_.init(outputs[0].data, out_elements);
    std::atomic<std::ptrdiff_t> next_chunk{0};
    std::atomic<int> errors{0};
    auto job = [&](int t) {
        char* scratch = plan.scratch + plan.scratch_per_thread * static_cast<std::size_t>(t);
        kernel_error = 0;
        for (;;) {
            const std::ptrdiff_t c = next_chunk.fetch_add(1, std::memory_order_relaxed);
            if (c >= chunks) break;
            const std::ptrdiff_t begin = std::min(plan.size, c * units_per_chunk * unit);
            const std::ptrdiff_t end = std::min(plan.size, begin + units_per_chunk * unit);
            char* reduce_out = reduction_ ? outputs[0].data : nullptr;
            if (partials) {
                reduce_out = partial_area + partial_bytes * static_cast<std::size_t>(c);
                reducer_.init(reduce_out, out_elements);
            }
            if (begin < end) execute(plan, begin, end, reduce_out, scratch);
        }
        if (kernel_error != 0) errors.fetch_or(kernel_error);
    };
    // When the pool is busy with another caller's work, run here rather than wait.
    if (nt == 1 || !run_parallel(nt, job)) job(0);
    if (partials) {
        for (std::ptrdiff_t c = 0; c < chunks; ++c) {
            reducer_.combine(out_elements, partial_area + partial_bytes * static_cast<std::size_t>(c), outputs[0].data);
        }
    }
    raise_kernel_errors(errors.load());
}

// The common short call, without a plan: one block of contiguous operands on this
// thread. Returns false, having done nothing, for anything else (which includes every
// case the general path reports as an error).
bool Program::run_small(const std::vector<ArrayView>& inputs, const std::vector<ArrayView>& outputs,
                        const std::vector<std::ptrdiff_t>& shape) const {
    constexpr std::size_t kMaxRegisters = 64;
    if (reduction_ || registers_.size() > kMaxRegisters) return false;
    std::ptrdiff_t size = 1;
    for (auto n : shape) size *= n;
    if (size == 0 || size > kMaxBlock || size * std::max(weight_, 1) >= kWorkPerThread) return false;
    // 1: exactly `shape`, C-contiguous; 0: a single element (broadcast); -1: anything else.
    auto layout = [&](const ArrayView& a) {
        std::ptrdiff_t count = 1;
        for (auto n : a.shape) count *= n;
        if (count == 1 && a.shape.size() <= shape.size()) return size == 1 ? 1 : 0;
        if (a.shape != shape) return -1;
        auto expect = static_cast<std::ptrdiff_t>(item_size(a.type));
        for (std::size_t d = shape.size(); d-- > 0;) {
            if (a.shape[d] != 1 && a.strides[d] != expect) return -1;
            expect *= a.shape[d];
        }
        return 1;
    };
    std::array<char*, kMaxRegisters> ptr{};
    std::array<bool, kMaxRegisters> scalar{};
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        const auto& o = outputs[i];
        const auto r = static_cast<std::size_t>(output_regs_[i]);
        if (o.type != registers_[r].type || o.shape != shape || layout(o) != 1) return false;
        ptr[r] = o.data;
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto& a = inputs[i];
        const auto r = static_cast<std::size_t>(input_regs_[i]);
        const int kind = layout(a);
        if (a.type != registers_[r].type || kind < 0) return false;
        for (const auto& o : outputs) {  // element for element, or apart
            if (overlap(a, o) && !(kind == 1 && a.data == o.data)) return false;
        }
        ptr[r] = a.data;
        scalar[r] = kind == 0;
    }
    thread_local std::vector<char> temps;  // every temp, each aligned: at most this much
    const std::size_t needed = static_cast<std::size_t>(size) * temp_bytes_ + (registers_.size() + 1) * kAlign;
    if (temps.size() < needed) temps.resize(needed);
    char* scratch = reinterpret_cast<char*>(round_up(reinterpret_cast<std::uintptr_t>(temps.data()), kAlign));
    std::size_t offset = 0;
    for (std::size_t r = 0; r < registers_.size(); ++r) {
        const auto& reg = registers_[r];
        if (reg.kind == RegisterKind::constant) {
            ptr[r] = const_cast<char*>(reinterpret_cast<const char*>(reg.value));
            scalar[r] = true;
        } else if (reg.kind == RegisterKind::temp) {
            ptr[r] = scratch + offset;
            offset += round_up(static_cast<std::size_t>(size) * item_size(reg.type), kAlign);
        }
    }
    kernel_error = 0;
    char* args[4];
    bool arg_scalar[4] = {false, false, false, false};
    for (const auto& ins : instructions_) {
        args[0] = ptr[static_cast<std::size_t>(ins.dest)];
        for (int k = 0; k < ins.nsources; ++k) {
            const auto src = static_cast<std::size_t>(ins.sources[static_cast<std::size_t>(k)]);
            args[k + 1] = ptr[src];
            arg_scalar[k + 1] = scalar[src];
        }
        ins.fn(size, args, arg_scalar);
        scalar[static_cast<std::size_t>(ins.dest)] = false;
    }
    raise_kernel_errors(kernel_error);
    return true;
}

// Calls fn(k, count, idx) for each run of `count` elements of one innermost row that a
// block of n elements starting at multi-index `start` covers (k: offset in the block).
template <class Fn>
void for_each_row(const std::vector<std::ptrdiff_t>& shape, const Index& start, std::ptrdiff_t n, Fn&& fn) {
    Index idx = start;
    const std::size_t last = shape.size() - 1;
    for (std::ptrdiff_t k = 0; k < n;) {
        const std::ptrdiff_t count = std::min(n - k, shape[last] - idx[last]);
        fn(k, count, idx);
        k += count;
        idx[last] += count;
        for (std::size_t d = last; d > 0 && idx[d] >= shape[d]; --d) {
            idx[d] = 0;
            ++idx[d - 1];
        }
    }
}

void Program::execute(const Plan& plan, std::ptrdiff_t begin, std::ptrdiff_t end, char* reduce_out,
                      char* scratch) const {
    const std::size_t nregs = registers_.size();
    const std::size_t nops = plan.base.size();
    const std::size_t ndim = plan.shape.size();
    const std::size_t last = ndim - 1;
    const std::ptrdiff_t row = plan.shape[last];
    const bool long_rows = row >= plan.block;

    // Register bindings for the current block live in the scratch area too, so that
    // a worker thread never allocates.
    char** ptr = reinterpret_cast<char**>(scratch + plan.bindings_offset);
    bool* scalar = reinterpret_cast<bool*>(ptr + nregs);
    bool* direct = scalar + nregs;  // per operand: bound in place for this block
    for (std::size_t r = 0; r < nregs; ++r) {
        const auto& reg = registers_[r];
        if (reg.kind == RegisterKind::constant) {
            ptr[r] = const_cast<char*>(reinterpret_cast<const char*>(reg.value));
            scalar[r] = true;
        } else {
            ptr[r] = scratch + plan.buffer_offset[r];
            scalar[r] = false;
        }
    }

    // The multi-index of `begin`.
    Index idx{};
    for (std::ptrdiff_t rest = begin, d = static_cast<std::ptrdiff_t>(last); d >= 0; --d) {
        const auto du = static_cast<std::size_t>(d);
        idx[du] = rest % plan.shape[du];
        rest /= plan.shape[du];
    }
    auto offset_of = [&](std::size_t op, const Index& at) {
        std::ptrdiff_t off = 0;
        for (std::size_t d = 0; d < ndim; ++d) off += at[d] * plan.stride(op, d);
        return off;
    };

    char* args[4];
    bool arg_scalar[4] = {false, false, false, false};
    for (std::ptrdiff_t pos = begin; pos < end;) {
        std::ptrdiff_t n = std::min(plan.block, end - pos);
        if (long_rows) n = std::min(n, row - idx[last]);
        const bool one_row = idx[last] + n <= row;

        // Bind inputs: in place when possible, else gathered.
        bool any_gather = false;
        for (std::size_t o = 0; o < nops; ++o) {
            const int reg = plan.operand_reg[o];
            if (reg < 0) continue;  // the reduction output
            const auto r = static_cast<std::size_t>(reg);
            const bool is_input = registers_[r].kind == RegisterKind::input;
            const std::ptrdiff_t inner = plan.stride(o, last);
            char* here = plan.base[o] + offset_of(o, idx);
            if (is_input && (plan.constant[o] || (one_row && inner == 0))) {
                ptr[r] = here;
                scalar[r] = true;
                direct[o] = true;
            } else if (one_row && inner == static_cast<std::ptrdiff_t>(plan.itemsize[o])) {
                ptr[r] = here;
                scalar[r] = false;
                direct[o] = true;
            } else {
                ptr[r] = scratch + plan.buffer_offset[r];
                scalar[r] = false;
                direct[o] = false;
                any_gather = any_gather || is_input;
            }
        }
        if (any_gather) {
            for_each_row(plan.shape, idx, n, [&](std::ptrdiff_t k, std::ptrdiff_t count, const auto& at) {
                for (std::size_t o = 0; o < nops; ++o) {
                    const int reg = plan.operand_reg[o];
                    if (reg < 0 || direct[o] || registers_[static_cast<std::size_t>(reg)].kind != RegisterKind::input) {
                        continue;
                    }
                    const std::size_t size = plan.itemsize[o];
                    strided_copy(ptr[reg] + k * static_cast<std::ptrdiff_t>(size), static_cast<std::ptrdiff_t>(size),
                                 plan.base[o] + offset_of(o, at), plan.stride(o, last), count, size);
                }
            });
        }

        for (const auto& ins : instructions_) {
            args[0] = ptr[ins.dest];
            for (int s = 0; s < ins.nsources; ++s) {
                args[s + 1] = ptr[ins.sources[static_cast<std::size_t>(s)]];
                arg_scalar[s + 1] = scalar[ins.sources[static_cast<std::size_t>(s)]];
            }
            ins.fn(n, args, arg_scalar);
            scalar[ins.dest] = false;
        }

        // Scatter buffered outputs; fold the reduced values into the reduction output.
        bool any_scatter = false;
        for (std::size_t o = 0; o < nops; ++o) {
            const int reg = plan.operand_reg[o];
            any_scatter = any_scatter || (reg >= 0 && !direct[o] &&
                                          registers_[static_cast<std::size_t>(reg)].kind == RegisterKind::output);
        }
        if (any_scatter) {
            for_each_row(plan.shape, idx, n, [&](std::ptrdiff_t k, std::ptrdiff_t count, const auto& at) {
                for (std::size_t o = 0; o < nops; ++o) {
                    const int reg = plan.operand_reg[o];
                    if (reg < 0 || direct[o] ||
                        registers_[static_cast<std::size_t>(reg)].kind != RegisterKind::output) {
                        continue;
                    }
                    const std::size_t size = plan.itemsize[o];
                    strided_copy(plan.base[o] + offset_of(o, at), plan.stride(o, last),
                                 ptr[reg] + k * static_cast<std::ptrdiff_t>(size), static_cast<std::ptrdiff_t>(size),
                                 count, size);
                }
            });
        }
        if (reduce_out != nullptr) {
            const std::size_t out_op = nops - 1;
            const char* values = ptr[instructions_.back().dest];
            const auto size = static_cast<std::ptrdiff_t>(plan.itemsize[out_op]);
            const std::ptrdiff_t out_inner = plan.stride(out_op, last);
            for_each_row(plan.shape, idx, n, [&](std::ptrdiff_t k, std::ptrdiff_t count, const auto& at) {
                char* out = reduce_out + offset_of(out_op, at);
                if (out_inner == 0) {
                    reducer_.block(count, values + k * size, out);
                } else {
                    reducer_.elementwise(count, values + k * size, out, out_inner);
                }
            });
        }

        pos += n;
        idx[last] += n;
        for (std::size_t d = last; d > 0 && idx[d] >= plan.shape[d]; --d) {
            idx[d - 1] += idx[d] / plan.shape[d];
            idx[d] %= plan.shape[d];
        }
    }
}

}  // namespace ne3
