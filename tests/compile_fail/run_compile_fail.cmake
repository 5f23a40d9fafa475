# Check that a source file does NOT compile, and that the compiler explains why.
#
# The expected diagnostic is taken from the source file itself, from a line
#   // expected-error: <regular expression>
# The test passes only if compilation fails AND the compiler output matches.
#
# Invoked by ctest as:
#   cmake -DSOURCE=... -DINCLUDE_DIR=... -DCXX_COMPILER=... -DCXX_COMPILER_ID=...
#         [-DCXX_STANDARD=17] -P run_compile_fail.cmake

cmake_minimum_required(VERSION 3.16)

foreach(_var SOURCE INCLUDE_DIR CXX_COMPILER)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "run_compile_fail.cmake: ${_var} is not set")
    endif()
endforeach()
if(NOT DEFINED CXX_STANDARD OR CXX_STANDARD STREQUAL "")
    set(CXX_STANDARD 17)
endif()

file(STRINGS "${SOURCE}" _expect_lines REGEX "^[ \t]*// expected-error: ")
if(NOT _expect_lines)
    message(FATAL_ERROR "${SOURCE} has no '// expected-error: <regex>' line")
endif()
list(GET _expect_lines 0 _expect)
string(REGEX REPLACE "^[ \t]*// expected-error: *" "" _expect "${_expect}")
string(STRIP "${_expect}" _expect)

if(CXX_COMPILER_ID STREQUAL "MSVC")
    set(_cmd "${CXX_COMPILER}" /nologo /EHsc "/std:c++${CXX_STANDARD}" /Zs "/I${INCLUDE_DIR}" "${SOURCE}")
else()
    set(_cmd "${CXX_COMPILER}" "-std=c++${CXX_STANDARD}" -fsyntax-only "-I${INCLUDE_DIR}" "${SOURCE}")
endif()

execute_process(COMMAND ${_cmd}
    RESULT_VARIABLE _result
    OUTPUT_VARIABLE _output
    ERROR_VARIABLE _output)

string(REPLACE ";" " " _cmd_text "${_cmd}")
if(_result EQUAL 0)
    message(FATAL_ERROR "compiled successfully but must not:\n  ${_cmd_text}")
endif()
if(NOT _output MATCHES "${_expect}")
    message("${_output}")
    message(FATAL_ERROR
        "compilation failed as expected, but the output does not contain \"${_expect}\":\n  ${_cmd_text}")
endif()
message(STATUS "compilation failed as expected with \"${_expect}\"")
