// Checks for demo_smoke_test.sh (plain Node.js, no packages).
//
//   node demo_check.js rates SAMPLES LOW_FROM LOW_TO HIGH_FROM HIGH_TO HIGH_RPS TOLERANCE
//     SAMPLES: lines "<milliseconds since the demo started> <GET /ui/data body>". In each window
//     (seconds, after the rates had time to settle) and for each demo service, the achieved
//     kept traces/s summed over the samples must be within TOLERANCE (a fraction) of the
//     target summed likewise; in the high window the frontend must see HIGH_RPS roots/s
//     (within 10 %), so the traffic did step.
//   node demo_check.js traces SPANS MIN_TRACES
//     SPANS: the demo's JSON-lines spans. Every sampled frontend root must have its cart span
//     (child of the root) and its payments span (child of the cart span), carrying the root's
//     tracestate; no sampled cart or payments child may lack its frontend root; at least
//     MIN_TRACES such complete traces.
// Prints one line per check; exits 1 if any failed.
'use strict';
const fs = require('fs');

const SERVICES = ['frontend', 'cart', 'payments'];
let failures = 0;
function check(name, ok, detail) {
  console.log((ok ? 'ok   ' : 'FAIL ') + name + (detail ? ' (' + detail + ')' : ''));
  if (!ok) failures++;
}

function rates(samplesPath, lowFrom, lowTo, highFrom, highTo, highRps, tolerance) {
  const samples = fs.readFileSync(samplesPath, 'utf8').split('\n').filter(Boolean).map(line => {
    const space = line.indexOf(' ');
    return {t: Number(line.slice(0, space)) / 1000, data: JSON.parse(line.slice(space + 1))};
  });
  const windows = [['low', lowFrom, lowTo], ['high', highFrom, highTo]];
  for (const [name, from, to] of windows) {
    const inWindow = samples.filter(s => s.t >= from && s.t < to);
    check(`${name} window [${from}, ${to}) s has samples`, inWindow.length >= 3,
          `${inWindow.length} samples`);
    for (const service of SERVICES) {
      let target = 0, achieved = 0, seen = 0, n = 0;
      for (const sample of inWindow) {
        const s = sample.data.services.find(x => x.service === service);
        if (!s) continue;
        target += s.target_per_second;
        achieved += s.achieved_per_second;
        seen += s.seen_per_second;
        n++;
      }
      const ratio = target > 0 ? achieved / target : 0;
      check(`${name}: ${service} achieved within ${tolerance * 100} % of target`,
            n === inWindow.length && n > 0 && Math.abs(ratio - 1) <= tolerance,
            `mean target ${(target / n).toFixed(2)}/s, achieved ${(achieved / n).toFixed(2)}/s, ` +
                `seen ${(seen / n).toFixed(1)}/s over ${n} samples`);
      if (name === 'high' && service === 'frontend') {
        const mean = seen / n;
        check(`high: frontend sees the stepped-up ${highRps} roots/s`,
              Math.abs(mean / highRps - 1) <= 0.1, `mean seen ${mean.toFixed(1)}/s`);
      }
    }
  }
}

function traces(spansPath, minTraces) {
  const byTrace = new Map();
  let lines = 0;
  for (const line of fs.readFileSync(spansPath, 'utf8').split('\n')) {
    if (!line) continue;
    const span = JSON.parse(line);
    lines++;
    if (!span.sampled) continue;  // edge-captured spans of unsampled traces are partial by design
    const service = span.attributes && span.attributes['service.name'];
    if (!byTrace.has(span.trace_id)) byTrace.set(span.trace_id, []);
    byTrace.get(span.trace_id).push({...span, service});
  }
  let complete = 0, incomplete = 0, orphans = 0;
  const examples = [];
  for (const [traceId, spans] of byTrace) {
    const root = spans.find(s => s.service === 'frontend' && !s.parent_span_id);
    if (!root) {
      // A trace of cart's or payments' own roots is fine; a child without its root is not.
      if (spans.some(s => s.parent_span_id)) {
        orphans++;
        if (examples.length < 3) examples.push('orphan ' + traceId);
      }
      continue;
    }
    const cart = spans.find(s => s.service === 'cart' && s.parent_span_id === root.span_id);
    const payments = cart &&
        spans.find(s => s.service === 'payments' && s.parent_span_id === cart.span_id);
    const sameState = cart && payments && (cart.trace_state || '') === (root.trace_state || '') &&
        (payments.trace_state || '') === (root.trace_state || '');
    if (cart && payments && sameState && spans.length === 3) {
      complete++;
    } else {
      incomplete++;
      if (examples.length < 3) examples.push('incomplete ' + traceId);
    }
  }
  check(`spans file parsed`, lines > 0, `${lines} spans`);
  check(`every sampled frontend trace has its cart and payments spans with the root's tracestate`,
        incomplete === 0, `${complete} complete, ${incomplete} incomplete ${examples.join(', ')}`);
  check(`no sampled cart or payments child without its frontend root`, orphans === 0,
        `${orphans} orphans`);
  check(`at least ${minTraces} complete traces`, complete >= minTraces, `${complete}`);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'rates') {
  rates(args[0], ...args.slice(1, 6).map(Number), Number(args[6]));
} else if (mode === 'traces') {
  traces(args[0], Number(args[1]));
} else {
  console.error('usage: demo_check.js rates|traces ...');
  process.exit(2);
}
process.exit(failures === 0 ? 0 : 1);
