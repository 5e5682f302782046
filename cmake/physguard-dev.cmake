# Flags and helpers for physguard's own tests, examples and benchmarks.  Never applied to the
# library target itself: consumers choose their own flags.

add_library(physguard_warnings INTERFACE)
target_compile_options(physguard_warnings INTERFACE -Wall -Wextra -Wpedantic)

add_library(physguard_strict INTERFACE)
target_link_libraries(physguard_strict INTERFACE physguard_warnings)
target_compile_options(physguard_strict INTERFACE -Werror)

if(PHYSGUARD_SANITIZE)
  # -O1 (after the build type's -O3 on the command line, so it wins): what the sanitizers'
  # documentation recommends, and it keeps the SIMD-heavy bank tests from taking many minutes to
  # compile under instrumentation.
  add_compile_options(-O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
