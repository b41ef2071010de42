// Loaded before Redoc on the API reference page. Redoc's sidebar shows a logo from Redocly's CDN,
// with no option to turn it off; the page's Content-Security-Policy would refuse it (and report a
// violation), and PayHealth's pages load nothing from elsewhere. An image is never given an
// address of another site here (React sets `src` both as an attribute and as a property), so the
// browser never asks for it; the link text stays.
"use strict";

(() => {
  const elsewhere = (value) => {
    try {
      return new URL(String(value), location.href).origin !== location.origin && /^https?:/i.test(String(value));
    } catch {
      return false;
    }
  };
  const setAttribute = Element.prototype.setAttribute;
  HTMLImageElement.prototype.setAttribute = function (name, value) {
    if (String(name).toLowerCase() === "src" && elsewhere(value)) return;
    setAttribute.call(this, name, value);
  };
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...src,
    set(value) {
      if (!elsewhere(value)) src.set.call(this, value);
    },
  });
})();
