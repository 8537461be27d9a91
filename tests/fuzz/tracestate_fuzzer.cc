// Fuzz target: the `ot` tracestate entry a parent sends (rv and th sub-keys) through the
// client's decoders, a sampling decision of each parent kind, and the rewrite of the entry.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fleetrate/sampler.h"
#include "fleetrate/threshold.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fleetrate;  // NOLINT: a fuzz target's one function
  const std::string_view ot(reinterpret_cast<const char*>(data), size);
  (void)DecodeRandomness(OtSubKey(ot, "rv"));
  (void)DecodeThreshold(OtSubKey(ot, "th"));
  (void)DecodeThreshold(ot);
  static Sampler* sampler = [] {
    ParentRules rules;
    rules.remote_sampled = ParentRule::kDecideAsRoot;  // reads th from the parent
    SamplerOptions options;
    options.parent_rules = rules;
    options.initial.probability = 0.25;
    return new Sampler(options);
  }();
  for (ParentState parent : {ParentState::kNone, ParentState::kRemoteSampled,
                             ParentState::kRemoteNotSampled, ParentState::kLocalSampled}) {
    SamplingParameters params;
    params.operation = "op";
    params.parent = parent;
    params.ot_tracestate = ot;
    for (size_t i = 0; i < params.trace_id.size() && i < size; ++i) params.trace_id[i] = data[i];
    const SamplingResult result = sampler->ShouldSample(params);
    const std::string rewritten = UpdateOtTraceState(ot, result);
    (void)OtSubKey(rewritten, "th");
  }
  return 0;
}
