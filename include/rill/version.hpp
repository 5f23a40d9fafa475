// rill version information.
//
// The build system (CMakeLists.txt) and scripts/amalgamate.py read these
// three lines, so keep them as plain `#define NAME number` definitions.
#ifndef RILL_VERSION_HPP
#define RILL_VERSION_HPP

#define RILL_VERSION_MAJOR 0
#define RILL_VERSION_MINOR 1
#define RILL_VERSION_PATCH 0

#endif  // RILL_VERSION_HPP
