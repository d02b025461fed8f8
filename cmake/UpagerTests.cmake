# UpagerTests.cmake - one Check program per test_*.c file, registered with CTest.
#
#   upager_add_check_tests(<dir> LABEL <label> TIMEOUT <seconds>)
#
# Every <dir>/test_*.c becomes the executable tests/<label>/test_<name> in the
# build tree (target <label>_test_<name>), linked to the static library so that
# tests may call internal (hidden) functions, with runtime/ on the include path
# for internal headers, and to upager_testcommon (tests/common/*.c) when that
# exists. Each is one CTest test named <label>/test_<name>:
#   LABELS <label>, SKIP_RETURN_CODE 77 (exit 77 = skipped, e.g. no userfaultfd),
#   TIMEOUT <seconds>, ENVIRONMENT CK_DEFAULT_TIMEOUT=60 (per Check test case).

include_guard(GLOBAL)

function(upager_add_check_tests dir)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "" ${ARGN})
  if(NOT ARG_LABEL)
    message(FATAL_ERROR "upager_add_check_tests(${dir}): LABEL is required")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()

  file(GLOB _sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${dir}/test_*.c")
  list(SORT _sources)
  foreach(_src IN LISTS _sources)
    get_filename_component(_name "${_src}" NAME_WE)
    set(_target "${ARG_LABEL}_${_name}")
    add_executable(${_target} "${_src}")
    set_target_properties(${_target} PROPERTIES
      OUTPUT_NAME "${_name}"
      RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests/${ARG_LABEL}")
    target_include_directories(${_target} PRIVATE
      "${PROJECT_SOURCE_DIR}/runtime"
      "${PROJECT_SOURCE_DIR}/${dir}")
    # Defined empty, like a plain "#define _GNU_SOURCE" in a source file, so
    # that such a line is an identical (silent) redefinition.
    target_compile_definitions(${_target} PRIVATE _GNU_SOURCE=)
    target_link_libraries(${_target} PRIVATE
      upager::upager_static PkgConfig::CHECK PkgConfig::LIBURING PkgConfig::NUMA PkgConfig::HIREDIS
      Threads::Threads m)
    if(TARGET upager_testcommon)
      target_link_libraries(${_target} PRIVATE upager_testcommon)
    endif()
    upager_target_warnings(${_target})

    add_test(NAME "${ARG_LABEL}/${_name}" COMMAND ${_target}
      WORKING_DIRECTORY "${PROJECT_BINARY_DIR}/tests/${ARG_LABEL}")
    set_tests_properties("${ARG_LABEL}/${_name}" PROPERTIES
      LABELS "${ARG_LABEL}"
      SKIP_RETURN_CODE 77
      TIMEOUT ${ARG_TIMEOUT}
      ENVIRONMENT "CK_DEFAULT_TIMEOUT=60")
  endforeach()
endfunction()
