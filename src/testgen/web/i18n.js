// The page's words in the reader's language: the message table comes from the server
// (/static/messages.js, from core/locales/<lang>.json, run before the modules), chosen by the page's
// language setting (a cookie), else by the browser's Accept-Language. index.html is written in
// English; translatePage() swaps each of its texts for the same message in the chosen table. Scripts
// ask translate(key, params) for theirs.
const COOKIE = "testgen_language";
/** @type {import("./types.js").MessageTable} */
const table = /** @type {any} */ (window).TESTGEN_MESSAGES || { language: "en", languages: ["en"], messages: {}, source: {} };
export const language = table.language;
export const languages = table.languages;

/** The language chosen in the page ("" when it follows the browser). */
export function chosenLanguage() {
  const match = document.cookie.match(/(?:^|;\s*)testgen_language=([\w-]+)/);
  return match ? match[1] : "";
}

/**
 * Message `key` with its {params} filled in (the English text when the table lacks it).
 * @param {string} key
 * @param {Object<string, string | number>} [params]
 */
export function translate(key, params = {}) {
  const text = table.messages[key] ?? table.source[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/**
 * Choose the page's language (empty: the browser's) and show the page in it.
 * @param {string} code
 */
export function chooseLanguage(code) {
  const age = code ? 365 * 24 * 3600 : 0;
  document.cookie = `${COOKIE}=${encodeURIComponent(code)}; path=/; max-age=${age}; SameSite=Lax`;
  location.reload();
}

const ATTRIBUTES = ["placeholder", "aria-label", "title"];
/** @param {string} text */
const normalizeSpace = (text) => text.replace(/\s+/g, " ").trim();

/**
 * The static page (index.html) in the chosen language: each text that is an English message of the
 * page ("page." keys) becomes that message in the chosen table.
 * @param {HTMLElement} [root]
 */
export function translatePage(root = document.body) {
  document.documentElement.lang = language;
  if (language === "en") return;
  const byText = new Map();
  for (const [key, text] of Object.entries(table.source)) {
    if (key.startsWith("page.") && !byText.has(normalizeSpace(text))) {
      byText.set(normalizeSpace(text), key);
    }
  }
  /** @param {string} text */
  const swap = (text) => {
    const key = byText.get(normalizeSpace(text));
    return key && table.messages[key] !== undefined ? table.messages[key] : null;
  };
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("script, style")) continue;
    const text = normalizeSpace(node.nodeValue ?? "");
    if (!text) continue;
    const translated = swap(text);
    if (translated !== null) node.nodeValue = (node.nodeValue ?? "").replace(/\S[\s\S]*\S|\S/, translated);
  }
  for (const el of root.querySelectorAll(ATTRIBUTES.map((a) => `[${a}]`).join(","))) {
    for (const name of ATTRIBUTES) {
      const value = el.getAttribute(name);
      const translated = value ? swap(value) : null;
      if (translated !== null) el.setAttribute(name, translated);
    }
  }
  document.title = "testgen";
}
