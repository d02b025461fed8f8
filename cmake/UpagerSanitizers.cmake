# UpagerSanitizers.cmake - UPAGER_ASAN, UPAGER_UBSAN and UPAGER_TSAN.
#
# The flags are added directory-wide (compile and link) before any target is
# defined, so the library, tests, examples and tools are all instrumented alike:
# mixing instrumented and plain objects gives false reports or link errors.
# ThreadSanitizer cannot be combined with AddressSanitizer.
#
# Sets UPAGER_ANY_SANITIZER (ON/OFF) for the rest of the build.

include_guard(GLOBAL)

if(UPAGER_TSAN AND UPAGER_ASAN)
  message(FATAL_ERROR "upager: UPAGER_TSAN cannot be combined with UPAGER_ASAN")
endif()

set(_upager_san_flags "")
if(UPAGER_ASAN)
  list(APPEND _upager_san_flags -fsanitize=address)
endif()
if(UPAGER_UBSAN)
  # Abort on the first report instead of printing and going on, so that a
  # test that hits undefined behaviour fails.
  list(APPEND _upager_san_flags -fsanitize=undefined -fno-sanitize-recover=undefined)
endif()
if(UPAGER_TSAN)
  list(APPEND _upager_san_flags -fsanitize=thread)
endif()

if(_upager_san_flags)
  set(UPAGER_ANY_SANITIZER ON)
  list(APPEND _upager_san_flags -fno-omit-frame-pointer)
  message(STATUS "upager: sanitizers: ${_upager_san_flags}")
  add_compile_options(${_upager_san_flags})
  add_link_options(${_upager_san_flags})
else()
  set(UPAGER_ANY_SANITIZER OFF)
endif()
