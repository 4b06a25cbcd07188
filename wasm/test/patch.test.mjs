import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as firn from '../pkg/node.js';
import { patient, throwsOutcome } from './helpers.mjs';

const fhirpathPatch = {
  resourceType: 'Parameters',
  parameter: [{
    name: 'operation',
    part: [
      { name: 'type', valueCode: 'replace' },
      { name: 'path', valueString: 'Patient.birthDate' },
      { name: 'value', valueDate: '1975-01-01' },
    ],
  }],
};

test('FHIRPath Patch', () => {
  const out = firn.applyPatch(patient(), fhirpathPatch);
  assert.equal(out.birthDate, '1975-01-01');
  assert.equal(firn.applyPatch(patient(), fhirpathPatch, 'application/fhir+json').birthDate, '1975-01-01');
});

test('JSON Patch, as object and as text', () => {
  const ops = [{ op: 'replace', path: '/active', value: false }, { op: 'remove', path: '/telecom' }];
  const out = firn.applyPatch(patient(), ops);
  assert.equal(out.active, false);
  assert.equal(out.telecom, undefined);
  assert.deepEqual(firn.applyPatch(JSON.stringify(patient()), JSON.stringify(ops), 'application/json-patch+json'), out);
});

test('patch failures throw and apply nothing', () => {
  const p = patient();
  throwsOutcome(assert, () => firn.applyPatch(p, [{ op: 'test', path: '/active', value: false }]));
  assert.equal(p.active, true);
  throwsOutcome(assert, () => firn.applyPatch(p, [{ op: 'frobnicate', path: '/x' }]));
  throwsOutcome(assert, () => firn.applyPatch(p, { op: 'replace' }, 'application/json-patch+json'), /array/);
  throwsOutcome(assert, () => firn.applyPatch(p, fhirpathPatch, 'text/plain'), /unsupported/);
  throwsOutcome(assert, () => firn.applyPatch(p, '[oops', 'application/json-patch+json'), /not JSON/);
});

test('diff: FHIRPath Patch and JSON Patch that reproduce b', () => {
  const a = patient();
  const b = { ...patient(), gender: 'female', name: [{ family: 'Chalmers', given: ['Petra'] }] };
  const fp = firn.diff(a, b);
  assert.equal(fp.resourceType, 'Parameters');
  assert.deepEqual(firn.applyPatch(a, fp), b);
  const jp = firn.diff(a, b, 'json');
  assert.ok(Array.isArray(jp));
  assert.deepEqual(firn.applyPatch(a, jp), b);
  assert.deepEqual(firn.diff(a, a, 'json'), []);
});

test('diff: bad format and bad input throw', () => {
  throwsOutcome(assert, () => firn.diff(patient(), patient(), 'xml'), /unknown diff format/);
  throwsOutcome(assert, () => firn.diff('{', patient()), /not valid JSON/);
});
