# Counts the lines of glue_server.cpp marked "// +rill": the user glue docs/adapters.md
# promises for libuv (issue 9: at most 15). cmake -DSOURCE=glue_server.cpp -DMAX=15 -P glue_lines.cmake
file(STRINGS "${SOURCE}" _lines REGEX "// \\+rill")
list(LENGTH _lines _count)
message(STATUS "libuv user glue: ${_count} lines (limit ${MAX})")
if(_count EQUAL 0 OR _count GREATER MAX)
    message(FATAL_ERROR "libuv user glue is ${_count} lines, the limit is ${MAX} (and 0 means the markers are gone)")
endif()
