// Live updates: an element with data-live="<url>" is replaced by that URL's HTML fragment every
// second while the fragment's data-state is "running" (an execution in progress).
"use strict";
(function () {
  function poll(box) {
    var url = box.getAttribute("data-live");
    function tick() {
      var inner = box.querySelector("[data-state]");
      if (inner && inner.getAttribute("data-state") !== "running") {
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.redirected || r.status === 401) {
            window.location.assign("/login");
            return null;
          }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== undefined) {
            box.innerHTML = html;
          }
          window.setTimeout(tick, 1000);
        })
        .catch(function () { window.setTimeout(tick, 2000); });
    }
    window.setTimeout(tick, 1000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(poll);
  });
})();
