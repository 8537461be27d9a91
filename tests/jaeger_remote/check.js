// A third-party Jaeger remote sampler (OpenTelemetry JS, from npm) against fleetrate-server:
// it fetches the strategy for `shop` and must apply fleetrate's per-operation rates.
//   node check.js http://127.0.0.1:PORT
'use strict';
const { JaegerRemoteSampler } = require('@opentelemetry/sampler-jaeger-remote');
const { ROOT_CONTEXT, SpanKind } = require('@opentelemetry/api');
const crypto = require('crypto');

const RECORD_AND_SAMPLED = 2;  // SamplingDecision.RECORD_AND_SAMPLED
const endpoint = process.argv[2];
let passed = 0;
let failed = 0;

function check(name, ok, detail) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL: ${name}: ${detail}`);
  }
}

function keptFraction(sampler, operation, n) {
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const traceId = crypto.randomBytes(16).toString('hex');
    const result = sampler.shouldSample(ROOT_CONTEXT, traceId, operation, SpanKind.SERVER, {}, []);
    if (result.decision === RECORD_AND_SAMPLED) kept++;
  }
  return kept / n;
}

async function main() {
  const alwaysOff = { shouldSample: () => ({ decision: 0 }), toString: () => 'AlwaysOff' };
  const sampler = new JaegerRemoteSampler({
    endpoint,
    serviceName: 'shop',
    poolingInterval: 60000,
    initialSampler: alwaysOff,
  });
  await sampler.getAndUpdateSampler();  // one poll, as the sampler does on its interval
  console.log(`sampler after the poll: ${sampler.toString()}`);

  const checkout = keptFraction(sampler, 'checkout', 2000);
  check('checkout is kept at 1.0', checkout === 1, checkout);
  const browse = keptFraction(sampler, 'browse', 2000);
  check('browse is kept at 0.0', browse === 0, browse);
  const other = keptFraction(sampler, 'GET /other', 8000);
  check('other operations use the service default 0.5', Math.abs(other - 0.5) < 0.05, other);
  console.log(`kept: checkout ${checkout}, browse ${browse}, other ${other}`);
}

main()
  .catch(err => {
    failed++;
    console.log(`FAIL: ${err.stack || err}`);
  })
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed === 0 ? 0 : 1);  // the sampler's poll timer would keep node alive
  });
