// The JS facade over the wasm exports: uniform input handling, JSON results parsed into objects,
// and FHIR-shaped errors. Shared by the browser entry (index.js) and the Node entry (node.js).
import * as raw from './firn_wasm.js';

/**
 * Inputs: a JSON string goes to wasm as is (parsed once inside wasm); a JS object is serialised with
 * JSON.stringify and takes the same path — measured faster than converting the object field by
 * field across the boundary (docs/npm.md); a ParsedResource is used without any conversion.
 */
function text(value) {
  if (typeof value === 'string' || value === undefined || value === null) return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return JSON.stringify(value);
}

const encoder = new TextEncoder();
let memory;

/**
 * Encodes a string straight into wasm's input buffer and returns its length in bytes: the fast way
 * in for resources (TextEncoder.encodeInto, ~10× faster than wasm-bindgen's string passing).
 * ASCII text (nearly all FHIR JSON) fits the first try; other text gets room for 3 bytes per
 * remaining UTF-16 unit.
 */
function put(s) {
  memory ??= raw.wasmMemory();
  let ptr = raw.inputBuffer(s.length);
  let { read, written } = encoder.encodeInto(s, new Uint8Array(memory.buffer, ptr, s.length));
  if (read < s.length) {
    const rest = s.slice(read);
    ptr = raw.inputBuffer(written + rest.length * 3);
    written += encoder.encodeInto(rest, new Uint8Array(memory.buffer, ptr + written, rest.length * 3)).written;
  }
  return written;
}

/** A resource (object or JSON text) as JSON text. */
const json = (value) => (typeof value === 'string' ? value : JSON.stringify(value));

