// The library's public surface. Values and types are exported in separate lists.
export { VERSION } from './version.js';
