// The few behaviours of PayHealth's pages that need a script of their own. They live in this file,
// not in the pages, because the Content-Security-Policy allows scripts from the site's own files
// only (no inline scripts or event handlers). Each is delegated from the document, so parts that
// htmx swaps in later work without being wired again.
"use strict";

document.addEventListener("change", (event) => {
  const field = event.target;
  // <select data-submit-on-change>: choosing an option submits its form (the language switch).
  if (field.matches("[data-submit-on-change]")) {
    field.form.submit();
  }
  // <input type="checkbox" data-select-all="NAME">: ticks or clears every box NAME of its form.
  if (field.matches("[data-select-all]")) {
    const name = field.dataset.selectAll;
    for (const box of field.form.elements) {
      if (box.type === "checkbox" && box.name === name) box.checked = field.checked;
    }
  }
});

// <details data-remember-open>: the hidden checkbox inside follows the open state, so a refresh of
// the section (which sends the boxes along) keeps open what the reader opened. `toggle` does not
// bubble: listen while it is captured.
document.addEventListener(
  "toggle",
  (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.matches("[data-remember-open]")) return;
    const box = details.querySelector("input[name=open]");
    if (box) box.checked = details.open;
  },
  true,
);
