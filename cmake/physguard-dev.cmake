# Flags and helpers for physguard's own tests, examples and benchmarks.  Never applied to the
# library target itself: consumers choose their own flags.

add_library(physguard_warnings INTERFACE)
target_compile_options(physguard_warnings INTERFACE -Wall -Wextra -Wpedantic)

add_library(physguard_strict INTERFACE)
target_link_libraries(physguard_strict INTERFACE physguard_warnings)
target_compile_options(physguard_strict INTERFACE -Werror)

if(PHYSGUARD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
