# Warnings and sanitizers as INTERFACE targets, linked by every first-party target.
add_library(recorder_warnings INTERFACE)
add_library(recorder::warnings ALIAS recorder_warnings)
target_compile_options(recorder_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Wnull-dereference
  -Wimplicit-fallthrough -Wformat=2)
# Once g++ 12 inlines at -O2 it reports -Wmaybe-uninitialized for std::variant members
# holding a std::string (GCC bug 105562) and -Wnull-dereference inside libstdc++'s own
# string code (reached from CLI11): false positives that drown real output in release.
# The dev preset (-O0, warnings as errors) keeps both.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(recorder_warnings INTERFACE
    $<$<NOT:$<CONFIG:Debug>>:-Wno-maybe-uninitialized -Wno-null-dereference>)
endif()
if(RECORDER_WARNINGS_AS_ERRORS)
  target_compile_options(recorder_warnings INTERFACE -Werror)
endif()

add_library(recorder_sanitizers INTERFACE)
add_library(recorder::sanitizers ALIAS recorder_sanitizers)
# UBSan's vptr check is off: it cannot verify objects whose dynamic type is private to
# another library, and std::system_category() (libstdc++'s anonymous-namespace type) is
# one: the first ec.message() on a socket error aborted recorderd under ASan (found by the
# abuse suite's connection flood). Every other UBSan check stays on.
if(RECORDER_SANITIZE)
  target_compile_options(recorder_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(recorder_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
if(RECORDER_SANITIZE_THREAD)
  # asio synchronises some paths with atomic_thread_fence, which TSan does not model; g++
  # says so with -Wtsan. A race it reports through such a path is checked by hand.
  target_compile_options(recorder_sanitizers INTERFACE -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  target_link_options(recorder_sanitizers INTERFACE -fsanitize=thread)
endif()
# The fuzz preset (clang): every first-party target gets coverage for libFuzzer and the
# same sanitizers; only the fuzz targets link libFuzzer's main (tests/fuzz).
if(RECORDER_FUZZ)
  target_compile_options(recorder_sanitizers INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(recorder_sanitizers INTERFACE -fsanitize=address,undefined)
endif()

# RapidJSON 1.1.0 (Debian's), fixed upstream after that release, for the clang build only
# (the fuzz preset): GenericStringRef::operator= assigns a const member, which clang 17
# and later reject though nothing calls it; and internal::Stack::Reserve adds to a null
# pointer on its first use, which UBSan reports on every parse. A copy of the headers with
# those two lines mended goes before /usr/include, as websocketpp's overlay does for g++
# (cmake/WebsocketppOverlay.cmake).
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  find_path(RAPIDJSON_HEADER_DIR rapidjson/document.h REQUIRED)
  set(rapidjson_overlay "${CMAKE_BINARY_DIR}/rapidjson-overlay")
  file(COPY "${RAPIDJSON_HEADER_DIR}/rapidjson" DESTINATION "${rapidjson_overlay}/tmp")
  function(recorder_mend_rapidjson file old new)
    file(READ "${rapidjson_overlay}/tmp/rapidjson/${file}" text)
    string(REPLACE "${old}" "${new}" fixed "${text}")
    if(fixed STREQUAL text)
      message(FATAL_ERROR "rapidjson overlay: '${old}' not found in ${file}; has the package changed?")
    endif()
    file(WRITE "${rapidjson_overlay}/tmp/rapidjson/${file}" "${fixed}")
  endfunction()
  recorder_mend_rapidjson(document.h
    "GenericStringRef& operator=(const GenericStringRef& rhs) { s = rhs.s; length = rhs.length; }"
    "GenericStringRef& operator=(const GenericStringRef& rhs) = delete;")
  recorder_mend_rapidjson(internal/stack.h
    "if (RAPIDJSON_UNLIKELY(stackTop_ + sizeof(T) * count > stackEnd_))"
    "if (RAPIDJSON_UNLIKELY(static_cast<std::ptrdiff_t>(sizeof(T) * count) > (stackEnd_ - stackTop_)))")
  file(COPY "${rapidjson_overlay}/tmp/rapidjson" DESTINATION "${rapidjson_overlay}")
  include_directories(BEFORE SYSTEM "${rapidjson_overlay}")
endif()
