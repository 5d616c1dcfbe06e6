// The page's words in the reader's language: the message table comes from the server
// (/static/messages.json, core/locales/<lang>.json), chosen by the setting below, else by the browser's
// Accept-Language. index.html is written in English; translatePage() swaps each of its texts for the
// same message in the chosen table. Scripts ask t(key, params) for theirs.
const STORAGE_KEY = "testgen.language";

async function loadTable() {
  const chosen = localStorage.getItem(STORAGE_KEY) || "";
  try {
    const response = await fetch(`/static/messages.json${chosen ? `?lang=${encodeURIComponent(chosen)}` : ""}`);
    if (response.ok) return await response.json();
  } catch {
    // the page still works, in the words of its HTML
  }
  return { language: "en", languages: ["en"], messages: {}, source: {} };
}

const table = await loadTable();
export const language = table.language;
export const languages = table.languages;

/** Message `key` with its {params} filled in (the English text when the table lacks it). */
export function t(key, params = {}) {
  const text = table.messages[key] ?? table.source[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Choose the page's language (empty: the browser's) and show the page in it. */
export function chooseLanguage(code) {
  if (code) localStorage.setItem(STORAGE_KEY, code);
  else localStorage.removeItem(STORAGE_KEY);
  location.reload();
}

const ATTRIBUTES = ["placeholder", "aria-label", "title"];
const norm = (text) => text.replace(/\s+/g, " ").trim();

/** The static page (index.html) in the chosen language: each text that is an English message of the
 * page ("page." and "priority." keys) becomes that message in the chosen table. */
export function translatePage(root = document.body) {
  document.documentElement.lang = language;
  if (language === "en") return;
  const byText = new Map();
  for (const [key, text] of Object.entries(table.source)) {
    if ((key.startsWith("page.") || key.startsWith("priority.")) && !byText.has(norm(text))) {
      byText.set(norm(text), key);
    }
  }
  const swap = (text) => {
    const key = byText.get(norm(text));
    return key && table.messages[key] !== undefined ? table.messages[key] : null;
  };
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("script, style")) continue;
    const text = norm(node.nodeValue);
    if (!text) continue;
    const translated = swap(text);
    if (translated !== null) node.nodeValue = node.nodeValue.replace(/\S[\s\S]*\S|\S/, translated);
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
