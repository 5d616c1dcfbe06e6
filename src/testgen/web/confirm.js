// A confirmation before anything is deleted, naming what goes. Resolves to true when confirmed.
import { translate } from "./i18n.js";
import { byId } from "./dom.js";

/**
 * @param {string} title
 * @param {string} text
 * @param {string} [okLabel]
 * @returns {Promise<boolean>}
 */
export function confirmDelete(title, text, okLabel = translate("page.delete")) {
  const dialog = byId("confirm-dialog", HTMLDialogElement);
  byId("confirm-title").textContent = title;
  byId("confirm-text").textContent = text;
  byId("confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    /** @param {boolean} answer */
    const done = (answer) => {
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    byId("confirm-ok").onclick = () => done(true);
    byId("confirm-cancel").onclick = () => done(false);
    dialog.onclose = () => done(false); // Escape
    dialog.showModal();
    byId("confirm-cancel").focus(); // the safe choice has the focus
  });
}
