// physguard/batch/host_storage.hpp - banks that own their storage (host only: allocates once, at
// construction).  Firmware gives a bank its arrays instead (views, or carve() from a static block).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace physguard {
namespace batch {
namespace detail {

/// One heap block, 64-byte aligned, zero-initialised, allocated at construction.
class BankMemory {
 public:
  explicit BankMemory(std::size_t bytes)
      : raw_(new unsigned char[bytes + 64]()), size_(bytes) {
    const auto addr = reinterpret_cast<std::uintptr_t>(raw_.get());
    data_ = raw_.get() + ((64 - addr % 64) % 64);
  }
  unsigned char* data() const noexcept { return data_; }
  std::size_t bytes() const noexcept { return size_; }

 private:
  std::unique_ptr<unsigned char[]> raw_;
  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace detail

/// A bank together with the memory it works on: `Owning<KalmanCusumBank<float>> bank(10000);`.
/// Constructor arguments after the channel count go to the bank's constructor.  Movable (the
/// block does not move), not copyable.
template <typename Bank>
class Owning : private detail::BankMemory, public Bank {
 public:
  template <typename... Args>
  explicit Owning(std::size_t channels, Args&&... args)
      : detail::BankMemory(Bank::bytes_needed(channels)),
        Bank(channels, Bank::carve(detail::BankMemory::data(), channels),
             std::forward<Args>(args)...) {}
  Owning(Owning&&) noexcept = default;
  Owning& operator=(Owning&&) noexcept = default;
  Owning(const Owning&) = delete;
  Owning& operator=(const Owning&) = delete;

  /// Bytes of the block the bank works on.
  std::size_t storage_bytes() const noexcept { return detail::BankMemory::bytes(); }
};

}  // namespace batch
}  // namespace physguard
