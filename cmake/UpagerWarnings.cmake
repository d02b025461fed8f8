# UpagerWarnings.cmake - the warning set every upager target is built with.
#
# -Wall -Wextra always; a few more that are probed with check_c_compiler_flag so
# that an older or different compiler silently goes without them; -Werror while
# UPAGER_WERROR is ON (the default: CI builds warning-free or not at all).
#
#   upager_target_warnings(<target>)   applies the set PRIVATE to <target>

include_guard(GLOBAL)
include(CheckCCompilerFlag)

set(UPAGER_WARNING_FLAGS -Wall -Wextra)

set(_upager_probed_warnings
  -Wshadow
  -Wmissing-prototypes
  -Wstrict-prototypes
  -Wold-style-definition
  -Wformat=2
  -Wvla
  -Wpointer-arith
  -Wundef
)

foreach(_flag IN LISTS _upager_probed_warnings)
  string(MAKE_C_IDENTIFIER "UPAGER_HAVE_C_FLAG${_flag}" _var)
  check_c_compiler_flag("${_flag}" ${_var})
  if(${_var})
    list(APPEND UPAGER_WARNING_FLAGS "${_flag}")
  endif()
endforeach()

if(UPAGER_WERROR)
  list(APPEND UPAGER_WARNING_FLAGS -Werror)
endif()

message(STATUS "upager: warnings: ${UPAGER_WARNING_FLAGS}")

function(upager_target_warnings target)
  target_compile_options(${target} PRIVATE ${UPAGER_WARNING_FLAGS})
endfunction()
