# `cmake --install build` (default prefix /usr/local) lays tplab out like a tool, and the Debian
# package (cmake/package.cmake) the same way under /usr:
#   bin/tplab                      (cli/CMakeLists.txt)
#   share/man/man1/tplab.1         written from tplab --help at build time (cli/man_page.sh)
#   share/tplab/labs/              the labs, their lib/ and exercises/: tplab lab NAME runs them
#   share/doc/tplab/               docs/ (teaching/ is the instructor's kit)
include(GNUInstallDirs)
# Installing (cmake --install, make install, cpack) installs what is built and builds nothing
# first: with the tests on, "all" would be minutes of test binaries that are never installed.
# Build tplab first (scripts/lab.sh and scripts/package.sh do).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(FILES ${PROJECT_BINARY_DIR}/cli/tplab.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/labs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/tplab/labs
    USE_SOURCE_PERMISSIONS
    PATTERN "__pycache__" EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})
