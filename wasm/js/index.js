// Browser / bundler entry: fetches and instantiates the .wasm next to this file (top-level await),
// then exposes the API. To load the .wasm from elsewhere, import `firn-fhir/api` after calling
// `init(urlOrBytes)` from `firn-fhir/init`.
import init from './firn_wasm.js';

await init({ module_or_path: new URL('./firn_wasm_bg.wasm', import.meta.url) });

export * from './api.js';
