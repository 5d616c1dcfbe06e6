// Toasts: short news in the corner, grouped when many stories have the same news.
import { translate } from "./i18n.js";
import { byId, createElement } from "./dom.js";

const MAX_TOASTS = 4;
/** @type {Map<string, { el: HTMLElement, stories: string[], keep: () => void }>} group -> its toast */
const toastGroups = new Map();

/**
 * Show `text` for `ms` milliseconds; `keep()` starts the time again.
 * @param {string} text
 * @param {string} kind  info, success or error (the style sheet colours it)
 * @param {number} ms
 */
function showToast(text, kind, ms) {
  const box = byId("toasts");
  while (box.children.length >= MAX_TOASTS) box.firstElementChild?.remove();
  const el = createElement("div", { className: "toast", role: "status", dataset: { kind } }, text);
  box.append(el);
  /** @type {number | undefined} */
  let timer;
  const keep = () => {
    clearTimeout(timer);
    timer = setTimeout(() => el.remove(), ms);
  };
  keep();
  return { el, keep };
}

/**
 * @param {string} text
 * @param {string} [kind]  info, success or error
 * @param {number} [ms]
 */
export function toast(text, kind = "info", ms = 5000) {
  showToast(text, kind, ms);
}

/**
 * One toast for news of the same kind about several stories ("US-1, US-2 and 6 more: queued").
 * @param {string} group
 * @param {string} storyId
 * @param {string} single  the text for one story
 * @param {string} suffix  what follows the stories' ids for several
 * @param {string} [kind]
 */
export function groupedToast(group, storyId, single, suffix, kind = "info") {
  const current = toastGroups.get(group);
  if (current && current.el.isConnected) {
    current.stories.push(storyId);
    const shown = current.stories.slice(0, 3).join(", ");
    const more = current.stories.length > 3 ? translate("toast.more", { count: current.stories.length - 3 }) : "";
    current.el.textContent = `${shown}${more}: ${suffix}`;
    current.keep();
    return;
  }
  toastGroups.set(group, { ...showToast(single, kind, 5000), stories: [storyId] });
}
