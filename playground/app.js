// The playground: three panes over the firn-fhir package (served as /pkg/ by serve.mjs).
import * as firn from './pkg/index.js';
import { locate, nearest, pointerOf } from './locate.js';

const $ = (id) => document.getElementById(id);
const pretty = (v) => JSON.stringify(v, null, 2);
const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const debounce = (fn, ms) => { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; };

const examplePatient = {
  resourceType: 'Patient',
  id: 'example',
  active: true,
  name: [{ use: 'official', family: 'Chalmers', given: ['Peter', 'James'] }, { use: 'usual', given: ['Jim'] }],
  telecom: [{ system: 'phone', value: '(03) 5555 6473', use: 'work' }],
  gender: 'male',
  birthDate: '1974-12-25',
  address: [{ use: 'home', line: ['534 Erewhon St'], city: 'PleasantVille', state: 'Vic', postalCode: '3999' }],
};
const invalidPatient = {
  resourceType: 'Patient',
  id: 'needs-work',
  active: 'yes',
  name: [{ family: 'Chalmers', given: ['Peter'] }],
  gender: 'robot',
  birthDate: '1974-13-45',
  telecom: [{ system: 'pager', value: '555' }],
  contact: [{ gender: 'male' }],
};

// ---- highlighting ----------------------------------------------------------------------------

/** Renders `text` with <mark>s at the given ranges ({start, end, cls, id}). Ranges from a JSON tree
 *  are nested or disjoint, so marks nest (an issue on `Patient.contact[0]` contains the marks of
 *  issues inside it); a range crossing another is dropped. */
function renderMarked(pre, text, marks) {
  const sorted = [...marks].filter((m) => m.end > m.start).sort((a, b) => a.start - b.start || b.end - a.end);
  let html = '';
  let pos = 0;
  const open = [];
  const closeUntil = (at) => {
    while (open.length && open.at(-1).end <= at) {
      const m = open.pop();
      html += esc(text.slice(pos, m.end)) + '</mark>';
      pos = m.end;
    }
  };
  for (const m of sorted) {
    closeUntil(m.start);
    if (open.length && m.end > open.at(-1).end) continue; // crosses its parent
    html += esc(text.slice(pos, m.start));
    html += `<mark class="${m.cls}" data-mark="${m.id}" title="${esc(m.title ?? '')}">`;
    pos = m.start;
    open.push(m);
  }
  closeUntil(Infinity);
  html += esc(text.slice(pos));
  pre.innerHTML = html;
}

function flash(pre, id) {
  pre.querySelectorAll('mark.active').forEach((m) => m.classList.remove('active'));
  const m = pre.querySelector(`mark[data-mark="${id}"]`);
  if (m) { m.classList.add('active'); m.scrollIntoView({ block: 'center', behavior: 'smooth' }); }
}

/** The text range of a FHIRPath location inside JSON text (at `base`), or a line/column. */
function rangeOf(issue, text, map, base = 0) {
  for (const loc of issue.expression ?? []) {
    const hit = nearest(map, pointerOf(loc));
    if (hit) {
      // An issue on the resource itself marks its resourceType, not the whole text.
      const r = hit.pointer === '' ? map.get('/resourceType') ?? hit.range : hit.range;
      return { start: r.keyStart ?? r.start, end: r.end };
    }
  }
  const ext = Object.fromEntries((issue.extension ?? []).map((e) => [e.url.split('-').pop(), e.valueInteger]));
  if (ext.line) {
    const lines = text.slice(base).split('\n');
    let off = base;
    for (let i = 0; i < ext.line - 1 && i < lines.length; i++) off += lines[i].length + 1;
    const start = Math.min(off + Math.max(0, (ext.col ?? 1) - 1), text.length);
    return { start, end: Math.min(start + 1, text.length) };
  }
  return null;
}

// ---- Validate ---------------------------------------------------------------------------------

function isNdjson(text) {
  const lines = text.split('\n').filter((l) => l.trim());
  if (lines.length < 2) return false;
  try { JSON.parse(lines[0]); return lines.every((l) => l.trim().startsWith('{')); } catch { return false; }
}

