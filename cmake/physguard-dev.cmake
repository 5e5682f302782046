# Flags and helpers for physguard's own tests, examples and benchmarks.  Never applied to the
# library target itself: consumers choose their own flags.

add_library(physguard_warnings INTERFACE)
target_compile_options(physguard_warnings INTERFACE -Wall -Wextra -Wpedantic)

add_library(physguard_strict INTERFACE)
target_link_libraries(physguard_strict INTERFACE physguard_warnings)
target_compile_options(physguard_strict INTERFACE -Werror)

if(PHYSGUARD_SANITIZE)
  # -O0 (after the build type's -O3 on the command line, so it wins): under instrumentation it
  # compiles the suite in half the time -O1 takes, and the tests still run in about four minutes.
  # PHYSGUARD_BATCH_NO_FORCE_INLINE: the banks' lane kernels are not forced inline (same code,
  # a quarter of the compile time; see batch/simd.hpp).
  add_compile_options(-O0 -fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -DPHYSGUARD_BATCH_NO_FORCE_INLINE)
  add_link_options(-fsanitize=address,undefined)
endif()
