# Configure, build and run one consumer project from scratch.
#
# Invoked by ctest as:
#   cmake -DMODE=<find_package|add_subdirectory|single_header>
#         -DRILL_SOURCE_DIR=... -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=...
#         [-DCXX_COMPILER=...] [-DCXX_STANDARD=17] [-DGENERATOR=...]
#         -P run_consumer.cmake
#
# find_package mode first stages an install of the rill source tree into
# ${WORK_DIR}/prefix and points the consumer at it via CMAKE_PREFIX_PATH.

cmake_minimum_required(VERSION 3.16)

foreach(_var MODE RILL_SOURCE_DIR CONSUMER_SOURCE_DIR WORK_DIR)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "run_consumer.cmake: ${_var} is not set")
    endif()
endforeach()
if(NOT DEFINED CXX_STANDARD OR CXX_STANDARD STREQUAL "")
    set(CXX_STANDARD 17)
endif()

set(_common_args "-DCMAKE_BUILD_TYPE=Release" "-DCMAKE_CXX_STANDARD=${CXX_STANDARD}")
if(DEFINED CXX_COMPILER AND NOT CXX_COMPILER STREQUAL "")
    list(APPEND _common_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(DEFINED GENERATOR AND NOT GENERATOR STREQUAL "")
    list(APPEND _common_args -G "${GENERATOR}")
endif()

function(run_step description)
    message(STATUS "[${MODE}] ${description}")
    execute_process(COMMAND ${ARGN}
        RESULT_VARIABLE _result
        OUTPUT_VARIABLE _output
        ERROR_VARIABLE _output)
    if(NOT _result EQUAL 0)
        message("${_output}")
        message(FATAL_ERROR "[${MODE}] ${description} failed (${_result})")
    endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(_consumer_args "")
if(MODE STREQUAL "find_package")
    set(_rill_build "${WORK_DIR}/rill-build")
    set(_prefix "${WORK_DIR}/prefix")
    run_step("configure rill for installation"
        "${CMAKE_COMMAND}" -S "${RILL_SOURCE_DIR}" -B "${_rill_build}" ${_common_args}
        -DRILL_BUILD_TESTS=OFF -DRILL_BUILD_EXAMPLES=OFF -DRILL_BUILD_BENCHMARKS=OFF
        -DRILL_INSTALL=ON)
    run_step("install rill into ${_prefix}"
        "${CMAKE_COMMAND}" --install "${_rill_build}" --prefix "${_prefix}" --config Release)
    list(APPEND _consumer_args "-DCMAKE_PREFIX_PATH=${_prefix}")
elseif(MODE STREQUAL "add_subdirectory" OR MODE STREQUAL "single_header")
    list(APPEND _consumer_args "-DRILL_SOURCE_DIR=${RILL_SOURCE_DIR}")
else()
    message(FATAL_ERROR "run_consumer.cmake: unknown MODE '${MODE}'")
endif()

set(_consumer_build "${WORK_DIR}/consumer-build")
run_step("configure consumer"
    "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${_consumer_build}"
    ${_common_args} ${_consumer_args})
run_step("build consumer"
    "${CMAKE_COMMAND}" --build "${_consumer_build}" --config Release)

# Locate the executable (multi-config generators put it in a subdirectory).
file(GLOB_RECURSE _exe LIST_DIRECTORIES false
    "${_consumer_build}/rill_consumer" "${_consumer_build}/rill_consumer.exe")
list(FILTER _exe EXCLUDE REGEX "/CMakeFiles/")
if(NOT _exe)
    message(FATAL_ERROR "[${MODE}] consumer executable rill_consumer not found in ${_consumer_build}")
endif()
list(GET _exe 0 _exe)
run_step("run consumer" "${_exe}")
message(STATUS "[${MODE}] consumer built and ran successfully")
