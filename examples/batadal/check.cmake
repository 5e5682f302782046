# ctest batadal.dataset04: runs physguard-batadal on the shipped recordings and checks
#  - out.csv has the header DATETIME,ATT_FLAG,COMPONENTS and one row per input row,
#  - every flagged row names components and no unflagged row does,
#  - the BATADAL score on dataset04 stays above the floor (see docs/batadal.md for why 0.96),
#  - bad arguments and a missing file fail with a message.
# Arguments: -DPROGRAM=... -DDATA=<dir with the two CSVs> -DWORK_DIR=...
set(floor 0.96)
file(MAKE_DIRECTORY ${WORK_DIR})
set(clean ${DATA}/BATADAL_dataset03.csv)
set(labelled ${DATA}/BATADAL_dataset04_labelled.csv)
set(out ${WORK_DIR}/out.csv)
file(REMOVE ${out})
execute_process(COMMAND ${PROGRAM} --normal ${clean} --labelled ${labelled} --input ${labelled}
                        --output ${out} --svg ${WORK_DIR}/dataset04.svg
                RESULT_VARIABLE rc OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr)
message(STATUS "${stdout}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "physguard-batadal failed (${rc}): ${stderr}")
endif()

file(STRINGS ${labelled} input_lines)
file(STRINGS ${out} out_lines)
list(LENGTH input_lines n_in)
list(LENGTH out_lines n_out)
if(NOT n_in EQUAL n_out)
  message(FATAL_ERROR "out.csv has ${n_out} lines, the input ${n_in} (header included)")
endif()
list(GET out_lines 0 header)
if(NOT header STREQUAL "DATETIME,ATT_FLAG,COMPONENTS")
  message(FATAL_ERROR "out.csv header is '${header}'")
endif()
list(REMOVE_AT out_lines 0)
list(REMOVE_AT input_lines 0)
set(i 0)
foreach(line IN LISTS out_lines)
  list(GET input_lines ${i} in_line)
  string(REGEX MATCH "^[^,]*" in_time "${in_line}")
  if(NOT line MATCHES "^([0-9][0-9]/[0-9][0-9]/[0-9][0-9] [0-9][0-9]),([01]),(.*)$")
    message(FATAL_ERROR "malformed out.csv row: '${line}'")
  endif()
  if(NOT CMAKE_MATCH_1 STREQUAL in_time)
    message(FATAL_ERROR "row ${i}: time '${CMAKE_MATCH_1}' but the input has '${in_time}'")
  endif()
  if(CMAKE_MATCH_2 STREQUAL "1" AND "${CMAKE_MATCH_3}" STREQUAL "")
    message(FATAL_ERROR "row ${i} is flagged without components: '${line}'")
  endif()
  if(CMAKE_MATCH_2 STREQUAL "0" AND NOT "${CMAKE_MATCH_3}" STREQUAL "")
    message(FATAL_ERROR "row ${i} names components without a flag: '${line}'")
  endif()
  math(EXPR i "${i} + 1")
endforeach()

foreach(part S_TTD S_CM S)
  if(NOT stdout MATCHES "\n${part} ([0-9.]+)")
    message(FATAL_ERROR "no ${part} in the output")
  endif()
  set(${part} ${CMAKE_MATCH_1})
endforeach()
if(S LESS ${floor})
  message(FATAL_ERROR "BATADAL score on dataset04 ${S} fell below the floor ${floor}")
endif()
message(STATUS "S_TTD ${S_TTD}  S_CM ${S_CM}  S ${S} >= ${floor}")

# Bad arguments and files give an error, not a crash.
execute_process(COMMAND ${PROGRAM} --normal ${clean} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "required")
  message(FATAL_ERROR "missing arguments were not reported: ${rc} ${err}")
endif()
execute_process(COMMAND ${PROGRAM} --normal ${WORK_DIR}/no_such.csv --labelled ${labelled}
                        --input ${labelled} --output ${WORK_DIR}/x.csv
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "no_such.csv")
  message(FATAL_ERROR "a missing file was not reported: ${rc} ${err}")
endif()
execute_process(COMMAND ${PROGRAM} --normal ${clean} --labelled ${labelled} --input ${labelled}
                        --output ${WORK_DIR}/x.csv --disable bogus
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "unknown part")
  message(FATAL_ERROR "an unknown part was not reported: ${rc} ${err}")
endif()
