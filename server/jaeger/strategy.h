// Jaeger remote sampling, served from fleetrate's rate table: the mapping from a service's rates
// to Jaeger's SamplingStrategyResponse, and its proto3-JSON form as Jaeger's HTTP endpoint
// returns it.
//
// Mapping (docs/jaeger.md):
//   - a rate-limited service default (rule rate_limit_traces_per_second) → RATE_LIMITING;
//   - a service with per-operation rates → PROBABILISTIC with operationSampling (one
//     probabilistic strategy per operation in the table, plus operations that a winning policy
//     rule names literally; the service default for the rest; the lower bound per instance) and
//     probabilisticSampling = the default, for clients that read only that;
//   - otherwise → PROBABILISTIC with the service default.
// Jaeger requests name a service, not an environment: the scope with an empty environment is
// used if it exists, else the service's scope with the most live clients.
//
// Pure functions of their inputs; thread-safe.
#pragma once

#include <string>

#include "jaeger/api_v2/sampling.pb.h"
#include "server/policy/policy.h"
#include "server/rates/rate_table.h"

namespace fleetrate::server {

[[nodiscard]] jaeger::api_v2::SamplingStrategyResponse BuildJaegerStrategy(
    const RateTables* tables, const Policies& policies, const std::string& service);

// Jaeger's JSON: lowerCamel names in field-number order, enums as strings, numbers as Go
// prints them (e.g. {"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}).
[[nodiscard]] std::string JaegerStrategyToJson(
    const jaeger::api_v2::SamplingStrategyResponse& strategy);

}  // namespace fleetrate::server
