// Polite announcements for screen readers (an aria-live region): badge changes, list updates.
import { $ } from "./dom.js";

let clearTimer = null;

export function announce(text) {
  const region = $("#announcer");
  // Several changes at once are read together; the region empties after a while so that the same
  // news later is announced again.
  region.textContent = region.textContent ? `${region.textContent}. ${text}` : text;
  clearTimeout(clearTimer);
  clearTimer = setTimeout(() => (region.textContent = ""), 4000);
}
