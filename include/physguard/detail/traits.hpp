// physguard/detail/traits.hpp - small type traits shared by several layers.  Internal.
#pragma once

#include <type_traits>
#include <utility>

namespace physguard {
namespace detail {

/// True when S has a member reset() callable without arguments.
template <typename S, typename = void>
struct has_reset : std::false_type {};
template <typename S>
struct has_reset<S, std::void_t<decltype(std::declval<S&>().reset())>> : std::true_type {};

}  // namespace detail
}  // namespace physguard
