# Warnings and sanitizers as INTERFACE targets, linked by every first-party target.
add_library(recorder_warnings INTERFACE)
add_library(recorder::warnings ALIAS recorder_warnings)
target_compile_options(recorder_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Wnull-dereference
  -Wimplicit-fallthrough -Wformat=2)
# g++ 12 reports -Wmaybe-uninitialized falsely for std::variant members holding a
# std::string once it inlines at -O2 (GCC bug 105562); it drowns real output in release.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(recorder_warnings INTERFACE $<$<NOT:$<CONFIG:Debug>>:-Wno-maybe-uninitialized>)
endif()
if(RECORDER_WARNINGS_AS_ERRORS)
  target_compile_options(recorder_warnings INTERFACE -Werror)
endif()

add_library(recorder_sanitizers INTERFACE)
add_library(recorder::sanitizers ALIAS recorder_sanitizers)
if(RECORDER_SANITIZE)
  target_compile_options(recorder_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(recorder_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
