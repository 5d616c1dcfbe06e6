// Polite announcements for screen readers (an aria-live region): badge changes, list updates.
import { byId } from "./dom.js";

/** @type {number | undefined} */
let clearTimer;

/** @param {string} text */
export function announce(text) {
  const region = byId("announcer");
  // Several changes at once are read together; the region empties after a while so that the same
  // news later is announced again.
  region.textContent = region.textContent ? `${region.textContent}. ${text}` : text;
  clearTimeout(clearTimer);
  clearTimer = setTimeout(() => (region.textContent = ""), 4000);
}
