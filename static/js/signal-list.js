// The signal list refreshes itself (htmx) while a signal it shows is pending; the new table
// replaces the old one. Details (what was sent, the attempts) that were open stay open.
(function () {
  "use strict";
  let open = [];

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target.id !== "signal-table") return;
    open = Array.from(event.detail.target.querySelectorAll("details[open]")).map(
      function (details) { return details.getAttribute("data-reference"); }
    );
  });

  document.addEventListener("htmx:afterSwap", function () {
    const table = document.getElementById("signal-table");
    if (!table) return;
    open.forEach(function (reference) {
      const details = table.querySelector('details[data-reference="' + reference + '"]');
      if (details) details.open = true;
    });
  });
})();
