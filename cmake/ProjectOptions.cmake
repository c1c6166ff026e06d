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
if(RECORDER_SANITIZE)
  target_compile_options(recorder_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(recorder_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
