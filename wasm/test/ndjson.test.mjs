import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as firn from '../pkg/node.js';
import { patient, throwsOutcome } from './helpers.mjs';

const chunk = [
  JSON.stringify(patient()),
  '',
  '{"resourceType": "Patient", "id": "p2"}',
  '{not json',
  '{"resourceType": "Nope", "id": "x"}',
  '{"resourceType": "Patient"}',
].join('\n') + '\n';

test('ndjsonRecords splits with line numbers and reports bad lines', () => {
  const recs = firn.ndjsonRecords(chunk);
  assert.deepEqual(recs.map((r) => r.line), [1, 3, 4, 5, 6]);
  assert.equal(recs[0].resourceType, 'Patient');
  assert.equal(recs[0].id, 'p1');
  assert.deepEqual(recs[0].resource, patient());
  assert.equal(recs[1].offset, chunk.indexOf('{"resourceType": "Patient", "id": "p2"}'));
  for (const bad of recs.slice(2)) {
    assert.equal(bad.error.resourceType, 'OperationOutcome');
    assert.equal(bad.resource, undefined);
  }
});

test('ndjsonRecords options: bytes, firstLine, no parse, duplicates, expected type', () => {
  const bytes = new TextEncoder().encode(chunk);
  const recs = firn.ndjsonRecords(bytes, { firstLine: 101, parse: false });
  assert.equal(recs[0].line, 101);
  assert.equal(recs[0].resource, undefined);
  assert.equal(recs[0].text, JSON.stringify(patient()));
  const dup = firn.ndjsonRecords(`${JSON.stringify(patient())}\n${JSON.stringify(patient())}\n`, { rejectDuplicateIds: true });
  assert.ok(dup[1].error);
  const typed = firn.ndjsonRecords('{"resourceType":"Observation","id":"o"}\n', { expectedType: 'Patient' });
  assert.ok(typed[0].error);
});

test('ndjsonRecords rejects other inputs and options', () => {
  throwsOutcome(assert, () => firn.ndjsonRecords(42), /string or a Uint8Array/);
  throwsOutcome(assert, () => firn.ndjsonRecords('', { bogus: true }), /unknown ndjson option/);
});

test('validateNdjson and toNdjson', () => {
  const text = firn.toNdjson([patient(), { resourceType: 'Patient', id: 'bad', gender: 'robot' }]);
  assert.equal(text.split('\n').length, 3);
  const results = firn.validateNdjson(text);
  assert.equal(results.length, 2);
  assert.ok(!results[0].outcome.issue.some((i) => i.severity === 'error'));
  assert.ok(results[1].outcome.issue.some((i) => i.severity === 'error'));
});
