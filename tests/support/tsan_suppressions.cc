// ThreadSanitizer suppressions for every test binary, compiled into the test binary so that no
// environment variable is needed (only used in -DFLEETRATE_SANITIZE=thread builds).
//
// The distribution's gRPC, gpr, abseil and protobuf libraries are not built with
// -fsanitize=thread, so TSan sees neither their internal synchronization (absl::Mutex, epoll
// hand-offs) nor the happens-before edges they create, and reports races inside them. Only
// reports with a frame in those libraries are suppressed; races purely in fleetrate code (the
// Sampler's registry, counters and tables) are still reported.

extern "C" const char* __tsan_default_suppressions();  // NOLINT: TSan's hook

extern "C" const char* __tsan_default_suppressions() {
  return "race:libgrpc.so\n"
         "race:libgrpc++.so\n"
         "race:libgpr.so\n"
         "race:libabsl_*\n"
         "race:libprotobuf.so\n"
         "race:libupb.so\n"
         "race:libaddress_sorting.so\n"
         "deadlock:libgrpc.so\n"
         "deadlock:libabsl_*\n";
}
