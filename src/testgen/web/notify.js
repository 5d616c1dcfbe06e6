// "Ready while away": a browser notification when a draft becomes ready while the tab is hidden.
// Permission is asked for only from a user gesture (a Generate click), never on load.
import { translate } from "./i18n.js";

const supported = () => "Notification" in window;

/** Ask once, from a click handler, whether the page may notify (the browser remembers the answer). */
export function askToNotify() {
  if (supported() && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
}

/**
 * Notify that `job`'s draft of `count` test cases is ready; a click on it calls `open`.
 * @param {import("./types.js").Job} job
 * @param {number} count
 * @param {() => void} open
 */
export function notifyReady(job, count, open) {
  if (!supported() || Notification.permission !== "granted" || document.visibilityState !== "hidden") return;
  const notification = new Notification(translate("notify.title", { id: job.story_id }), {
    body: translate("notify.body", { count }),
    tag: job.task_id, // one notification per draft, even if the news comes twice
  });
  notification.onclick = () => {
    window.focus();
    notification.close();
    open();
  };
}
