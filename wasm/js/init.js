// Manual initialisation, for pages that serve the .wasm from another place:
//   import { init } from 'firn-fhir/init'; await init('/assets/firn_wasm_bg.wasm');
//   const firn = await import('firn-fhir/api');
import initWasm, { initSync as initWasmSync } from './firn_wasm.js';

/** Instantiates the module from a URL, Response, bytes or WebAssembly.Module. */
export function init(source) {
  return initWasm({ module_or_path: source });
}

/** Instantiates the module synchronously from bytes or a WebAssembly.Module. */
export function initSync(source) {
  return initWasmSync({ module: source });
}
