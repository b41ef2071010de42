// The header's menus (templates/base.html): disclosure buttons that show or hide what they control.
//
//   <button aria-expanded="false" aria-controls="ID" data-disclosure>  shows or hides #ID (`hidden`)
//   <button aria-expanded="false" aria-controls="ID" data-disclosure="panel">  the narrow-screen
//       "Menu" button: #ID gets the class `is-open` (on wide screens the panel is always shown)
//
// A button opens and closes with a click, Enter or Space (a native button); Escape closes the open
// menu and gives the focus back to its button; a click or the focus elsewhere closes it. One menu
// is open at a time.
"use strict";

(() => {
  const disclosures = () => document.querySelectorAll("[data-disclosure]");
  const target = (button) => document.getElementById(button.getAttribute("aria-controls"));
  const isOpen = (button) => button.getAttribute("aria-expanded") === "true";

  function setOpen(button, open) {
    const controlled = target(button);
    if (!controlled) return;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (button.dataset.disclosure === "panel") {
      controlled.classList.toggle("is-open", open);
      document.body.classList.toggle("nav-open", open);
    } else {
      controlled.hidden = !open;
    }
  }

  // The menus (not the panel) that are open, except those containing `keep`.
  function closeMenus(keep) {
    for (const button of disclosures()) {
      if (button.dataset.disclosure === "panel" || !isOpen(button)) continue;
      if (keep && button.parentElement.contains(keep)) continue;
      setOpen(button, false);
    }
  }

  function closePanel() {
    for (const button of document.querySelectorAll('[data-disclosure="panel"]')) {
      if (isOpen(button)) setOpen(button, false);
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-disclosure]");
    if (button) {
      const open = !isOpen(button);
      if (button.dataset.disclosure !== "panel") closeMenus(button.parentElement);
      setOpen(button, open);
      return;
    }
    // A click outside the open menu closes it; outside the header, the panel closes too.
    closeMenus(event.target);
    if (!event.target.closest(".topbar")) closePanel();
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = [...disclosures()].filter((b) => b.dataset.disclosure !== "panel" && isOpen(b));
    if (open.length) {
      for (const button of open) setOpen(button, false);
      open[open.length - 1].focus();
      return;
    }
    const panel = document.querySelector('[data-disclosure="panel"][aria-expanded="true"]');
    if (panel) {
      setOpen(panel, false);
      panel.focus();
    }
  });

  // Tabbing out of a menu that pops up closes it. (In the narrow-screen panel the menus are
  // sections that push what follows down: closing one as the pointer goes down on the next button
  // would move that button away from under it.)
  document.addEventListener("focusout", (event) => {
    const menu = event.target.closest(".navmenu");
    if (!menu || !event.relatedTarget || menu.contains(event.relatedTarget)) return;
    const button = menu.querySelector(":scope > [data-disclosure]");
    if (!button || !isOpen(button)) return;
    if (getComputedStyle(target(button)).position !== "absolute") return;
    setOpen(button, false);
  });

  // The menu holding the current page is marked, so the reader sees where they are.
  for (const button of disclosures()) {
    const controlled = target(button);
    if (controlled && button.dataset.disclosure !== "panel" && controlled.querySelector("[aria-current]")) {
      button.classList.add("has-current");
    }
  }
})();

// A table or wrapper that scrolls sideways (narrow screens) and holds nothing focusable can still be
// scrolled from the keyboard: it takes the focus itself. Checked again after htmx swaps a part in.
(() => {
  const SCROLLERS = "table.grid, .table-wrap, .table-scroll";
  const FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";

  function reachable(root) {
    for (const box of root.querySelectorAll(SCROLLERS)) {
      if (box.hasAttribute("tabindex") || box.querySelector(FOCUSABLE)) continue;
      if (box.scrollWidth > box.clientWidth + 1) box.setAttribute("tabindex", "0");
    }
  }

  reachable(document);
  document.addEventListener("htmx:afterSettle", (event) => reachable(event.target.parentElement || document));
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => reachable(document), 200);
  });
})();