function runValidate() {
  const text = $('validate-input').value;
  const options = { level: $('validate-level').value };
  const profile = $('validate-profile').value.trim();
  if (profile) options.profiles = [profile];
  const list = $('validate-issues');
  list.innerHTML = '';
  if (!text.trim()) { $('validate-summary').textContent = 'Issues'; $('validate-source').textContent = ''; return; }
  let entries; // {issue, line?, base}
  try {
    if (isNdjson(text)) {
      const starts = [0];
      for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
      entries = firn.validateNdjson(text, options).flatMap((r) =>
        r.outcome.issue.map((issue) => ({ issue, line: r.line, base: starts[r.line - 1] ?? 0 })));
    } else {
      entries = firn.validate(text, options).issue.map((issue) => ({ issue, base: 0 }));
    }
  } catch (e) {
    entries = (e.outcome?.issue ?? [{ severity: 'fatal', code: 'exception', diagnostics: String(e) }]).map((issue) => ({ issue, base: 0 }));
  }
  const maps = new Map();
  const mapFor = (base, line) => {
    if (!maps.has(base)) {
      const end = line ? (text.indexOf('\n', base) + 1 || text.length + 1) - 1 : text.length;
      maps.set(base, locate(text.slice(base, end), base));
    }
    return maps.get(base);
  };
  const marks = [];
  const counts = { error: 0, warning: 0, information: 0 };
  entries.forEach(({ issue, line, base }, n) => {
    const sev = issue.severity === 'fatal' ? 'error' : issue.severity;
    if (issue.code === 'informational' && issue.diagnostics === 'All OK') return;
    counts[sev] = (counts[sev] ?? 0) + 1;
    const li = document.createElement('li');
    li.className = issue.severity;
    li.dataset.mark = String(n);
    const where = [line ? `line ${line}` : null, ...(issue.expression ?? [])].filter(Boolean).join(' · ');
    li.innerHTML = `<span class="sev">${esc(issue.severity)}</span>${esc(issue.diagnostics ?? issue.code)}` +
      (where ? `<span class="loc">${esc(where)}</span>` : '');
    li.addEventListener('click', () => flash($('validate-source'), n));
    list.append(li);
    const r = rangeOf(issue, text, mapFor(base, line), base);
    if (r) marks.push({ ...r, cls: sev, id: n, title: issue.diagnostics });
  });
  const total = counts.error + counts.warning + counts.information;
  $('validate-summary').textContent = total === 0
    ? 'No issues: valid FHIR R4'
    : `${counts.error} error${counts.error === 1 ? '' : 's'}, ${counts.warning} warning${counts.warning === 1 ? '' : 's'}, ${counts.information} information`;
  renderMarked($('validate-source'), text, marks);
}

function setupValidate() {
  const input = $('validate-input');
  input.value = pretty(invalidPatient);
  const live = debounce(runValidate, 250);
  input.addEventListener('input', live);
  $('validate-level').addEventListener('change', runValidate);
  $('validate-profile').addEventListener('change', runValidate);
  $('validate-run').addEventListener('click', runValidate);
  $('validate-example').addEventListener('click', () => { input.value = pretty(invalidPatient); runValidate(); });
  input.addEventListener('dragover', (e) => { e.preventDefault(); input.classList.add('dragover'); });
  input.addEventListener('dragleave', () => input.classList.remove('dragover'));
  input.addEventListener('drop', async (e) => {
    e.preventDefault();
    input.classList.remove('dragover');
    const file = e.dataTransfer.files[0];
    if (!file) return;
    if (file.name.endsWith('.tgz')) return loadPackageFile(file);
    input.value = await file.text();
    runValidate();
  });
  $('validate-package').addEventListener('change', (e) => e.target.files[0] && loadPackageFile(e.target.files[0]));
  runValidate();
}

async function loadPackageFile(file) {
  try {
    const info = firn.loadPackage(new Uint8Array(await file.arrayBuffer()));
    $('validate-packages').textContent = `Loaded ${info.name}#${info.version}: ${info.profiles.length} profiles. ` +
      `Put a profile URL above, e.g. ${info.profiles[0] ?? ''}`;
    runValidate();
  } catch (e) {
    $('validate-packages').textContent = `Not a FHIR package: ${e.message}`;
  }
}

// ---- FHIRPath ---------------------------------------------------------------------------------

const fhirpathExamples = [
  "Patient.name.where(use = 'official').given",
  'name.given.first()',
  'birthDate',
  'telecom.where(system = \'phone\').value',
  'name.count()',
  'today() - birthDate < 100 years',
  "address.city & ', ' & address.state",
  'descendants().ofType(string).count()',
  '%who in name.given',
];

