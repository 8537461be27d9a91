// GrpcSelfProbe: checks from inside the process that the gRPC port still accepts and answers,
// so that /healthz (and through it Docker's HEALTHCHECK and the kubelet) sees a gRPC server
// that stopped serving. gRPC 1.51 stops accepting for good once accept() fails with EMFILE: the
// process, its HTTP port and its threads stay up, while every Sync times out.
//
// A probe connects to the gRPC port, sends the HTTP/2 client preface and an empty SETTINGS
// frame (with `tls`: a TLS ClientHello instead), and expects any byte or an orderly close within
// `timeout`. A plaintext server answers with its SETTINGS, a TLS or mTLS server with its
// ServerHello; no credentials are needed, and the probe closes before the handshake completes
// (a TLS server sent plaintext would log a handshake error for every probe). A server that no
// longer calls accept() answers nothing: the connection waits in the kernel's backlog. After
// `failures_to_unhealthy` failed probes in a row the probe is unhealthy (an error log,
// fleetrate_grpc_self_probe_healthy 0) until a probe succeeds again (an info log).
//
//   GrpcSelfProbe probe({ProbeHost("0.0.0.0"), 8081}, *metrics.registry());
//   probe.Start();                       // a probe every options.interval, on its own thread
//   if (!probe.healthy()) Log(probe.unhealthy_reason());
//   probe.Stop();                        // or let the destructor do it
//
// Thread safety: healthy(), unhealthy_reason() and ProbeOnce() may be called from any thread;
// Start() and Stop() from one owner thread. The probe owns and joins its thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"

namespace fleetrate::server {

struct GrpcSelfProbeOptions {
  std::string host = "127.0.0.1";  // an address to connect to; see ProbeHost()
  uint16_t port = 0;
  std::chrono::milliseconds interval{5000};  // between probes
  std::chrono::milliseconds timeout{2000};   // connect plus answer, per probe
  int failures_to_unhealthy = 3;             // failed probes in a row, >= 1
  bool tls = false;                          // the port serves TLS (or mutual TLS)
};

// The address to probe for a gRPC listen host: a wildcard listens on loopback too, so
// "0.0.0.0" (or empty) probes 127.0.0.1 and "::" probes ::1; other hosts are probed as given.
[[nodiscard]] std::string ProbeHost(std::string_view listen_host);

// One probe of host:port. OK when the peer sent a byte or closed the connection within
// `timeout`; otherwise why not, naming the address (e.g. "127.0.0.1:8081: no answer within
// 2000 ms (the port accepts connections but nothing serves them)").
[[nodiscard]] absl::Status ProbeGrpcPort(const std::string& host, uint16_t port,
                                         std::chrono::milliseconds timeout, bool tls = false);

class GrpcSelfProbe {
 public:
  // Registers fleetrate_grpc_self_probe_healthy and fleetrate_grpc_self_probe_failures_total.
  GrpcSelfProbe(GrpcSelfProbeOptions options, prometheus::Registry& registry);
  ~GrpcSelfProbe();
  GrpcSelfProbe(const GrpcSelfProbe&) = delete;
  GrpcSelfProbe& operator=(const GrpcSelfProbe&) = delete;

  // Starts the probing thread (the first probe after one interval). Once only.
  void Start();
  // Stops and joins the thread. Idempotent.
  void Stop();

  // Probes now and records the result, as the thread does each interval; returns the result.
  absl::Status ProbeOnce();

  // True until failures_to_unhealthy probes in a row failed; true again after a success.
  [[nodiscard]] bool healthy() const;
  // Empty when healthy; otherwise the cause, e.g. "gRPC port 127.0.0.1:8081 failed 3 probes in
  // a row, last: ...".
  [[nodiscard]] std::string unhealthy_reason() const;

 private:
  void Run();
  void Record(const absl::Status& result);

  const GrpcSelfProbeOptions options_;
  prometheus::Gauge& healthy_gauge_;
  prometheus::Counter& failures_total_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  int consecutive_failures_ = 0;  // guarded by mu_
  std::string last_error_;        // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  std::thread thread_;
};

}  // namespace fleetrate::server
