// Types of the firn-fhir package: FHIR R4 validation, FHIRPath, patch, search and NDJSON in wasm.

/** Any FHIR resource as JSON. */
export interface Resource {
  resourceType: string;
  id?: string;
  meta?: { profile?: string[]; versionId?: string; lastUpdated?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** A resource as a JS object, or as JSON text (the fast path: parsed once, inside wasm). */
export type ResourceInput = Resource | string | Uint8Array | ParsedResource;

export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';

/** FHIR R4 IssueType codes (http://hl7.org/fhir/issue-type). */
export type IssueType =
  | 'invalid' | 'structure' | 'required' | 'value' | 'invariant' | 'security' | 'login' | 'unknown'
  | 'expired' | 'forbidden' | 'suppressed' | 'processing' | 'not-supported' | 'duplicate'
  | 'multiple-matches' | 'not-found' | 'deleted' | 'too-long' | 'code-invalid' | 'extension'
  | 'too-costly' | 'business-rule' | 'conflict' | 'transient' | 'lock-error' | 'no-store'
  | 'exception' | 'timeout' | 'incomplete' | 'throttled' | 'informational';

export interface CodeableConcept {
  coding?: { system?: string; code?: string; display?: string }[];
  text?: string;
}

export interface Extension {
  url: string;
  [value: string]: unknown;
}

/** One OperationOutcome.issue. */
export interface OperationOutcomeIssue {
  severity: IssueSeverity;
  code: IssueType;
  details?: CodeableConcept;
  diagnostics?: string;
  /** FHIRPath locations of the problem, e.g. `Patient.name[0].given[1]`. */
  expression?: string[];
  /** Line and column in JSON text (when the input was a string). */
  extension?: Extension[];
}

/** A FHIR R4 OperationOutcome. */
export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

/** Every error thrown by the package: a JS Error carrying the OperationOutcome. */
export interface FirnError extends Error {
  name: 'FirnError';
  outcome: OperationOutcome;
}

export type ValidationLevel = 'strict' | 'structure-only' | 'minimal';

export interface ValidateOptions {
  /** Canonical URLs of profiles (from loaded packages) to validate against, besides meta.profile. */
  profiles?: string[];
  /** strict (default): everything checked; structure-only; minimal: reported, never rejected. */
  level?: ValidationLevel;
  /** Evaluate FHIRPath invariants (`constraint`s such as pat-1, per-1); default true. */
  invariants?: boolean;
}

/** Validates a resource. Problems are issues of the returned outcome; bad options throw FirnError. */
export function validate(resource: ResourceInput, options?: ValidateOptions): OperationOutcome;

export interface PackageInfo {
  name: string;
  version: string;
  /** Number of conformance resources in the package. */
  resources: number;
  /** Canonical URLs of the package's StructureDefinitions. */
  profiles: string[];
  dependencies: Record<string, string>;
}

/** Loads a FHIR NPM package (.tgz bytes); throws FirnError when the bytes are not a package. */
export function loadPackage(bytes: Uint8Array | ArrayBuffer): PackageInfo;
export function clearPackages(): void;
/** `name#version` of the loaded packages. */
export function loadedPackages(): string[];

/** FHIRPath %variables. */
export type Variables = Record<string, unknown>;

/** A FHIRPath result with its type and location. */
export interface FhirPathItem {
  /** The value as FHIR JSON (a primitive, or an object for complex types and Quantity). */
  value: unknown;
  /** FHIR type (`string`, `HumanName`, `Patient`) or System type (`System.Integer`). */
  type: string;
  /** FHIRPath location of an input node (`Patient.name[0].given[1]`); null for computed values. */
  path: string | null;
  /** RFC 6901 JSON pointer of an input node (`/name/0/given/1`); null for computed values. */
  pointer: string | null;
}

export class CompiledExpression {
  readonly expression: string;
  evaluate(resource: ResourceInput, variables?: Variables): unknown[];
  evaluateItems(resource: ResourceInput, variables?: Variables): FhirPathItem[];
  /** Releases the wasm memory now (otherwise released when garbage-collected). */
  free(): void;
}

/** Compiles a FHIRPath expression; throws FirnError (with line/column) on a syntax error. */
export function compile(expression: string): CompiledExpression;
export function evaluate(expression: string, resource: ResourceInput, variables?: Variables): unknown[];
export function evaluateItems(expression: string, resource: ResourceInput, variables?: Variables): FhirPathItem[];

/** A resource parsed once and kept inside wasm. */
export class ParsedResource {
  constructor(resource: Resource | string | Uint8Array);
  readonly resourceType: string | undefined;
  toJSON(): Resource;
  free(): void;
}
export function parseResource(resource: Resource | string | Uint8Array): ParsedResource;

/** RFC 6902 JSON Patch. */
export type JsonPatchOperation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };
export type JsonPatch = JsonPatchOperation[];

export interface ParametersParameter {
  name: string;
  part?: ParametersParameter[];
  resource?: Resource;
  [value: string]: unknown;
}

/** A FHIR Parameters resource (FHIRPath Patch). */
export interface Parameters {
  resourceType: 'Parameters';
  parameter?: ParametersParameter[];
}

export type PatchContentType = 'application/json-patch+json' | 'application/fhir+json' | 'application/json';

/** Applies a patch atomically; throws FirnError naming the failing operation. */
export function applyPatch<R extends Resource = Resource>(
  resource: R | string,
  patch: JsonPatch | Parameters | Resource | string,
  contentType?: PatchContentType,
): R;

export function diff(a: Resource | string, b: Resource | string, format?: 'fhirpath'): Parameters;
export function diff(a: Resource | string, b: Resource | string, format: 'json'): JsonPatch;

/** True when the resource matches the search query; unknown parameters throw FirnError. */
export function matches(resourceType: string, query: string, resource: Resource | string): boolean;

export interface SearchEntries {
  resourceType: string;
  id?: string;
  /** Normalised index values per search parameter code. */
  params: Record<string, unknown[]>;
}
export function extract(resource: Resource | string): SearchEntries;

export interface NdjsonOptions {
  /** Line number of the chunk's first line (default 1). */
  firstLine?: number;
  /** Byte offset of the chunk in its file (default 0). */
  offset?: number;
  /** Return each line parsed as `resource` (default true). */
  parse?: boolean;
  expectedType?: string;
  rejectDuplicateIds?: boolean;
  rejectConditionalReferences?: boolean;
}

export interface NdjsonRecord {
  line: number;
  offset: number;
  resourceType?: string;
  id?: string;
  text?: string;
  resource?: Resource;
  /** Why the line was rejected. */
  error?: OperationOutcome;
}

export function ndjsonRecords(chunk: string | Uint8Array | ArrayBuffer, options?: NdjsonOptions): NdjsonRecord[];
export function validateNdjson(
  chunk: string | Uint8Array | ArrayBuffer,
  options?: ValidateOptions,
): { line: number; resourceType?: string; id?: string; outcome: OperationOutcome }[];
export function toNdjson(resources: (Resource | string)[]): string;

/** "4.0.1" */
export function fhirVersion(): string;
/** A type's element tree or an element's definition, as text. */
export function describe(target: string): string;

/**
 * Many resources parsed once inside wasm: evaluate, validate and search all of them in one call,
 * without crossing the JS↔wasm boundary per resource (the fastest way to process a file).
 */
export class ResourceCollection {
  /** NDJSON text, a JSON array of resources, a Bundle (its entry resources), or an array of resources. */
  constructor(source: string | Uint8Array | (Resource | string)[] | Resource);
  readonly size: number;
  get(index: number): Resource;
  /** One result array per resource. */
  evaluate(expression: string | CompiledExpression, variables?: Variables): unknown[][];
  /** One OperationOutcome per resource. */
  validate(options?: ValidateOptions): OperationOutcome[];
  /** Indexes of the resources that match the search query. */
  search(resourceType: string, query: string): number[];
  free(): void;
}
export function collection(source: string | Uint8Array | (Resource | string)[] | Resource): ResourceCollection;
