// Public surface of the sidecar package (grows with the server in later issues).
export * from "./engine/models.js";
export * from "./engine/python-json.js";
export * from "./engine/text-to-image.js";
export * from "./images/encode.js";
