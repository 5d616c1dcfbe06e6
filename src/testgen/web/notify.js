// "Ready while away": a browser notification when a draft becomes ready while the tab is hidden.
// Permission is asked for only from a user gesture (a Generate click), never on load.
import { openReview } from "./review.js";

const supported = () => "Notification" in window;

/** Ask once, from a click handler, whether the page may notify (the browser remembers the answer). */
export function askToNotify() {
  if (supported() && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
}

export function notifyReady(job, count) {
  if (!supported() || Notification.permission !== "granted" || document.visibilityState !== "hidden") return;
  const notification = new Notification(`${job.story_id}: ready for review`, {
    body: `${count} suggested test cases are waiting for your review in testgen.`,
    tag: job.task_id, // one notification per draft, even if the news comes twice
  });
  notification.onclick = () => {
    window.focus();
    notification.close();
    openReview(job.task_id);
  };
}
