import type { JsonValue } from "../../lib/types.js";
import type { ManifestCase } from "./manifest.js";

// Typed reads of a case's scalar params; errors name the case and the key.

export type JsonObject = { [key: string]: JsonValue };

function fail(testCase: ManifestCase, key: string, expected: string): never {
  throw new Error(
    `${testCase.name}: params.${key} must be ${expected}, got ${JSON.stringify(testCase.params[key])}`,
  );
}

export function hasParam(testCase: ManifestCase, key: string): boolean {
  return Object.hasOwn(testCase.params, key);
}

export function numberParam(testCase: ManifestCase, key: string): number {
  const value = testCase.params[key];
  if (typeof value !== "number" || !Number.isFinite(value)) fail(testCase, key, "a number");
  return value;
}

export function integerParam(testCase: ManifestCase, key: string): number {
  const value = numberParam(testCase, key);
  if (!Number.isInteger(value)) fail(testCase, key, "an integer");
  return value;
}

export function booleanParam(testCase: ManifestCase, key: string): boolean {
  const value = testCase.params[key];
  if (typeof value !== "boolean") fail(testCase, key, "true or false");
  return value;
}

export function stringParam(testCase: ManifestCase, key: string): string {
  const value = testCase.params[key];
  if (typeof value !== "string") fail(testCase, key, "a string");
  return value;
}

export function objectParam(testCase: ManifestCase, key: string): JsonObject {
  const value = testCase.params[key];
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(testCase, key, "an object");
  return value;
}

export function stringListParam(testCase: ManifestCase, key: string): string[] {
  const value = testCase.params[key];
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === "string")) {
    fail(testCase, key, "a list of strings");
  }
  return value;
}

/** A number, or null when the key holds null. */
export function nullableNumberParam(testCase: ManifestCase, key: string): number | null {
  return testCase.params[key] === null ? null : numberParam(testCase, key);
}
