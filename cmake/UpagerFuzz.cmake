# UpagerFuzz.cmake - fuzz targets (tests/fuzz/) and their corpus replay.
#
#   upager_add_fuzz_targets()
#
# With UPAGER_FUZZ=ON (clang only; configure fails otherwise): the libFuzzer
# executable fuzz/fuzz_proto_decode, built from the fuzz target and the
# protocol's codec sources directly with -fsanitize=fuzzer,address,undefined
# (the rest of the build stays as configured).  Build it alone with
# "cmake --build <dir> --target fuzz_proto_decode"; tools/test.sh runs it
# for a bounded time.
#
# With tests on (any compiler): fuzz/fuzz_proto_replay, the same target with
# a plain main() that runs it over files, and two CTest tests, label "fuzz":
#   fuzz/proto_corpus  replays tests/fuzz/corpus/ (checked in)
#   fuzz/proto_seeds   writes the seeds from the current encoder and replays
#                      them (tools/test.sh copies them to the fuzzer's corpus)

include_guard(GLOBAL)

# The codec and the reassembler: pure code, no sockets (proto_io.c, proto_fd.c).
file(GLOB UPAGER_FUZZ_PROTO_SOURCES CONFIGURE_DEPENDS
  "${PROJECT_SOURCE_DIR}/runtime/proto/proto_codec*.c"
  "${PROJECT_SOURCE_DIR}/runtime/proto/proto_conn.c")

function(upager_add_fuzz_targets)
  if(UPAGER_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
      message(FATAL_ERROR
        "upager: UPAGER_FUZZ=ON needs clang (libFuzzer), not "
        "${CMAKE_C_COMPILER_ID}: configure a fresh build directory with "
        "CC=clang (tools/setup.sh installs clang and its fuzzer runtime)")
    endif()
    set(_fuzz_flags -fsanitize=fuzzer,address,undefined
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)
    add_executable(fuzz_proto_decode
      "${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_proto_decode.c"
      ${UPAGER_FUZZ_PROTO_SOURCES})
    set_target_properties(fuzz_proto_decode PROPERTIES
      RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/fuzz")
    target_compile_definitions(fuzz_proto_decode PRIVATE _GNU_SOURCE=)
    target_include_directories(fuzz_proto_decode PRIVATE
      "${PROJECT_SOURCE_DIR}/runtime" "${PROJECT_SOURCE_DIR}/include")
    target_compile_options(fuzz_proto_decode PRIVATE ${_fuzz_flags})
    target_link_options(fuzz_proto_decode PRIVATE ${_fuzz_flags})
    upager_target_warnings(fuzz_proto_decode)
  endif()

  if(UPAGER_BUILD_TESTS AND TARGET upager_testcommon)
    add_executable(fuzz_proto_replay
      "${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_proto_decode.c"
      "${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_replay_main.c")
    set_target_properties(fuzz_proto_replay PROPERTIES
      RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/fuzz")
    target_compile_definitions(fuzz_proto_replay PRIVATE _GNU_SOURCE=)
    target_include_directories(fuzz_proto_replay PRIVATE
      "${PROJECT_SOURCE_DIR}/runtime")
    target_link_libraries(fuzz_proto_replay PRIVATE upager_testcommon
      upager::upager_static Threads::Threads)
    upager_target_warnings(fuzz_proto_replay)

    add_test(NAME fuzz/proto_corpus
      COMMAND fuzz_proto_replay "${PROJECT_SOURCE_DIR}/tests/fuzz/corpus")
    add_test(NAME fuzz/proto_seeds
      COMMAND fuzz_proto_replay --write-corpus "${PROJECT_BINARY_DIR}/fuzz/seeds")
    set_tests_properties(fuzz/proto_corpus fuzz/proto_seeds PROPERTIES
      LABELS fuzz TIMEOUT 120)
  endif()
endfunction()
