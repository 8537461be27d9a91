// Validates rendered Kubernetes manifests offline against the Kubernetes API schemas.
//
//   node validate_manifests.js FILE.yaml [--allow-kind GROUP/VERSION/KIND ...]
//
// Every document must be a kind this script knows a schema for: the built-in API kinds
// (kubernetes-models) and the prometheus-operator CRDs (@kubernetes-models/prometheus-operator).
// Any other kind fails unless it is named with --allow-kind, so a CRD is skipped only on purpose.
//
// The schema validators catch wrong types, missing required fields and bad enums, but, like the
// API server's OpenAPI, they accept unknown fields. A misspelled field ("readinesProbe") is
// silently dropped by a real cluster, so this script also rejects unknown fields: it runs the
// validator on a proxy of the document and records which properties the validator looked up;
// a key of an object that the validator inspected by name, but never by that key, is unknown.
// Objects that the validator enumerates (maps such as labels) or never inspects (free-form
// fields) are not checked this way.
"use strict";

const fs = require("fs");
const yaml = require("js-yaml");

const PROMETHEUS_OPERATOR_GROUPS = new Set(["monitoring.coreos.com"]);

function modelClass(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  let modulePath;
  if (group === "") {
    modulePath = `kubernetes-models/${version}`;
  } else if (PROMETHEUS_OPERATOR_GROUPS.has(group)) {
    modulePath = `@kubernetes-models/prometheus-operator/${group}/${version}`;
  } else {
    modulePath = `kubernetes-models/${group}/${version}`;
  }
  let mod;
  try {
    mod = require(modulePath);
  } catch (e) {
    return null;
  }
  return typeof mod[kind] === "function" ? mod[kind] : null;
}

// Wraps `value` so that property lookups and key enumerations are recorded per object.
function track(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  const record = { path, value, accessed: new Set(), enumerated: false };
  seen.push(record);
  const children = new Map();
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key !== "string") return Reflect.get(target, key, receiver);
      record.accessed.add(key);
      const child = target[key];
      if (child === null || typeof child !== "object" || !Object.hasOwn(target, key)) return child;
      if (!children.has(key)) children.set(key, track(child, `${path}/${key}`, seen));
      return children.get(key);
    },
    ownKeys(target) {
      record.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(seen) {
  const out = [];
  for (const r of seen) {
    if (Array.isArray(r.value) || r.enumerated || r.accessed.size === 0) continue;
    for (const key of Object.keys(r.value)) {
      if (!r.accessed.has(key)) out.push(`${r.path || "/"}: unknown field "${key}"`);
    }
  }
  return out;
}

function validateDocument(doc, allowed) {
  if (doc === null || doc === undefined) return { skipped: false, errors: [] };
  const { apiVersion, kind } = doc;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return { errors: ["document has no apiVersion or kind"] };
  }
  const id = `${apiVersion}/${kind}`;
  const cls = modelClass(apiVersion, kind);
  if (cls === null) {
    if (allowed.has(id)) return { skipped: true, errors: [] };
    return { errors: [`${id}: no schema for this kind (a CRD? pass --allow-kind ${id})`] };
  }
  const seen = [];
  const proxy = track(doc, "", seen);
  try {
    cls.prototype.validate.call(proxy);
  } catch (e) {
    return { errors: [`${id}: ${e.message}`] };
  }
  return { errors: unknownFields(seen).map((m) => `${id}: ${m}`) };
}

function main(argv) {
  const files = [];
  const allowed = new Set();
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--allow-kind") allowed.add(argv[++i]);
    else files.push(argv[i]);
  }
  if (files.length === 0) {
    console.error("usage: validate_manifests.js FILE.yaml... [--allow-kind GROUP/VERSION/KIND]");
    return 2;
  }
  let failures = 0;
  let validated = 0;
  for (const file of files) {
    const docs = yaml.loadAll(fs.readFileSync(file, "utf8"));
    for (const doc of docs) {
      if (doc === null || doc === undefined) continue;
      const name = `${doc.kind}/${doc.metadata && doc.metadata.name}`;
      const { skipped, errors } = validateDocument(doc, allowed);
      if (skipped) {
        console.log(`skipped (allowed): ${name}`);
        continue;
      }
      if (errors.length > 0) {
        failures++;
        for (const e of errors) console.log(`INVALID ${name}: ${e}`);
      } else {
        validated++;
        console.log(`valid: ${name}`);
      }
    }
  }
  if (validated + failures === 0) {
    console.log("INVALID: no manifests found");
    return 1;
  }
  return failures === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
