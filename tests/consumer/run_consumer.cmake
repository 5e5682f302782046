# Configures, builds and runs tests/consumer against physguard, either after installing physguard
# into a scratch prefix (MODE=find_package) or by add_subdirectory on the source tree.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

set(consumer_args -DCMAKE_CXX_COMPILER=${CXX})
if(MODE STREQUAL "find_package")
  # Install from a fresh configure of the library alone (no tests) into a private prefix.
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/lib -DPHYSGUARD_BUILD_TESTS=OFF
      -DPHYSGUARD_BUILD_EXAMPLES=OFF -DPHYSGUARD_BUILD_BENCHMARKS=OFF -DCMAKE_CXX_COMPILER=${CXX})
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/lib --prefix ${WORK_DIR}/prefix)
  if(NOT EXISTS ${WORK_DIR}/prefix/lib/cmake/physguard/physguard-config-version.cmake
     AND NOT EXISTS ${WORK_DIR}/prefix/lib64/cmake/physguard/physguard-config-version.cmake)
    file(GLOB_RECURSE found ${WORK_DIR}/prefix/*physguard-config*.cmake)
    if(NOT found)
      message(FATAL_ERROR "install did not produce physguard-config-version.cmake")
    endif()
  endif()
  list(APPEND consumer_args -DPHYSGUARD_MODE=find_package -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
else()
  list(APPEND consumer_args -DPHYSGUARD_MODE=add_subdirectory -DPHYSGUARD_SOURCE_DIR=${SOURCE_DIR})
endif()

run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/consumer ${consumer_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
run(${WORK_DIR}/consumer/consumer)
