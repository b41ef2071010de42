// The command palette: Ctrl-K / ⌘-K, or "/" outside a field, opens a dialog that searches
// incidents, merchants, partners, pages and actions (cases:palette answers, filtered by what the
// user may open). Arrow keys move through the results, Enter opens one, Escape closes and gives
// focus back to where it was. Loaded with `defer` (no inline script under the CSP).
"use strict";

(() => {
  const dialog = document.getElementById("palette");
  if (!dialog) return;
  const input = dialog.querySelector("#palette-input");
  const listbox = dialog.querySelector("#palette-results");
  const status = dialog.querySelector(".palette-status");
  const DELAY_MS = 120;
  let returnFocus = null;
  let timer = null;
  let pending = null;
  let shown = null; // the query whose results are on screen

  // Apple keyboards say ⌘ where others say Ctrl.
  if (/Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent)) {
    for (const key of document.querySelectorAll("[data-palette-key]")) key.textContent = "⌘ K";
  }

  const options = () => [...listbox.querySelectorAll("[role=option]")];
  const selected = () => listbox.querySelector("[role=option][aria-selected=true]");

  function select(option) {
    for (const other of options()) other.setAttribute("aria-selected", other === option ? "true" : "false");
    if (option) {
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function render(data, query) {
    listbox.replaceChildren();
    let count = 0;
    for (const group of data.groups || []) {
      const box = document.createElement("div");
      box.setAttribute("role", "group");
      box.className = "palette-group";
      box.dataset.group = group.key;
      const label = document.createElement("div");
      label.setAttribute("role", "presentation");
      label.className = "palette-group-label";
      label.id = `palette-group-${group.key}`;
      label.textContent = group.label;
      box.setAttribute("aria-labelledby", label.id);
      box.append(label);
      for (const item of group.items) {
        const option = document.createElement("div");
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.className = "palette-option";
        option.id = `palette-option-${count}`;
        option.dataset.url = item.url;
        const title = document.createElement("span");
        title.className = "palette-option-label";
        title.textContent = item.label;
        option.append(title);
        if (item.detail) {
          const detail = document.createElement("span");
          detail.className = "palette-option-detail";
          detail.textContent = item.detail;
          option.append(detail);
        }
        box.append(option);
        count += 1;
      }
      listbox.append(box);
    }
    shown = query;
    input.setAttribute("aria-expanded", count ? "true" : "false");
    select(options()[0] || null);
    if (count === 0) {
      status.textContent = dialog.dataset.empty;
    } else {
      const many = dialog.dataset.countMany.replace("{count}", String(count));
      status.textContent = count === 1 ? dialog.dataset.countOne : many;
    }
  }

  async function load() {
    const query = input.value.trim();
    if (pending) pending.abort();
    pending = new AbortController();
    const url = new URL(dialog.dataset.url, window.location.href);
    url.searchParams.set("q", query);
    if (dialog.dataset.incident) url.searchParams.set("incident", dialog.dataset.incident);
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        signal: pending.signal,
      });
      const data = response.ok || response.status === 400 ? await response.json() : { groups: [] };
      render(data, query);
    } catch (error) {
      if (error.name === "AbortError") return;
      listbox.replaceChildren();
      select(null);
      status.textContent = dialog.dataset.failed;
    }
  }

  function open() {
    if (dialog.open) {
      input.select();
      return;
    }
    returnFocus = document.activeElement;
    dialog.showModal();
    input.value = "";
    shown = null;
    load();
    input.focus();
  }

  function go(option) {
    if (!option) return;
    dialog.close();
    window.location.assign(option.dataset.url);
  }

  function move(step) {
    const all = options();
    if (!all.length) return;
    const index = all.indexOf(selected());
    select(all[(index + step + all.length) % all.length]);
  }

  dialog.addEventListener("close", () => {
    if (pending) pending.abort();
    clearTimeout(timer);
    if (returnFocus && typeof returnFocus.focus === "function" && document.contains(returnFocus)) {
      returnFocus.focus();
    }
    returnFocus = null;
  });

  // A click on the backdrop (outside the dialog's box) closes it.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) {
      const box = dialog.getBoundingClientRect();
      const inside =
        event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) dialog.close();
    }
    const option = event.target.closest("[role=option]");
    if (option && listbox.contains(option)) go(option);
    if (event.target.closest("[data-palette-close]")) dialog.close();
  });

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(load, DELAY_MS);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      event.preventDefault();
      move(1);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      move(-1);
    } else if (event.key === "Home" && event.ctrlKey) {
      event.preventDefault();
      select(options()[0] || null);
    } else if (event.key === "End" && event.ctrlKey) {
      event.preventDefault();
      select(options().at(-1) || null);
    } else if (event.key === "Enter") {
      event.preventDefault();
      // Results of an older query still on screen: wait for the ones of what was typed.
      if (shown !== input.value.trim()) {
        clearTimeout(timer);
        load().then(() => go(selected()));
      } else {
        go(selected());
      }
    }
  });

  // Keep Tab inside the dialog: between the field and the close button.
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const stops = [...dialog.querySelectorAll("input, button")].filter((el) => !el.disabled);
    const first = stops[0];
    const last = stops.at(-1);
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });

  function typing(target) {
    return (
      target instanceof HTMLElement &&
      (target.isContentEditable || target.matches("input, textarea, select, [role=combobox], [role=textbox]"))
    );
  }

  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      open();
    } else if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !typing(event.target)) {
      if (dialog.open) return;
      event.preventDefault();
      open();
    }
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-palette-open]")) open();
  });
})();
