import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as firn from '../pkg/node.js';
import { patient, throwsOutcome } from './helpers.mjs';

test('evaluate returns values like fhirpath.js', () => {
  assert.deepEqual(firn.evaluate("Patient.name.where(use = 'official').given", patient()), ['Peter', 'James']);
  assert.deepEqual(firn.evaluate('Patient.name.given.count()', patient()), [2]);
  assert.deepEqual(firn.evaluate('Patient.deceased.exists()', patient()), [false]);
});

test('JSON string input gives the same result', () => {
  const p = patient();
  assert.deepEqual(firn.evaluate('name.family', JSON.stringify(p)), firn.evaluate('name.family', p));
});

test('compile once, evaluate many', () => {
  const expr = firn.compile('Patient.birthDate > @1970');
  assert.equal(expr.expression, 'Patient.birthDate > @1970');
  assert.deepEqual(expr.evaluate(patient()), [true]);
  assert.deepEqual(expr.evaluate({ ...patient(), birthDate: '1960-01-01' }), [false]);
  expr.free();
});

test('evaluateItems gives types, FHIRPath locations and JSON pointers', () => {
  const items = firn.evaluateItems('Patient.name.given', patient());
  assert.deepEqual(items[1], { value: 'James', type: 'string', path: 'Patient.name[0].given[1]', pointer: '/name/0/given/1' });
  const computed = firn.evaluateItems('1 + 1', patient());
  assert.deepEqual(computed, [{ value: 2, type: 'System.Integer', path: null, pointer: null }]);
  const compiled = firn.compile('Patient.telecom').evaluateItems(patient());
  assert.equal(compiled[0].type, 'ContactPoint');
  // Text and bytes give the same items as the object; bad input throws an OperationOutcome.
  const text = JSON.stringify(patient());
  assert.deepEqual(firn.evaluateItems('Patient.name.given', text), items);
  assert.deepEqual(firn.evaluateItems('Patient.name.given', new TextEncoder().encode(text)), items);
  throwsOutcome(assert, () => firn.evaluateItems('name', '{"resourceType": "Patient",'), /not valid JSON/);
  throwsOutcome(assert, () => firn.evaluateItems('name', undefined), /resource/);
});

test('variables', () => {
  assert.deepEqual(firn.evaluate('%greeting', patient(), { greeting: 'hello' }), ['hello']);
  assert.deepEqual(firn.evaluate("name.given.where($this = %who).count()", patient(), { who: 'Peter' }), [1]);
  throwsOutcome(assert, () => firn.evaluate('%x', patient(), [1, 2]), /variables must be an object/);
});

test('now() uses the host clock', () => {
  const [year] = firn.evaluate('now().toString().substring(0, 4)', patient());
  assert.equal(year, String(new Date().getUTCFullYear()));
});

test('ParsedResource: parse once, evaluate many', () => {
  const parsed = firn.parseResource(patient());
  assert.equal(parsed.resourceType, 'Patient');
  assert.deepEqual(firn.evaluate('name.family', parsed), ['Chalmers']);
  assert.deepEqual(firn.compile('gender').evaluate(parsed), ['male']);
  assert.equal(firn.evaluateItems('gender', parsed)[0].path, 'Patient.gender');
  assert.deepEqual(parsed.toJSON(), patient());
  parsed.free();
});

test('syntax errors throw with line and column', () => {
  const e = throwsOutcome(assert, () => firn.compile('Patient.name.where('), /syntax error/);
  assert.equal(e.outcome.issue[0].code, 'invalid');
  throwsOutcome(assert, () => firn.evaluate('Patient..name', patient()));
});

test('evaluation errors throw', () => {
  throwsOutcome(assert, () => firn.evaluate('Patient.name.given.single()', patient()));
  throwsOutcome(assert, () => firn.evaluate('name', '{not json'), /not valid JSON/);
  throwsOutcome(assert, () => firn.evaluate('name', undefined), /missing/);
});

test('fhirVersion and describe', () => {
  assert.equal(firn.fhirVersion(), '4.0.1');
  assert.match(firn.describe('Patient'), /birthDate/);
  throwsOutcome(assert, () => firn.describe('NoSuchType'), /not a FHIR R4 type/);
});

test('object and array variables', () => {
  const p = patient();
  assert.deepEqual(firn.evaluate('%other.name.family', p, { other: { resourceType: 'Patient', name: [{ family: 'Smith' }] } }), ['Smith']);
  assert.deepEqual(firn.evaluate('%list.count()', p, { list: [1, 2, 3] }), [3]);
  assert.deepEqual(firn.evaluate('%v', p, JSON.stringify({ v: 'from text' })), ['from text']);
});

test('non-ASCII text survives the input buffer (objects, collections, large then small inputs)', () => {
  const names = ['Zoë', 'Ørsted', '李小龙', 'emoji 😀 pair', 'x'.repeat(5000) + 'é'];
  for (const family of names) {
    const p = { resourceType: 'Patient', name: [{ family, given: ['Ünal'] }] };
    assert.deepEqual(firn.evaluate('Patient.name.family', p), [family]);
    assert.deepEqual(firn.compile('name.given').evaluate(p), ['Ünal']);
    assert.deepEqual(firn.parseResource(p).toJSON(), p);
    assert.equal(firn.validate(p).issue.filter((i) => i.severity === 'error').length, 0);
  }
  const c = firn.collection(names.map((family) => ({ resourceType: 'Patient', name: [{ family }] })));
  assert.deepEqual(c.evaluate('name.family'), names.map((n) => [n]));
  // A short input after a long one reads only its own bytes.
  assert.deepEqual(firn.evaluate('id', { resourceType: 'Patient', id: 'a' }), ['a']);
});

test('one-shot evaluation reuses its parse buffer across resources, large then small', () => {
  const given = Array.from({ length: 70000 }, (_, i) => `g${i}`);
  const big = { resourceType: 'Patient', name: [{ given }] };
  assert.deepEqual(firn.evaluate('name.given.count()', big), [70000]);
  assert.deepEqual(firn.evaluate('name.given.last()', JSON.stringify(big)), ['g69999']);
  assert.deepEqual(firn.evaluate('name.given', patient()), ['Peter', 'James']);
  throwsOutcome(assert, () => firn.evaluate('name', '{"resourceType": "Patient", "name": [}'), /not valid JSON/);
  assert.deepEqual(firn.evaluate('gender', patient()), ['male']);
});
