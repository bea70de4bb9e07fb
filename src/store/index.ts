export * from "./types.js";
export { openSqliteState } from "./sqlite-state.js";
