# Finds libuv (Debian: libuv1-dev) once per build tree, for examples/hello_uv and
# tests/uv: sets RILL_LIBUV_FOUND and, when found, the INTERFACE target rill_libuv.
# pkg-config first (Debian ships libuv.pc), then a plain header and library search.

if(TARGET rill_libuv)
    set(RILL_LIBUV_FOUND TRUE)
    return()
endif()
set(RILL_LIBUV_FOUND FALSE)

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
    pkg_check_modules(RILL_UV QUIET IMPORTED_TARGET GLOBAL libuv)
endif()
if(TARGET PkgConfig::RILL_UV)
    add_library(rill_libuv INTERFACE)
    target_link_libraries(rill_libuv INTERFACE PkgConfig::RILL_UV)
    set(RILL_LIBUV_FOUND TRUE)
    return()
endif()

find_path(RILL_UV_INCLUDE_DIR uv.h)
find_library(RILL_UV_LIBRARY NAMES uv libuv)
if(RILL_UV_INCLUDE_DIR AND RILL_UV_LIBRARY)
    add_library(rill_libuv INTERFACE)
    target_include_directories(rill_libuv SYSTEM INTERFACE "${RILL_UV_INCLUDE_DIR}")
    target_link_libraries(rill_libuv INTERFACE "${RILL_UV_LIBRARY}")
    set(RILL_LIBUV_FOUND TRUE)
endif()
