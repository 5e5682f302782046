# firmware.heap_guard: the firmware link flags turn any heap use into a link error.
# guard/no_heap.cpp must link; every guard/uses_*.cpp must fail with "undefined reference to
# `__wrap_<allocator>'" (and not for some other reason).
string(REPLACE "|" ";" flags "${FW_FLAGS}")
string(REPLACE "|" ";" link_flags "${FW_LINK_FLAGS}")
set(out_dir ${WORK_DIR}/heap_guard)
file(MAKE_DIRECTORY ${out_dir})

function(try_link name out_rc out_log)
  execute_process(
    COMMAND ${ARM_CXX} ${flags} ${FW_DIR}/guard/${name}.cpp ${FW_DIR}/startup.cpp ${link_flags}
            -o ${out_dir}/${name}.elf
    RESULT_VARIABLE rc OUTPUT_VARIABLE log ERROR_VARIABLE log TIMEOUT 120)
  set(${out_rc} ${rc} PARENT_SCOPE)
  set(${out_log} "${log}" PARENT_SCOPE)
endfunction()

try_link(no_heap rc log)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "positive control guard/no_heap.cpp failed to link:\n${log}")
endif()
foreach(case uses_new uses_malloc uses_eigen_dynamic uses_printf_float)
  try_link(${case} rc log)
  if(rc EQUAL 0)
    message(FATAL_ERROR "guard/${case}.cpp linked although it uses the heap: the guard is broken")
  endif()
  if(NOT log MATCHES "undefined reference to `__wrap_(malloc|_malloc_r|_Znwj|_Znaj|calloc|realloc|_sbrk)")
    message(FATAL_ERROR "guard/${case}.cpp failed for another reason than the heap guard:\n${log}")
  endif()
  string(REGEX MATCH "undefined reference to `__wrap_[A-Za-z0-9_]+'" why "${log}")
  message(STATUS "guard/${case}.cpp refused as it must: ${why}")
endforeach()
