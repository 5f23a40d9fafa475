# Run in place of a wire test whose client tool was not found at configure time.
message(FATAL_ERROR "${TEST}: ${TOOL} was not found when the build was configured; "
    "install it (curl, node, python3) and reconfigure. This test fails rather than skips.")
