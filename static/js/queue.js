// The incident queue's keyboard and selection: `j`/`k` move a visible focus between rows, `Enter`
// opens the focused incident, `x` ticks or clears its box; the bulk bar counts the ticked rows.
// Keys are ignored while typing in a field. Everything is delegated from the document, so the rows
// htmx swaps in work without being wired again; the page works without this file.
"use strict";

(() => {
  const CURRENT = "is-current";

  function rows() {
    return [...document.querySelectorAll("[data-queue-table] tbody tr")];
  }

  function currentRow() {
    return document.querySelector(`[data-queue-table] tbody tr.${CURRENT}`);
  }

  function typing(target) {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable) return true;
    if (target.matches("textarea, select")) return true;
    return target.matches("input") && !["checkbox", "radio", "button", "submit", "reset"].includes(target.type);
  }

  function focusRow(row) {
    const previous = currentRow();
    if (previous) {
      previous.classList.remove(CURRENT);
      previous.removeAttribute("aria-current");
    }
    row.classList.add(CURRENT);
    row.setAttribute("aria-current", "true");
    const link = row.querySelector("td.reference a");
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.indexOf(currentRow());
    const next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    focusRow(all[next]);
  }

  function updateCount() {
    const label = document.querySelector("[data-selection-count]");
    if (!label) return;
    const ticked = document.querySelectorAll('#bulk input[name="incident"]:checked').length;
    if (ticked === 0) return;
    const text = ticked === 1 ? label.dataset.one : label.dataset.many;
    label.textContent = text.replace("#", String(ticked));
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    if (!document.querySelector("[data-queue-table]")) return;
    const key = event.key;
    if (key === "j" || key === "k") {
      event.preventDefault();
      move(key === "j" ? 1 : -1);
    } else if (key === "x") {
      const row = currentRow();
      const box = row && row.querySelector('input[name="incident"]');
      if (!box) return;
      event.preventDefault();
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    } else if (key === "Enter") {
      const row = currentRow();
      // On a link or a button the browser's own Enter does the job.
      if (!row || (event.target instanceof Element && event.target.closest("a, button, summary"))) return;
      const link = row.querySelector("td.reference a");
      if (!link) return;
      event.preventDefault();
      window.location.assign(link.href);
    }
  });

  // A click on a row makes it the current one, so the keys carry on from there.
  document.addEventListener("click", (event) => {
    const row = event.target instanceof Element && event.target.closest("[data-queue-table] tbody tr");
    if (row && row !== currentRow()) {
      const previous = currentRow();
      if (previous) {
        previous.classList.remove(CURRENT);
        previous.removeAttribute("aria-current");
      }
      row.classList.add(CURRENT);
      row.setAttribute("aria-current", "true");
    }
  });

  document.addEventListener("change", (event) => {
    const field = event.target;
    if (!(field instanceof HTMLInputElement)) return;
    if (field.name === "incident" || field.matches("[data-select-all]")) updateCount();
  });

  document.addEventListener("htmx:afterSwap", updateCount);
  document.addEventListener("DOMContentLoaded", updateCount);
  updateCount();
})();
