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
  # GCC 12's -Wmaybe-uninitialized misfires inside libstdc++ (std::regex, std::function) when
  # the sanitizers are on; the sanitizers themselves check what that warning guesses at.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
elseif(FLEETRATE_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  # TSan does not model std::atomic_thread_fence (GCC 12 warns with -Wtsan, an error under
  # -Werror). Boost.Asio uses fences in its handler "fenced blocks" and handler-memory
  # recycling; both are redundant with the scheduler's mutexes, which TSan does see. One
  # definition for every target keeps all translation units agreeing on Asio's layout (ODR).
  add_compile_definitions(BOOST_ASIO_DISABLE_FENCED_BLOCK)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-tsan)
  endif()
endif()
if(FLEETRATE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FLEETRATE_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
  endif()
  # Every target is instrumented for coverage and checked by AddressSanitizer and UBSan; the
  # fuzz targets add libFuzzer's main at link time.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()
if(NOT FLEETRATE_SANITIZE MATCHES "^(|address|thread)$")
  message(FATAL_ERROR "FLEETRATE_SANITIZE must be '', 'address' or 'thread', not '${FLEETRATE_SANITIZE}'")
endif()

# fleetrate_tsan_suppressions(<target>): in thread-sanitizer builds, compiles the suppressions
# for Debian's uninstrumented gRPC/abseil/protobuf (tests/support/tsan_suppressions.cc) into an
# executable, so it needs no TSAN_OPTIONS.
function(fleetrate_tsan_suppressions target)
  if(FLEETRATE_SANITIZE STREQUAL "thread")
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/tsan_suppressions.cc)
  endif()
endfunction()
