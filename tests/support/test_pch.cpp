// The host of the tests' precompiled header (tests/CMakeLists.txt): a target needs a source.
