// Node entry: instantiates the .wasm synchronously from the package directory.
import { readFileSync } from 'node:fs';
import { initSync } from './firn_wasm.js';

initSync({ module: readFileSync(new URL('./firn_wasm_bg.wasm', import.meta.url)) });

export * from './api.js';
