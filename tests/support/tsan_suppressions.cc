// ThreadSanitizer suppressions for every test binary, compiled into the test binary so that no
// environment variable is needed (only used in -DFLEETRATE_SANITIZE=thread builds).
//
// The distribution's gRPC, gpr, abseil, protobuf and OpenSSL libraries are not built with
// -fsanitize=thread, so TSan sees neither their internal synchronization (absl::Mutex, epoll
// hand-offs) nor the happens-before edges they create, and reports races inside them. Only
// reports with a frame in those libraries are suppressed; races purely in fleetrate code (the
// Sampler's registry, counters and tables) are still reported.

extern "C" const char* __tsan_default_suppressions();  // NOLINT: TSan's hook

extern "C" const char* __tsan_default_suppressions() {
  // called_from_lib: interceptors (epoll, memmove, ...) called from inside these libraries.
  // race:grpc:: covers gRPC's inline header code compiled into our binaries (call_op_set.h),
  // whose synchronisation lives in the uninstrumented library.
  return "called_from_lib:libgrpc.so.29\n"
         "called_from_lib:libgpr.so.29\n"
         "race:grpc::internal::\n"
         "race:grpc_event_engine\n"
         "race:libgrpc.so\n"
         "race:libgrpc++.so\n"
         "race:libgpr.so\n"
         "race:libabsl_*\n"
         "race:libprotobuf.so\n"
         "race:libupb.so\n"
         "race:libaddress_sorting.so\n"
         // gRPC's TLS runs in libssl/libcrypto (the TLS tests), also uninstrumented.
         "called_from_lib:libcrypto.so.3\n"
         "called_from_lib:libssl.so.3\n"
         "race:libcrypto.so\n"
         "race:libssl.so\n"
         "deadlock:libgrpc.so\n"
         "deadlock:libabsl_*\n";
}
