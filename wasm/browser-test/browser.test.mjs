// Chromium tests: the built package and the playground in real Debian chromium (playwright-core).
// Screenshots go to $FIRN_TEST_OUT (default <CARGO_TARGET_DIR or ~/.cache/firn/target>/firn-wasm-tests).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../../playground/serve.mjs';

const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const outDir = process.env.FIRN_TEST_OUT
  ?? join(process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache', 'firn', 'target'), 'firn-wasm-tests');
mkdirSync(outDir, { recursive: true });

let browser;
let server;
let base;

before(async () => {
  assert.ok(existsSync(chromiumPath), `chromium not found at ${chromiumPath} (apt-get install chromium)`);
  ({ server, url: base } = await startServer(0));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return { context, page, errors };
}

test('the package loads in Chromium and every export works', async () => {
  const { context, page, errors } = await newPage();
  await page.goto(`${base}pkg/README.md`);
  const r = await page.evaluate(async () => {
    const firn = await import('/pkg/index.js');
    const patient = { resourceType: 'Patient', id: 'p', active: 'yes', name: [{ family: 'Chalmers', given: ['Peter'] }] };
    const out = {};
    out.version = firn.fhirVersion();
    out.validate = firn.validate(patient).issue.filter((i) => i.severity === 'error').map((i) => i.expression?.[0]);
    out.evaluate = firn.evaluate('name.given', patient);
    out.items = firn.compile('name.family').evaluateItems(JSON.stringify(patient));
    out.patched = firn.applyPatch(patient, [{ op: 'replace', path: '/active', value: true }]).active;
    out.diff = firn.diff(patient, { ...patient, active: true }, 'json');
    out.matches = firn.matches('Patient', 'family=chalmers', patient);
    out.extract = Object.keys(firn.extract(patient).params).includes('family');
    out.ndjson = firn.ndjsonRecords('{"resourceType":"Patient","id":"a"}\n{bad\n').map((x) => [x.line, !!x.error]);
    try { firn.compile('name.where('); } catch (e) { out.error = [e.name, e.outcome.resourceType]; }
    return out;
  });
  assert.equal(r.version, '4.0.1');
  assert.deepEqual(r.validate, ['Patient.active']);
  assert.deepEqual(r.evaluate, ['Peter']);
  assert.deepEqual(r.items, [{ value: 'Chalmers', type: 'string', path: 'Patient.name[0].family', pointer: '/name/0/family' }]);
  assert.equal(r.patched, true);
  assert.deepEqual(r.diff, [{ op: 'replace', path: '/active', value: true }]);
  assert.equal(r.matches, true);
  assert.equal(r.extract, true);
  assert.deepEqual(r.ndjson, [[1, false], [2, true]]);
  assert.deepEqual(r.error, ['FirnError', 'OperationOutcome']);
  assert.deepEqual(errors, []);
  await context.close();
});

test('playground: Validate pane lists issues and highlights them at their FHIRPath locations', async () => {
  const { context, page, errors } = await newPage();
  await page.goto(base);
  await page.waitForSelector('body[data-ready="true"]');
  // The example resource has errors; each located issue is a <mark> in the source view.
  const issues = page.locator('#validate-issues li');
  assert.ok((await issues.count()) >= 3);
  assert.match(await page.textContent('#validate-summary'), /\d+ errors?/);
  const locs = await page.locator('#validate-issues li .loc').allTextContents();
  assert.ok(locs.some((l) => l.includes('Patient.gender')), locs.join(' | '));
  const genderMark = page.locator('#validate-source mark', { hasText: '"gender": "robot"' });
  assert.equal(await genderMark.count(), 1, await page.innerHTML('#validate-source'));
  assert.ok(locs.some((l) => l.includes('Patient.contact[0]')), locs.join(' | '));
  // Clicking an issue marks its place.
  await page.locator('#validate-issues li', { hasText: 'Patient.gender' }).first().click();
  assert.equal(await page.locator('#validate-source mark.active').count(), 1);
  await page.screenshot({ path: join(outDir, 'playground-validate.png'), fullPage: true });

  // A valid resource, typed in: no errors (only the dom-6 "should have narrative" warning); with
  // narrative, no issues at all.
  await page.fill('#validate-input', JSON.stringify({ resourceType: 'Patient', id: 'ok', gender: 'female' }, null, 2));
  await page.waitForFunction(() => document.querySelector('#validate-summary').textContent.startsWith('0 errors, 1 warning'));
  assert.match(await page.textContent('#validate-issues'), /dom-6/);
  assert.equal(await page.locator('#validate-source mark.warning', { hasText: '"resourceType"' }).count(), 1);
  const narrative = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Ok</div>' };
  await page.fill('#validate-input', JSON.stringify({ resourceType: 'Patient', id: 'ok', text: narrative, gender: 'female' }, null, 2));
  await page.waitForFunction(() => document.querySelector('#validate-summary').textContent.startsWith('No issues'));

  // NDJSON: issues name their line.
  await page.fill('#validate-input', '{"resourceType":"Patient","id":"a"}\n{"resourceType":"Patient","id":"b","active":"no"}\n');
  await page.click('#validate-run');
  const ndjsonLocs = await page.locator('#validate-issues li .loc').allTextContents();
  assert.ok(ndjsonLocs.some((l) => l.startsWith('line 2') && l.includes('Patient.active')), ndjsonLocs.join(' | '));
  assert.equal(await page.locator('#validate-source mark', { hasText: '"active":"no"' }).count(), 1);
  await page.screenshot({ path: join(outDir, 'playground-validate-ndjson.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('playground: FHIRPath pane evaluates live with types and paths', async () => {
  const { context, page, errors } = await newPage();
  await page.goto(base);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('#tab-fhirpath');
  assert.equal(await page.isVisible('#pane-fhirpath'), true);
  assert.equal(await page.isVisible('#pane-validate'), false);
  await page.fill('#fp-expr', 'name.given');
  await page.waitForFunction(() => document.querySelector('#fp-summary').textContent === '3 results');
  const rows = await page.locator('#fp-results tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows[0], ['0', '"Peter"', 'string', 'Patient.name[0].given[0]']);
  assert.deepEqual(rows[2], ['2', '"Jim"', 'string', 'Patient.name[1].given[0]']);
  assert.equal(await page.locator('#fp-source mark.result').count(), 3);
  await page.screenshot({ path: join(outDir, 'playground-fhirpath.png'), fullPage: true });

  // Computed values, variables, and errors.
  await page.fill('#fp-expr', '%who in name.given');
  await page.waitForFunction(() => document.querySelector('#fp-results tbody td.type')?.textContent === 'System.Boolean');
  assert.equal(await page.textContent('#fp-results tbody td.path'), '(computed)');
  await page.fill('#fp-expr', 'name.where(');
  await page.waitForSelector('#fp-error:not([hidden])');
  assert.match(await page.textContent('#fp-error'), /syntax error/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('playground: Patch pane applies FHIRPath Patch and JSON Patch and diffs', async () => {
  const { context, page, errors } = await newPage();
  await page.goto(base);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('#tab-patch');
  // The example FHIRPath Patch was applied on load.
  const patched = JSON.parse(await page.textContent('#patch-result'));
  assert.equal(patched.birthDate, '1974-12-26');
  assert.equal(patched.deceasedBoolean, false);
  assert.equal(patched.name.length, 1);
  await page.click('#patch-example-json');
  const jp = JSON.parse(await page.textContent('#patch-result'));
  assert.equal(jp.gender, 'other');
  assert.deepEqual(jp.name[0].given, ['Peter', 'James', 'Jamie']);
  // Diff before/after as FHIRPath Patch, then as JSON Patch.
  await page.click('#diff-use');
  const fp = JSON.parse(await page.textContent('#diff-result'));
  assert.equal(fp.resourceType, 'Parameters');
  await page.selectOption('#diff-format', 'json');
  const ops = JSON.parse(await page.textContent('#diff-result'));
  assert.ok(ops.some((o) => o.path === '/gender' && o.value === 'other'), JSON.stringify(ops));
  await page.screenshot({ path: join(outDir, 'playground-patch.png'), fullPage: true });
  // A failing patch shows the OperationOutcome.
  await page.fill('#patch-doc', '[{"op": "test", "path": "/gender", "value": "female"}]');
  await page.click('#patch-apply');
  await page.waitForSelector('#patch-error:not([hidden])');
  assert.match(await page.textContent('#patch-error'), /OperationOutcome/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('playground: works offline once loaded (service worker)', async () => {
  const { context, page } = await newPage();
  await page.goto(base);
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10000 });
  assert.match(await page.textContent('#validate-summary'), /errors?/);
  await page.screenshot({ path: join(outDir, 'playground-offline.png'), fullPage: true });
  await context.close();
});
