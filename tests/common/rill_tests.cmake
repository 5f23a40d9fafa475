# Test registration shared by the adapter and example test directories.

include_guard(GLOBAL)

# rill_add_missing_test(<name> <label> <warning> <message>)
# A dependency is missing: warn at configure time and register the test <name>, which
# prints <message> and fails, so that the missing tests are never silently absent.
function(rill_add_missing_test name label warning message)
    message(WARNING "${warning}")
    add_test(NAME ${name} COMMAND sh -c "echo '${message}'; exit 1")
    set_tests_properties(${name} PROPERTIES LABELS "${label}")
endfunction()

# rill_add_driver_tests(<prefix> <label> <timeout> <script> <server target>
#                       CASES <case>... [ARGS <argument>...])
# One test <prefix>/<case> per case: `python3 <script> --server <server> --case <case>
# <argument>...`, the command line of the Python drivers (tests/common/rill_server.py).
function(rill_add_driver_tests prefix label timeout script server)
    cmake_parse_arguments(PARSE_ARGV 5 _rill "" "" "CASES;ARGS")
    if(NOT Python3_EXECUTABLE)
        find_program(Python3_EXECUTABLE NAMES python3 REQUIRED)
    endif()
    foreach(_rill_case IN LISTS _rill_CASES)
        add_test(NAME ${prefix}/${_rill_case}
            COMMAND "${Python3_EXECUTABLE}" "${script}" --server "$<TARGET_FILE:${server}>"
                --case ${_rill_case} ${_rill_ARGS})
        set_tests_properties(${prefix}/${_rill_case} PROPERTIES LABELS "${label}" TIMEOUT ${timeout})
    endforeach()
endfunction()
