// Shared test helpers: the built package and the reference data (never copied into the repo).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const pkgDir = join(repoRoot, 'wasm', 'pkg');

/** FIRN_SHARED, else ../shared beside the clone; null when absent (tests skip, except under CI=true). */
export function sharedDir() {
  const candidates = [process.env.FIRN_SHARED, join(repoRoot, '..', 'shared')].filter(Boolean);
  const found = candidates.find((d) => existsSync(join(d, 'data')));
  if (!found && process.env.CI === 'true') throw new Error('reference data not found (FIRN_SHARED or ../shared) under CI=true');
  return found ?? null;
}

export const patient = () => ({
  resourceType: 'Patient',
  id: 'p1',
  active: true,
  name: [{ use: 'official', family: 'Chalmers', given: ['Peter', 'James'] }],
  gender: 'male',
  birthDate: '1974-12-25',
  telecom: [{ system: 'phone', value: '(03) 5555 6473', use: 'work' }],
});

/** Asserts that `fn` throws a FirnError carrying an OperationOutcome; returns the error. */
export function throwsOutcome(assert, fn, pattern) {
  let caught;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught, 'expected a throw');
  assert.ok(caught instanceof Error, 'a JS Error');
  assert.equal(caught.name, 'FirnError');
  assert.equal(caught.outcome?.resourceType, 'OperationOutcome');
  assert.ok(caught.outcome.issue.length >= 1);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}
