// The bounds of the page's inputs, as the API checks them (LIMITS, from the server): an input refuses
// what the API would refuse, and no bound is written twice. index.html names each bounded input's
// bounds in `data-limit="<group>.<input>"`; scripts spread inputLimits(…) into the inputs they build.
import { LIMITS } from "./constants.js";

/**
 * The properties of an input that hold it to `bounds` (undefined ones are left out by createElement).
 * @param {import("./types.js").Bounds} bounds
 */
export function inputLimits(bounds) {
  return {
    min: bounds.minimum,
    max: bounds.maximum,
    minLength: bounds.min_length,
    maxLength: bounds.max_length,
    pattern: bounds.pattern,
  };
}

const ATTRIBUTES = /** @type {const} */ ([
  ["minimum", "min"],
  ["maximum", "max"],
  ["min_length", "minlength"],
  ["max_length", "maxlength"],
  ["pattern", "pattern"],
]);

/**
 * Give each `[data-limit]` input of `root` the bounds it names.
 * @param {ParentNode} root
 */
export function applyInputLimits(root) {
  /** @type {Object<string, Object<string, import("./types.js").Bounds>>} */
  const groups = /** @type {any} */ (LIMITS);
  for (const input of root.querySelectorAll("[data-limit]")) {
    const [group, name] = (input.getAttribute("data-limit") ?? "").split(".");
    const bounds = groups[group] && groups[group][name];
    if (!bounds) throw new Error(`data-limit="${group}.${name}": the server sends no such limit`);
    for (const [key, attribute] of ATTRIBUTES) {
      const value = bounds[key];
      if (value !== undefined) input.setAttribute(attribute, String(value));
    }
  }
}
