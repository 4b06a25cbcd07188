import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as firn from '../pkg/node.js';
import { patient, throwsOutcome } from './helpers.mjs';

const p2 = { resourceType: 'Patient', id: 'p2', gender: 'female', name: [{ family: 'Smith', given: ['Ann'] }] };

test('ResourceCollection from NDJSON, array, Bundle and JS array', () => {
  const ndjson = firn.toNdjson([patient(), p2]);
  for (const source of [ndjson, JSON.stringify([patient(), p2]), [patient(), JSON.stringify(p2)],
    { resourceType: 'Bundle', type: 'collection', entry: [{ resource: patient() }, { resource: p2 }] }]) {
    const c = firn.collection(source);
    assert.equal(c.size, 2);
    assert.deepEqual(c.get(1), p2);
    c.free();
  }
});

test('ResourceCollection evaluate, validate, search', () => {
  const c = new firn.ResourceCollection([patient(), p2, { resourceType: 'Patient', id: 'bad', gender: 'robot' }]);
  assert.deepEqual(c.evaluate('name.family'), [['Chalmers'], ['Smith'], []]);
  assert.deepEqual(c.evaluate(firn.compile('%x'), { x: 1 }), [[1], [1], [1]]);
  const outcomes = c.validate();
  assert.equal(outcomes.length, 3);
  assert.deepEqual(outcomes.map((o) => o.issue.some((i) => i.severity === 'error')), [false, false, true]);
  assert.deepEqual(c.search('Patient', 'gender=female'), [1]);
  throwsOutcome(assert, () => c.search('Patient', 'nope=1'), /nope/);
  throwsOutcome(assert, () => c.get(7), /no resource 7/);
  throwsOutcome(assert, () => c.evaluate('name.given.single()'));
  throwsOutcome(assert, () => c.validate({ level: 'bogus' }), /unknown validation level/);
});

test('ResourceCollection rejects bad sources', () => {
  throwsOutcome(assert, () => firn.collection('{"resourceType":"Patient"}\n{oops\n'), /line 2/);
  throwsOutcome(assert, () => firn.collection({ resourceType: 'Patient' }), /NDJSON, a JSON array/);
  throwsOutcome(assert, () => firn.collection([patient(), '{bad']), /not valid JSON/);
});

test('ResourceCollection from NDJSON text: evaluate, validate, search and get (resources kept in the compact form)', () => {
  const bad = { resourceType: 'Patient', id: 'bad', gender: 'robot' };
  const c = firn.collection(firn.toNdjson([patient(), p2, bad]));
  assert.deepEqual(c.evaluate('name.family'), [['Chalmers'], ['Smith'], []]);
  // The same counts as evaluating each resource's text one by one (parsed into a Value).
  const one = [patient(), p2, bad].map((r) => firn.evaluate('descendants().count()', JSON.stringify(r)));
  assert.deepEqual(c.evaluate('descendants().count()'), one);
  assert.ok(one[0][0] > 10);
  assert.deepEqual(c.validate().map((o) => o.issue.some((i) => i.severity === 'error')), [false, false, true]);
  assert.deepEqual(c.search('Patient', 'gender=female'), [1]);
  assert.deepEqual(c.get(0), patient());
  assert.deepEqual(c.get(2), bad);
  c.free();
  const parsed = firn.parseResource(JSON.stringify(p2));
  assert.equal(parsed.resourceType, 'Patient');
  assert.deepEqual(firn.evaluate('name.given', parsed), ['Ann']);
  assert.deepEqual(parsed.toJSON(), p2);
});

test('a bad NDJSON line is reported with its line and column', () => {
  const err = throwsOutcome(assert, () => firn.collection('{"resourceType":"Patient"}\n\n{"a": tru}\n'), /line 3: invalid JSON/);
  const ext = Object.fromEntries(err.outcome.issue[0].extension.map((e) => [e.url.split('-').pop(), e.valueInteger]));
  assert.deepEqual(ext, { line: 3, col: 10 });
  const one = throwsOutcome(assert, () => firn.parseResource('{"resourceType": "Patient",\n "id": }'), /not valid JSON/);
  assert.equal(one.outcome.issue[0].code, 'structure');
});
