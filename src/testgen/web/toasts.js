// Toasts: short news in the corner, grouped when many stories have the same news.
import { $, h } from "./dom.js";

const MAX_TOASTS = 4;
const toastGroups = new Map(); // group -> { el, stories }

export function toast(text, kind = "info", ms = 5000) {
  const box = $("#toasts");
  while (box.children.length >= MAX_TOASTS) box.firstElementChild.remove();
  const el = h("div", { className: "toast", role: "status", dataset: { kind } }, text);
  box.append(el);
  el.dismiss = () => {
    clearTimeout(el.timer);
    el.timer = setTimeout(() => el.remove(), ms);
  };
  el.dismiss();
  return el;
}

/** One toast for news of the same kind about several stories ("US-1, US-2 and 6 more: queued"). */
export function groupedToast(group, storyId, single, suffix, kind) {
  const current = toastGroups.get(group);
  if (current && current.el.isConnected) {
    current.stories.push(storyId);
    const shown = current.stories.slice(0, 3).join(", ");
    const more = current.stories.length > 3 ? ` and ${current.stories.length - 3} more` : "";
    current.el.textContent = `${shown}${more}: ${suffix}`;
    current.el.dismiss();
    return;
  }
  toastGroups.set(group, { el: toast(single, kind), stories: [storyId] });
}
