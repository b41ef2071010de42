// Toasts: the page's messages in a fixed region (templates/includes/toasts.html), and those of
// htmx answers, which arrive in the answer's HX-Trigger header as the `phToast` event
// ({"phToast": [{"level": "success", "text": "…"}]}). Successes and notes hide after a few
// seconds (not while the pointer or the keyboard is on them); warnings and errors stay until
// dismissed. Text is inserted as text, never as HTML.
"use strict";

(() => {
  const AUTO_HIDE_MS = 6000;
  const PERSISTENT = new Set(["warning", "error"]);

  function region(level) {
    const id = PERSISTENT.has(level) ? "toasts-alert" : "toasts-status";
    const container = document.getElementById(id);
    return container ? container.querySelector(".toast-list") : null;
  }

  function dismiss(toast) {
    window.clearTimeout(toast.phTimer);
    toast.remove();
  }

  function schedule(toast) {
    if (PERSISTENT.has(toast.dataset.level)) return;
    window.clearTimeout(toast.phTimer);
    toast.phTimer = window.setTimeout(() => dismiss(toast), AUTO_HIDE_MS);
  }

  function pause(toast) {
    window.clearTimeout(toast.phTimer);
  }

  function wire(toast) {
    if (toast.phWired) return;
    toast.phWired = true;
    toast.addEventListener("mouseenter", () => pause(toast));
    toast.addEventListener("mouseleave", () => schedule(toast));
    toast.addEventListener("focusin", () => pause(toast));
    toast.addEventListener("focusout", () => schedule(toast));
    schedule(toast);
  }

  function show(level, text) {
    const list = region(level);
    if (!list || !text) return;
    const toasts = document.getElementById("toasts");
    const item = document.createElement("li");
    item.className = `toast ${level}`;
    item.dataset.toast = "";
    item.dataset.level = level;
    const body = document.createElement("span");
    body.className = "toast-text";
    body.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.dataset.toastDismiss = "";
    close.setAttribute("aria-label", toasts?.dataset.dismissLabel || "Dismiss");
    close.textContent = "×";
    item.append(body, close);
    list.append(item);
    wire(item);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-toast-dismiss]");
    if (button) dismiss(button.closest("[data-toast]"));
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const toast = document.activeElement?.closest?.("[data-toast]");
    if (toast) dismiss(toast);
  });

  document.addEventListener("phToast", (event) => {
    const detail = event.detail || {};
    const toasts = Array.isArray(detail) ? detail : Array.isArray(detail.value) ? detail.value : [];
    for (const toast of toasts) show(String(toast.level || "info"), String(toast.text || ""));
  });

  function wireAll() {
    for (const toast of document.querySelectorAll("[data-toast]")) wire(toast);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wireAll);
  else wireAll();
})();
