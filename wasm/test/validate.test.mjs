import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as firn from '../pkg/node.js';
import { patient, sharedDir, throwsOutcome } from './helpers.mjs';

const errors = (oo) => oo.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');

test('a valid resource gives an All OK outcome', () => {
  const oo = firn.validate(patient());
  assert.equal(oo.resourceType, 'OperationOutcome');
  assert.deepEqual(errors(oo), []);
});

test('errors carry FHIRPath locations', () => {
  const oo = firn.validate({ resourceType: 'Patient', active: 'yes', gender: 'robot' });
  const e = errors(oo);
  assert.ok(e.length >= 2, JSON.stringify(oo));
  assert.ok(e.some((i) => i.expression?.[0] === 'Patient.active'), JSON.stringify(e));
  assert.ok(e.some((i) => i.expression?.[0] === 'Patient.gender'), JSON.stringify(e));
});

test('string input (fast path) gives the same issues plus line/column', () => {
  const bad = { resourceType: 'Patient', active: 'yes' };
  const fromObject = errors(firn.validate(bad));
  const fromText = errors(firn.validate(JSON.stringify(bad, null, 2)));
  assert.deepEqual(fromText.map((i) => i.expression), fromObject.map((i) => i.expression));
  const at = (issue, what) => issue.extension.find((e) => e.url.endsWith(`operationoutcome-issue-${what}`))?.valueInteger;
  assert.deepEqual([at(fromText[0], 'line'), at(fromText[0], 'col')], [3, 3]);
  // Non-ASCII text before the error (it enters wasm as UTF-8): the column counts characters.
  const text = '{"resourceType":"Patient","name":[{"text":"Zoë 🙂"}],"active":"yes"}';
  const [issue] = errors(firn.validate(text));
  assert.deepEqual([issue.expression, at(issue, 'line'), at(issue, 'col')], [['Patient.active'], 1, 53]);
  // Bytes take the same way in.
  assert.deepEqual(errors(firn.validate(new TextEncoder().encode(text))), [issue]);
});

test('invalid JSON text is a fatal issue, not a throw', () => {
  const oo = firn.validate('{"resourceType": "Patient",');
  assert.equal(oo.issue[0].severity, 'fatal');
});

test('unknown resource type is reported', () => {
  const oo = firn.validate({ resourceType: 'Pateint' });
  assert.ok(errors(oo).length >= 1);
});

test('levels: minimal reports, structure-only skips terminology', () => {
  const bad = { resourceType: 'Patient', gender: 'robot' };
  assert.ok(errors(firn.validate(bad, { level: 'minimal' })).length >= 1);
  assert.deepEqual(errors(firn.validate(bad, { level: 'structure-only' })), []);
});

test('bad options throw a FirnError with an OperationOutcome', () => {
  throwsOutcome(assert, () => firn.validate(patient(), { level: 'lenient' }), /unknown validation level/);
  throwsOutcome(assert, () => firn.validate(patient(), { profiles: ['http://example.org/nope'] }), /not known/);
  throwsOutcome(assert, () => firn.validate(patient(), { colour: 'blue' }), /unknown validate option/);
  throwsOutcome(assert, () => firn.validate(patient(), 'strict'), /must be an object/);
});

test('missing resource throws', () => {
  throwsOutcome(assert, () => firn.validate(undefined), /missing/);
});

test('loadPackage rejects bytes that are not a package', () => {
  throwsOutcome(assert, () => firn.loadPackage(new Uint8Array([1, 2, 3])));
});

test('loadPackage + profile validation (US Core 3.1.1)', (t) => {
  const shared = sharedDir();
  if (!shared) return t.skip('skipped: reference data not found');
  const bytes = readFileSync(join(shared, 'data', 'packages', 'hl7.fhir.us.core-3.1.1.tgz'));
  const info = firn.loadPackage(bytes);
  assert.equal(info.name, 'hl7.fhir.us.core');
  assert.equal(info.version, '3.1.1');
  const url = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';
  assert.ok(info.profiles.includes(url));
  assert.deepEqual(firn.loadedPackages(), ['hl7.fhir.us.core#3.1.1']);
  // US Core Patient requires identifier, name and gender.
  const oo = firn.validate({ resourceType: 'Patient', id: 'x' }, { profiles: [url] });
  assert.ok(errors(oo).length >= 1, JSON.stringify(oo));
  firn.clearPackages();
  assert.deepEqual(firn.loadedPackages(), []);
  throwsOutcome(assert, () => firn.validate(patient(), { profiles: [url] }), /not known/);
});

test('validates the Synthea Patients without errors from the structure walk', (t) => {
  const shared = sharedDir();
  if (!shared) return t.skip('skipped: reference data not found');
  const text = readFileSync(join(shared, 'data', 'synthea-10', 'Patient.000.ndjson'), 'utf8');
  const results = firn.validateNdjson(text, { level: 'structure-only' });
  assert.ok(results.length >= 10);
  for (const r of results) assert.deepEqual(errors(r.outcome), [], JSON.stringify(r.outcome));
});

test('FHIRPath invariants are evaluated (and can be turned off)', () => {
  const bad = { resourceType: 'Patient', contact: [{ gender: 'male' }] };
  const e = errors(firn.validate(bad));
  assert.ok(e.some((i) => i.details?.coding?.[0]?.code === 'pat-1' && i.expression[0] === 'Patient.contact[0]'), JSON.stringify(e));
  assert.deepEqual(errors(firn.validate(bad, { invariants: false })), []);
  const period = { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { start: '2020-02-01', end: '2020-01-01' } };
  assert.ok(errors(firn.validate(period)).some((i) => i.details?.coding?.[0]?.code === 'per-1'));
  throwsOutcome(assert, () => firn.validate(bad, { invariants: 'yes' }), /validate option/);
});
