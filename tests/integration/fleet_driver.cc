// fleetrate_fleet_driver: one Sync round of a small fleet spread over several replicas, for the
// multi-replica process tests.
//
//   fleetrate_fleet_driver [--clients N] [--shift K] [--service S] HOST:PORT...
//
// Client i ("client-<i>", service S, environment "test") reports five operations op-0..op-4
// over a 10 s interval, op-j with 1000 × (j + 1) roots seen and 10 sampled — 100 × (j + 1) roots
// per second per client — to replica (i + K) mod (number of replicas). Exits 0 when every
// Sync succeeded; prints each failure.
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "fleetrate/v1/sampling.grpc.pb.h"

int main(int argc, char** argv) {
  int clients = 30;
  int shift = 0;
  std::string service = "fleet";
  std::vector<std::string> addresses;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--clients" && i + 1 < argc) {
      clients = std::atoi(argv[++i]);
    } else if (arg == "--shift" && i + 1 < argc) {
      shift = std::atoi(argv[++i]);
    } else if (arg == "--service" && i + 1 < argc) {
      service = argv[++i];
    } else {
      addresses.push_back(arg);
    }
  }
  if (addresses.empty() || clients <= 0) {
    std::cerr << "usage: fleetrate_fleet_driver [--clients N] [--shift K] [--service S] "
                 "HOST:PORT...\n";
    return 2;
  }
  std::vector<std::unique_ptr<fleetrate::v1::SamplingService::Stub>> stubs;
  for (const std::string& address : addresses) {
    stubs.push_back(fleetrate::v1::SamplingService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials())));
  }
  int failures = 0;
  for (int i = 0; i < clients; ++i) {
    const size_t replica = static_cast<size_t>(i + shift) % stubs.size();
    fleetrate::v1::SyncRequest request;
    request.mutable_client()->set_instance_id("client-" + std::to_string(i));
    request.mutable_client()->set_service(service);
    request.mutable_client()->set_environment("test");
    request.set_interval_ms(10'000);
    for (int j = 0; j < 5; ++j) {
      fleetrate::v1::OperationCounts* counts = request.add_operations();
      counts->set_operation("op-" + std::to_string(j));
      counts->set_roots_seen(1000 * static_cast<uint64_t>(j + 1));
      counts->set_roots_sampled(10);
    }
    fleetrate::v1::SyncResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    const grpc::Status status = stubs[replica]->Sync(&context, request, &response);
    if (!status.ok()) {
      std::cerr << "Sync of client-" << i << " to " << addresses[replica]
                << " failed: " << status.error_code() << " " << status.error_message() << "\n";
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}
