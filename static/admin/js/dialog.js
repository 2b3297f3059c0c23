// Confirmation for every destructive action, in the page's one <dialog>: modal (the rest of
// the page is inert), Tab and Shift+Tab kept inside, Escape cancels, focus goes back to the
// control that opened it. The safe choice (cancel) has the focus first.
import { t } from "./i18n.js";

const FOCUSABLE = "button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])";

/** confirmAction({title, text, ok}) → Promise<boolean> */
export function confirmAction({ title, text, ok }) {
  const dialog = document.getElementById("confirm");
  const opener = document.activeElement;
  dialog.querySelector("#confirm-title").textContent = title;
  dialog.querySelector("#confirm-text").textContent = text || "";
  dialog.querySelector("#confirm-ok").textContent = ok || t("confirm.ok");
  dialog.querySelector("#confirm-cancel").textContent = t("confirm.cancel");
  dialog.returnValue = "cancel";

  const trap = (event) => {
    if (event.key !== "Tab") return;
    const items = [...dialog.querySelectorAll(FOCUSABLE)].filter((el) => !el.disabled);
    const first = items[0];
    const last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  };
  dialog.addEventListener("keydown", trap);
  dialog.showModal();
  dialog.querySelector("#confirm-cancel").focus();

  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        dialog.removeEventListener("keydown", trap);
        if (opener && typeof opener.focus === "function" && opener.isConnected) opener.focus();
        resolve(dialog.returnValue === "ok");
      },
      { once: true },
    );
  });
}
