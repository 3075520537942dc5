# Turns a file into a C++ source defining `std::string_view <NAME>()` with its bytes, so the
# bundled maintenance page is compiled into the binary. Run as: cmake -DINPUT=... -DOUTPUT=...
# -DNAME=... -DNAMESPACE=... -P embed_file.cmake
file(READ "${INPUT}" content HEX)
string(LENGTH "${content}" hex_length)
math(EXPR byte_count "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${content}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} at build time; do not edit.\n"
  "#include <string_view>\n"
  "namespace ${NAMESPACE} {\n"
  "namespace { constexpr char kBytes[] = {${bytes} 0}; }\n"
  "std::string_view ${NAME}() { return {kBytes, ${byte_count}}; }\n"
  "}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
