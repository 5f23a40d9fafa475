# rill_find_library(<target> PKG <pkg-config module> HEADER <header> NAMES <library names>...)
#
# Defines the INTERFACE target <target> for a system C library the adapter examples and
# tests link (libuv, libnghttp2), once per build tree: pkg-config first (Debian ships the
# .pc files), then a plain header and library search. Its headers are SYSTEM includes, so
# their warnings are not rill's. When the library is not found, <target> stays undefined:
# the caller says so loudly and registers a failing test (never a silent skip).
# The cache variables are named after <target>: <TARGET>_INCLUDE_DIR, <TARGET>_LIBRARY.

include_guard(GLOBAL)

function(rill_find_library target)
    cmake_parse_arguments(PARSE_ARGV 1 _rill "" "PKG;HEADER" "NAMES")
    if(TARGET ${target})
        return()
    endif()
    string(TOUPPER "${target}" _rill_prefix)
    find_package(PkgConfig QUIET)
    if(PkgConfig_FOUND)
        # GLOBAL: tests/ and examples/ (sibling directories) link the same target.
        pkg_check_modules(${_rill_prefix}_PC QUIET IMPORTED_TARGET GLOBAL ${_rill_PKG})
    endif()
    if(TARGET PkgConfig::${_rill_prefix}_PC)
        add_library(${target} INTERFACE)
        target_link_libraries(${target} INTERFACE PkgConfig::${_rill_prefix}_PC)
        return()
    endif()
    find_path(${_rill_prefix}_INCLUDE_DIR ${_rill_HEADER})
    find_library(${_rill_prefix}_LIBRARY NAMES ${_rill_NAMES})
    if(${_rill_prefix}_INCLUDE_DIR AND ${_rill_prefix}_LIBRARY)
        add_library(${target} INTERFACE)
        target_include_directories(${target} SYSTEM INTERFACE "${${_rill_prefix}_INCLUDE_DIR}")
        target_link_libraries(${target} INTERFACE "${${_rill_prefix}_LIBRARY}")
    endif()
endfunction()
