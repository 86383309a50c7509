// Public surface of the edge package (grows with the worker in later issues).
export * from "./encoding/base64.js";
export * from "./upstream/events.js";