function runFhirpath() {
  const expr = $('fp-expr').value;
  const text = $('fp-resource').value;
  const tbody = $('fp-results').querySelector('tbody');
  const err = $('fp-error');
  tbody.innerHTML = '';
  err.hidden = true;
  let items;
  try {
    const varsText = $('fp-vars').value.trim();
    const vars = varsText ? JSON.parse(varsText) : undefined;
    items = expr.trim() ? firn.evaluateItems(expr, text, vars) : [];
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
    $('fp-summary').textContent = 'Results';
    renderMarked($('fp-source'), text, []);
    return;
  }
  const map = locate(text);
  const marks = [];
  items.forEach((item, n) => {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td>${n}</td><td><code>${esc(JSON.stringify(item.value))}</code></td>` +
      `<td class="type">${esc(item.type)}</td><td class="path">${esc(item.path ?? '(computed)')}</td>`;
    tr.addEventListener('click', () => flash($('fp-source'), n));
    tbody.append(tr);
    const r = item.pointer !== null && map.get(item.pointer);
    if (r) marks.push({ start: r.start, end: r.end, cls: 'result', id: n, title: item.path });
  });
  $('fp-summary').textContent = `${items.length} result${items.length === 1 ? '' : 's'}`;
  renderMarked($('fp-source'), text, marks);
}

function setupFhirpath() {
  $('fp-resource').value = pretty(examplePatient);
  $('fp-vars').value = '{"who": "Peter"}';
  const live = debounce(runFhirpath, 120);
  for (const id of ['fp-expr', 'fp-resource', 'fp-vars']) $(id).addEventListener('input', live);
  for (const ex of fhirpathExamples) {
    const b = document.createElement('button');
    b.textContent = ex;
    b.addEventListener('click', () => { $('fp-expr').value = ex; runFhirpath(); });
    $('fp-examples').append(b);
  }
  runFhirpath();
}

// ---- Patch & diff -----------------------------------------------------------------------------

const exampleFhirpathPatch = {
  resourceType: 'Parameters',
  parameter: [
    { name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Patient.birthDate' }, { name: 'value', valueDate: '1974-12-26' }] },
    { name: 'operation', part: [{ name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Patient' }, { name: 'name', valueString: 'deceased' }, { name: 'value', valueBoolean: false }] },
    { name: 'operation', part: [{ name: 'type', valueCode: 'delete' }, { name: 'path', valueString: "Patient.name.where(use = 'usual')" }] },
  ],
};
const exampleJsonPatch = [
  { op: 'replace', path: '/gender', value: 'other' },
  { op: 'add', path: '/name/0/given/-', value: 'Jamie' },
  { op: 'remove', path: '/telecom' },
];

let lastPatched = null;

function showError(id, e) {
  $(id).textContent = e ? e.message + (e.outcome ? `\n${pretty(e.outcome)}` : '') : '';
  $(id).hidden = !e;
}

function runPatch() {
  try {
    const ct = $('patch-type').value || undefined;
    lastPatched = firn.applyPatch($('patch-resource').value, $('patch-doc').value, ct);
    $('patch-result').textContent = pretty(lastPatched);
    showError('patch-error', null);
  } catch (e) {
    $('patch-result').textContent = '';
    showError('patch-error', e);
  }
}

function runDiff() {
  try {
    $('diff-result').textContent = pretty(firn.diff($('diff-a').value, $('diff-b').value, $('diff-format').value));
    showError('diff-error', null);
  } catch (e) {
    $('diff-result').textContent = '';
    showError('diff-error', e);
  }
}

function setupPatch() {
  $('patch-resource').value = pretty(examplePatient);
  $('patch-doc').value = pretty(exampleFhirpathPatch);
  $('patch-apply').addEventListener('click', runPatch);
  $('patch-example-json').addEventListener('click', () => { $('patch-doc').value = pretty(exampleJsonPatch); runPatch(); });
  $('diff-a').value = pretty(examplePatient);
  $('diff-b').value = pretty({ ...examplePatient, gender: 'female', active: false });
  $('diff-run').addEventListener('click', runDiff);
  $('diff-format').addEventListener('change', runDiff);
  $('diff-use').addEventListener('click', () => {
    if (lastPatched) { $('diff-a').value = $('patch-resource').value; $('diff-b').value = pretty(lastPatched); runDiff(); }
  });
  runPatch();
  runDiff();
}

// ---- tabs, status, offline --------------------------------------------------------------------

function setupTabs() {
  for (const tab of document.querySelectorAll('nav button')) {
    tab.addEventListener('click', () => {
      for (const t of document.querySelectorAll('nav button')) {
        const on = t === tab;
        t.setAttribute('aria-selected', String(on));
        $(`pane-${t.dataset.pane}`).hidden = !on;
      }
    });
  }
}

setupTabs();
setupValidate();
setupFhirpath();
setupPatch();
$('fhir-version').textContent = firn.fhirVersion();
$('status').textContent = `ready · FHIR ${firn.fhirVersion()}`;
$('status').classList.add('ready');
document.body.dataset.ready = 'true';
if ('serviceWorker' in navigator && location.protocol.startsWith('http')) {
  navigator.serviceWorker.register('sw.js').catch(() => {});
}
