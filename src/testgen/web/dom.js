// Small DOM helpers: text is always set as text, never parsed as HTML.

/**
 * The page's element with this id, checked to be a `type` (an error names a missing or other one).
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T, prototype: T }} [type]  HTMLElement when not given
 * @returns {T}
 */
export function byId(id, type) {
  const found = document.getElementById(id);
  const expected = type ?? HTMLElement;
  if (!(found instanceof expected)) throw new Error(`#${id}: no ${expected.name} of that id in the page`);
  return /** @type {T} */ (found);
}

/**
 * A new element: `props` become properties (or attributes, for names the element has no property
 * of; `on…` names add listeners; `dataset` fills data-*), `children` text nodes or elements.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Object<string, any>} [props]
 * @param {...any} children  nodes, text, arrays of them; null, undefined and false are left out
 * @returns {HTMLElementTagNameMap[K]}
 */
export function createElement(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  const writable = /** @type {Object<string, any>} */ (el);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name in el && name !== "list") writable[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * One segment of a URL path (a story id may hold characters a path does not take as they are).
 * @param {string} segment
 */
export function encodePath(segment) {
  return encodeURIComponent(segment);
}

/**
 * A form's field by name. form.elements, not form[name]: a field named "id" or "title" would
 * otherwise be confused with the form's own properties of that name.
 * @param {HTMLFormElement} form
 * @param {string} name
 * @returns {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement}
 */
export function formField(form, name) {
  const found = form.elements.namedItem(name);
  if (!(found instanceof HTMLInputElement || found instanceof HTMLSelectElement || found instanceof HTMLTextAreaElement)) {
    throw new Error(`the form has no field named ${name}`);
  }
  return found;
}
