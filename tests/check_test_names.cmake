# Fails when a doctest case name holds a ';'. doctest_discover_tests turns each
# name into a CMake list item, so such a name is split into fragments that match
# no test case, and each fragment passes without running anything.
#   cmake -DBINARY=<rill_unit_tests> -P check_test_names.cmake
execute_process(COMMAND "${BINARY}" --list-test-cases --no-version
    OUTPUT_VARIABLE listing RESULT_VARIABLE status)
if(NOT status EQUAL 0)
    message(FATAL_ERROR "could not list the test cases of ${BINARY} (exit ${status})")
endif()
string(REPLACE ";" "<SEMICOLON>" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(count 0)
set(bad "")
foreach(line IN LISTS lines)
    if(line MATCHES "<SEMICOLON>")
        string(REPLACE "<SEMICOLON>" ";" line "${line}")
        string(APPEND bad "\n  ${line}")
    endif()
    math(EXPR count "${count} + 1")
endforeach()
if(NOT bad STREQUAL "")
    message(FATAL_ERROR "test case names with ';' (ctest would run none of them):${bad}")
endif()
message(STATUS "${count} listing lines, no ';' in a test case name")
