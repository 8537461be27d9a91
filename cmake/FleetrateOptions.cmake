# Compiler settings shared by every fleetrate target: warnings and sanitizers.
# Targets opt in with target_link_libraries(<t> PRIVATE fleetrate_build_flags).

add_library(fleetrate_build_flags INTERFACE)
target_compile_options(fleetrate_build_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough)
if(FLEETRATE_WERROR)
  target_compile_options(fleetrate_build_flags INTERFACE -Werror)
endif()

if(FLEETRATE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
elseif(FLEETRATE_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT FLEETRATE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "FLEETRATE_SANITIZE must be '', 'address' or 'thread', not '${FLEETRATE_SANITIZE}'")
endif()
