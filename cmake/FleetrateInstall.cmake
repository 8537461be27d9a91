# Installs the client library as a CMake package: find_package(fleetrate CONFIG) gives
# fleetrate::client. The server is installed as a program only.
include(CMakePackageConfigHelpers)

set(fleetrate_installed_targets fleetrate_client fleetrate_threshold fleetrate_proto
    fleetrate_otlp_proto)
if(FLEETRATE_WITH_CLIENT_METRICS)
  list(APPEND fleetrate_installed_targets fleetrate_client_metrics)
else()
  set(FLEETRATE_WITH_CLIENT_METRICS OFF)
endif()
install(TARGETS ${fleetrate_installed_targets} EXPORT fleetrateTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/client/include/fleetrate
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${FLEETRATE_PROTO_GEN_DIR}/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/fleetrate/proto FILES_MATCHING PATTERN "*.h")
install(EXPORT fleetrateTargets NAMESPACE fleetrate::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/fleetrate)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/fleetrateConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/fleetrateConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/fleetrate)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/fleetrateConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/fleetrateConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/fleetrateConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/fleetrate)

if(FLEETRATE_BUILD_SERVER)
  install(TARGETS fleetrate-server fleetratectl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
