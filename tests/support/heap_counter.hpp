// tests/support/heap_counter.hpp - counts every global operator new / malloc-backed allocation so
// tests can prove that a per-sample path never touches the heap (beyond Eigen's own
// EIGEN_RUNTIME_NO_MALLOC check, this also catches std:: containers and plain new).
#pragma once

#include <cstddef>

namespace physguard_test {

/// Number of global operator new calls since program start (all threads).
std::size_t allocation_count() noexcept;

/// Counts allocations between construction and `count()`.
class HeapCounter {
 public:
  HeapCounter() noexcept : start_(allocation_count()) {}
  std::size_t count() const noexcept { return allocation_count() - start_; }

 private:
  std::size_t start_;
};

}  // namespace physguard_test
