# websocketpp 0.8.2 declares constructors and destructors with template-ids
# (`~endpoint<connection,config>()`), which C++20 forbids (DR 2237) and g++ 12 rejects.
# Debian ships no fix, so at configure time we write corrected copies of the four
# affected headers into the build tree and put that directory before /usr/include.
# See docs/adr/0001-language-standard.md.
function(recorder_websocketpp_overlay out_dir_var)
  find_path(WEBSOCKETPP_INCLUDE_DIR websocketpp/version.hpp REQUIRED)
  set(overlay "${CMAKE_BINARY_DIR}/websocketpp-overlay")
  set(headers endpoint.hpp roles/server_endpoint.hpp logger/basic.hpp logger/syslog.hpp)
  foreach(h IN LISTS headers)
    file(READ "${WEBSOCKETPP_INCLUDE_DIR}/websocketpp/${h}" text)
    string(REGEX REPLACE "\n([ \t]*)(~?)(endpoint|server|basic|syslog)<[a-z_, ]+>\\("
                         "\n\\1\\2\\3(" fixed "${text}")
    if(fixed STREQUAL text)
      message(FATAL_ERROR "websocketpp overlay: no template-id found in ${h}; has the package changed?")
    endif()
    # Written through a temporary so that an unchanged header keeps its timestamp.
    file(WRITE "${overlay}/tmp/${h}" "${fixed}")
    configure_file("${overlay}/tmp/${h}" "${overlay}/websocketpp/${h}" COPYONLY)
  endforeach()
  set(${out_dir_var} "${overlay}" PARENT_SCOPE)
endfunction()
