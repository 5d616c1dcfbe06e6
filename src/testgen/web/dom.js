// Small DOM helpers: text is always set as text, never parsed as HTML.
export const $ = (selector, root = document) => root.querySelector(selector);

// --- tiny DOM helper: text is always set as text, never parsed as HTML --------------------------
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name in el && name !== "list") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const enc = encodeURIComponent;
// form.elements, not form[name]: a field named "id" or "title" would otherwise be confused with the
// form's own properties of that name.
export const field = (form, name) => form.elements.namedItem(name);