/** A resource parsed once and kept inside wasm: pass it to evaluate/validate many times. */
export class ParsedResource {
  #inner;
  constructor(resource) {
    if (resource === undefined || resource === null) this.#inner = new raw.ParsedResource(resource);
    else if (resource instanceof Uint8Array) this.#inner = new raw.ParsedResource(text(resource));
    else this.#inner = raw.ParsedResource.fromInput(put(json(resource)));
  }
  get resourceType() { return this.#inner.resourceType; }
  /** The resource as a plain object. */
  toJSON() { return JSON.parse(this.#inner.toJSON()); }
  /** Releases the wasm memory now (otherwise it is released when garbage-collected). */
  free() { this.#inner.free(); }
  /** @internal */
  get _inner() { return this.#inner; }
}

/** Parses a resource once for repeated evaluation. */
export function parseResource(resource) {
  return new ParsedResource(resource);
}

/** The FHIR version of the embedded definitions: "4.0.1". */
export function fhirVersion() {
  return raw.fhirVersion();
}

/** A type's element tree (`Patient`) or one element's definition (`Observation.value[x]`), as text. */
export function describe(target) {
  return raw.describe(target);
}

/** Validates a resource; returns an OperationOutcome (an "All OK" information issue when clean). */
export function validate(resource, options) {
  if (typeof resource === 'string' || resource instanceof Uint8Array) return JSON.parse(raw.validateText(put(text(resource)), options));
  if (resource === undefined || resource === null) return JSON.parse(raw.validate(resource, options));
  if (resource instanceof ParsedResource) resource = resource.toJSON();
  // From an object: no line/column positions (they would point into text the caller never saw).
  return JSON.parse(raw.validateInput(put(JSON.stringify(resource)), options));
}

/** Loads a FHIR NPM package (.tgz bytes) so its profiles can be validated against. */
export function loadPackage(bytes) {
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  return JSON.parse(raw.loadPackage(bytes));
}

/** Forgets every loaded package. */
export function clearPackages() {
  raw.clearPackages();
}

/** `name#version` of every loaded package. */
export function loadedPackages() {
  return raw.loadedPackages();
}

/** A compiled FHIRPath expression. */
export class CompiledExpression {
  #inner;
  constructor(expression) {
    this.#inner = raw.compile(expression);
  }
  get expression() { return this.#inner.expression; }
  /** The result values (as fhirpath.js returns them). */
  evaluate(resource, variables) {
    if (resource instanceof ParsedResource) return JSON.parse(this.#inner.evaluateParsed(resource._inner, variables));
    if (resource === undefined || resource === null) return JSON.parse(this.#inner.evaluate(resource, variables));
    return JSON.parse(this.#inner.evaluateInput(put(text(resource)), variables));
  }
  /** The results with their FHIR type, FHIRPath location and JSON pointer. */
  evaluateItems(resource, variables) {
    if (resource instanceof ParsedResource) return JSON.parse(this.#inner.evaluateItemsParsed(resource._inner, variables));
    if (resource === undefined || resource === null) return JSON.parse(this.#inner.evaluateItems(resource, variables));
    return JSON.parse(this.#inner.evaluateItemsInput(put(text(resource)), variables));
  }
  free() { this.#inner.free(); }
  /** @internal */
  get _inner() { return this.#inner; }
}

/** Compiles a FHIRPath expression once; throws on a syntax error. */
export function compile(expression) {
  return new CompiledExpression(expression);
}

/** One-shot FHIRPath evaluation (compiled expressions are cached). */
export function evaluate(expression, resource, variables) {
  return compileCached(expression).evaluate(resource, variables);
}

/** One-shot evaluation returning `{value, type, path, pointer}` items. */
export function evaluateItems(expression, resource, variables) {
  return compileCached(expression).evaluateItems(resource, variables);
}

const cache = new Map();
function compileCached(expression) {
  let c = cache.get(expression);
  if (!c) {
    if (cache.size > 256) cache.clear();
    c = compile(expression);
    cache.set(expression, c);
  }
  return c;
}

/** Applies a FHIRPath Patch (Parameters) or JSON Patch (array) to a resource; returns the result. */
export function applyPatch(resource, patch, contentType) {
  return JSON.parse(raw.applyPatch(text(resource), text(patch), contentType ?? undefined));
}

/** The patch turning `a` into `b`: FHIRPath Patch Parameters ('fhirpath', default) or JSON Patch ('json'). */
export function diff(a, b, format = 'fhirpath') {
  return JSON.parse(raw.diff(text(a), text(b), format));
}

/** True when the resource matches the FHIR search query (e.g. `name=peter&birthdate=ge1970`). */
export function matches(resourceType, query, resource) {
  return raw.matches(resourceType, query, text(resource));
}

/** The resource's search index entries: `{resourceType, id, params: {code: values}}`. */
export function extract(resource) {
  const e = JSON.parse(raw.extract(text(resource)));
  return { resourceType: e.resource_type, id: e.id ?? undefined, params: Object.fromEntries(e.params) };
}

/** Splits an NDJSON chunk (string or bytes) into records with line numbers; bad lines carry `error`. */
export function ndjsonRecords(chunk, options) {
  if (chunk instanceof ArrayBuffer) chunk = new Uint8Array(chunk);
  return JSON.parse(raw.ndjsonRecords(chunk, options));
}

/** Validates every line of an NDJSON chunk: `{line, resourceType, id, outcome}` per record. */
export function validateNdjson(chunk, options) {
  return ndjsonRecords(chunk, { parse: false }).map((r) => ({
    line: r.line,
    resourceType: r.resourceType,
    id: r.id,
    outcome: r.error ?? validate(r.text, options),
  }));
}

/** Resources as NDJSON text: one compact JSON object per line, newline-terminated. */
export function toNdjson(resources) {
  let out = '';
  for (const r of resources) out += (typeof r === 'string' ? r : JSON.stringify(r)) + '\n';
  return out;
}

/**
 * Many resources parsed once inside wasm (NDJSON text, a JSON array, a Bundle, or an array of
 * objects/strings): evaluate, validate and search all of them in one call each.
 */
export class ResourceCollection {
  #inner;
  constructor(source) {
    if (source instanceof Uint8Array) source = new TextDecoder().decode(source);
    if (Array.isArray(source)) source = `[${source.map(json).join(',')}]`;
    this.#inner = typeof source === 'string' ? raw.ResourceCollection.fromInput(put(source)) : new raw.ResourceCollection(source);
  }
  get size() { return this.#inner.size; }
  /** Resource `index` as an object. */
  get(index) { return JSON.parse(this.#inner.get(index)); }
  /** One result array per resource. `expression` is text or a CompiledExpression. */
  evaluate(expression, variables) {
    const compiled = typeof expression === 'string' ? compileCached(expression) : expression;
    return JSON.parse(this.#inner.evaluate(compiled._inner, variables));
  }
  /** One OperationOutcome per resource. */
  validate(options) { return JSON.parse(this.#inner.validate(options)); }
  /** Indexes of the resources matching the search. */
  search(resourceType, query) { return Array.from(this.#inner.search(resourceType, query)); }
  free() { this.#inner.free(); }
}

/** Parses many resources once (NDJSON, JSON array, Bundle, or an array). */
export function collection(source) {
  return new ResourceCollection(source);
}
