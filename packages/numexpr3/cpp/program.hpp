// A linked program of the VM and its block-wise, threaded execution.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "kernels.hpp"
#include "reduce.hpp"
#include "types.hpp"

namespace ne3 {

// The largest number of elements in one block.
constexpr std::ptrdiff_t kMaxBlock = 8192;

enum class RegisterKind { input, output, constant, temp };

struct RegisterSpec {
    RegisterKind kind;
    TypeCode type;
    alignas(16) unsigned char value[16];  // constants only
};

struct InstructionSpec {
    std::string op;
    int dest;
    std::vector<int> sources;
};

// An array bound to a program at run time (a view of NumPy's buffer).
struct ArrayView {
    char* data;
    TypeCode type;
    std::vector<std::ptrdiff_t> shape;
    std::vector<std::ptrdiff_t> strides;  // bytes
};

struct ReductionSpec {
    std::string op;
    std::vector<int> axes;
};

class Program {
   public:
    // Throws std::invalid_argument (malformed) or std::domain_error (no kernel).
    Program(std::vector<RegisterSpec> registers, const std::vector<InstructionSpec>& instructions,
            std::optional<ReductionSpec> reduction);

    // Checks shapes and types (std::invalid_argument), then runs; may be called with
    // the GIL released and from several threads at once.
    void run(const std::vector<ArrayView>& inputs, const std::vector<ArrayView>& outputs,
             const std::vector<std::ptrdiff_t>& shape, int nthreads) const;

    int weight() const { return weight_; }
    bool is_reduction() const { return reduction_.has_value(); }
    const ReductionSpec& reduction() const { return *reduction_; }
    TypeCode output_type(int i) const {
        return registers_[static_cast<std::size_t>(output_regs_[static_cast<std::size_t>(i)])].type;
    }
    int num_outputs() const { return static_cast<int>(output_regs_.size()); }

   private:
    struct Instruction {
        Kernel fn;
        int dest;
        std::array<int, 3> sources;
        int nsources;
    };
    struct Plan;
    void execute(const Plan& plan, std::ptrdiff_t begin, std::ptrdiff_t end, char* reduce_out, char* scratch) const;
    bool run_small(const std::vector<ArrayView>& inputs, const std::vector<ArrayView>& outputs,
                   const std::vector<std::ptrdiff_t>& shape) const;

    std::vector<RegisterSpec> registers_;
    std::vector<Instruction> instructions_;
    std::vector<int> input_regs_, output_regs_;
    std::optional<ReductionSpec> reduction_;
    Reducer reducer_{};
    int weight_ = 0;
    std::size_t temp_bytes_ = 0;  // bytes per element of all temporaries
};

}  // namespace ne3
