import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as firn from '../pkg/node.js';
import { patient, throwsOutcome } from './helpers.mjs';

test('matches', () => {
  assert.equal(firn.matches('Patient', 'name=peter', patient()), true);
  assert.equal(firn.matches('Patient', '?family=chalmers&gender=male', patient()), true);
  assert.equal(firn.matches('Patient', 'birthdate=ge1980', patient()), false);
  assert.equal(firn.matches('Patient', 'birthdate=lt1980', JSON.stringify(patient())), true);
  assert.equal(firn.matches('Observation', 'code=1234', patient()), false);
});

test('matches: unknown parameter, bad value and bad type throw', () => {
  throwsOutcome(assert, () => firn.matches('Patient', 'colour=blue', patient()), /colour/);
  throwsOutcome(assert, () => firn.matches('Patient', 'birthdate=yesterday', patient()), /birthdate/);
  throwsOutcome(assert, () => firn.matches('Pateint', 'name=x', patient()));
});

test('extract', () => {
  const e = firn.extract(patient());
  assert.equal(e.resourceType, 'Patient');
  assert.equal(e.id, 'p1');
  assert.ok(e.params.family.length === 1, JSON.stringify(e.params.family));
  assert.ok(e.params.gender.length === 1);
  assert.ok(!('death-date' in e.params));
  throwsOutcome(assert, () => firn.extract({ id: 'x' }), /resourceType/);
});
