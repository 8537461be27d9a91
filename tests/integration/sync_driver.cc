// fleetrate_sync_driver ADDRESS: drives a running fleetrate-server over gRPC for the process
// tests, so their metrics have data: two clients of service "driver" (environment "test") each
// report three operations twice, then one request without a service is sent and must be
// refused with INVALID_ARGUMENT. Exits 0 when every answer was as expected.
#include <grpcpp/grpcpp.h>

#include <iostream>
#include <string>

#include "fleetrate/v1/sampling.grpc.pb.h"

namespace {

grpc::Status Sync(fleetrate::v1::SamplingService::Stub& stub, const std::string& instance,
                  const std::string& service) {
  fleetrate::v1::SyncRequest request;
  request.mutable_client()->set_instance_id(instance);
  request.mutable_client()->set_service(service);
  request.mutable_client()->set_environment("test");
  request.set_interval_ms(10'000);
  const struct {
    const char* name;
    uint64_t seen;
    uint64_t sampled;
  } operations[] = {{"GET /items", 20000, 20}, {"POST /items", 500, 10}, {"GET /health", 100, 0}};
  for (const auto& op : operations) {
    fleetrate::v1::OperationCounts* counts = request.add_operations();
    counts->set_operation(op.name);
    counts->set_roots_seen(op.seen);
    counts->set_roots_sampled(op.sampled);
  }
  fleetrate::v1::SyncResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub.Sync(&context, request, &response);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fleetrate_sync_driver HOST:PORT\n";
    return 2;
  }
  auto channel = grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());
  auto stub = fleetrate::v1::SamplingService::NewStub(channel);
  int failures = 0;
  for (int round = 0; round < 2; ++round) {
    for (const char* instance : {"driver-1", "driver-2"}) {
      const grpc::Status status = Sync(*stub, instance, "driver");
      if (!status.ok()) {
        std::cerr << "Sync from " << instance << " failed: " << status.error_code() << " "
                  << status.error_message() << "\n";
        ++failures;
      }
    }
  }
  const grpc::Status refused = Sync(*stub, "driver-3", "");
  if (refused.error_code() != grpc::StatusCode::INVALID_ARGUMENT) {
    std::cerr << "a Sync without a service got " << refused.error_code()
              << ", want INVALID_ARGUMENT\n";
    ++failures;
  }
  return failures == 0 ? 0 : 1;
}
